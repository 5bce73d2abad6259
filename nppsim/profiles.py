"""Measured depth profiles (ToF-SIMS): reading delimited text files into :class:`MeasuredProfile`.

File format
-----------
Delimited text as instruments and spreadsheets export it::

    # K+ CAIT, 350 K, 1.5 V            <- comment lines (starting with #) and blank lines: skipped
    depth_nm,Li,K                       <- exactly one header row: the first other line
    0.25,0.0079,0.9921
    0.75,0.0113,0.9887

- Delimiter: comma, tab, semicolon or runs of whitespace, detected from the header and the first
  data rows (the one that splits them all into the same number of columns, at least 2).
- Encoding: UTF-8 (with or without byte-order mark), UTF-16 with a byte-order mark, else Latin-1.
  Windows (CRLF) and old Mac (CR) line endings are accepted.
- Cells may be quoted with double quotes (``"depth (nm)"``); quotes are removed. Surrounding
  whitespace is ignored. Cells after the last named column must be empty (trailing delimiters).
- Numbers: decimal point; a decimal comma (``0,0079``) is accepted when the delimiter is not a
  comma (the usual semicolon-separated European export). A missing value (empty cell, ``nan``,
  ``-``, ``n/a``, ``na``) in a value or uncertainty column drops that row from the profile;
  a column without any value is an error. Infinite values and text are errors. Columns that are
  not used are never parsed and may hold anything.
- Depth: a depth column, unit from its header: ``(nm)``, ``[nm]``, ``_nm``, ``nm`` -> nm; ``um``,
  ``µm``, ``μm``, ``micron`` -> 1000 nm; ``A``, ``Å``, ``angstrom`` -> 0.1 nm (also pm, mm,
  cm, m); a header without a unit is in nm, but one word after ``depth`` that is not a unit
  (``depth_Ang``, ``depth furlong``) is an error, not silently nm. Or sputter time (unit ``s``
  by default, ``min``, ``ms`` or ``h`` from the header) converted with a sputter rate (nm/s) or
  a crater depth (the depth reached at the largest time).
- Depths must be >= 0 and strictly increasing; a file whose depths strictly decrease throughout
  (some instruments export from the back) is reversed.

Values
------
With ``normalize="none"`` the value columns are fractions of n_bulk already (this is what
``nppsim run --csv`` writes). With ``normalize="bulk"`` they are raw counts (any sensitivity):

- the native species' counts are divided by their mean over the deepest 10 % of the rows (at
  least 3): there the glass is pristine, native fraction 1;
- each foreign species j is scaled by a factor k_j > 0 found by linear least squares so that
  ``native + sum_j k_j * I_j = 1`` at every depth: the mobile ions together keep the pristine
  density (electroneutrality against the immobile background charge).

Uncertainty (sigma, fraction of n_bulk): from an uncertainty column (scaled like its values), else
``relative_uncertainty * |value|``, combined in quadrature with the counting statistics
``sqrt(counts) * scale`` for raw counts; never below ``uncertainty_floor``.

Every problem with a file raises :class:`nppsim.errors.DataFileError` with one line naming the
file and the line and/or column, e.g. ``lbo_k.csv: line 7: column 'K': 'abc' is not a number``.
Inconsistent arguments (not file content) raise ValueError.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .case import DataSpec
from .case.keys import DEFAULT_RELATIVE_UNCERTAINTY, DEFAULT_UNCERTAINTY_FLOOR
from .errors import DataFileError
from .profile_depth import _depth_nm
from .profile_table import (
    _clean,
    _column_numbers,
    _find_column,
    _list_columns,
    _num,
    _parse_table,
    _read_text,
    _select_columns,
    _show,
    _Table,
)
from .quantify import QuantSettings, quantify

__all__ = ["MeasuredProfile", "profile_from_spec", "read_profile"]

logger = logging.getLogger(__name__)

NORMALIZATIONS = ("none", "bulk", "matrix")

# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MeasuredProfile:
    """A measured depth profile, ready to compare with simulations.

    depth_nm: (n,) depths (nm), >= 0 and strictly increasing; values: {species: (n,) fraction of
    n_bulk}; sigma: {species: (n,) uncertainty of the value (fraction of n_bulk), > 0};
    file: the file it was read from, or None; after_stage: the stage (1-based) after which it was
    measured, 0 when unknown; depth_resolution_nm: Gaussian sigma of the SIMS depth resolution
    (nm); species: the species in column order (default: the order of values); file_rows:
    indices of the points among the file's complete rows sorted by depth (None: all);
    info: how the values were obtained (normalisation, factors, bulk level, uncertainty model,
    points used and excluded, depth calibration), for reports.

    The arrays are read-only float64 copies. Equality is identity (arrays do not compare as one
    truth value).
    """

    depth_nm: np.ndarray
    values: dict[str, np.ndarray]
    sigma: dict[str, np.ndarray]
    file: Path | None = None
    after_stage: int = 0
    depth_resolution_nm: float = 0.0
    species: tuple[str, ...] = ()
    file_rows: np.ndarray | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        depth = _frozen_array(self.depth_nm)
        if depth.ndim != 1:
            raise ValueError(f"depth_nm must be one-dimensional, got shape {depth.shape}")
        if not np.all(np.isfinite(depth)) or np.any(depth < 0.0):
            raise ValueError("depth_nm must be finite and >= 0")
        if np.any(np.diff(depth) <= 0.0):
            raise ValueError("depth_nm must be strictly increasing")
        species = tuple(self.species) if self.species else tuple(self.values)
        if set(species) != set(self.values) or set(species) != set(self.sigma):
            raise ValueError(
                f"species {species}, values {tuple(self.values)} and sigma {tuple(self.sigma)} "
                "must name the same species"
            )
        if len(set(species)) != len(species):
            raise ValueError(f"species {species} has duplicates")
        values = {s: _frozen_array(self.values[s]) for s in species}
        sigma = {s: _frozen_array(self.sigma[s]) for s in species}
        for s in species:
            if values[s].shape != depth.shape or sigma[s].shape != depth.shape:
                raise ValueError(f"values and sigma of {s!r} must have the shape of depth_nm")
            if not np.all(np.isfinite(values[s])):
                raise ValueError(f"values of {s!r} must be finite")
            if not (np.all(np.isfinite(sigma[s])) and np.all(sigma[s] > 0.0)):
                raise ValueError(f"sigma of {s!r} must be finite and > 0")
        if not (math.isfinite(self.depth_resolution_nm) and self.depth_resolution_nm >= 0.0):
            raise ValueError(f"depth_resolution_nm must be >= 0, got {self.depth_resolution_nm}")
        if self.after_stage < 0:
            raise ValueError(f"after_stage must be >= 0, got {self.after_stage}")
        object.__setattr__(self, "depth_nm", depth)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "species", species)
        object.__setattr__(self, "file", None if self.file is None else Path(self.file))
        object.__setattr__(self, "depth_resolution_nm", float(self.depth_resolution_nm))
        if self.file_rows is not None:
            object.__setattr__(self, "file_rows", np.array(self.file_rows, dtype=np.intp))
        object.__setattr__(self, "info", dict(self.info))

    @property
    def n_points(self) -> int:
        """Number of depths."""
        return int(self.depth_nm.size)

    def __repr__(self) -> str:
        span = f"{self.depth_nm[0]:.4g}..{self.depth_nm[-1]:.4g} nm" if self.n_points else "empty"
        return (
            f"MeasuredProfile(file={str(self.file) if self.file else None!r}, "
            f"species={self.species}, n_points={self.n_points}, depth {span}, "
            f"after_stage={self.after_stage}, depth_resolution_nm={self.depth_resolution_nm:g})"
        )


def _frozen_array(a: object) -> np.ndarray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def read_profile(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    depth_column: str | None = None,
    time_column: str | None = None,
    sputter_rate_nm_s: float | None = None,
    crater_depth_nm: float | None = None,
    uncertainty_columns: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    relative_uncertainty: float | None = None,
    uncertainty_floor: float = DEFAULT_UNCERTAINTY_FLOOR,
    normalize: str = "none",
    native: str | None = None,
    after_stage: int = 0,
    depth_resolution_nm: float = 0.0,
    header_row: int | None = None,
    matrix_column: str | None = None,
    sensitivity: Mapping[str, float] | None = None,
    background: Mapping[str, float] | None = None,
    bulk_level: float | None = None,
    fit_range_nm: tuple[float, float] | None = None,
    depth_scale: float = 1.0,
    depth_offset_nm: float = 0.0,
    rows: Sequence[int] | np.ndarray | None = None,
) -> MeasuredProfile:
    """Read a measured depth profile from a delimited text file (format: see the module docstring).

    path: the file; columns: species -> column name (a mapping or (species, column) pairs), in
    the order the species should have; None: every column except the depth/time column and the
    uncertainty columns, species named by the header, in file order.
    depth_column: the column holding depth (unit from its header, default nm); time_column: the
    column holding sputter time (unit from its header, default s), converted with
    sputter_rate_nm_s (nm/s; depth = t * rate) or crater_depth_nm (nm; depth = crater * t / t_max).
    With neither, the one column whose header starts with "depth" (any case) is used.
    A column name matches a header exactly, else case-insensitively ignoring surrounding
    whitespace. header_row: the file line (1-based) holding the column names; None: the first
    line holding the depth/time column's name (lines above it are a preamble).
    uncertainty_columns: species -> column of its uncertainty (same units as its values);
    relative_uncertainty: sigma = relative_uncertainty * |value| in quadrature (1; None: 0.05
    for fractions, 0 for counts); uncertainty_floor: smallest sigma (fraction of n_bulk, > 0).
    normalize: "none" (values are fractions of n_bulk) | "bulk" (raw counts, normalised with the
    native species `native` and electroneutrality) | "matrix" (counts divided by the counts of
    matrix_column first); sensitivity: {species: relative sensitivity factor}; background:
    {species: counts subtracted}; bulk_level: the native signal of the pristine bulk (else from
    the deepest rows); see :mod:`nppsim.quantify`.
    fit_range_nm: (low, high) depth range (nm, the file's own calibration) of the points kept;
    depth_scale, depth_offset_nm (nm): depth = depth_scale * file depth + depth_offset_nm;
    rows: keep exactly these complete rows (indices by increasing depth, as in
    ``MeasuredProfile.file_rows``) instead of fit_range_nm (a fit re-reading a block keeps its
    points). after_stage, depth_resolution_nm (nm): stored in the result.

    Raises DataFileError (one line naming the file, line and/or column) for any problem with the
    file, ValueError for inconsistent arguments.
    """
    col_map = _pairs(columns, "columns")
    unc_map = _pairs(uncertainty_columns, "uncertainty_columns")
    if relative_uncertainty is None:
        relative_uncertainty = DEFAULT_RELATIVE_UNCERTAINTY if normalize == "none" else 0.0
    _check_arguments(
        col_map,
        depth_column,
        time_column,
        sputter_rate_nm_s,
        crater_depth_nm,
        relative_uncertainty,
        uncertainty_floor,
        normalize,
        native,
        after_stage,
        depth_resolution_nm,
    )
    _check_quantification(
        normalize, matrix_column, sensitivity, background, bulk_level, fit_range_nm,
        depth_scale, depth_offset_nm, header_row,
    )  # fmt: skip
    label = _clean(str(path))
    p = Path(path)
    if time_column is not None:
        names: list[str] = [time_column]
    elif depth_column is not None:
        names = [depth_column]
    else:
        names = []
    table = _parse_table(_read_text(p, label), label, header_row, names)
    q = QuantSettings(
        normalize=normalize,
        native=native,
        matrix=None,
        sensitivity=dict(sensitivity or {}),
        background=dict(background or {}),
        bulk_level=bulk_level,
        relative_uncertainty=float(relative_uncertainty),
        uncertainty_floor=float(uncertainty_floor),
    )
    depth_map = DepthMap(fit_range_nm, float(depth_scale), float(depth_offset_nm), rows)
    try:
        # overflow (1e308 um -> nm) or invalid operations are errors of the file, whatever the
        # caller's numpy error settings
        with np.errstate(all="raise", under="ignore"):
            depth, values, sigma, species, kept, record = _build(
                table,
                col_map,
                unc_map,
                depth_column,
                time_column,
                sputter_rate_nm_s,
                crater_depth_nm,
                matrix_column,
                q,
                depth_map,
            )
    except (FloatingPointError, OverflowError, np.linalg.LinAlgError) as exc:
        raise DataFileError(
            f"{label}: numbers out of range while converting the profile ({_clean(str(exc))})"
        ) from None
    return MeasuredProfile(
        depth_nm=depth,
        values=values,
        sigma=sigma,
        file=p,
        after_stage=after_stage,
        depth_resolution_nm=float(depth_resolution_nm),
        species=species,
        file_rows=kept,
        info=record,
    )


def profile_from_spec(
    spec: DataSpec, native: str, rows: Sequence[int] | np.ndarray | None = None
) -> MeasuredProfile:
    """Read the measured profile of a ``[[data]]`` block of a loaded case.

    spec: the block (``case.data[i]``); native: the name of the case's native species
    (``case.native.name``), needed when ``spec.normalize`` is "bulk" or "matrix"; rows: see
    `read_profile` (a fit re-reading the block with new data-side values keeps its points).
    """
    return read_profile(
        spec.file,
        columns=spec.columns,
        depth_column=spec.depth_column,
        time_column=spec.time_column,
        sputter_rate_nm_s=spec.sputter_rate_nm_s,
        crater_depth_nm=spec.crater_depth_nm,
        uncertainty_columns=spec.uncertainty_columns,
        relative_uncertainty=spec.relative_uncertainty,
        uncertainty_floor=spec.uncertainty_floor,
        normalize=spec.normalize,
        native=native,
        after_stage=spec.after_stage,
        depth_resolution_nm=spec.depth_resolution_nm,
        header_row=spec.header_row,
        matrix_column=spec.matrix_column,
        sensitivity=dict(spec.sensitivity) if spec.sensitivity else None,
        background=dict(spec.background) if spec.background else None,
        bulk_level=spec.bulk_level,
        fit_range_nm=spec.fit_range_nm,
        depth_scale=spec.depth_scale,
        depth_offset_nm=spec.depth_offset_nm,
        rows=rows,
    )


def _pairs(
    value: Mapping[str, str] | Iterable[tuple[str, str]] | None, name: str
) -> dict[str, str] | None:
    if value is None:
        return None
    out = dict(value.items() if isinstance(value, Mapping) else value)
    for species, column in out.items():
        if not isinstance(species, str) or not isinstance(column, str):
            raise ValueError(f"{name}: species and column names must be strings")
    return out


def _check_arguments(
    columns: dict[str, str] | None,
    depth_column: str | None,
    time_column: str | None,
    rate: float | None,
    crater: float | None,
    relative_uncertainty: float,
    uncertainty_floor: float,
    normalize: str,
    native: str | None,
    after_stage: int,
    depth_resolution_nm: float,
) -> None:
    if columns is not None and not columns:
        raise ValueError("columns must name at least one species")
    if depth_column is not None and time_column is not None:
        raise ValueError("give depth_column or time_column, not both")
    if time_column is None:
        if rate is not None or crater is not None:
            raise ValueError("sputter_rate_nm_s and crater_depth_nm are only used with time_column")
    elif (rate is None) == (crater is None):
        raise ValueError("time_column needs exactly one of sputter_rate_nm_s, crater_depth_nm")
    for name, value in (("sputter_rate_nm_s", rate), ("crater_depth_nm", crater)):
        if value is not None and not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    if not (math.isfinite(relative_uncertainty) and relative_uncertainty >= 0.0):
        raise ValueError(f"relative_uncertainty must be >= 0, got {relative_uncertainty!r}")
    if not (math.isfinite(uncertainty_floor) and uncertainty_floor > 0.0):
        raise ValueError(f"uncertainty_floor must be > 0, got {uncertainty_floor!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if normalize != "none" and native is None:
        raise ValueError(f"normalize={normalize!r} needs native (the name of the native species)")
    if after_stage < 0:
        raise ValueError(f"after_stage must be >= 0, got {after_stage!r}")
    if not (math.isfinite(depth_resolution_nm) and depth_resolution_nm >= 0.0):
        raise ValueError(f"depth_resolution_nm must be >= 0, got {depth_resolution_nm!r}")


# --------------------------------------------------------------------------------------------
# Cells -> profile
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepthMap:
    """Which rows are kept and how file depths become true depths (see `read_profile`)."""

    fit_range_nm: tuple[float, float] | None
    scale: float
    offset_nm: float
    rows: Sequence[int] | np.ndarray | None


def _check_quantification(
    normalize: str,
    matrix_column: str | None,
    sensitivity: Mapping[str, float] | None,
    background: Mapping[str, float] | None,
    bulk_level: float | None,
    fit_range_nm: tuple[float, float] | None,
    depth_scale: float,
    depth_offset_nm: float,
    header_row: int | None,
) -> None:
    counts = normalize != "none"
    if (normalize == "matrix") != (matrix_column is not None):
        raise ValueError('normalize="matrix" and matrix_column go together')
    for name, table, positive in (
        ("sensitivity", sensitivity, True),
        ("background", background, False),
    ):
        if table is None:
            continue
        if not counts:
            raise ValueError(f"{name} is only used with counts (normalize 'bulk' or 'matrix')")
        for s, v in table.items():
            ok = math.isfinite(v) and (v > 0.0 if positive else v >= 0.0)
            if not ok:
                raise ValueError(
                    f"{name} of {s!r} must be {'> 0' if positive else '>= 0'}, got {v!r}"
                )
    if bulk_level is not None and not (counts and math.isfinite(bulk_level) and bulk_level > 0.0):
        raise ValueError(f"bulk_level must be > 0 and used with counts, got {bulk_level!r}")
    if fit_range_nm is not None:
        low, high = fit_range_nm
        if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low < high):
            raise ValueError(
                f"fit_range_nm must be [low, high] with 0 <= low < high, got {fit_range_nm!r}"
            )
    if not (math.isfinite(depth_scale) and depth_scale > 0.0):
        raise ValueError(f"depth_scale must be > 0, got {depth_scale!r}")
    if not math.isfinite(depth_offset_nm):
        raise ValueError(f"depth_offset_nm must be finite, got {depth_offset_nm!r}")
    if header_row is not None and header_row < 1:
        raise ValueError(f"header_row must be >= 1, got {header_row!r}")


def _build(
    table: _Table,
    col_map: dict[str, str] | None,
    unc_map: dict[str, str] | None,
    depth_column: str | None,
    time_column: str | None,
    rate: float | None,
    crater: float | None,
    matrix_column: str | None,
    q: QuantSettings,
    dm: DepthMap,
) -> tuple[
    np.ndarray,
    dict[str, np.ndarray],
    dict[str, np.ndarray],
    tuple[str, ...],
    np.ndarray,
    dict[str, Any],
]:
    """(depth_nm, values, sigma, species, kept rows, record) from the cells: rows sorted,
    incomplete rows dropped, quantified, selected and mapped to true depth."""
    label = table.label
    pos, species_idx, unc_idx = _select_columns(
        table, col_map, unc_map, depth_column, time_column, q.normalize, q.native
    )
    matrix_idx = None
    if matrix_column is not None:
        matrix_idx = _find_column(table, matrix_column, "matrix_column")
        q = dataclasses.replace(q, matrix=matrix_idx)
    species = tuple(species_idx)
    depth, order = _depth_nm(table, pos, time_column is not None, rate, crater)
    values = {s: _column_numbers(table, j, missing_ok=True) for s, j in species_idx.items()}
    unc = {s: _column_numbers(table, j, missing_ok=True) for s, j in unc_idx.items()}
    for s, u in unc.items():
        bad = np.flatnonzero(u < 0.0)
        if bad.size:
            raise DataFileError(
                f"{label}: line {table.lines[bad[0]]}: column {_show(table.names[unc_idx[s]])}: "
                f"uncertainty {_num(u[bad[0]])} is negative"
            )
    matrix = None if matrix_idx is None else _column_numbers(table, matrix_idx, missing_ok=True)

    # ---- rows with a value in every used column, by increasing depth
    keep = np.ones(len(table.rows), dtype=bool)
    used = [(species_idx[s], values[s]) for s in species] + [(unc_idx[s], unc[s]) for s in unc]
    if matrix is not None:
        used.append((matrix_idx, matrix))
    for j, column in used:
        present = ~np.isnan(column)
        if not present.any():
            raise DataFileError(
                f"{label}: column {_show(table.names[j])} has no values (all cells empty or nan)"
            )
        keep &= present
    if not keep.any():
        raise DataFileError(
            f"{label}: no row has a value in every used column "
            f"({_list_columns([table.names[j] for j, _ in used])})"
        )
    n_missing = int((~keep).sum())
    if n_missing:
        logger.info("%s: %d rows with missing values dropped", label, n_missing)
    rows = order[keep[order]]
    depth = depth[rows]
    values = {s: v[rows] for s, v in values.items()}
    unc = {s: u[rows] for s, u in unc.items()}
    if matrix is not None:
        matrix = matrix[rows]
    lines = np.asarray(table.lines)[rows]
    steps = np.flatnonzero(np.diff(depth) <= 0.0)
    if steps.size:
        # distinct in the file, equal after the unit conversion (subnormal numbers)
        i = steps[0] + 1
        raise DataFileError(
            f"{label}: line {lines[i]}: depth {_num(depth[i])} nm equals the "
            "previous one after conversion to nm"
        )

    # ---- the points compared with the model (file depth), quantification, true depth
    n = depth.size
    excluded = []
    if n_missing:
        excluded.append(f"{n_missing} rows with a missing value")
    if dm.rows is not None:
        kept = np.asarray(dm.rows, dtype=np.intp)
        if kept.size == 0 or kept.min() < 0 or kept.max() >= n:
            raise ValueError(f"rows must index the {n} complete rows of {label}")
        mask = np.zeros(n, dtype=bool)
        mask[kept] = True
    elif dm.fit_range_nm is not None:
        low, high = dm.fit_range_nm
        mask = (depth >= low) & (depth <= high)
        below, above = int((depth < low).sum()), int((depth > high).sum())
        if below:
            excluded.append(f"{below} rows above {low:g} nm (fit_range_nm)")
        if above:
            excluded.append(f"{above} rows below {high:g} nm (fit_range_nm)")
        if not mask.any():
            raise DataFileError(
                f"{label}: fit_range_nm [{low:g}, {high:g}] holds no row (the file depths run "
                f"{depth[0]:.4g}-{depth[-1]:.4g} nm)"
            )
    else:
        mask = np.ones(n, dtype=bool)
    fractions, sigma, record = quantify(
        table, species_idx, values, unc, matrix, lines, depth, mask, q
    )
    kept = np.flatnonzero(mask)
    true_depth = dm.scale * depth[kept] + dm.offset_nm
    if true_depth[0] < 0.0:
        raise DataFileError(
            f"{label}: line {lines[kept[0]]}: depth {true_depth[0]:.4g} nm < 0 after "
            f"depth_scale {dm.scale:g} and depth_offset_nm {dm.offset_nm:g} (raise the low end of "
            "fit_range_nm or the offset)"
        )
    if kept.size > 1 and np.any(np.diff(true_depth) <= 0.0):
        # the file's depths increase; scaled and offset they must still do so (an offset so
        # large that the depths vanish against it in floating point, e.g. 1e300 nm)
        raise DataFileError(
            f"{label}: depth_scale {dm.scale:g} and depth_offset_nm {dm.offset_nm:g} make the "
            "depths equal in floating point (use an offset of the order of the profile depth)"
        )
    record.update(
        {
            "rows_in_file": len(table.rows),
            "points_used": int(kept.size),
            "excluded": excluded,
            "preamble_lines": table.preamble_lines,
            "header_line": table.header_line,
            "units_row": table.units is not None,
            "fit_range_nm": None if dm.fit_range_nm is None else list(dm.fit_range_nm),
            "depth_scale": dm.scale,
            "depth_offset_nm": dm.offset_nm,
            "file_depth_range_nm": [float(depth[kept[0]]), float(depth[kept[-1]])],
            "depth_range_nm": [float(true_depth[0]), float(true_depth[-1])],
        }
    )
    return (
        true_depth,
        {s: v[kept] for s, v in fractions.items()},
        {s: v[kept] for s, v in sigma.items()},
        species,
        kept,
        record,
    )
