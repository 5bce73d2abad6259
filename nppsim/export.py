"""CSV tables of results, fits and sweeps, for spreadsheets, Origin and pandas (`nppsim export`).

Every table is comma-separated text with one header row whose names carry their units (``depth_nm``,
``time_s``, ``Li_fraction`` = fraction of n_bulk, ``current_A_cm2``), numbers written as the
shortest text that reads back to the same binary values as in the HDF5 file. Each
file is written atomically (temporary name, then rename). The functions return the paths they
wrote, in order.

- `export_result`: ``snapshots.csv`` (long: every stored time x cell, all species and the
  potential), ``times.csv`` (snapshot index, time, stage), ``profiles_<species>.csv`` and
  ``potential.csv`` (wide: depth, then one column per snapshot), ``final_profile.csv`` (what
  ``nppsim run --csv`` writes, with units in the header), ``front.csv`` (every accepted step).
- `export_fit`: ``fit_parameters.csv`` and, per data block, ``fit_block<N>.csv`` (measured,
  uncertainty, blurred model, residual) and ``fit_block<N>_simulated.csv`` (before blurring).
- `export_sweep`: ``sweep_table.csv`` (swept values, status, metrics) and
  ``sweep_final_<species>.csv`` (depth, then the final profile of every finished point).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nppsim.errors import InputError
from nppsim.fileio import atomic_write

if TYPE_CHECKING:
    from fitting.result import FitResult
    from nppsim.result import Result
    from nppsim.sweep import SweepResult

#: numbers are written as Python's shortest repr of the float64 ("0.15", "1e-16"): the
#: shortest text that reads back to the same binary value


def _check_folder(folder: str | os.PathLike[str]) -> Path:
    """The folder to write into: created when missing (its parent must exist)."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: cannot write CSV tables there: it is a file, not a folder")
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"{path}: cannot create the folder: {parent} does not exist")
        path.mkdir()
    return path


def _safe(name: str) -> str:
    """A species or case name as a file-name part (letters, digits, - and _)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name) or "_"


def write_numeric(path: Path, header: Sequence[str], columns: Sequence[np.ndarray]) -> Path:
    """Equally long numeric columns as CSV with `header`, exact to the last bit; atomic."""
    arrays = [np.asarray(c, dtype=float).ravel() for c in columns]
    if len({a.size for a in arrays}) > 1:
        raise ValueError(f"{path.name}: columns differ in length")
    with atomic_write(path, "w", newline="\n") as f:
        f.write(",".join(header) + "\n")
        if arrays and arrays[0].size:
            for row in np.column_stack(arrays).tolist():
                f.write(",".join(map(repr, row)) + "\n")
    return path


def _cell(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else repr(float(value))
    return value


def write_rows(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Mixed text and number rows as CSV (quoted where needed; NaN as an empty cell); atomic."""
    with atomic_write(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(v) for v in row])
    return path


def _stage_of(result: Result) -> np.ndarray:
    """1-based stage of every snapshot (a stage end belongs to the stage it ends)."""
    stage = np.ones(result.n_times, dtype=int)
    for m, end in enumerate(result.stage_end_index):
        stage[int(end) + 1 :] = m + 2
    return stage


def export_result(result: Result, folder: str | os.PathLike[str]) -> list[Path]:
    """Write the CSV tables of one result into `folder` (see the module docstring)."""
    out = _check_folder(folder)
    written = []
    n_t, n_x = result.n_times, result.n_cells
    frac_names = [f"{_safe(s)}_fraction" for s in result.species]
    written.append(
        write_numeric(
            out / "snapshots.csv",
            ["time_s", "depth_nm", *frac_names, "potential_V"],
            [
                np.repeat(result.times_s, n_x),
                np.tile(result.depth_nm, n_t),
                *[result.fraction(s).ravel() for s in result.species],
                result.potential_V.ravel(),
            ],
        )
    )
    written.append(
        write_numeric(
            out / "times.csv",
            ["snapshot", "time_s", "stage"],
            [np.arange(n_t), result.times_s, _stage_of(result)],
        )
    )
    snap_names = [f"t{k}_{t:.6g}_s" for k, t in enumerate(result.times_s)]
    for s in result.species:
        written.append(
            write_numeric(
                out / f"profiles_{_safe(s)}.csv",
                ["depth_nm", *[f"{_safe(s)}_fraction_{n}" for n in snap_names]],
                [result.depth_nm, *result.fraction(s)],
            )
        )
    written.append(
        write_numeric(
            out / "potential.csv",
            ["depth_nm", *[f"potential_V_{n}" for n in snap_names]],
            [result.depth_nm, *result.potential_V],
        )
    )
    if n_t:
        written.append(
            write_numeric(
                out / "final_profile.csv",
                ["depth_nm", *frac_names],
                [result.depth_nm, *[result.final_fraction(s) for s in result.species]],
            )
        )
    f = result.front
    names = ("time_s", "current_A_cm2", "potential_V", "charge_C_cm2", "total_current_A_cm2",
             "total_charge_C_cm2")  # fmt: skip
    written.append(
        write_numeric(out / "front.csv", names, [np.asarray(getattr(f, n)) for n in names])
    )
    return written


def export_fit(fit: FitResult, folder: str | os.PathLike[str]) -> list[Path]:
    """Write the CSV tables of a fit into `folder` (see the module docstring)."""
    out = _check_folder(folder)
    rows = [
        (p.key, p.case or "", p.value, p.stderr, p.low, p.high, p.at_bound, p.log)
        for p in fit.parameters
    ]
    header = ["key", "case", "value", "stderr", "low", "high", "at_bound", "log_scale"]
    written = [write_rows(out / "fit_parameters.csv", header, rows)]
    for j, prof in enumerate(fit.profiles, start=1):
        header, cols = ["depth_nm"], [prof.depth_nm]
        for s in prof.species:
            n = _safe(s)
            header += [f"{n}_measured_fraction", f"{n}_sigma_fraction", f"{n}_fit_fraction",
                       f"{n}_residual_sigma"]  # fmt: skip
            cols += [prof.measured[s], prof.sigma[s], prof.model[s],
                     (prof.model[s] - prof.measured[s]) / prof.sigma[s]]  # fmt: skip
        written.append(write_numeric(out / f"fit_block{j}.csv", header, cols))
        if prof.sim_depth_nm.size:
            written.append(
                write_numeric(
                    out / f"fit_block{j}_simulated.csv",
                    ["depth_nm", *[f"{_safe(s)}_fraction" for s in prof.species]],
                    [prof.sim_depth_nm, *[prof.sim[s] for s in prof.species]],
                )
            )
    return written


def export_sweep(sweep: SweepResult, folder: str | os.PathLike[str]) -> list[Path]:
    """Write the CSV tables of a sweep into `folder` (see the module docstring)."""
    from nppsim.tables import METRICS, sweep_metrics

    out = _check_folder(folder)
    metrics = sweep_metrics(sweep)
    header = ["point", *sweep.keys, "status", "message", *METRICS]
    rows = [
        [
            i,
            *sweep.parameters[i],
            sweep.status[i],
            sweep.messages[i],
            *[metrics[m][i] for m in METRICS],
        ]
        for i in range(sweep.n_points)
    ]
    written = [write_rows(out / "sweep_table.csv", header, rows)]
    ok = [i for i in range(sweep.n_points) if sweep.status[i] == "ok" and sweep.results[i]]
    if not ok:
        return written
    depth = sweep.results[ok[0]].depth_nm  # type: ignore[union-attr]
    species: list[str] = []
    for i in ok:
        species += [s for s in sweep.results[i].species if s not in species]  # type: ignore[union-attr]
    for s in species:
        cols, names = [depth], ["depth_nm"]
        for i in ok:
            res = sweep.results[i]
            if s not in res.species:  # type: ignore[union-attr]
                continue
            c = res.final_fraction(s)  # type: ignore[union-attr]
            if not np.array_equal(res.depth_nm, depth):  # type: ignore[union-attr]
                c = np.interp(depth, res.depth_nm, c)  # type: ignore[union-attr]
            cols.append(c)
            names.append(f"{_safe(s)}_fraction_point{i}")
        written.append(write_numeric(out / f"sweep_final_{_safe(s)}.csv", names, cols))
    return written
