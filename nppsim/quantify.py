"""Quantification: raw SIMS counts -> fractions of n_bulk (normalisation to the pristine bulk).

See :mod:`nppsim.profiles` for the rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .errors import DataFileError
from .profile_table import _list_columns, _num, _show, _Table

#: normalize="bulk": the deepest fraction of the rows taken as pristine glass (native fraction 1);
#: ToF-SIMS profiles are measured well past the exchanged zone, so the last 10 % are bulk
BULK_TAIL_FRACTION = 0.10
#: ... but never fewer rows than this, so that one noisy point does not set the scale
BULK_TAIL_MIN_POINTS = 3


def _bulk_scales(
    label: str,
    table: _Table,
    species_idx: Mapping[str, int],
    counts: Mapping[str, np.ndarray],
    native: str,
) -> dict[str, float]:
    """Factors turning counts into fractions of n_bulk (see the module docstring)."""
    n = counts[native].size
    if n < BULK_TAIL_MIN_POINTS:
        raise DataFileError(
            f"{label}: normalize='bulk' needs at least {BULK_TAIL_MIN_POINTS} data rows, got {n}"
        )
    tail = max(BULK_TAIL_MIN_POINTS, math.ceil(BULK_TAIL_FRACTION * n))
    native_name = _show(table.names[species_idx[native]])
    pristine = float(np.mean(counts[native][-tail:]))
    if not (math.isfinite(pristine) and pristine > 0.0):
        raise DataFileError(
            f"{label}: column {native_name}: mean count {_num(pristine)} over the deepest {tail} "
            "rows is not > 0, cannot normalise to the bulk"
        )
    scales = {native: 1.0 / pristine}
    foreign = [s for s in species_idx if s != native]
    if not foreign:
        return scales
    native_fraction = counts[native] / pristine
    target = 1.0 - native_fraction
    size = np.array([np.max(np.abs(counts[s])) for s in foreign])
    for s, m in zip(foreign, size, strict=True):
        if not m > 0.0:
            raise DataFileError(
                f"{label}: column {_show(table.names[species_idx[s]])}: all counts are 0, "
                "cannot scale it to the bulk"
            )
    design = np.column_stack([counts[s] / m for s, m in zip(foreign, size, strict=True)])
    coef, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
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
    return scales
