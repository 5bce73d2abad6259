"""Compiled mobility kernels of the full NPP solver (numba, cache=True): the Bernoulli function
of the Scharfetter-Gummel flux and D(c) from a kernel table (constant, table in ln c, or the
table referenced to a fraction per cell).

Split out of `solvers.kernels` (which re-exports every name here); units as there (fractions,
nm^2/s). Numpy twins: `solvers.kernels_numpy`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sed.table import LN_OVERFULL_GAIN_MAX

#: |x| below which the Bernoulli function and its derivative use their Taylor series: at 1e-2
#: the first omitted terms are < 1e-20, while x/expm1(x) would lose digits in 1 - x - B.
BERNOULLI_SERIES = 1.0e-2
#: beyond this |x| exp(x) overflows; B(x) -> x e^{-x} (x > 0) or -x (x < 0) is then exact in
#: double precision.
BERNOULLI_BIG = 700.0

#: beyond the last table node ln D is extrapolated with the (steep) slope of the site-saturation
#: cap; it is held at most this far above the cap value (the convention of package sed), so
#: that unphysical overfilling in a Newton iterate cannot overflow exp.
LOGD_OVERFILL_MAX = LN_OVERFULL_GAIN_MAX

#: mobility kinds: 0 constant D, 1 table in ln c, 2 the same table in ln(c / cref[i, k]) with a
#: reference fraction per cell (an SED referenced to the species' local fraction at the start of
#: the stage); D is held at the reference value D(1) where c >= cref.
KIND_CONSTANT = 0
KIND_TABLE = 1
KIND_CELL_REFERENCE = 2
# typed (not literal) copies of constants passed as call arguments: a literal argument makes
# numba compile the callee a second time, specialised to the literal (1-2 s of cold compile)
KIND_TABLE_I64 = np.int64(KIND_TABLE)
CELL_0 = np.int64(0)
#: a species whose fraction in a cell at the stage start is below this is absent there: the
#: cell gets the reference 0, and the species moves with D(1) in it. (A tiny positive reference
#: would make D(c) rise from 0 to D(1) within c < 1e-12, a flux so steep in c that Newton's
#: update criterion is met long before the residual is: the species would not enter at all.)
CREF_ABSENT = 1.0e-6


# ---------------------------------------------------------------------------------------------
# Bernoulli function B(x) = x / (exp(x) - 1) and its derivative
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def bernoulli(x: float) -> float:
    """B(x) = x / (exp(x) - 1), accurate and overflow-safe for all real x."""
    ax = abs(x)
    if ax < BERNOULLI_SERIES:
        x2 = x * x
        return 1.0 - 0.5 * x + x2 / 12.0 - x2 * x2 / 720.0 + x2 * x2 * x2 / 30240.0
    if x > BERNOULLI_BIG:
        return x * math.exp(-x)
    if x < -BERNOULLI_BIG:
        return -x
    return x / math.expm1(x)


@njit(cache=True)
def bernoulli_pair(x):
    """(B(x), B(-x), B'(x), B'(-x)) from one exponential: B(-x) = B(x) + x and
    B'(-x) = -(B'(x) + 1), applied from the non-negative side to avoid cancellation."""
    a = abs(x)
    if a < BERNOULLI_SERIES:
        b = bernoulli(a)
        db = bernoulli_prime(a)
    elif a > BERNOULLI_BIG:
        b = bernoulli(a)
        db = b * (1.0 - a - b) / a
    else:
        # B = a r and B' = B (1 - a - B) / a = r (1 - a - B), r = 1 / expm1(a): one division
        r = 1.0 / math.expm1(a)
        b = a * r
        db = r * (1.0 - a - b)
    if x >= 0.0:
        return b, b + a, db, -(db + 1.0)
    return b + a, b, -(db + 1.0), db


@njit(cache=True)
def bernoulli_prime(x: float) -> float:
    """dB/dx = B(x) (1 - x - B(x)) / x, with its series near 0."""
    ax = abs(x)
    if ax < BERNOULLI_SERIES:
        x2 = x * x
        return -0.5 + x / 6.0 - x * x2 / 180.0 + x * x2 * x2 / 5040.0
    b = bernoulli(x)
    return b * (1.0 - x - b) / x


# ---------------------------------------------------------------------------------------------
# D(c) from a kernel table (see sed.table.evaluate_table for the numpy reference)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def hermite_log_d(t, l0, l1, g0, g1, du, inv_du):
    """ln D and d ln D / d ln c at the fraction t in [0, 1] of a table interval: the cubic
    Hermite interpolant through the nodal values l0, l1 with nodal slopes g0, g1 (d ln D /
    d ln c), node spacing du (inv_du = 1 / du). Horner form (fewer operations than the basis
    functions), written with the difference of the nodal values (avoids cancelling two large
    ln D values). Scalars only, so that the compiled loops that call it per cell inline it
    without passing arrays (the table lookup of `mobility`, `_species_mobilities` and
    `solvers.electroneutral_faces.native_mobilities`)."""
    dl = l1 - l0
    s0 = g0 * du
    s1 = g1 * du
    c2 = 3.0 * dl - 2.0 * s0 - s1
    c3 = s0 + s1 - 2.0 * dl
    return l0 + t * (s0 + t * (c2 + t * c3)), (s0 + t * (2.0 * c2 + 3.0 * t * c3)) * inv_du


@njit(cache=True)
def mobility(c, kind, d_const, u0, du, logd, slope, n_lo):
    """(D, dD/dc) at fraction c; kind 0: constant d_const; kind 1: cubic Hermite in ln c.

    logd, slope: table of ln D and d lnD / d ln c at nodes u0 + k du (D in the caller's units).
    `_species_mobilities` performs the same operations in its loop over the cells.
    """
    if kind == 0:
        return d_const, 0.0
    m = logd.shape[0]
    if c < n_lo:
        # below the first node D is linear in c (the exponential only on this rare branch)
        d_lo = math.exp(logd[0])
        if c <= 0.0:
            return 0.0, d_lo / n_lo
        return d_lo * c / n_lo, d_lo / n_lo
    u = math.log(c)
    inv_du = 1.0 / du
    s = (u - u0) * inv_du
    # int() truncates: floor for s >= 0; s in (-1, 0) (round-off at the first node) gives 0
    i = int(s)
    if i > m - 2:
        i = m - 2
    if i < 0:
        i = 0
    t = s - i
    if t > 1.0:
        y = logd[m - 1] + slope[m - 1] * (u - (u0 + (m - 1) * du))
        dy = slope[m - 1]
        if y > logd[m - 1] + LOGD_OVERFILL_MAX:
            y = logd[m - 1] + LOGD_OVERFILL_MAX
            dy = 0.0
    else:
        y, dy = hermite_log_d(t, logd[i], logd[i + 1], slope[i], slope[i + 1], du, inv_du)
    d = math.exp(y)
    return d, d * dy / c


@njit(cache=True)
def species_mobility(c, i, k, kind, d_const, u0, du, logd, slope, n_lo, cref):
    """(D, dD/dc) of species i at fraction c in cell k; kind 2 reads the table at c / cref[i, k]
    and holds D at D(1) where c >= cref[i, k] or the species was absent (cref <= 0)."""
    if kind[i] != KIND_CELL_REFERENCE:
        return mobility(c, kind[i], d_const[i], u0[i], du[i], logd[i], slope[i], n_lo[i])
    r = cref[i, k]
    if r <= 0.0 or c >= r:
        dv, _ = mobility(1.0, KIND_TABLE_I64, d_const[i], u0[i], du[i], logd[i], slope[i], n_lo[i])
        return dv, 0.0
    dv, dd = mobility(c / r, KIND_TABLE_I64, d_const[i], u0[i], du[i], logd[i], slope[i], n_lo[i])
    return dv, dd / r


@njit(cache=True)
def _species_mobilities(
    y, nb, i, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, c_seen, memo
):  # fmt: skip
    """D and dD/dc of species i in every cell into dval[i], dder[i]: `species_mobility` cell by
    cell, bit for bit, with the table lookup of `mobility` written out in the loop, apart from
    the scalar `hermite_log_d` (a compiled call per cell that passes the table arrays pays
    their reference counting, as much again as the lookup; numba's inline="always" avoids it
    but quadrupled the compile time of the solver).
    memo: skip the cells whose fraction equals c_seen[i, k] bit for bit (the fraction dval/dder
    were last evaluated at; NaN: never), and record the new fractions in c_seen."""
    n_cells = y.shape[0] // nb
    ki = kind[i]
    if ki == KIND_CONSTANT:
        for k in range(n_cells):
            dval[i, k] = d_const[i]
            dder[i, k] = 0.0
        return
    logdi = logd[i]
    slopei = slope[i]
    m = logdi.shape[0]
    u0i = u0[i]
    dui = du[i]
    inv_du = 1.0 / dui
    nloi = n_lo[i]
    d_lo = math.exp(logdi[0])
    u_last = u0i + (m - 1) * dui
    y_cap = logdi[m - 1] + LOGD_OVERFILL_MAX
    ref = ki == KIND_CELL_REFERENCE
    d_one = 0.0
    if ref:
        d_one, _ = mobility(1.0, KIND_TABLE_I64, d_const[i], u0i, dui, logdi, slopei, nloi)
    for k in range(n_cells):
        c = y[k * nb + i]
        if memo:
            if c == c_seen[i, k]:
                continue
            c_seen[i, k] = c
        x = c
        r = 1.0
        if ref:
            r = cref[i, k]
            if r <= 0.0 or c >= r:
                dval[i, k] = d_one
                dder[i, k] = 0.0
                continue
            x = c / r
        # `mobility` at x, the same operations
        if x < nloi:
            dv = 0.0 if x <= 0.0 else d_lo * x / nloi
            dd = d_lo / nloi
        else:
            u = math.log(x)
            s = (u - u0i) * inv_du
            j = int(s)
            if j > m - 2:
                j = m - 2
            if j < 0:
                j = 0
            t = s - j
            if t > 1.0:
                yv = logdi[m - 1] + slopei[m - 1] * (u - u_last)
                dyv = slopei[m - 1]
                if yv > y_cap:
                    yv = y_cap
                    dyv = 0.0
            else:
                yv, dyv = hermite_log_d(
                    t, logdi[j], logdi[j + 1], slopei[j], slopei[j + 1], dui, inv_du
                )
            dv = math.exp(yv)
            dd = dv * dyv / x
        dval[i, k] = dv
        dder[i, k] = dd / r if ref else dd


@njit(cache=True)
def evaluate_mobilities(
    y, n_species, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder
):  # fmt: skip
    """Fill dval[i, k], dder[i, k] with D and dD/dc of species i in cell k (nm^2/s)."""
    for i in range(n_species):
        _species_mobilities(
            y, n_species + 1, i, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder,
            dval, False,
        )  # fmt: skip


@njit(cache=True)
def update_mobilities(
    y, n_species, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder, c_seen
):  # fmt: skip
    """`evaluate_mobilities`, re-evaluating D(c) only in cells whose fraction differs from
    c_seen[i, k] (the fraction dval/dder were last evaluated at; NaN: never), which it updates.

    Exact (a fraction equal bit for bit has the same D); it pays because most cells of a CAIT
    profile are untouched bulk whose native fraction stays exactly 1 from step to step
    (lbo_k at 1000 s: 1315 of 1421 cells), where the SED table costs a log and an exp.
    """
    for i in range(n_species):
        _species_mobilities(
            y, n_species + 1, i, kind, d_const, u0, du, logd, slope, n_lo, cref, dval, dder,
            c_seen, True,
        )  # fmt: skip
