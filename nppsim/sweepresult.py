"""The result of a sweep (`SweepResult`) and its HDF5 file (layout in `nppsim.sweep`).

Split from `nppsim.sweep` (which re-exports every name): the points, their status and results,
the summary table, `SweepResult.save`, `is_sweep_file` and `load_sweep`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .result import SWEEP_MARKER_ATTR, Result, library_versions, package_version, read_only

logger = logging.getLogger(__name__)

#: status of a point whose simulation completed
STATUS_OK = "ok"
#: status of a point with an invalid value or a failed simulation (see its message)
STATUS_FAILED = "failed"
#: status of a point that was not run (the sweep was interrupted first, or its worker died
#: twice)
STATUS_NOT_RUN = "not run"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_NOT_RUN)
#: the front depth in summaries is where the first foreign species' fraction crosses this level
FRONT_LEVEL = 0.5


def _now_utc_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


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
        object.__setattr__(self, "parameters", read_only(self.parameters))
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

    def to_dataframe(self) -> Any:
        """pandas DataFrame, one row per point: swept values, status, message, front depth
        (nm), plateau level and charge (see `nppsim.tables.sweep_dataframe`; extra [tables])."""
        from nppsim.tables import sweep_dataframe

        return sweep_dataframe(self)

    def to_xarray(self) -> Any:
        """xarray Dataset with the swept keys as dimensions and depth as a coordinate (see
        `nppsim.tables.sweep_dataset`; extra [tables])."""
        from nppsim.tables import sweep_dataset

        return sweep_dataset(self)

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
