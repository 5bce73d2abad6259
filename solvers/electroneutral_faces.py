"""Compiled face kernels of the electroneutral reduced solver (numba, cache=True): the native
mobilities at the faces of the active window, the foreign flux and potential drop of one face
with their derivatives, the Peclet terms, and the Donnan step at the front.

Split out of `solvers.electroneutral_kernels` (which re-exports every name here).

Scaled variables, as in `solvers.kernels`: c = foreign fraction of n_bulk (the native fraction is
u = 1 - c), psi = e phi / (k_B T), lengths in nm, times in s, D in nm^2/s, the total current as
v = j / (e n_bulk) (fraction * nm/s).

Discretisation (see `solvers.electroneutral` for the reasoning):

- foreign flux at a face F = v - J_N, where the native flux J_N = D~(c) (E^ u - du/dx) is a
  drift-diffusion flux with the *spatially constant* drift E^ = v / D_F and the interdiffusion
  coefficient D~ = D_F D_N(u) / s, s = D_F c + D_N(u) u. J_N is discretised by
  Scharfetter-Gummel, J_N = (D~_f / d) (B(-P) u_L - B(P) u_R), P = v d / D_F, with D~_f taken at
  the face-mean fraction c_f = (c_L + c_R) / 2;
- potential drop between two nodes (psi_L - psi_R) = (v d + (D_F - D_N(u_f)) (c_R - c_L)) / s_f
  (midpoint rule for -dpsi/dx = (v + (D_F - D_N) dc/dx) / s);
- Donnan step across the unresolved space-charge layer at an open front:
  psi(0) - psi(0+) = ln(c(0+) / c_s), c(0+) extrapolated from the first cell with the exact front
  gradient dc/dx(0) = -v u / D_F.

The numpy twin of `face_terms` is `solvers.electroneutral_numpy.face_terms`; tests check they
agree. All functions are module-level and free of closures (the on-disk cache is reused).
"""

from __future__ import annotations

import math

from numba import njit

from solvers.kernels import (
    LOGD_OVERFILL_MAX,
    bernoulli_pair,
    hermite_log_d,
    mobility,
)

#: floor of the extrapolated surface fraction c(0+) in the Donnan term ln(c(0+) / c_s), which
#: keeps ln finite in Newton iterates; no accepted state sits on it. So low (230 kT/e) that a
#: reverse bias can hold c(0+) at the Boltzmann value c_s exp(-e|U|/kT) with a vanishing current.
DONNAN_C_MIN = 1.0e-100


# ---------------------------------------------------------------------------------------------
# One face: flux, potential drop and their derivatives
# ---------------------------------------------------------------------------------------------
@njit(cache=True, error_model="numpy")
def native_mobilities(c, n, kind, d_const, u0, du, logd, slope, n_lo, uf, dn, dn_u, a_mob):
    """D_N(u) at the n faces of the active window (face f + 1 between cells f and f + 1, the
    last one at the window end, where c = 0): uf[f] the face-mean native fraction, dn[f],
    dn_u[f] = D_N and dD_N/du there, by the operations of `solvers.kernels.mobility` (so the
    same values; kind 0: constant, else the table).

    a_mob = 1 - f, f the native immobile fraction (MODEL.md section 10): c is then the scaled
    foreign fraction c / (1 - f) and uf = 1 - c_f the scaled mobile native fraction, while D_N
    is evaluated at the total native fraction 1 - a_mob c_f = f + a_mob uf, and dn_u is
    d D_N / d uf = a_mob D_N'. With a_mob = 1 every operation is the one of f = 0 (`_total`).

    Three passes (ln u; the table; exp) rather than one call of `mobility` per face: each pass
    is a short loop of independent iterations without calls, which the processor overlaps,
    while the chain ln -> table -> exp of one face is long. This halves the cost of the
    mobilities, the larger part of a Newton iteration. (The table lookup is written out, apart
    from the cubic of `solvers.kernels.hermite_log_d`, which takes scalars only: as a function
    that takes the table arrays and returns a tuple, the loop took 30 % longer.)
    """
    if kind == 0:
        for f in range(n):
            uf[f] = 1.0 - 0.5 * (c[f] + (c[f + 1] if f < n - 1 else 0.0))
            dn[f] = d_const
            dn_u[f] = 0.0
        return
    for f in range(n):
        u = 1.0 - 0.5 * (c[f] + (c[f + 1] if f < n - 1 else 0.0))
        uf[f] = u
        dn[f] = math.log(max(_total(u, a_mob), n_lo))  # ln u, for now
    m = logd.shape[0]
    d_lo = math.exp(logd[0])
    inv_du = 1.0 / du
    for k in range(n):
        u = _total(uf[k], a_mob)
        if u < n_lo:
            dn[k] = d_lo * u / n_lo if u > 0.0 else 0.0
            dn_u[k] = d_lo / n_lo * a_mob
            continue
        # ln D and d ln D / d ln u: the table lookup of `mobility` (int() truncates towards
        # 0: the index of floor() after the clamp to [0, m - 2])
        lu = dn[k]
        s = (lu - u0) * inv_du
        i = int(s)
        if i > m - 2:
            i = m - 2
        if i < 0:
            i = 0
        t = s - i
        if t > 1.0:
            y = logd[m - 1] + slope[m - 1] * (lu - (u0 + (m - 1) * du))
            dy = slope[m - 1]
            if y > logd[m - 1] + LOGD_OVERFILL_MAX:
                y = logd[m - 1] + LOGD_OVERFILL_MAX
                dy = 0.0
        else:
            y, dy = hermite_log_d(t, logd[i], logd[i + 1], slope[i], slope[i + 1], du, inv_du)
        dn[k] = y
        dn_u[k] = dy
    for f in range(n):
        u = _total(uf[f], a_mob)
        if u >= n_lo:
            d = math.exp(dn[f])
            dn[f] = d
            dn_u[f] = d * dn_u[f] / u * a_mob


@njit(cache=True, inline="always")
def _total(u, a_mob):
    """The total native fraction f + a_mob u of the scaled mobile fraction u (a_mob = 1 - f):
    u itself, bit for bit, when there is no immobile fraction."""
    if a_mob == 1.0:
        return u
    return 1.0 - a_mob * (1.0 - u)


@njit(cache=True, inline="always")
def _face_d(cl, cr, cf, uf, dn, dn_u, dist, inv_dist, v, d_f, bp, bm, dbp, dbm):
    """`face_terms` given the face-mean fractions cf = (cl + cr) / 2 and uf = 1 - cf, D_N and
    dD_N/du at uf, and inv_dist = 1 / dist."""
    s = d_f * cf + dn * uf
    inv_s = 1.0 / s
    s_c = d_f - dn - uf * dn_u  # ds/dc_f
    dtl = d_f * dn * inv_s  # D~
    dtl_c = -(d_f * dn_u + dtl * s_c) * inv_s  # dD~/dc_f
    ul = 1.0 - cl
    ur = 1.0 - cr
    drift = bm * ul - bp * ur
    g = dtl * inv_dist
    common = 0.5 * dtl_c * inv_dist * drift
    flux = v - g * drift
    f_cl = g * bm - common
    f_cr = -(common + g * bp)
    # d/dv through P: dB(+-P)/dv = +-B'(+-P) dist / d_f, and D~ dist / (d_f dist) = dn / s
    f_v = 1.0 + dn * inv_s * (dbm * ul + dbp * ur)
    dc = cr - cl
    dfd = d_f - dn
    dpsi = (v * dist + dfd * dc) * inv_s
    half = 0.5 * dn_u * dc
    q = 0.5 * dpsi * s_c * inv_s
    p_cl = (half - dfd) * inv_s - q
    p_cr = (half + dfd) * inv_s - q
    return flux, f_cl, f_cr, f_v, dpsi, p_cl, p_cr, dist * inv_s


@njit(cache=True)
def face_terms(
    cl, cr, dist, v, d_f, bp, bm, dbp, dbm, kind, d_const, u0, du, logd, slope, n_lo, a_mob=1.0
):  # fmt: skip
    """Foreign flux F and potential drop psi_L - psi_R between two nodes, with derivatives.

    cl, cr: foreign fractions at the nodes; dist: node distance (nm); v: total current
    (fraction nm/s); d_f: foreign D (nm^2/s); bp, bm, dbp, dbm: B(P), B(-P), B'(P), B'(-P) of
    the Peclet number P = v dist / d_f (see `peclet_terms`; the caller reuses them across
    faces of equal width); the rest: the native D(u) table (nm^2/s) and a_mob = 1 - f (see
    `native_mobilities`: c, cl, cr scaled foreign fractions).
    Returns (F, dF/dcl, dF/dcr, dF/dv, dpsi, ddpsi/dcl, ddpsi/dcr, ddpsi/dv).
    """
    cf = 0.5 * (cl + cr)
    uf = 1.0 - cf
    dn, dn_u = mobility(_total(uf, a_mob), kind, d_const, u0, du, logd, slope, n_lo)
    dn_u *= a_mob
    return _face_d(cl, cr, cf, uf, dn, dn_u, dist, 1.0 / dist, v, d_f, bp, bm, dbp, dbm)


@njit(cache=True)
def peclet_terms(v, dist, d_f):
    """(B(P), B(-P), B'(P), B'(-P)) for the cell Peclet number P = v dist / d_f."""
    return bernoulli_pair(v * dist / d_f)


@njit(cache=True)
def _surface_fraction(c0, x0, v, d_f):
    """c(0+) extrapolated from the first cell with the exact front gradient -v (1 - c) / D_F."""
    return c0 + x0 / d_f * v * (1.0 - c0)


@njit(cache=True)
def _front_terms(c0, x0, v, d_f, c_src, front_open):
    """Donnan step psi(0) - psi(0+) = ln(c(0+)/c_s) and its derivatives w.r.t. c_0 and v."""
    if not front_open:
        return 0.0, 0.0, 0.0
    k = x0 / d_f
    cs = _surface_fraction(c0, x0, v, d_f)
    if cs < DONNAN_C_MIN:
        return math.log(DONNAN_C_MIN / c_src), 0.0, 0.0
    if cs > 1.0:
        return -math.log(c_src), 0.0, 0.0
    return math.log(cs / c_src), (1.0 - k * v) / cs, k * (1.0 - c0) / cs
