"""The result of a simulation, and its lossless HDF5 file format.

`Result` wraps a solver's `Solution` with the case it came from and run metadata. `Result.save`
writes the layout of INTERFACES.md ("HDF5 result layout"); `load_result` reads it back, so that
``load_result(p)`` after ``res.save(p)`` has the same arrays and attributes.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as _importlib_metadata
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from nppsim.errors import DataFileError
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


@dataclass(frozen=True, eq=False)
class Result:
    """A simulation result (arrays are shared with the solver's Solution, not copied).

    x_faces_nm: cell faces (n_cells + 1,) from 0 to the thickness (nm); depth_nm: cell centres
    (n_cells,) (nm); times_s: snapshot times (n_times,) from the start of stage 1 (s);
    species: species names in case order; fractions: (n_times, n_species, n_cells) fractions of
    n_bulk (use `fraction(name)`); potential_V: (n_times, n_cells) electric potential (V);
    front: front history (FrontRecord); stage_end_index: index into times_s of each completed
    stage's end; method: "npp" or "electroneutral"; diagnostics: solver counters and timings;
    completed: False if the run stopped early, `message` says why; case_toml: the case as TOML
    text; case_name: the case's meta.name; wall_s: wall-clock time of the run (s); metadata:
    nppsim_version, created_utc (ISO 8601) and versions (python and libraries).
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
    case_toml: str
    case_name: str
    wall_s: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_solution(
        cls,
        solution: Any,
        case_toml: str,
        case_name: str,
        wall_s: float,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> Result:
        """Wrap a `solvers.problem.Solution` (arrays are not copied).

        case_toml: the case as TOML text; case_name: its meta.name; wall_s: run time (s);
        metadata: defaults to the current nppsim version, UTC time and library versions.
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
        """Fraction of n_bulk of species `name`, (n_times, n_cells) at the cell centres."""
        return self.fractions[:, self._species_index(name), :]

    def final_fraction(self, name: str) -> np.ndarray:
        """Fraction of n_bulk of species `name` at the last snapshot, (n_cells,)."""
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

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as HDF5 to `path` (atomically, INTERFACES.md layout); returns it."""
        import h5py

        target = Path(path)
        _check_species_names(self.species)
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


# ---------------------------------------------------------------------- diagnostics encoding


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, Path):
        return str(obj)
    logger.warning("diagnostics value %r is not JSON-serialisable; stored as its repr", obj)
    return repr(obj)


def _is_native_attr(value: Any) -> bool:
    """True for values HDF5 stores as an attribute and h5py reads back as the same value."""
    if isinstance(value, (bool, int, float, str, np.bool_, np.integer, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.ndim >= 1 and value.dtype.kind in "biuf"


def _write_diagnostics(group: Any, diagnostics: dict[str, Any]) -> None:
    json_keys = []
    for key, value in diagnostics.items():
        name = str(key)
        if name == JSON_KEYS_ATTR:
            raise ValueError(f"diagnostics key {JSON_KEYS_ATTR!r} is reserved")
        if _is_native_attr(value):
            group.attrs[name] = value
        else:
            group.attrs[name] = json.dumps(value, default=_json_default)
            json_keys.append(name)
    group.attrs[JSON_KEYS_ATTR] = json.dumps(json_keys)


def _read_diagnostics(group: Any) -> dict[str, Any]:
    json_keys = set(json.loads(group.attrs.get(JSON_KEYS_ATTR, "[]")))
    out: dict[str, Any] = {}
    for name, value in group.attrs.items():
        if name == JSON_KEYS_ATTR:
            continue
        if name in json_keys:
            out[name] = json.loads(value)
        elif isinstance(value, np.generic):
            out[name] = value.item()
        elif isinstance(value, bytes):
            out[name] = value.decode("utf-8")
        else:
            out[name] = value
    return out


def _check_species_names(species: tuple[str, ...]) -> None:
    for name in species:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"species name {name!r} cannot be an HDF5 dataset name")


def write_result_group(group: Any, result: Result) -> None:
    """Write `result` into an open h5py Group (or File) with the layout of a result file.

    The attributes and datasets are those of INTERFACES.md ("HDF5 result layout"), relative to
    `group`; `Result.save` writes them at the root of a file, sweep files one group per point.
    Open the file with ``libver=HDF5_LIBVER`` so long attributes (the case text) fit.
    """
    _check_species_names(result.species)
    meta = result.metadata
    attrs = group.attrs
    attrs["nppsim_version"] = str(meta.get("nppsim_version", package_version()))
    attrs["created_utc"] = str(meta.get("created_utc", _now_utc_iso()))
    attrs["case_toml"] = result.case_toml
    attrs["solver"] = result.method
    attrs["wall_s"] = float(result.wall_s)
    attrs["versions"] = json.dumps(meta.get("versions", library_versions()))
    attrs["completed"] = bool(result.completed)
    attrs["message"] = result.message
    attrs["case_name"] = result.case_name
    attrs["species"] = json.dumps(list(result.species))
    extra = {
        k: v for k, v in meta.items() if k not in ("nppsim_version", "created_utc", "versions")
    }
    if extra:
        attrs["metadata"] = json.dumps(extra, default=_json_default)

    grid = group.create_group("grid")
    grid.create_dataset("x_centers_nm", data=result.depth_nm)
    grid.create_dataset("x_faces_nm", data=result.x_faces_nm)
    group.create_dataset("time_s", data=result.times_s)
    frac = group.create_group("fraction")
    for i, name in enumerate(result.species):
        frac.create_dataset(name, data=result.fractions[:, i, :])
    group.create_dataset("potential_V", data=result.potential_V)
    front = group.create_group("front")
    front.create_dataset("time_s", data=result.front.time_s)
    front.create_dataset("current_A_cm2", data=result.front.current_A_cm2)
    front.create_dataset("potential_V", data=result.front.potential_V)
    front.create_dataset("charge_C_cm2", data=result.front.charge_C_cm2)
    front.create_dataset("total_current_A_cm2", data=result.front.total_current_A_cm2)
    front.create_dataset("total_charge_C_cm2", data=result.front.total_charge_C_cm2)
    group.create_dataset("stage_end_index", data=np.asarray(result.stage_end_index, dtype=np.int64))
    _write_diagnostics(group.create_group("diagnostics"), result.diagnostics)


# ---------------------------------------------------------------------- input


_REQUIRED_ROOT_ATTRS = ("nppsim_version", "case_toml", "solver", "species")
_REQUIRED_DATASETS = (
    "grid/x_centers_nm",
    "grid/x_faces_nm",
    "time_s",
    "potential_V",
    "front/time_s",
    "front/current_A_cm2",
    "front/potential_V",
    "front/charge_C_cm2",
)
#: datasets of newer files: a file without them (nppsim before the total current was recorded)
#: loads with the ionic current and charge copied in (FrontRecord)
_OPTIONAL_DATASETS = ("front/total_current_A_cm2", "front/total_charge_C_cm2")


def _attr_str(attrs: Any, name: str, default: str = "") -> str:
    value = attrs.get(name, default)
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_result_group(group: Any, label: str) -> Result:
    """Read a Result from an open h5py Group (or File) written by `write_result_group`.

    label: names the file (and group) in error messages. Raises DataFileError (one line) if the
    group is not an nppsim result; h5py's OSError, KeyError or ValueError on a damaged file.
    """
    attrs = group.attrs
    if SWEEP_MARKER_ATTR in attrs and "grid" not in group:
        raise DataFileError(f"{label}: a sweep file (nppsim sweep); read it with nppsim.load_sweep")
    missing = [a for a in _REQUIRED_ROOT_ATTRS if a not in attrs]
    missing += [d for d in _REQUIRED_DATASETS if d not in group]
    if missing:
        raise DataFileError(f"{label}: not an nppsim result (missing {', '.join(missing)})")
    species = tuple(json.loads(_attr_str(attrs, "species")))
    absent = [s for s in species if f"fraction/{s}" not in group]
    if absent:
        prefix = group.name.rstrip("/")
        listed = ", ".join(f"{prefix}/fraction/{name}" for name in absent)
        raise DataFileError(f"{label}: damaged nppsim result (missing {listed})")
    times_s = group["time_s"][()]
    depth_nm = group["grid/x_centers_nm"][()]
    if species:
        fractions = np.stack([group[f"fraction/{s}"][()] for s in species], axis=1)
    else:
        fractions = np.empty((times_s.size, 0, depth_nm.size))
    metadata: dict[str, Any] = {
        "nppsim_version": _attr_str(attrs, "nppsim_version"),
        "created_utc": _attr_str(attrs, "created_utc"),
        "versions": json.loads(_attr_str(attrs, "versions", "{}")),
    }
    if "metadata" in attrs:
        metadata.update(json.loads(_attr_str(attrs, "metadata")))
    stage_end = group["stage_end_index"][()] if "stage_end_index" in group else []
    diagnostics = _read_diagnostics(group["diagnostics"]) if "diagnostics" in group else {}
    return Result(
        x_faces_nm=group["grid/x_faces_nm"][()],
        depth_nm=depth_nm,
        times_s=times_s,
        species=species,
        fractions=fractions,
        potential_V=group["potential_V"][()],
        front=FrontRecord(
            time_s=group["front/time_s"][()],
            current_A_cm2=group["front/current_A_cm2"][()],
            potential_V=group["front/potential_V"][()],
            charge_C_cm2=group["front/charge_C_cm2"][()],
            total_current_A_cm2=_read_optional(group, "front/total_current_A_cm2"),
            total_charge_C_cm2=_read_optional(group, "front/total_charge_C_cm2"),
        ),
        stage_end_index=tuple(int(i) for i in stage_end),
        method=_attr_str(attrs, "solver"),
        diagnostics=diagnostics,
        completed=bool(attrs.get("completed", True)),
        message=_attr_str(attrs, "message"),
        case_toml=_attr_str(attrs, "case_toml"),
        case_name=_attr_str(attrs, "case_name"),
        wall_s=float(attrs.get("wall_s", float("nan"))),
        metadata=metadata,
    )


def _read_optional(group: Any, name: str) -> np.ndarray | None:
    """The dataset `name` of `group`, or None if the file has none (an older nppsim)."""
    return group[name][()] if name in group else None


def open_hdf5_for_reading(path: str | os.PathLike[str], what: str) -> Any:
    """Open an existing HDF5 file read-only; DataFileError (naming the file and `what` was
    expected, e.g. "an nppsim result .h5") if it is missing, not a file or not HDF5."""
    import h5py

    source = Path(path)
    if not source.exists():
        raise DataFileError(f"{source}: no such file")
    if not source.is_file():
        raise DataFileError(f"{source}: not a file")
    if not h5py.is_hdf5(source):
        raise DataFileError(f"{source}: not an HDF5 file (expected {what})")
    return h5py.File(source, "r")


def load_result(path: str | os.PathLike[str]) -> Result:
    """Read a result written by `Result.save`.

    Raises DataFileError (one line naming the file) if the file is missing, is not HDF5, or is
    not an nppsim result.
    """
    source = Path(path)
    try:
        with open_hdf5_for_reading(source, "an nppsim result .h5") as h5:
            _check_datasets(h5, str(source))
            result = read_result_group(h5, str(source))
        check_loaded_result(result, str(source))
        return result
    except DataFileError:
        raise
    except (
        OSError,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        RuntimeError,
    ) as exc:
        # json.JSONDecodeError is a ValueError; a truncated file raises OSError in h5py, a
        # damaged one (bad metadata checksum) RuntimeError; a dataset replaced by a group, or an
        # attribute of the wrong type, TypeError
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFileError(
            f"{source}: unreadable nppsim result ({type(exc).__name__}: {first_line})"
        ) from None


def _check_datasets(group: Any, label: str) -> None:
    """DataFileError naming the first required dataset that is present but not a dataset."""
    import h5py

    for name in (*_REQUIRED_DATASETS, *_OPTIONAL_DATASETS, "stage_end_index"):
        item = group.get(name)
        if item is not None and not isinstance(item, h5py.Dataset):
            raise DataFileError(f"{label}: damaged nppsim result (/{name} is not a dataset)")
    fraction = group.get("fraction")
    if fraction is not None and not isinstance(fraction, h5py.Group):
        raise DataFileError(f"{label}: damaged nppsim result (/fraction is not a group)")
    for name, item in (fraction or {}).items():
        if not isinstance(item, h5py.Dataset):
            raise DataFileError(
                f"{label}: damaged nppsim result (/fraction/{name} is not a dataset)"
            )


def check_loaded_result(result: Result, label: str) -> None:
    """DataFileError (one line naming `label` and the dataset) unless the arrays read from a
    file have the shapes and types of the result layout, so plots and analyses can trust them."""

    def fail(what: str) -> NoReturn:
        raise DataFileError(f"{label}: damaged nppsim result ({what})")

    def numeric(name: str, value: Any, ndim: int) -> np.ndarray:
        a = np.asarray(value)
        if a.dtype.kind not in "biuf" or a.ndim != ndim:
            fail(f"/{name} must be a {ndim}-D array of numbers, got {a.dtype} of shape {a.shape}")
        return a

    if not all(isinstance(s, str) for s in result.species):
        fail("attribute species must be a JSON list of names")
    faces = numeric("grid/x_faces_nm", result.x_faces_nm, 1)
    n_cells = numeric("grid/x_centers_nm", result.depth_nm, 1).size
    n_times = numeric("time_s", result.times_s, 1).size
    if faces.size != n_cells + 1:
        fail(f"/grid/x_faces_nm has {faces.size} values for {n_cells} cells")
    expected = (n_times, len(result.species), n_cells)
    if numeric("fraction", result.fractions, 3).shape != expected:
        fail(f"/fraction/* must be ({n_times}, {n_cells}) arrays (times x cells)")
    if numeric("potential_V", result.potential_V, 2).shape != (n_times, n_cells):
        fail(f"/potential_V must be a ({n_times}, {n_cells}) array (times x cells)")
    front = result.front
    sizes = {
        numeric(f"front/{name}", getattr(front, name), 1).size
        for name in (
            "time_s", "current_A_cm2", "potential_V", "charge_C_cm2", "total_current_A_cm2",
            "total_charge_C_cm2",
        )
    }  # fmt: skip
    if len(sizes) > 1:
        fail("the /front datasets differ in length")
    if any(not 0 <= i < n_times for i in result.stage_end_index):
        fail(f"/stage_end_index must index the {n_times} snapshots")
    if not isinstance(result.metadata.get("versions"), dict):
        fail("attribute versions must be a JSON object")
