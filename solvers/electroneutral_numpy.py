"""Pure-numpy twins of the compiled kernels in `solvers.electroneutral_kernels`.

Written independently (vectorised over faces, scatter-adds instead of loops) so that agreement
between the two is a real check. Same arguments, same scaled units; for tests and debugging.
The compiled time loop calls `newton_system` (with `native_mobilities` and `back_substitute`):
`assemble` there is that function, and its twin here is `assemble` with
`solvers.kernels_numpy.mobility`; the elimination it performs is `tridiag_factor` and
`tridiag_solve`, whose twin is `tridiag_solve` here.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from solvers.electroneutral_kernels import DONNAN_C_MIN
from solvers.kernels_numpy import bernoulli, bernoulli_prime, mobility


def face_terms(cl, cr, dist, v, d_f, kind, d_const, u0, du, logd, slope, n_lo, a_mob=1.0):
    """Vectorised `electroneutral_kernels.face_terms`: arrays cl, cr, dist of the faces.
    a_mob = 1 - f (f the native immobile fraction): cl, cr are the foreign fractions divided
    by a_mob, and D_N is taken at the total native fraction 1 - a_mob c_f."""
    cl, cr, dist = (np.asarray(a, dtype=float) for a in (cl, cr, dist))
    cf = 0.5 * (cl + cr)
    uf = 1.0 - cf
    dn, dn_u = mobility(1.0 - a_mob * cf, kind, d_const, u0, du, logd, slope, n_lo)
    dn_u = a_mob * dn_u  # d D_N / d uf
    s = d_f * cf + dn * uf
    s_c = d_f - dn - uf * dn_u
    dtl = d_f * dn / s
    dtl_c = -d_f * (dn_u * s + dn * s_c) / s**2
    p = v * dist / d_f
    bp, bm = bernoulli(p), bernoulli(-p)
    ul, ur = 1.0 - cl, 1.0 - cr
    drift = bm * ul - bp * ur
    flux = v - dtl / dist * drift
    f_cl = -(0.5 * dtl_c / dist * drift - dtl / dist * bm)
    f_cr = -(0.5 * dtl_c / dist * drift + dtl / dist * bp)
    f_v = 1.0 + dtl / d_f * (bernoulli_prime(-p) * ul + bernoulli_prime(p) * ur)
    a = v * dist + (d_f - dn) * (cr - cl)
    dpsi = a / s
    p_cl = (0.5 * dn_u * (cr - cl) - (d_f - dn)) / s - 0.5 * a * s_c / s**2
    p_cr = (0.5 * dn_u * (cr - cl) + (d_f - dn)) / s - 0.5 * a * s_c / s**2
    return flux, f_cl, f_cr, f_v, dpsi, p_cl, p_cr, dist / s


def _faces(c, n, h, d):
    """Left and right node values and distances of faces 1..n (the last: c = 0 at x_end)."""
    cl = c[:n]
    cr = np.append(c[1:n], 0.0)
    dist = np.append(d[1:n], 0.5 * h[n - 1])
    return cl, cr, dist


def _donnan(c0, x0, v, d_f, c_src, front_open):
    if not front_open:
        return 0.0, 0.0, 0.0
    k = x0 / d_f
    cs = c0 + k * v * (1.0 - c0)
    if cs < DONNAN_C_MIN or cs > 1.0:
        return float(np.log(np.clip(cs, DONNAN_C_MIN, 1.0) / c_src)), 0.0, 0.0
    return float(np.log(cs / c_src)), (1.0 - k * v) / cs, k * (1.0 - c0) / cs


def assemble(c, n, hist, a0, dt, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1,
             kind, d_const, u0, du, logd, slope, n_lo, a_mob=1.0):  # fmt: skip
    """Returns (res, lo, di, up, bcol, brow, psi_front, dpsi_front/dv) of length n, as
    `electroneutral_kernels.assemble` fills them."""
    mob = (kind, d_const, u0, du, logd, slope, n_lo, a_mob)
    cl, cr, dist = _faces(c, n, h, d)
    flux, f_cl, f_cr, f_v, dp, p_cl, p_cr, p_v = face_terms(cl, cr, dist, v, d_f, *mob)
    hh = h[:n]
    w = dt / hh
    f_in = np.concatenate([[v if front_open else 0.0], flux[:-1]])
    res = a0 * c[:n] + hist[:n] + w * (flux - f_in)
    di = a0 + w * f_cl
    di[1:] -= w[1:] * f_cr[:-1]
    up = np.zeros(n)
    up[:-1] = w[:-1] * f_cr[:-1]
    lo = np.zeros(n)
    lo[1:] = -w[1:] * f_cl[:-1]
    bcol = w * f_v
    bcol[1:] -= w[1:] * f_v[:-1]
    if front_open:
        bcol[0] -= w[0]
    brow = p_cl.copy()
    brow[1:] += p_cr[:-1]
    x0 = d[0]
    theta = x0 / (2.0 * (x0 + 0.5 * dist[0]))
    r = theta * x0 / dist[0]
    bulk = (thickness - faces[n]) / d_n1
    psi = v * bulk + dp.sum() + x0 * (1.0 - theta) * v / d_f + r * dp[0]
    psi_v = bulk + p_v.sum() + x0 * (1.0 - theta) / d_f + r * p_v[0]
    brow[0] += r * p_cl[0]
    if n > 1:
        brow[1] += r * p_cr[0]
    don, don_c, don_v = _donnan(c[0], x0, v, d_f, c_src, front_open)
    brow[0] += don_c
    return res, lo, di, up, bcol, brow, psi + don, psi_v + don_v


def potential_drops(c, n, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1,
                    kind, d_const, u0, du, logd, slope, n_lo, a_mob=1.0):  # fmt: skip
    """Returns (dpsi[0..n], psi(x_end)) as `electroneutral_kernels.potential_drops`."""
    cl, cr, dist = _faces(c, n, h, d)
    dp = face_terms(cl, cr, dist, v, d_f, kind, d_const, u0, du, logd, slope, n_lo, a_mob)[4]
    x0 = d[0]
    theta = x0 / (2.0 * (x0 + 0.5 * dist[0]))
    don = _donnan(c[0], x0, v, d_f, c_src, front_open)[0]
    first = x0 * (1.0 - theta) * v / d_f + theta * x0 / dist[0] * dp[0] + don
    return np.concatenate([[first], dp]), v * (thickness - faces[n]) / d_n1


def tridiag_solve(lo, di, up, b):
    """Solve the tridiagonal system (lo[k] = A[k, k-1], up[k] = A[k, k+1]) with LAPACK."""
    n = len(di)
    ab = np.zeros((3, n))
    ab[0, 1:] = up[:-1]
    ab[1] = di
    ab[2, :-1] = lo[1:]
    return scipy.linalg.solve_banded((1, 1), ab, b)


def potential_profile(c, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1,
                      kind, d_const, u0, du, logd, slope, n_lo, xc, a_mob=1.0):  # fmt: skip
    """Returns (psi at the cell centres xc of the reduced grid, psi(0)) as
    `electroneutral_kernels.potential_profile`: the drops over the whole reduced grid, summed
    from its end (the pristine faces beyond the profile carry the ohmic drop)."""
    n = len(c)
    dp, end = potential_drops(c, n, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1,
                              kind, d_const, u0, du, logd, slope, n_lo, a_mob)  # fmt: skip
    psi = end + np.cumsum(dp[:0:-1])[::-1]
    return psi, end + dp.sum()
