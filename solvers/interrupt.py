"""Ctrl-C inside the solvers' time loops, acted on between calls of the compiled code."""

from __future__ import annotations

import signal
import threading


class DeferredInterrupt:
    """Ctrl-C (SIGINT) during a solver's time loop only sets a flag, acted on at a safe point.

    Python delivers a signal between any two bytecodes: one arriving while the records of a
    call of the compiled loop are being collected could leave the six front records with
    different lengths (a partial result that no longer loads). In the main thread, with
    Python's default SIGINT handler in place, this installs a handler that sets a flag;
    `raise_if_requested` raises KeyboardInterrupt after the collection. A second Ctrl-C before
    that raises at once (an impatient user still gets out). Elsewhere (worker threads, a
    custom handler) nothing changes. `restore` puts the previous handler back.
    """

    def __init__(self) -> None:
        self.requested = False
        self.previous = None
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        self.previous = signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def raise_if_requested(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C arrived since the last call."""
        if self.requested:
            self.requested = False
            raise KeyboardInterrupt

    def restore(self) -> None:
        """Reinstall the handler that was in place before (if this one installed its own)."""
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None
