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

import itertools
import json
import logging
import math
import numbers
import os
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, SimulationError
from .result import SWEEP_MARKER_ATTR, Result, library_versions, package_version

if TYPE_CHECKING:
    from .case import Case

logger = logging.getLogger(__name__)

#: status of a point whose simulation completed
STATUS_OK = "ok"
#: status of a point with an invalid value or a failed simulation (see its message)
STATUS_FAILED = "failed"
#: status of a point that was not run (the sweep was interrupted first)
STATUS_NOT_RUN = "not run"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_NOT_RUN)
#: the front depth in summaries is where the first foreign species' fraction crosses this level
FRONT_LEVEL = 0.5
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


def _now_utc_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


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
    # the worker died or the task could not be sent (BrokenProcessPool, a pickling error)
    return STATUS_FAILED, f"{type(exc).__name__}: {_one_line(exc)}", None


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
    output: if given, the sweep file (HDF5) is written there, also after Ctrl-C.
    progress: show a progress bar (points done / total) on stderr.

    Raises InputError (CaseError for a key the case does not have) before anything runs; a
    point's own failure is recorded in the result instead. Ctrl-C raises `SweepInterrupted`
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

    own_pool = executor is None and bool(cases)
    pool: Executor | None = executor
    if own_pool:
        from concurrent.futures import ProcessPoolExecutor  # multiprocessing: imported when used

        pool = ProcessPoolExecutor(max_workers=min(workers or os.cpu_count() or 1, len(cases)))
    futures: dict[Future, int] = {}
    bar = None
    interrupted = False
    try:
        for i, case_i in cases.items():
            futures[pool.submit(_run_point, case_i, method)] = i  # type: ignore[union-attr]
        # the bar after the submissions: a fork-based pool starts its processes on the first
        # submit, better before tqdm's monitor thread exists
        if progress:
            from tqdm import tqdm

            bar = tqdm(
                total=n,
                initial=n - len(cases),
                unit="point",
                desc="sweep",
                file=sys.stderr,
                leave=False,
            )
        for future in as_completed(futures):
            i = futures[future]
            status[i], messages[i], results[i] = _outcome(future)
            if status[i] == STATUS_FAILED:
                logger.info("sweep point %d %s: %s", i, plist[i], messages[i])
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        for future in futures:
            future.cancel()
        for future, i in futures.items():
            if future.done() and status[i] == STATUS_NOT_RUN:
                status[i], messages[i], results[i] = _outcome(future)
    finally:
        if bar is not None:
            bar.close()
        if own_pool:
            # after Ctrl-C, do not wait for the points still running
            pool.shutdown(wait=not interrupted, cancel_futures=True)  # type: ignore[union-attr]
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


# ---------------------------------------------------------------------- the result


def _point_group_name(i: int, n_points: int) -> str:
    return f"{i:0{len(str(max(n_points - 1, 0)))}d}"


@dataclass(frozen=True, eq=False)
class SweepResult:
    """The points of a sweep, their status and their results.

    keys: the swept dotted keys; parameters: (n_points, n_keys) values of the keys at each
    point, in the keys' own units (NaN where an explicit point leaves a key unset); status:
    "ok" | "failed" | "not run" per point; messages: one line per point saying why it failed
    ("" when ok); results: per point the Result when ok, the partial Result (``completed``
    False) when the solver failed part-way, else None; case_toml: the base case as TOML text;
    method: the solver every point used; interrupted: True if Ctrl-C stopped the sweep;
    wall_s: wall-clock time of the sweep (s); metadata: nppsim_version, created_utc (ISO
    8601), versions (python and libraries).
    """

    keys: tuple[str, ...]
    parameters: np.ndarray
    status: tuple[str, ...]
    messages: tuple[str, ...]
    results: tuple[Result | None, ...]
    case_toml: str
    method: str
    interrupted: bool = False
    wall_s: float = math.nan
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.status)
        shape = np.shape(self.parameters)
        if shape != (n, len(self.keys)):
            raise ValueError(
                f"SweepResult: parameters of shape {shape} for {n} points and {len(self.keys)} keys"
            )
        if len(self.messages) != n or len(self.results) != n:
            raise ValueError("SweepResult: status, messages and results differ in length")
        unknown = sorted(set(self.status) - set(STATUSES))
        if unknown:
            raise ValueError(f"SweepResult: unknown status {unknown}; use one of {STATUSES}")
        if not self.metadata:
            object.__setattr__(
                self,
                "metadata",
                {
                    "nppsim_version": package_version(),
                    "created_utc": _now_utc_iso(),
                    "versions": library_versions(),
                },
            )

    def __repr__(self) -> str:
        state = ", interrupted" if self.interrupted else ""
        return (
            f"SweepResult(keys={self.keys}, n_points={self.n_points}, ok={self.n_ok}, "
            f"failed={self.n_failed}, not_run={self.n_not_run}, method={self.method!r}{state})"
        )

    @property
    def n_points(self) -> int:
        """Number of points."""
        return len(self.status)

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask (n_points,) of the points with status "ok"."""
        return np.array([s == STATUS_OK for s in self.status], dtype=bool)

    @property
    def n_ok(self) -> int:
        """Number of points with status "ok"."""
        return int(np.count_nonzero(self.ok))

    @property
    def n_failed(self) -> int:
        """Number of points with status "failed"."""
        return sum(s == STATUS_FAILED for s in self.status)

    @property
    def n_not_run(self) -> int:
        """Number of points with status "not run"."""
        return sum(s == STATUS_NOT_RUN for s in self.status)

    def point(self, i: int) -> dict[str, float]:
        """The swept values of point `i` as {key: value} (keys left unset are omitted)."""
        row = self.parameters[i]
        return {k: float(v) for k, v in zip(self.keys, row, strict=True) if not math.isnan(v)}

    def values(self, key: str) -> np.ndarray:
        """The values (n_points,) of the swept `key` at every point (its own unit)."""
        try:
            j = self.keys.index(key)
        except ValueError:
            raise KeyError(f"{key!r} was not swept; swept keys: {', '.join(self.keys)}") from None
        return self.parameters[:, j]

    def front_species(self) -> str | None:
        """The first foreign species of the results (None if no result has one)."""
        for res in self.results:
            if res is not None and res.foreign_species:
                return res.foreign_species[0]
        return None

    def front_depth_nm(self, species: str | None = None, level: float = FRONT_LEVEL) -> np.ndarray:
        """Front depth (nm) per point at the final time: where the fraction of `species`
        (default: the first foreign species) first falls below `level` (`Result.front_depth_nm`);
        NaN for points that are not "ok"."""
        species = species or self.front_species()
        out = np.full(self.n_points, np.nan)
        if species is None:
            return out
        for i, (s, res) in enumerate(zip(self.status, self.results, strict=True)):
            if s == STATUS_OK and res is not None and species in res.species and res.n_times:
                out[i] = res.front_depth_nm(species, level)
        return out

    def summary(self) -> str:
        """A text table: point index, swept values, status and front depth (nm), then the
        message of every failed point."""
        species = self.front_species()
        widths = [max(len(k), 10) for k in self.keys]
        head = ["   #", *(f"{k:>{w}}" for k, w in zip(self.keys, widths, strict=True))]
        head.append(f"{'status':>8}")
        if species is not None:
            head.append(f"front {species} ({FRONT_LEVEL:g}) nm")
        lines = ["  ".join(head)]
        depths = self.front_depth_nm(species)
        for i in range(self.n_points):
            row = [f"{i:>4d}"]
            row += [f"{v:>{w}.4g}" for v, w in zip(self.parameters[i], widths, strict=True)]
            row.append(f"{self.status[i]:>8}")
            if species is not None and self.status[i] == STATUS_OK:
                row.append(f"{depths[i]:.4g}" if math.isfinite(depths[i]) else "not reached")
            lines.append("  ".join(row))
        for i in range(self.n_points):
            if self.status[i] == STATUS_FAILED:
                lines.append(f"point {i} failed: {self.messages[i]}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ file

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the sweep as one HDF5 file to `path` (atomically; layout in the module
        docstring); returns the path."""
        import h5py

        from .fileio import atomic_path
        from .result import HDF5_LIBVER
        from .resultfile import write_result_group

        target = Path(path)
        text = h5py.string_dtype()
        with atomic_path(target) as tmp, h5py.File(tmp, "w", libver=HDF5_LIBVER) as h5:
            meta = self.metadata
            h5.attrs["nppsim_version"] = str(meta.get("nppsim_version", package_version()))
            h5.attrs["created_utc"] = str(meta.get("created_utc", _now_utc_iso()))
            h5.attrs["case_toml"] = self.case_toml
            h5.attrs["solver"] = self.method
            h5.attrs["wall_s"] = float(self.wall_s)
            h5.attrs["versions"] = json.dumps(meta.get("versions", library_versions()))
            h5.attrs["interrupted"] = bool(self.interrupted)
            h5.attrs[SWEEP_MARKER_ATTR] = json.dumps(list(self.keys))
            h5.attrs["n_points"] = self.n_points
            params = h5.create_dataset(
                "parameters", data=np.asarray(self.parameters, dtype=float).reshape(
                    self.n_points, len(self.keys)
                )
            )  # fmt: skip
            params.attrs["keys"] = json.dumps(list(self.keys))
            h5.create_dataset("status", data=list(self.status), dtype=text)
            h5.create_dataset("message", data=list(self.messages), dtype=text)
            group = h5.create_group("points")
            for i, res in enumerate(self.results):
                if res is not None:
                    write_result_group(group.create_group(_point_group_name(i, self.n_points)), res)
        logger.info("saved sweep of %d points to %s", self.n_points, target)
        return target


def is_sweep_file(path: str | os.PathLike[str]) -> bool:
    """True if `path` is an HDF5 file written by `SweepResult.save` (False if unreadable)."""
    import h5py

    source = Path(path)
    if not source.is_file():
        return False
    try:
        if not h5py.is_hdf5(source):
            return False
        with h5py.File(source, "r") as h5:
            return SWEEP_MARKER_ATTR in h5.attrs
    except (OSError, KeyError, RuntimeError, ValueError):
        return False


def load_sweep(path: str | os.PathLike[str]) -> SweepResult:
    """Read a sweep file written by `SweepResult.save` (or `sweep(..., output=...)`).

    Raises DataFileError (one line naming the file) if it is missing, not HDF5, or not a sweep.
    """
    from .errors import DataFileError
    from .resultfile import (
        _attr_str,
        _check_datasets,
        check_loaded_result,
        open_hdf5_for_reading,
        read_result_group,
    )

    source = Path(path)
    try:
        with open_hdf5_for_reading(source, "an nppsim sweep .h5") as h5:
            attrs = h5.attrs
            if SWEEP_MARKER_ATTR not in attrs:
                raise DataFileError(
                    f"{source}: not an nppsim sweep file (no {SWEEP_MARKER_ATTR} attribute); "
                    "a result file reads with nppsim.load_result"
                )
            missing = [d for d in ("parameters", "status", "message") if d not in h5]
            if missing:
                raise DataFileError(f"{source}: damaged sweep file (missing {', '.join(missing)})")
            keys = tuple(json.loads(_attr_str(attrs, SWEEP_MARKER_ATTR)))
            status = tuple(str(s) for s in h5["status"].asstr()[()])
            messages = tuple(str(s) for s in h5["message"].asstr()[()])
            parameters = np.asarray(h5["parameters"][()], dtype=float).reshape(
                len(status), len(keys)
            )
            results: list[Result | None] = [None] * len(status)
            if "points" in h5:
                for name, group in h5["points"].items():
                    i = int(name)
                    if not 0 <= i < len(status):
                        raise DataFileError(f"{source}: damaged sweep file (point /points/{name})")
                    label = f"{source}:/points/{name}"
                    _check_datasets(group, label)
                    try:
                        results[i] = read_result_group(group, label)
                    except (KeyError, ValueError, TypeError, IndexError) as exc:
                        if isinstance(exc, DataFileError):
                            raise
                        first_line = str(exc).splitlines()[0] if str(exc) else ""
                        raise DataFileError(
                            f"{label}: damaged nppsim result ({type(exc).__name__}: {first_line})"
                        ) from None
                    check_loaded_result(results[i], label)
            return SweepResult(
                keys=keys,
                parameters=parameters,
                status=status,
                messages=messages,
                results=tuple(results),
                case_toml=_attr_str(attrs, "case_toml"),
                method=_attr_str(attrs, "solver"),
                interrupted=bool(attrs.get("interrupted", False)),
                wall_s=float(attrs.get("wall_s", math.nan)),
                metadata={
                    "nppsim_version": _attr_str(attrs, "nppsim_version"),
                    "created_utc": _attr_str(attrs, "created_utc"),
                    "versions": json.loads(_attr_str(attrs, "versions", "{}")),
                },
            )
    except DataFileError:
        raise
    except (
        OSError, KeyError, ValueError, TypeError, AttributeError, IndexError, RuntimeError
    ) as exc:  # fmt: skip
        # a truncated file raises OSError in h5py; a dataset replaced by a group, TypeError;
        # a damaged checksum or heap, RuntimeError
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFileError(
            f"{source}: unreadable nppsim sweep file ({type(exc).__name__}: {first_line})"
        ) from None
