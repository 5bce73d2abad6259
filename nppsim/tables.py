"""Results as tables: scalar metrics of a sweep point, pandas and xarray objects.

`sweep_metrics` gives per sweep point the front depth, the plateau level of the native ion
behind the front and the charge passed through the front; `sweep_dataframe` puts them with the
swept values in a pandas DataFrame (one row per point); `sweep_dataset` and `result_dataset`
build xarray Datasets (a sweep on the grid of its swept keys, a result on time and depth).
pandas and xarray are an optional extra (``pip install "nppsim[tables]"``); they are imported
only here, when a table is asked for. `SweepResult.to_dataframe`, `SweepResult.to_xarray` and
`Result.to_xarray` are thin methods over these functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from nppsim.errors import InputError

if TYPE_CHECKING:
    from nppsim.result import Result
    from nppsim.sweep import SweepResult

#: the front is where the foreign fraction crosses this level (as `nppsim run` reports it)
FRONT_LEVEL = 0.5
#: the plateau level is the median native fraction between these fractions of the front depth:
#: away from the surface (space charge, the beam's source condition) and from the front itself
PLATEAU_WINDOW = (0.25, 0.75)
#: names of the metric columns, with their units, in table order
METRICS = ("front_depth_nm", "plateau_fraction", "charge_C_cm2")


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(
            f"{module} is not installed: tables need the optional extra, "
            'pip install "nppsim[tables]"'
        ) from None


def native_species(result: Result) -> str | None:
    """The first native species of `result` (None if it has none)."""
    roles = result.roles
    for name in result.species:
        if roles[name] == "native":
            return name
    return None


def plateau_fraction(result: Result, front_depth_nm: float) -> float:
    """Native fraction of n_bulk left behind the front: the median of the first native
    species' final profile between 0.25 and 0.75 of `front_depth_nm` (NaN without a front, a
    native species or cells in that window)."""
    native = native_species(result)
    if native is None or not math.isfinite(front_depth_nm) or result.n_times == 0:
        return math.nan
    lo, hi = PLATEAU_WINDOW[0] * front_depth_nm, PLATEAU_WINDOW[1] * front_depth_nm
    inside = (result.depth_nm >= lo) & (result.depth_nm <= hi)
    if not np.any(inside):
        return math.nan
    return float(np.median(result.final_fraction(native)[inside]))


def result_metrics(result: Result | None, species: str | None = None) -> dict[str, float]:
    """{front_depth_nm, plateau_fraction, charge_C_cm2} of one result at its final time.

    front_depth_nm: where the fraction of `species` (default: the first foreign species) first
    falls below 0.5 (nm); plateau_fraction: `plateau_fraction` (fraction of n_bulk);
    charge_C_cm2: the ionic charge passed through the front since t = 0 (C/cm^2). NaN where a
    value does not exist (no result, no foreign species).
    """
    out = dict.fromkeys(METRICS, math.nan)
    if result is None or result.n_times == 0:
        return out
    species = species or (result.foreign_species[0] if result.foreign_species else None)
    if species is not None and species in result.species:
        out["front_depth_nm"] = result.front_depth_nm(species, FRONT_LEVEL)
    out["plateau_fraction"] = plateau_fraction(result, out["front_depth_nm"])
    if result.front.charge_C_cm2.size:
        out["charge_C_cm2"] = float(result.front.charge_C_cm2[-1])
    return out


def sweep_metrics(sweep: SweepResult) -> dict[str, np.ndarray]:
    """{metric: (n_points,) array} for every point of `sweep` (NaN where a point is not "ok"):
    front_depth_nm (nm), plateau_fraction (fraction of n_bulk), charge_C_cm2 (C/cm^2)."""
    species = sweep.front_species()
    out = {m: np.full(sweep.n_points, np.nan) for m in METRICS}
    for i, (status, res) in enumerate(zip(sweep.status, sweep.results, strict=True)):
        if status != "ok" or res is None:
            continue
        for m, v in result_metrics(res, species).items():
            out[m][i] = v
    return out


def sweep_dataframe(sweep: SweepResult) -> Any:
    """pandas DataFrame, one row per point (index ``point``): the swept keys (their units),
    ``status``, ``message``, and the metrics of `sweep_metrics`."""
    pd = _require("pandas")
    data: dict[str, Any] = {k: sweep.values(k) for k in sweep.keys}
    data["status"] = list(sweep.status)
    data["message"] = list(sweep.messages)
    data.update(sweep_metrics(sweep))
    frame = pd.DataFrame(data)
    frame.index.name = "point"
    return frame


def grid_axes(sweep: SweepResult) -> tuple[list[np.ndarray], np.ndarray] | None:
    """(sorted unique values per key, (n_points, n_keys) integer position of every point on
    them) when the points fill the grid of their unique values exactly once, else None."""
    if not sweep.keys or sweep.n_points == 0:
        return None
    axes = []
    pos = np.empty((sweep.n_points, len(sweep.keys)), dtype=int)
    for j in range(len(sweep.keys)):
        col = sweep.parameters[:, j]
        if not np.all(np.isfinite(col)):
            return None
        uniq = np.unique(col)
        axes.append(uniq)
        pos[:, j] = np.searchsorted(uniq, col)
    if int(np.prod([a.size for a in axes])) != sweep.n_points:
        return None
    if len({tuple(p) for p in pos}) != sweep.n_points:
        return None
    return axes, pos


def sweep_dataset(sweep: SweepResult) -> Any:
    """xarray Dataset of a sweep.

    When the points fill the grid of the swept values (what `nppsim.sweep` makes of value
    lists), the swept dotted keys are the dimensions (their values as coordinates); otherwise
    (explicit points) one dimension ``point`` with the keys as coordinates along it. Variables:
    the metrics of `sweep_metrics` and ``status``; ``fraction_<species>`` the final profiles
    (fractions of n_bulk) on the extra dimension ``depth_nm`` (cell centres, nm; the grid of
    the first finished point, other grids interpolated linearly); NaN where a point is not ok.
    """
    xr = _require("xarray")
    ok = [i for i in range(sweep.n_points) if sweep.status[i] == "ok" and sweep.results[i]]
    species: list[str] = []
    for i in ok:
        species += [s for s in sweep.results[i].species if s not in species]  # type: ignore[union-attr]
    depth = sweep.results[ok[0]].depth_nm if ok else np.empty(0)  # type: ignore[union-attr]
    profiles = {s: np.full((sweep.n_points, depth.size), np.nan) for s in species}
    for i in ok:
        res = sweep.results[i]
        for s in res.species:  # type: ignore[union-attr]
            c = res.final_fraction(s)  # type: ignore[union-attr]
            same = res.depth_nm.shape == depth.shape and np.array_equal(res.depth_nm, depth)  # type: ignore[union-attr]
            profiles[s][i] = c if same else np.interp(depth, res.depth_nm, c)  # type: ignore[union-attr]
    metrics = sweep_metrics(sweep)
    status = np.array(sweep.status, dtype=object)
    grid = grid_axes(sweep)
    attrs = {"method": sweep.method, "case_toml": sweep.case_toml, "units": _UNITS}
    if grid is None:
        coords = {k: ("point", sweep.values(k)) for k in sweep.keys}
        coords["point"] = np.arange(sweep.n_points)
        coords["depth_nm"] = depth
        data = {m: ("point", v) for m, v in metrics.items()}
        data["status"] = ("point", status)
        for s, arr in profiles.items():
            data[f"fraction_{s}"] = (("point", "depth_nm"), arr)
        return xr.Dataset(data, coords=coords, attrs=attrs)
    axes, pos = grid
    shape = tuple(a.size for a in axes)
    dims = tuple(sweep.keys)

    def on_grid(values: np.ndarray, fill: Any = np.nan) -> np.ndarray:
        out = np.full(shape + values.shape[1:], fill, dtype=values.dtype)
        out[tuple(pos.T)] = values
        return out

    data = {m: (dims, on_grid(v)) for m, v in metrics.items()}
    data["status"] = (dims, on_grid(status, fill=""))
    for s, arr in profiles.items():
        data[f"fraction_{s}"] = ((*dims, "depth_nm"), on_grid(arr))
    coords = {k: a for k, a in zip(sweep.keys, axes, strict=True)}
    coords["depth_nm"] = depth
    return xr.Dataset(data, coords=coords, attrs=attrs)


#: units of the variables and coordinates of the Datasets (also in their names)
_UNITS = (
    "depth_nm: nm; time_s: s; fraction_*: fraction of n_bulk; potential_V: V; "
    "current_A_cm2: A/cm^2; charge_C_cm2: C/cm^2; front_depth_nm: nm; plateau_fraction: "
    "fraction of n_bulk; swept keys: the unit in their names"
)


def result_dataset(result: Result) -> Any:
    """xarray Dataset of one result: ``fraction_<species>`` and ``potential_V`` on (time_s,
    depth_nm) (every stored snapshot; s, nm), and the front history on ``front_time_s``
    (every accepted step): ``front_current_A_cm2``, ``front_potential_V``,
    ``front_charge_C_cm2``, ``front_total_current_A_cm2``, ``front_total_charge_C_cm2``."""
    xr = _require("xarray")
    data: dict[str, Any] = {
        f"fraction_{s}": (("time_s", "depth_nm"), result.fraction(s)) for s in result.species
    }
    data["potential_V"] = (("time_s", "depth_nm"), result.potential_V)
    f = result.front
    for name in ("current_A_cm2", "potential_V", "charge_C_cm2", "total_current_A_cm2",
                 "total_charge_C_cm2"):  # fmt: skip
        data[f"front_{name}"] = ("front_time_s", np.asarray(getattr(f, name)))
    coords = {"time_s": result.times_s, "depth_nm": result.depth_nm, "front_time_s": f.time_s}
    attrs = {
        "case_name": result.case_name,
        "method": result.method,
        "completed": int(result.completed),
        "case_toml": result.case_toml,
        "units": _UNITS,
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)
