"""Ctrl-C (SIGINT) and SIGTERM: acted on at safe points, never inside a half-done step or write.

Three pieces, all no-ops outside the main thread (Python delivers signals only there):

- `raise_on_signal`, the handler the command line installs for SIGINT and SIGTERM: it records
  the signal (`signals_received`) and raises KeyboardInterrupt, or `Terminated` (a
  KeyboardInterrupt) for SIGTERM, so that every path that keeps a partial result after Ctrl-C
  keeps it after SIGTERM too.
- `DeferredInterrupt`, for the solvers' time loops: while it is active a signal only sets a
  flag; `raise_if_requested` raises at a safe point (every record of the last call of the
  compiled loop collected). A second signal before that raises at once.
- `deferred_signals`, for writes that must not be cut (the atomic file writes of
  `nppsim.fileio`): inside the block SIGINT and SIGTERM are only recorded, whatever handler was
  in place (even the default action of SIGTERM, which kills the process); when the block ends the
  previous handlers are back and a recorded signal is delivered again, so it acts as it would
  have, after the file is complete.

`StepBudget` sizes the calls of the compiled loops so that Python (and so a signal) gets control
about every `WALL_SLICE_S` of wall time, not only at output times.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

#: the signals treated as a request to stop: Ctrl-C and the polite kill of `kill`, `timeout`
#: and batch schedulers
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: wall time (s) a call of a compiled time loop aims at, so that a signal is acted on within
#: about a second even when the run has a single output time
WALL_SLICE_S = 0.25
#: steps of the first call, before the time per step is known (a step of the largest grids
#: takes a few ms)
FIRST_CALL_STEPS = 32

_received: set[int] = set()


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt (so it is handled the same way)."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _exception_for(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def stopped_by(exc: BaseException) -> str:
    """Who stopped a computation, for messages: "SIGTERM" or "the user" (Ctrl-C)."""
    return "SIGTERM" if isinstance(exc, Terminated) else "the user"


def raise_on_signal(signum: int, frame: object) -> None:
    """Signal handler: record `signum` and raise KeyboardInterrupt (SIGTERM: `Terminated`)."""
    _received.add(signum)
    raise _exception_for(signum)


def signals_received() -> frozenset[int]:
    """The stop signals received since the last `clear_received` (while a handler of this
    module was in place)."""
    return frozenset(_received)


def clear_received() -> None:
    """Forget the signals received so far (the command line calls it before a command)."""
    _received.clear()


@contextlib.contextmanager
def handle_stop_signals() -> Iterator[None]:
    """Install `raise_on_signal` for SIGINT and SIGTERM in the block (main thread only), then
    put the previous handlers back. A signal the process was started with ignored (SIGINT of a
    background job of a shell script) stays ignored, as Python itself leaves it."""
    if not _in_main_thread():
        yield
        return
    previous = {
        s: signal.signal(s, raise_on_signal)
        for s in STOP_SIGNALS
        if signal.getsignal(s) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _raising(signum: int, handler: object) -> bool:
    """True if `handler` turns `signum` into an exception (so a loop may defer it)."""
    if handler is raise_on_signal:
        return True
    return signum == signal.SIGINT and handler is signal.default_int_handler


class DeferredInterrupt:
    """A stop signal during a solver's time loop only sets a flag, acted on at a safe point.

    Python delivers a signal between any two bytecodes: one arriving while the records of a
    call of the compiled loop are being collected could leave the six front records with
    different lengths (a partial result that no longer loads). In the main thread, for each of
    SIGINT and SIGTERM whose handler raises (Python's default SIGINT handler, or
    `raise_on_signal`), this installs a handler that sets a flag; `raise_if_requested` raises
    KeyboardInterrupt (`Terminated` for SIGTERM) after the collection. A second signal before
    that raises at once (an impatient user still gets out). Elsewhere (worker threads, a custom
    handler, SIGTERM's default action) nothing changes. `restore` puts the previous handlers
    back.
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self.previous: dict[int, object] = {}
        if not _in_main_thread():
            return
        for s in STOP_SIGNALS:
            if _raising(s, signal.getsignal(s)):
                self.previous[s] = signal.signal(s, self._handler)

    def _handler(self, signum: int, frame: object) -> None:
        _received.add(signum)
        if self.requested is not None:
            raise _exception_for(signum)
        self.requested = signum

    def raise_if_requested(self) -> None:
        """Raise KeyboardInterrupt (`Terminated` after SIGTERM) if a stop signal arrived since
        the last call."""
        if self.requested is not None:
            signum, self.requested = self.requested, None
            raise _exception_for(signum)

    def restore(self) -> None:
        """Reinstall the handlers that were in place before (those this one replaced)."""
        for s, handler in self.previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]
        self.previous = {}


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM during the block; deliver them again when it ends.

    For sections that must not be cut, such as writing a file and renaming it into place: a
    signal raised inside a C callback (h5py) can be swallowed ("Exception ignored"), and
    SIGTERM's default action kills the process mid-write. Whatever the handlers were, they are
    restored at the end of the block and each signal that arrived is raised again with
    `signal.raise_signal`, so it acts exactly as it would have (KeyboardInterrupt, the default
    action, a user's handler), just after the block. Nested blocks defer to the outermost.
    Outside the main thread the block runs unchanged.
    """
    if not _in_main_thread() or _deferring.active:
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if signum not in pending:
            pending.append(signum)

    previous = {s: signal.signal(s, hold) for s in STOP_SIGNALS}
    _deferring.active = True
    try:
        yield
    finally:
        _deferring.active = False
        for s, handler in previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]
        for s in pending:
            signal.raise_signal(s)


class _Deferring:
    active = False


_deferring = _Deferring()


class StepBudget:
    """How many steps the next call of a compiled time loop may take.

    The loops return to Python when their record buffers are full; handing them a shorter view
    of the buffers bounds the steps of one call. The budget aims at `WALL_SLICE_S` per call from
    the time per step of the last call (at least 1 step, at most `limit`; the last call rather
    than an average, so that the first call's compilation does not shrink every later one).
    The integration is the same whatever the budget (a call resumes exactly where the last one
    stopped), so results do not depend on it. `fixed`: always this many steps (tests).
    `calls` counts the calls (each `next` ... `done` pair) and `loop_s` sums their wall time
    (s): the time spent in the compiled loop, call overhead included; `loop_cpu_s` the
    process's CPU time in them (s), which other processes on a busy machine do not inflate (the
    solvers report all three in their diagnostics, to tell the loop from the fixed cost).
    """

    def __init__(self, limit: int, fixed: int | None = None) -> None:
        self.limit = int(limit)
        self.fixed = fixed
        self.calls = 0
        self.loop_s = 0.0
        self.loop_cpu_s = 0.0
        self._cpu0 = 0.0
        self._steps = 0
        self._seconds = 0.0
        self._t0 = 0.0

    def next(self) -> int:
        """Steps allowed in the next call; starts its clocks."""
        self._cpu0 = time.process_time()
        self._t0 = time.perf_counter()
        if self.fixed is not None:
            return max(1, min(self.limit, int(self.fixed)))
        if self._steps == 0 or self._seconds <= 0.0:
            return min(self.limit, FIRST_CALL_STEPS)
        per_step = self._seconds / self._steps
        return max(1, min(self.limit, int(WALL_SLICE_S / per_step)))

    def done(self, steps: int) -> None:
        """Record that the call started by `next` took `steps` accepted steps."""
        seconds = time.perf_counter() - self._t0
        self.loop_cpu_s += time.process_time() - self._cpu0
        self.calls += 1
        self.loop_s += seconds
        if steps > 0:
            self._steps = int(steps)
            self._seconds = seconds
