"""Parameter sweeps: one case, a grid (or a list) of values of dotted keys, run in parallel.

``sweep(case, {"species.Li.sed.fwhm_eV": [0.15, 0.2, 0.25], "sample.temperature_K": [300, 350]})``
runs the outer product of the values (the first key varies slowest, as in nested for loops in key
order): every point is ``case.with_values(point)`` simulated with ``nppsim.simulate`` in a worker
of a `concurrent.futures.Executor` (default: a process pool the call creates and shuts down; a
Dask ``distributed.Client(...).get_executor()`` runs the same sweep on a cluster).

A point that fails does not stop the sweep: an invalid value (CaseError from ``with_values``),
a solver failure (SimulationError) or any other exception in the worker is recorded with status
"failed" and a one-line message. A SimulationError's partial result (the run up to the failure,
``completed`` False) is kept with the failed point, for diagnosis; plots and front depths use the
"ok" points only. Ctrl-C cancels the points not started, keeps the finished ones (the others get
status "not run"), saves them to `output` when given, and raises `SweepInterrupted`, a
KeyboardInterrupt that carries the partial `SweepResult`.

The sweep file (`SweepResult.save`, read back with `load_sweep`) is one HDF5 file::

    /                  attrs: nppsim_version, created_utc, case_toml (the base case), solver,
                       wall_s, versions, interrupted, sweep_keys (JSON list), n_points
    /parameters        (n_points, n_keys) float64, attrs: keys (JSON list)
    /status            (n_points,) strings: "ok" | "failed" | "not run"
    /message           (n_points,) strings: why a point failed ("" when ok)
    /points/<i>        one group per point with a result (i = 0-based point index, zero-padded):
                       the layout of a result file (INTERFACES.md, "HDF5 result layout")
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import numbers
import os
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, SimulationError
from .result import Result
from .sweepresult import (
    FRONT_LEVEL,
    STATUS_FAILED,
    STATUS_NOT_RUN,
    STATUS_OK,
    STATUSES,
    SweepResult,
    is_sweep_file,
    load_sweep,
)

if TYPE_CHECKING:
    from .case import Case

logger = logging.getLogger(__name__)

#: message of a point whose worker process died (it may only have been queued)
WORKER_DIED = "not run: its worker process died"
#: fresh process pools a sweep starts after its pool broke (a worker killed), for the points
#: not finished; if the fresh pool breaks too, those points are recorded "not run"
POOL_RETRIES = 1
#: method names `nppsim.simulate` accepts
METHODS = ("npp", "electroneutral")


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: `partial` is the SweepResult of the finished points (the others
    have status "not run", ``partial.interrupted`` is True); `path` is where it was saved (the
    `output` of `sweep`), or None."""

    def __init__(self, partial: SweepResult, path: Path | None) -> None:
        done = int(np.count_nonzero(np.asarray(partial.status) != STATUS_NOT_RUN))
        where = f"; saved to {path}" if path is not None else ""
        super().__init__(f"sweep interrupted: {done} of {partial.n_points} points finished{where}")
        self.partial = partial
        self.path = path


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


# ---------------------------------------------------------------------- points


def _plain_number(value: object, key: str) -> int | float:
    """`value` as a Python int or float; InputError naming `key` for anything else."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"sweep value of {key}: must be a number, got {value!r}")
    return value if isinstance(value, int) else float(value)


def grid_points(values: Mapping[str, Sequence[object]]) -> list[dict[str, int | float]]:
    """The outer product of `values` (dotted key -> sequence of numbers) as a list of points.

    The first key varies slowest, like nested for loops in key order:
    ``{"a": [1, 2], "b": [10, 20, 30]}`` gives (1, 10), (1, 20), (1, 30), (2, 10), ...
    InputError if a sequence is empty or holds something that is not a number.
    """
    keys = list(values)
    columns = []
    for key in keys:
        seq = values[key]
        if isinstance(seq, (str, bytes)) or not isinstance(seq, (Sequence, np.ndarray)):
            raise InputError(f"sweep values of {key}: expected a sequence of numbers, got {seq!r}")
        column = [_plain_number(v, key) for v in seq]
        if not column:
            raise InputError(f"sweep values of {key}: no values")
        columns.append(column)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*columns)]


def _collect_points(
    values: Mapping[str, Sequence[object]] | None, points: Sequence[Mapping[str, object]] | None
) -> tuple[tuple[str, ...], list[dict[str, int | float]]]:
    """Keys (in first-appearance order) and points, from a value grid or an explicit list."""
    if points is not None and values:
        raise InputError("sweep: give values (a grid) or points (a list), not both")
    if points is None:
        if not values:
            raise InputError("sweep: no values to sweep")
        plist = grid_points(values)
        return tuple(values), plist
    plist = []
    keys: dict[str, None] = {}
    for j, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise InputError(f"sweep point {j}: expected a mapping of dotted keys to numbers")
        plist.append({str(k): _plain_number(v, str(k)) for k, v in point.items()})
        keys.update(dict.fromkeys(plist[-1]))
    if not plist:
        raise InputError("sweep: no points")
    return tuple(keys), plist


def _parameter_table(keys: Sequence[str], points: Sequence[Mapping[str, float]]) -> np.ndarray:
    """(n_points, n_keys) float table; NaN where a point leaves a key at the case's value."""
    table = np.full((len(points), len(keys)), np.nan)
    for i, point in enumerate(points):
        for j, key in enumerate(keys):
            if key in point:
                table[i, j] = float(point[key])
    return table


# ---------------------------------------------------------------------- the worker


def _run_point(case: Case, method: str) -> tuple[str, str, Result | None]:
    """Simulate one point in a worker: (status, one-line message, Result or None).

    Top-level so that process pools and Dask can pickle it. Exceptions become data (status
    "failed") so the parent never has to unpickle an exception object; KeyboardInterrupt passes.
    """
    from nppsim.simulate import simulate  # looked up per call: workers import it on first use

    try:
        return STATUS_OK, "", simulate(case, method=method)
    except SimulationError as exc:
        partial = exc.partial if isinstance(exc.partial, Result) else None
        return STATUS_FAILED, f"simulation failed: {_one_line(exc)}", partial
    except InputError as exc:
        return STATUS_FAILED, _one_line(exc), None
    except Exception as exc:
        return STATUS_FAILED, f"{type(exc).__name__}: {_one_line(exc)}", None


def _outcome(future: Future) -> tuple[str, str, Result | None]:
    """(status, message, result) of a finished future; "not run" if it was cancelled."""
    if future.cancelled():
        return STATUS_NOT_RUN, "", None
    exc = future.exception()
    if exc is None:
        return future.result()
    if isinstance(exc, KeyboardInterrupt):
        return STATUS_NOT_RUN, "interrupted", None
    if isinstance(exc, BrokenExecutor):
        # a worker died (the out-of-memory killer, a signal): says nothing about this point,
        # which may only have been queued; `sweep` runs it again on a fresh pool
        return STATUS_NOT_RUN, f"{WORKER_DIED}: {type(exc).__name__}: {_one_line(exc)}", None
    # the task could not be sent (a pickling error) or failed outside _run_point
    return STATUS_FAILED, f"{type(exc).__name__}: {_one_line(exc)}", None


def _progress_bar(total: int, done: int) -> Any:
    from tqdm import tqdm

    class Bar(tqdm):
        # no monitor thread: process pools fork after the bar exists (and again after a retry)
        monitor_interval = 0

    return Bar(total=total, initial=done, unit="point", desc="sweep", file=sys.stderr, leave=False)


def _run_on_pool(
    cases: Mapping[int, Case],
    method: str,
    executor: Executor | None,
    workers: int | None,
    status: list[str],
    messages: list[str],
    results: list[Result | None],
    plist: Sequence[Mapping[str, object]],
    bar: Any,
) -> bool:
    """Run `cases` (point index -> case) on `executor`, or on a process pool created and shut
    down here; fill status, messages and results in place. Returns True after Ctrl-C/SIGTERM.

    Whatever goes wrong, what finished is kept: a submit() that raises part-way leaves the
    points it did not send "not run" (with the reason) and the sweep goes on with the others; a
    worker that dies marks the points it takes down "not run" (`WORKER_DIED`).
    """
    own_pool = executor is None
    pool: Executor | None = executor
    if own_pool and cases:
        from concurrent.futures import ProcessPoolExecutor  # multiprocessing: imported when used

        pool = ProcessPoolExecutor(max_workers=min(workers or os.cpu_count() or 1, len(cases)))
    futures: dict[Future, int] = {}
    interrupted = False
    try:
        for i, case_i in cases.items():
            try:
                futures[pool.submit(_run_point, case_i, method)] = i  # type: ignore[union-attr]
            except Exception as exc:
                why = f"not run: could not be submitted ({type(exc).__name__}: {_one_line(exc)})"
                sent = set(futures.values())
                for j in cases:
                    if j not in sent:
                        status[j], messages[j] = STATUS_NOT_RUN, why
                logger.warning("sweep: %s; %d point(s) left out", why, len(cases) - len(futures))
                break
        for future in as_completed(futures):
            i = futures[future]
            status[i], messages[i], results[i] = _outcome(future)
            if status[i] == STATUS_FAILED:
                logger.info("sweep point %d %s: %s", i, plist[i], messages[i])
            if bar is not None and status[i] != STATUS_NOT_RUN:
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        for future in futures:
            future.cancel()
        for future, i in futures.items():
            if future.done() and status[i] == STATUS_NOT_RUN:
                status[i], messages[i], results[i] = _outcome(future)
    finally:
        if own_pool and pool is not None:
            # after Ctrl-C or SIGTERM, do not wait for the points still running
            pool.shutdown(wait=not interrupted, cancel_futures=True)
            if interrupted:
                _stop_workers(pool)
    return interrupted


def _stop_workers(pool: Executor) -> None:
    """Send SIGTERM to the worker processes of our own process pool after an interruption:
    a SIGTERM sent to the sweep's process alone (kill, timeout) reaches only the parent, whose
    exit would otherwise wait for the points still running."""
    import signal

    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)


# ---------------------------------------------------------------------- sweep


def sweep(
    case: Case,
    values: Mapping[str, Sequence[object]] | None = None,
    *,
    points: Sequence[Mapping[str, object]] | None = None,
    executor: Executor | None = None,
    method: str | None = None,
    output: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> SweepResult:
    """Simulate `case` at every point of a parameter grid or list; returns a SweepResult.

    values: dotted key -> sequence of numbers (e.g. ``{"species.Li.sed.fwhm_eV": [0.2, 0.3]}``,
        in the keys' own units); the sweep runs their outer product, first key slowest.
    points: instead of `values`, an explicit list of points ``[{key: number, ...}, ...]``.
    executor: any `concurrent.futures.Executor` (e.g. ``distributed.Client(...).get_executor()``);
        it is not shut down. Default: a ProcessPoolExecutor with `workers` processes (default
        os.cpu_count(), at most one per point), created and shut down here.
    method: "npp" or "electroneutral" for every point; default: the case's solver.method.
    output: if given, the sweep file (HDF5) is written there, also after Ctrl-C; checked
        before anything runs (InputError if it cannot be written).
    progress: show a progress bar (points done / total) on stderr.

    Raises InputError (CaseError for a key the case does not have) before anything runs; a
    point's own failure is recorded in the result instead. A worker process that dies (killed by
    the out-of-memory killer) takes its points down: they run again once on a fresh pool (own
    pool only), else they are recorded "not run" with the reason, as are points an executor
    refused to take (submit() raising). Ctrl-C raises `SweepInterrupted`
    (a KeyboardInterrupt) carrying the partial result, after saving it to `output`.
    """
    t0 = time.perf_counter()
    keys, plist = _collect_points(values, points)
    for key in keys:
        case.get_value(key)  # CaseError, naming the key, if the case has no such value
    method = method or case.solver.method
    if method not in METHODS:
        raise InputError(f"sweep: unknown method {method!r} (use 'npp' or 'electroneutral')")
    if executor is not None and workers is not None:
        raise InputError("sweep: give workers (for the default process pool) or an executor")
    if workers is not None and workers < 1:
        raise InputError(f"sweep: workers must be >= 1, got {workers}")
    if output is not None:
        from .fileio import check_writable

        check_writable(output, "sweep file")  # before the points run, not after

    n = len(plist)
    status = [STATUS_NOT_RUN] * n
    messages = [""] * n
    results: list[Result | None] = [None] * n
    cases: dict[int, Case] = {}
    for i, point in enumerate(plist):
        try:
            cases[i] = case.with_values(point)
        except InputError as exc:
            status[i], messages[i] = STATUS_FAILED, _one_line(exc)
            logger.info("sweep point %d %s: %s", i, point, messages[i])

    bar = _progress_bar(n, n - len(cases)) if progress else None
    interrupted = False
    try:
        pending = dict(cases)
        for attempt in range(POOL_RETRIES + 1 if executor is None else 1):
            interrupted = _run_on_pool(
                pending, method, executor, workers, status, messages, results, plist, bar
            )
            pending = {i: c for i, c in pending.items() if messages[i].startswith(WORKER_DIED)}
            if interrupted or not pending:
                break
            if attempt < POOL_RETRIES:
                logger.warning(
                    "sweep: a worker process died; %d unfinished point(s) run again on a fresh "
                    "pool",
                    len(pending),
                )
    finally:
        if bar is not None:
            bar.close()
    interrupted = interrupted or any(m == "interrupted" for m in messages)

    result = SweepResult(
        keys=keys,
        parameters=_parameter_table(keys, plist),
        status=tuple(status),
        messages=tuple(messages),
        results=tuple(results),
        case_toml=case.to_toml(),
        method=method,
        interrupted=interrupted,
        wall_s=time.perf_counter() - t0,
    )
    path = result.save(output) if output is not None else None
    if interrupted:
        raise SweepInterrupted(result, path)
    return result


__all__ = [
    "FRONT_LEVEL",
    "METHODS",
    "STATUSES",
    "STATUS_FAILED",
    "STATUS_NOT_RUN",
    "STATUS_OK",
    "SweepInterrupted",
    "SweepResult",
    "grid_points",
    "is_sweep_file",
    "load_sweep",
    "sweep",
]
