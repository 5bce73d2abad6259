"""The HDF5 file format of a `Result`: writing and reading the layout of INTERFACES.md.

`write_result_group` and `read_result_group` work on an h5py Group, so that result files
(`Result.save`, `load_result`) and sweep files (one group per point) share them;
`check_loaded_result` checks what was read before anything trusts it. The names are re-exported
by `nppsim.result`, where they used to live.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from nppsim.errors import DataFileError
from nppsim.hdf5heap import global_heap_problem
from nppsim.result import (
    JSON_KEYS_ATTR,
    SWEEP_MARKER_ATTR,
    FrontRecord,
    Result,
    _now_utc_iso,
    library_versions,
    package_version,
)

logger = logging.getLogger(__name__)


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


def check_species_names(species: tuple[str, ...]) -> None:
    """ValueError unless every name of `species` can name an HDF5 dataset."""
    for name in species:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"species name {name!r} cannot be an HDF5 dataset name")


def write_result_group(group: Any, result: Result) -> None:
    """Write `result` into an open h5py Group (or File) with the layout of a result file.

    The attributes and datasets are those of INTERFACES.md ("HDF5 result layout"), relative to
    `group`; `Result.save` writes them at the root of a file, sweep files one group per point.
    Open the file with ``libver=HDF5_LIBVER`` so long attributes (the case text) fit.
    """
    check_species_names(result.species)
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
    expected, e.g. "an nppsim result .h5") if it is missing, not a file, not HDF5, or its
    global heaps are damaged (`nppsim.hdf5heap`: the HDF5 library would loop forever)."""
    import h5py

    source = Path(path)
    if not source.exists():
        raise DataFileError(f"{source}: no such file")
    if not source.is_file():
        raise DataFileError(f"{source}: not a file")
    if not h5py.is_hdf5(source):
        raise DataFileError(f"{source}: not an HDF5 file (expected {what})")
    # a damaged global heap can make the HDF5 library loop forever on the first text attribute
    problem = global_heap_problem(source)
    if problem is not None:
        raise DataFileError(f"{source}: damaged HDF5 file ({problem})")
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
