"""The result of a simulation, and its lossless HDF5 file format.

`Result` wraps a solver's `Solution` with the case it came from and run metadata. `Result.save`
writes the layout of INTERFACES.md ("HDF5 result layout"); `load_result` reads it back, so that
``load_result(p)`` after ``res.save(p)`` has the same arrays and attributes.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as _importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from nppsim.fileio import atomic_path, write_csv_atomic

logger = logging.getLogger(__name__)

#: value of the root attribute `nppsim_version` when the package is not installed
UNKNOWN_VERSION = "0+unknown"
#: distributions whose versions are recorded with every result
RECORDED_DISTRIBUTIONS = ("numpy", "scipy", "numba", "h5py")
#: attribute of /diagnostics listing the entries stored as JSON text (reserved name)
JSON_KEYS_ATTR = "__json_keys__"
#: h5py `libver` of every file nppsim writes: v108 gives dense attribute storage, so a long
#: case_toml or diagnostics entry does not hit the 64 kB compact-attribute limit
HDF5_LIBVER = ("v108", "latest")
#: root attribute that marks a sweep file (`nppsim.sweep`): the swept keys as JSON
SWEEP_MARKER_ATTR = "sweep_keys"
#: a species whose first-snapshot mean fraction is below this is taken as foreign when the case
#: text does not say (the pristine glass holds no foreign ions)
FOREIGN_INITIAL_MEAN_MAX = 0.5


@functools.lru_cache(maxsize=1)
def package_version() -> str:
    """Installed version of nppsim, or "0+unknown" when running from a source tree.

    Cached: reading the installed metadata costs ~10 ms, as much as a fast simulation, and
    a fit or an inversion creates hundreds of results."""
    try:
        return _importlib_metadata.version("nppsim")
    except _importlib_metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def library_versions() -> dict[str, str]:
    """Versions of python and of the numerical libraries ("not installed" when absent)."""
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in RECORDED_DISTRIBUTIONS:
        try:
            versions[dist] = _importlib_metadata.version(dist)
        except _importlib_metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _now_utc_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, eq=False)
class FrontRecord:
    """The front (x = 0) history, one entry per accepted time step, t = 0 included.

    time_s: time from the start of stage 1 (s); current_A_cm2: ionic current density entering
    at x = 0, positive for cations moving into the sample (A/cm^2); potential_V: front potential
    (V); charge_C_cm2: ionic charge passed since t = 0 (C/cm^2); total_current_A_cm2: the total
    current density, ionic plus displacement current eps0 eps_r dE/dt at x = 0 (in 1D the same at
    every depth: the current of the external circuit, what an experiment measures; at a blocking
    front, as in thermal poling, the only non-zero one; at t = 0 the ionic value);
    total_charge_C_cm2: its integral since t = 0, the ionic charge plus eps0 eps_r
    (E(0, t) - E(0, 0)), the change of the charge on the front electrode. The electroneutral
    solver has no displacement current: its total values are its ionic ones. Without them
    (omitted here, or a file of an nppsim without /front/total_*) they are copies of the ionic
    values.
    """

    time_s: np.ndarray
    current_A_cm2: np.ndarray
    potential_V: np.ndarray
    charge_C_cm2: np.ndarray
    total_current_A_cm2: np.ndarray | None = None
    total_charge_C_cm2: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.total_current_A_cm2 is None:
            object.__setattr__(self, "total_current_A_cm2", np.array(self.current_A_cm2))
        if self.total_charge_C_cm2 is None:
            object.__setattr__(self, "total_charge_C_cm2", np.array(self.charge_C_cm2))
        _freeze_fields(self, _FRONT_ARRAYS)


#: the array fields of FrontRecord and Result, read-only once built
_FRONT_ARRAYS = (
    "time_s", "current_A_cm2", "potential_V", "charge_C_cm2", "total_current_A_cm2",
    "total_charge_C_cm2",
)  # fmt: skip
_RESULT_ARRAYS = ("x_faces_nm", "depth_nm", "times_s", "fractions", "potential_V")


def read_only(value: Any) -> np.ndarray:
    """`value` as an array that cannot be written: a read-only view (no copy) of it.

    Results are shared (plots, fits, saved files, front depths): a caller that changes an
    array in place (``k = res.final_fraction("K"); k *= 100``) gets a ValueError instead of
    silently changing what the result reports and saves. Copy (``np.array(a)``) to modify.
    """
    a = np.asarray(value)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _freeze_fields(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        object.__setattr__(obj, name, read_only(getattr(obj, name)))


class _TextOnDemand:
    """A str field of a frozen dataclass that may be given as a zero-argument callable: called
    on the first read, its text then kept (`Result.case_toml`: a fit makes hundreds of results
    and reads the case text of none, and writing it costs a fifth of a millisecond)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}_value"

    def __get__(self, obj: Any, owner: type | None = None) -> str:
        if obj is None:
            raise AttributeError(self._slot)  # no default: the field stays required
        value = obj.__dict__[self._slot]
        if callable(value):
            value = str(value())
            obj.__dict__[self._slot] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self._slot] = value


@dataclass(frozen=True, eq=False)
class Result:
    """A simulation result (arrays are read-only views of the solver's Solution, not copies).

    x_faces_nm: cell faces (n_cells + 1,) from 0 to the thickness (nm); depth_nm: cell centres
    (n_cells,) (nm); times_s: snapshot times (n_times,) from the start of stage 1 (s);
    species: species names in case order; fractions: (n_times, n_species, n_cells) fractions of
    n_bulk (use `fraction(name)`); potential_V: (n_times, n_cells) electric potential (V);
    front: front history (FrontRecord); stage_end_index: index into times_s of each completed
    stage's end; method: "npp" or "electroneutral"; diagnostics: solver counters and timings;
    completed: False if the run stopped early, `message` says why; case_toml: the case as TOML
    text; case_name: the case's meta.name; wall_s: wall-clock time of the run (s); metadata:
    nppsim_version, created_utc (ISO 8601) and versions (python and libraries); sensitivities:
    with forward sensitivities requested (`nppsim.simulate(..., sensitivities=keys)`), per
    dotted key (n_times, n_species, n_cells) d fraction / d value (per unit of the key's value);
    kept in memory only (not written to result files).
    """

    x_faces_nm: np.ndarray
    depth_nm: np.ndarray
    times_s: np.ndarray
    species: tuple[str, ...]
    fractions: np.ndarray
    potential_V: np.ndarray
    front: FrontRecord
    stage_end_index: tuple[int, ...]
    method: str
    diagnostics: dict[str, Any]
    completed: bool
    message: str
    case_toml: str = _TextOnDemand()  # type: ignore[assignment]
    case_name: str
    wall_s: float
    metadata: dict[str, Any] = field(default_factory=dict)
    sensitivities: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze_fields(self, _RESULT_ARRAYS)
        for v in self.sensitivities.values():
            v.flags.writeable = False

    @classmethod
    def from_solution(
        cls,
        solution: Any,
        case_toml: str | Callable[[], str],
        case_name: str,
        wall_s: float,
        *,
        metadata: dict[str, Any] | None = None,
        sensitivity_keys: tuple[str, ...] = (),
    ) -> Result:
        """Wrap a `solvers.problem.Solution` (arrays are not copied).

        case_toml: the case as TOML text, or a callable returning it (called when the text
        is first read); case_name: its meta.name; wall_s: run time (s);
        metadata: defaults to the current nppsim version, UTC time and library versions;
        sensitivity_keys: the keys of the solution's forward sensitivities, in order.
        """
        if metadata is None:
            metadata = {
                "nppsim_version": package_version(),
                "created_utc": _now_utc_iso(),
                "versions": library_versions(),
            }
        return cls(
            x_faces_nm=np.asarray(solution.x_faces_nm),
            depth_nm=np.asarray(solution.x_centers_nm),
            times_s=np.asarray(solution.times_s),
            species=tuple(str(s) for s in solution.species_names),
            fractions=np.asarray(solution.fractions),
            potential_V=np.asarray(solution.potential_V),
            front=FrontRecord(
                time_s=np.asarray(solution.front_time_s),
                current_A_cm2=np.asarray(solution.front_current_A_cm2),
                potential_V=np.asarray(solution.front_potential_V),
                charge_C_cm2=np.asarray(solution.front_charge_C_cm2),
                total_current_A_cm2=_optional_array(
                    getattr(solution, "front_total_current_A_cm2", None)
                ),
                total_charge_C_cm2=_optional_array(
                    getattr(solution, "front_total_charge_C_cm2", None)
                ),
            ),
            stage_end_index=tuple(int(i) for i in solution.stage_end_index),
            method=str(solution.method),
            diagnostics=dict(solution.diagnostics),
            completed=bool(solution.completed),
            message=str(solution.message),
            case_toml=case_toml,
            case_name=case_name,
            wall_s=float(wall_s),
            metadata=metadata,
            sensitivities=(
                {
                    k: np.asarray(solution.sensitivities[:, q])
                    for q, k in enumerate(sensitivity_keys)
                }
                if sensitivity_keys
                else {}
            ),
        )

    def __repr__(self) -> str:
        state = "completed" if self.completed else f"incomplete: {self.message}"
        return (
            f"Result(case_name={self.case_name!r}, method={self.method!r}, "
            f"species={self.species}, n_times={self.n_times}, n_cells={self.n_cells}, {state})"
        )

    @property
    def n_cells(self) -> int:
        """Number of grid cells."""
        return int(self.depth_nm.size)

    @property
    def n_times(self) -> int:
        """Number of stored snapshots."""
        return int(self.times_s.size)

    @property
    def thickness_nm(self) -> float:
        """Sample thickness, the last cell face (nm)."""
        return float(self.x_faces_nm[-1])

    def _species_index(self, name: str) -> int:
        try:
            return self.species.index(name)
        except ValueError:
            raise KeyError(
                f"no species {name!r} in this result; species: {', '.join(self.species)}"
            ) from None

    def fraction(self, name: str) -> np.ndarray:
        """Fraction of n_bulk of species `name`, (n_times, n_cells) at the cell centres
        (read-only, like every array of a Result)."""
        return self.fractions[:, self._species_index(name), :]

    def final_fraction(self, name: str) -> np.ndarray:
        """Fraction of n_bulk of species `name` at the last snapshot, (n_cells,) (read-only)."""
        return self.fraction(name)[-1]

    @property
    def roles(self) -> dict[str, str]:
        """Role ("native" | "foreign") of every species, from the case text.

        A species the case text does not describe (or unreadable text) is classed by its first
        snapshot: foreign if its mean fraction is below 0.5.
        """
        try:
            tables = tomllib.loads(self.case_toml).get("species", {})
        except (tomllib.TOMLDecodeError, TypeError):
            tables = {}
        roles = {}
        for i, name in enumerate(self.species):
            role = tables.get(name, {}).get("role") if isinstance(tables, dict) else None
            if role not in ("native", "foreign"):
                initial_mean = float(np.mean(self.fractions[0, i])) if self.n_times else 0.0
                role = "foreign" if initial_mean < FOREIGN_INITIAL_MEAN_MAX else "native"
            roles[name] = role
        return roles

    @property
    def foreign_species(self) -> tuple[str, ...]:
        """Names of the foreign species, in case order."""
        roles = self.roles
        return tuple(s for s in self.species if roles[s] == "foreign")

    def front_depth_nm(self, name: str, level: float = 0.5, time_index: int = -1) -> float:
        """Depth (nm) where the fraction of `name` first falls below `level` going inwards.

        Linear interpolation between cell centres at snapshot `time_index`. NaN if the fraction
        is already below `level` in the first cell; the last centre if it never falls below.
        """
        c = self.fraction(name)[time_index]
        below = np.flatnonzero(c < level)
        if below.size == 0:
            return float(self.depth_nm[-1])
        i = int(below[0])
        if i == 0:
            return float("nan")
        x0, x1 = self.depth_nm[i - 1], self.depth_nm[i]
        c0, c1 = c[i - 1], c[i]
        return float(x0 + (c0 - level) / (c0 - c1) * (x1 - x0))

    # ------------------------------------------------------------------ output

    def to_xarray(self) -> Any:
        """xarray Dataset of every snapshot on (time_s, depth_nm) and the front history (see
        `nppsim.tables.result_dataset`; extra [tables])."""
        from nppsim.tables import result_dataset

        return result_dataset(self)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as HDF5 to `path` (atomically, INTERFACES.md layout); returns it."""
        import h5py

        from nppsim.resultfile import check_species_names

        check_species_names(self.species)
        target = Path(path)
        with atomic_path(target) as tmp:
            with h5py.File(tmp, "w", libver=HDF5_LIBVER) as h5:
                write_result_group(h5, self)
        logger.info("saved result to %s", target)
        return target

    def save_csv(self, path: str | os.PathLike[str], time_index: int = -1) -> Path:
        """Write the profile at snapshot `time_index` as CSV: depth_nm, then one column per species.

        Columns: cell-centre depth (nm) and the fraction of n_bulk of each species; written
        atomically; returns the path.
        """
        target = Path(path)
        columns = [self.depth_nm] + [
            self.fractions[time_index, i] for i in range(len(self.species))
        ]
        write_csv_atomic(target, ["depth_nm", *self.species], columns)
        logger.info("saved profile at t = %g s to %s", self.times_s[time_index], target)
        return target


def _optional_array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value)


# the file format, in its own module; its public names stay importable from here
from nppsim.resultfile import (  # noqa: E402
    check_loaded_result,
    load_result,
    open_hdf5_for_reading,
    read_result_group,
    write_result_group,
)

__all__ = [
    "HDF5_LIBVER",
    "FrontRecord",
    "Result",
    "check_loaded_result",
    "library_versions",
    "load_result",
    "open_hdf5_for_reading",
    "package_version",
    "read_result_group",
    "write_result_group",
]
