"""Quantification: raw SIMS counts -> fractions of n_bulk, with stated uncertainties.

For counts (``normalize = "bulk"`` or ``"matrix"``) every species' signal is

    S_s = sensitivity_s * (I_s - background_s)          ("bulk")
    S_s = sensitivity_s * (I_s - background_s) / I_M     ("matrix": I_M the matrix counts)

then turned into a fraction of n_bulk:

- native species: F = S / bulk_level, bulk_level the mean of S over the deepest 10 % of the
  rows (at least 3; there the glass is pristine, native fraction 1) or the ``bulk_level`` given;
- a foreign species with a sensitivity factor: by the native's scale (relative sensitivity
  factors quantify it against the native ion);
- the other foreign species: by factors k_j > 0 found by linear least squares so that
  ``native + sum_j k_j S_j = 1`` over the points compared with the model (the mobile ions
  together keep the pristine density: electroneutrality against the immobile background charge).

Uncertainty: the counts are Poisson (variance = counts, or the square of an uncertainty column
in count units), propagated through the background subtraction (a fixed number), the matrix
division (the matrix counts Poisson too) and the scale factors (taken as exact); combined in
quadrature with ``relative_uncertainty * |fraction|`` (default 0 for counts); never below
``uncertainty_floor``. For fractions (``normalize = "none"``): the uncertainty column, else
``relative_uncertainty * |fraction|`` (default 5 %), never below the floor.

Checks that refuse to quantify nonsense (DataFileError naming the file and what to set): a
matrix signal that is zero; a profile whose deepest part is not flat at the bulk (the native
signal still changing, or a foreign signal still present) unless ``bulk_level`` is given;
fractions far above the largest site density of the case (`check_fractions`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .case import Case
from .errors import DataFileError
from .profile_table import _list_columns, _num, _show, _Table

#: the deepest fraction of the rows taken as pristine glass (native fraction 1); ToF-SIMS
#: profiles are measured well past the exchanged zone, so the last 10 % are bulk
BULK_TAIL_FRACTION = 0.10
#: ... but never fewer rows than this, so that one noisy point does not set the scale
BULK_TAIL_MIN_POINTS = 3
#: the native signal of the bulk tail may differ from the block of rows before it by this
#: relative amount (a slow drift of the primary current) before the profile counts as not
#: reaching the bulk ...
BULK_FLATNESS_TOLERANCE = 0.05
#: ... and only when the difference is this many standard errors (counting noise)
BULK_FLATNESS_SIGMAS = 3.0
#: a foreign signal in the bulk tail above this fraction of its peak (95th percentile) means
#: the exchanged zone reaches the end of the profile
FOREIGN_IN_BULK_MAX = 0.05
#: fractions above this multiple of the case's largest site density are counts read as
#: fractions (noise on a fraction of 1 stays far below)
SITE_DENSITY_MARGIN = 1.5
#: a measured fraction beyond this many times n_bulk is no measurement (the site density of a
#: glass is a few n_bulk at most): counts read as fractions, a unit mix-up or a damaged file.
#: Checked on every block when it is read; the case-aware check (`check_fractions`, against
#: the site density) is stricter where a case is known.
MAX_DATA_FRACTION = 100.0


@dataclass(frozen=True)
class QuantSettings:
    """How a block's values become fractions (see the module docstring).

    normalize: "none" | "bulk" | "matrix"; native: native species (counts only); matrix: the
    matrix column's index (or None); sensitivity, background: {species: factor | counts};
    bulk_level: given native bulk signal or None; relative_uncertainty (1);
    uncertainty_floor (fraction of n_bulk).
    """

    normalize: str
    native: str | None
    matrix: int | None
    sensitivity: Mapping[str, float]
    background: Mapping[str, float]
    bulk_level: float | None
    relative_uncertainty: float
    uncertainty_floor: float


def quantify(
    table: _Table,
    species_idx: Mapping[str, int],
    values: Mapping[str, np.ndarray],
    unc: Mapping[str, np.ndarray],
    matrix_counts: np.ndarray | None,
    lines: np.ndarray,
    file_depth_nm: np.ndarray,
    fit_mask: np.ndarray,
    q: QuantSettings,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """(fractions, sigma, record) of the complete rows sorted by depth.

    values, unc: {species: (n,)} as read (counts or fractions; unc in the same unit);
    matrix_counts: (n,) or None; lines: (n,) file line of each row; file_depth_nm: (n,) depth
    in the file's own calibration; fit_mask: (n,) rows compared with the model (the
    electroneutrality factors are fitted there). record: what was done, for reports.
    """
    label = table.label
    species = tuple(species_idx)
    record: dict[str, Any] = {"normalize": q.normalize}
    if q.normalize == "none":
        sigma = {
            s: unc[s] if s in unc else q.relative_uncertainty * np.abs(values[s]) for s in species
        }
        parts = []
        if unc:
            parts.append("uncertainty columns (" + ", ".join(unc) + ")")
        rest = [s for s in species if s not in unc]
        if rest:
            parts.append(
                f"relative {q.relative_uncertainty:g} of the value (" + ", ".join(rest) + ")"
            )
        parts.append(f"floor {q.uncertainty_floor:g}")
        record["uncertainty_model"] = "fractions: " + "; ".join(parts)
        fractions = {s: np.asarray(values[s], dtype=float) for s in species}
        record["factors"] = {s: 1.0 for s in species}
    else:
        assert q.native is not None
        signal, var = _signals(table, species_idx, values, unc, matrix_counts, lines, q)
        factors, how = _scales(
            label, table, species_idx, signal, file_depth_nm, fit_mask, q, record
        )
        fractions = {s: signal[s] * factors[s] for s in species}
        sigma = {
            s: np.hypot(np.sqrt(var[s]) * factors[s], q.relative_uncertainty * fractions[s])
            for s in species
        }
        record["factors"] = factors
        record["factor_from"] = how
        record["sensitivity"] = dict(q.sensitivity)
        record["background"] = dict(q.background)
        if q.matrix is not None:
            record["matrix_column"] = table.names[q.matrix]
        parts = ["Poisson counts" + (" (uncertainty columns for " if unc else "")]
        if unc:
            parts[0] += ", ".join(unc) + ")"
        if q.background:
            parts.append("background subtracted as exact")
        if q.matrix is not None:
            parts.append("matrix counts Poisson, propagated")
        parts.append("scale factors exact")
        parts.append(f"relative {q.relative_uncertainty:g} in quadrature")
        parts.append(f"floor {q.uncertainty_floor:g}")
        record["uncertainty_model"] = "; ".join(parts)
    floored = {}
    for s in species:
        low = sigma[s] < q.uncertainty_floor
        floored[s] = int(np.count_nonzero(low & fit_mask))
        sigma[s] = np.maximum(sigma[s], q.uncertainty_floor)
        if not (np.all(np.isfinite(fractions[s])) and np.all(np.isfinite(sigma[s]))):
            raise DataFileError(
                f"{label}: column {_show(table.names[species_idx[s]])}: values out of range "
                "after normalisation"
            )
        big = np.flatnonzero(np.abs(fractions[s]) > MAX_DATA_FRACTION)
        if big.size:
            k = int(big[0])
            hint = (
                'counts? set normalize = "bulk" or "matrix"'
                if q.normalize == "none"
                else "check the normalisation settings"
            )
            raise DataFileError(
                f"{label}: line {int(lines[k])}: column "
                f"{_show(table.names[species_idx[s]])}: fraction {_num(fractions[s][k])} of "
                f"n_bulk is not physical (more than {MAX_DATA_FRACTION:g}; {hint})"
            )
    record["relative_uncertainty"] = q.relative_uncertainty
    record["uncertainty_floor"] = q.uncertainty_floor
    record["floored_points"] = floored
    return fractions, sigma, record


def _signals(
    table: _Table,
    species_idx: Mapping[str, int],
    values: Mapping[str, np.ndarray],
    unc: Mapping[str, np.ndarray],
    matrix_counts: np.ndarray | None,
    lines: np.ndarray,
    q: QuantSettings,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Signals S_s and their variances (module docstring)."""
    signal, var = {}, {}
    if matrix_counts is not None:
        bad = np.flatnonzero(~(matrix_counts > 0.0))
        if bad.size:
            assert q.matrix is not None
            raise DataFileError(
                f"{table.label}: line {lines[bad[0]]}: column {_show(table.names[q.matrix])}: "
                f"matrix counts {_num(matrix_counts[bad[0]])} are not > 0: matrix normalisation "
                "needs a matrix signal at every depth (choose another matrix_column, or "
                'normalize = "bulk")'
            )
    for s in species_idx:
        counts = np.asarray(values[s], dtype=float)
        k = q.sensitivity.get(s, 1.0)
        net = k * (counts - q.background.get(s, 0.0))
        v = k * k * (unc[s] ** 2 if s in unc else np.maximum(counts, 0.0))
        if matrix_counts is not None:
            m = matrix_counts
            ratio = net / m
            v = v / (m * m) + ratio * ratio / m
            net = ratio
        signal[s], var[s] = net, v
    return signal, var


def _scales(
    label: str,
    table: _Table,
    species_idx: Mapping[str, int],
    signal: Mapping[str, np.ndarray],
    file_depth_nm: np.ndarray,
    fit_mask: np.ndarray,
    q: QuantSettings,
    record: dict[str, Any],
) -> tuple[dict[str, float], dict[str, str]]:
    """Factors turning signals into fractions of n_bulk (module docstring)."""
    native = q.native
    assert native is not None
    n = signal[native].size
    native_name = _show(table.names[species_idx[native]])
    if q.bulk_level is not None:
        level = q.bulk_level
        record["bulk_level_from"] = "bulk_level (given)"
    else:
        if n < BULK_TAIL_MIN_POINTS:
            raise DataFileError(
                f"{label}: normalize={q.normalize!r} needs at least {BULK_TAIL_MIN_POINTS} data "
                f"rows, got {n}"
            )
        tail = max(BULK_TAIL_MIN_POINTS, math.ceil(BULK_TAIL_FRACTION * n))
        level = float(np.mean(signal[native][-tail:]))
        record["bulk_level_from"] = (
            f"mean of the deepest {tail} rows (file depth {file_depth_nm[-tail]:.4g}-"
            f"{file_depth_nm[-1]:.4g} nm)"
        )
        if not (math.isfinite(level) and level > 0.0):
            raise DataFileError(
                f"{label}: column {native_name}: mean count {_num(level)} over the deepest "
                f"{tail} rows is not > 0, cannot normalise to the bulk (give bulk_level)"
            )
        if n >= 2 * tail:
            _check_bulk_reached(label, table, species_idx, signal, tail, native, file_depth_nm)
    if not (math.isfinite(level) and level > 0.0):
        raise DataFileError(
            f"{label}: column {native_name}: bulk level {_num(level)} of the native signal is "
            "not > 0, cannot normalise to the bulk (give bulk_level)"
        )
    record["bulk_level"] = level
    scales = {native: 1.0 / level}
    how = {native: "bulk level"}
    native_fraction = signal[native] / level
    target = 1.0 - native_fraction
    for s in species_idx:
        if s != native and s in q.sensitivity:
            scales[s] = 1.0 / level
            how[s] = "sensitivity factor, native bulk level"
            target = target - signal[s] / level
    foreign = [s for s in species_idx if s not in scales]
    if not foreign:
        return scales, how
    rows = fit_mask if np.count_nonzero(fit_mask) > len(foreign) else np.ones(n, dtype=bool)
    size = np.array([np.max(np.abs(signal[s][rows])) for s in foreign])
    for s, m in zip(foreign, size, strict=True):
        if not m > 0.0:
            raise DataFileError(
                f"{label}: column {_show(table.names[species_idx[s]])}: all counts are 0, "
                "cannot scale it to the bulk"
            )
    design = np.column_stack([signal[s][rows] / m for s, m in zip(foreign, size, strict=True)])
    coef, _, rank, _ = np.linalg.lstsq(design, target[rows], rcond=None)
    if rank < len(foreign):
        raise DataFileError(
            f"{label}: columns {_list_columns([table.names[species_idx[s]] for s in foreign])} "
            "are linearly dependent, cannot find their scales"
        )
    for s, c, m in zip(foreign, coef, size, strict=True):
        k = float(c / m)
        if not (math.isfinite(k) and k > 0.0):
            raise DataFileError(
                f"{label}: column {_show(table.names[species_idx[s]])}: its scale to the bulk "
                f"(least squares: native + sum k_j I_j = 1) is {_num(k)}, not > 0"
            )
        scales[s] = k
        how[s] = "electroneutrality (native + sum k_j S_j = 1)"
    return scales, how


def _check_bulk_reached(
    label: str,
    table: _Table,
    species_idx: Mapping[str, int],
    signal: Mapping[str, np.ndarray],
    tail: int,
    native: str,
    file_depth_nm: np.ndarray,
) -> None:
    """DataFileError when the deepest rows are not pristine glass (module docstring)."""
    advice = "give bulk_level (the native signal of the pristine glass) or a longer profile"
    end = f"{file_depth_nm[-1]:.4g} nm"
    x = signal[native]
    deep, before = x[-tail:], x[-2 * tail : -tail]
    diff = float(np.mean(deep) - np.mean(before))
    se = math.sqrt(float(np.var(deep, ddof=1) + np.var(before, ddof=1)) / tail)
    level = float(np.mean(deep))
    if abs(diff) > BULK_FLATNESS_TOLERANCE * abs(level) and abs(diff) > BULK_FLATNESS_SIGMAS * se:
        raise DataFileError(
            f"{label}: the profile does not reach the bulk: the native signal "
            f"{_show(table.names[species_idx[native]])} still changes by "
            f"{100.0 * diff / level:+.1f} % between the deepest {tail} rows and the {tail} before "
            f"(profile ends at {end}); {advice}"
        )
    for s in species_idx:
        if s == native:
            continue
        y = signal[s]
        peak = float(np.percentile(np.abs(y), 95.0))
        deep_y = float(np.mean(y[-tail:]))
        if peak > 0.0 and deep_y > FOREIGN_IN_BULK_MAX * peak:
            raise DataFileError(
                f"{label}: the profile does not reach the bulk: the foreign signal "
                f"{_show(table.names[species_idx[s]])} is still {100.0 * deep_y / peak:.0f} % of "
                f"its peak in the deepest {tail} rows (profile ends at {end}); {advice}"
            )


def site_density_limit(case: Case) -> float:
    """The largest fraction of n_bulk any species can reach in the case: the site density
    N_s / n_bulk = initial_fraction / (1 - vacancy_fraction) of an SED species, else 1 (or its
    initial fraction or a stage's surface fraction when larger)."""
    limit = 1.0
    for s in case.species:
        limit = max(limit, s.initial_fraction)
        if s.sed is not None:
            limit = max(limit, s.initial_fraction / (1.0 - s.sed.vacancy_fraction))
    for st in case.stages:
        if st.source is not None:
            limit = max(limit, st.surface_fraction)
    return limit


def check_fractions(
    label: str,
    fractions: Mapping[str, np.ndarray],
    species: Sequence[str],
    normalize: str,
    limit: float,
) -> None:
    """DataFileError when a measured fraction exceeds SITE_DENSITY_MARGIN * limit."""
    bound = SITE_DENSITY_MARGIN * limit
    for s in species:
        v = fractions[s]
        if v.size and float(np.max(v)) > bound:
            top = float(np.max(v))
            if normalize == "none":
                what = (
                    'raw counts read as fractions? set normalize = "bulk" or "matrix" '
                    "(with matrix_column), or give fractions of n_bulk"
                )
            else:
                what = (
                    f'the normalize = "{normalize}" scale is wrong: check bulk_level, '
                    "background and the deepest rows of the profile"
                )
            raise DataFileError(
                f"{label}: species {s}: measured fraction {top:.4g} exceeds the largest site "
                f"density of the case ({limit:.3g} of n_bulk); {what}"
            )
