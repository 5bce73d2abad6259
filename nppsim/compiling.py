"""What the numba kernels cost on a first run: is the disk cache cold, how long did compiling take.

The solvers' kernels are ``@njit(cache=True)`` functions compiled on their first call and stored
in numba's disk cache; later processes load them in about a second. `kernels_cached` tells,
without compiling anything, whether a solver's time loop is in the cache (so that the command
line can say before a long silent compile that it is compiling); `CompileTimer` measures the
time numba spends compiling while a block of code runs (cache loads are not counted).
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

logger = logging.getLogger(__name__)

#: the compiled entry point of each solver's time loop; its cache index stands for all kernels
#: of the solver (they are compiled together, on its first call)
TIME_LOOP = {
    "npp": ("solvers.kernels", "advance"),
    "electroneutral": ("solvers.electroneutral_kernels", "advance"),
}
#: cold-compile wall time (s) of each solver's kernels for one ``nppsim run``, measured with
#: ``benchmarks/compile_time.py`` and cold ``nppsim run``s on the 2-core development machine:
#: npp 18.5 s (load ~2) to 35-47 s (load 3-4), 31.9 s on the idle machine on 2026-12-07 with
#: the three-species elimination and the sensitivity kernels compiled in; electroneutral
#: 17-18 s (load 3-4); see benchmarks/README.md, "Cold compile"
COLD_COMPILE_ESTIMATE_S = {"npp": 32.0, "electroneutral": 20.0}
#: wall time (s) of a fresh ``nppsim run`` of the default case with a warm cache (same machine)
WARM_START_S = 1.0
#: the numba event fired around each real compilation (not around cache loads)
COMPILE_EVENT = "numba:compile"


def kernels_cached(method: str) -> bool | None:
    """Whether the time loop of solver `method` ("npp" or "electroneutral") is in numba's disk
    cache and fresh (same source file stamp): True, False, or None when it cannot be told.

    Reads the cache index only (a small pickle); compiles nothing.
    """
    where = TIME_LOOP.get(method)
    if where is None:
        return None
    try:
        import importlib

        dispatcher = getattr(importlib.import_module(where[0]), where[1])
        if dispatcher.signatures:
            return True
        # numba's private API: the cache file's index, {} when missing or stale
        index = dispatcher._cache._cache_file._load_index()
    except Exception as exc:
        logger.debug("cannot read the numba cache index of %s: %s", method, exc)
        return None
    return bool(index)


def cold_compile_message(method: str) -> str:
    """The line the command line prints before compiling the kernels of `method`."""
    estimate = COLD_COMPILE_ESTIMATE_S.get(method, max(COLD_COMPILE_ESTIMATE_S.values()))
    return (
        f"compiling the numba kernels once, about {estimate:.0f} s; "
        f"later runs start in about {WARM_START_S:.0f} s"
    )


class CompileTimer:
    """Context manager: total wall time (s) numba spends compiling inside the block.

    Nested compilations (a kernel compiling its callees) are counted once; the time of the
    outermost compilation is summed over all compilations in the block. Loading compiled code
    from the disk cache is not a compilation and costs nothing here. `seconds` holds the total
    after the block (and the running total inside it).
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0
        self._t0 = 0.0
        self._lock = threading.Lock()
        self._listener = None

    def _make_listener(self):
        from numba.core import event

        timer = self

        class _Listener(event.Listener):
            def on_start(self, ev):
                with timer._lock:
                    if timer._depth == 0:
                        timer._t0 = time.perf_counter()
                    timer._depth += 1

            def on_end(self, ev):
                with timer._lock:
                    timer._depth -= 1
                    if timer._depth == 0:
                        timer.seconds += time.perf_counter() - timer._t0

        return _Listener()

    def __enter__(self) -> CompileTimer:
        from numba.core import event

        self._listener = self._make_listener()
        event.register(COMPILE_EVENT, self._listener)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from numba.core import event

        if self._listener is not None:
            event.unregister(COMPILE_EVENT, self._listener)
            self._listener = None
