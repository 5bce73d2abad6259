"""Compiled potential post-processing of the electroneutral reduced solver (numba, cache=True):
the potential drops between the nodes of a profile, the potential profile at the cell centres,
and the total current at which the front reaches a given potential.

Split out of `solvers.electroneutral_kernels` (which re-exports every name here).

Scaled variables, as in `solvers.kernels`: c = foreign fraction of n_bulk (the native fraction is
u = 1 - c), psi = e phi / (k_B T), lengths in nm, times in s, D in nm^2/s, the total current as
v = j / (e n_bulk) (fraction * nm/s).

The drops are those of the Newton assembly (`solvers.electroneutral_assembly`): between two
nodes the face drop of `solvers.electroneutral_faces`; over the front half cell the trapezoid
rule with the exact front field E(0) = v / D_F and E(x_0) interpolated linearly to the first
segment, plus the Donnan step at an open front; beyond the active window the pristine bulk:
v (L - x_end) / D_N(1).

The numpy twins (`solvers.electroneutral_numpy.potential_drops`, `potential_profile`) are
checked against these by the tests. All functions are module-level and free of closures (the
on-disk cache is reused).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from solvers.electroneutral_faces import _face_d, _front_terms, native_mobilities, peclet_terms


@njit(cache=True)
def potential_drops(
    c, n, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1,
    kind, d_const, u0, du, logd, slope, n_lo, dpsi, a_mob=1.0,
):  # fmt: skip
    """Potential drops of the reduced model (thermal units), the same formulas as `assemble`.

    Fills dpsi[0] = psi(0) - psi(x_0) (front half cell and Donnan step), dpsi[f] = psi(x_{f-1})
    - psi(x_f) for f = 1..n-1, dpsi[n] = psi(x_{n-1}) - psi(x_end); returns psi(x_end) =
    v (L - x_end) / D_N(1), the ohmic drop of the pristine bulk. So psi(x_k) = psi(x_end) +
    sum(dpsi[k+1:n+1]) and psi(0) = psi(x_end) + sum(dpsi[:n+1]).
    """
    dist1 = 0.5 * h[0]
    last = -1.0
    bp = bm = dbp = dbm = 0.0
    uf = np.empty(n)
    dn = np.empty(n)
    dn_u = np.empty(n)
    native_mobilities(c, n, kind, d_const, u0, du, logd, slope, n_lo, uf, dn, dn_u, a_mob)
    for f in range(1, n + 1):
        k = f - 1
        cl = c[k]
        if f < n:
            cr = c[f]
            dist = d[f]
        else:
            cr = 0.0
            dist = 0.5 * h[k]
        if dist != last:
            bp, bm, dbp, dbm = peclet_terms(v, dist, d_f)
            last = dist
        terms = _face_d(
            cl, cr, 0.5 * (cl + cr), uf[k], dn[k], dn_u[k], dist, 1.0 / dist, v, d_f, bp, bm,
            dbp, dbm,
        )  # fmt: skip
        dpsi[f] = terms[4]
        if f == 1:
            dist1 = dist
    x0 = d[0]
    theta = x0 / (2.0 * (x0 + 0.5 * dist1))
    don = _front_terms(c[0], x0, v, d_f, c_src, front_open)[0]
    dpsi[0] = x0 * (1.0 - theta) * v / d_f + theta * x0 / dist1 * dpsi[1] + don
    return v * (thickness - faces[n]) / d_n1


@njit(cache=True)
def potential_profile(
    c, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1,
    kind, d_const, u0, du, logd, slope, n_lo, xc, psi, a_mob=1.0,
):  # fmt: skip
    """psi (thermal units) at the cell centres xc of the reduced grid for profile c: the
    drops of `potential_drops` summed from x_end, over the cells up to one beyond the last
    with c > 0 (at least two); the pristine cells beyond carry the ohmic drop
    psi(x) = v (L - x) / D_N(1), which is what the pristine faces of `potential_drops` over
    the whole reduced grid sum to (up to round-off). Returns psi(0), the front potential."""
    n_max = c.shape[0]
    n = 0
    for k in range(n_max - 1, -1, -1):
        if c[k] != 0.0:
            n = k + 1
            break
    # at least two cells: the front half cell interpolates towards the first full segment
    n = min(max(n + 1, 2), n_max)
    dpsi = np.empty(n + 1)
    acc = potential_drops(
        c, n, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1, kind, d_const, u0, du,
        logd, slope, n_lo, dpsi, a_mob,
    )  # fmt: skip
    for k in range(n - 1, -1, -1):
        acc += dpsi[k + 1]
        psi[k] = acc
    for k in range(n, n_max):
        psi[k] = v * (thickness - xc[k]) / d_n1
    return acc + dpsi[0]


@njit(cache=True)
def front_current(
    c, n, psi_target, d_f, c_src, h, d, faces, thickness, d_n1,
    kind, d_const, u0, du, logd, slope, n_lo, a_mob=1.0,
):  # fmt: skip
    """The total current v (fraction nm/s) at which the front potential of profile c (open
    front) equals psi_target (thermal units). psi_front = A + B v + ln(c(0+; v) / c_s): every
    drop but the Donnan step is affine in v (A, B from two evaluations without it) and the
    Donnan step is increasing in v: safeguarded Newton on a bracket."""
    dpsi = np.zeros(n + 1)
    a = potential_drops(
        c, n, 0.0, False, d_f, c_src, h, d, faces, thickness, d_n1, kind, d_const, u0, du,
        logd, slope, n_lo, dpsi, a_mob,
    )  # fmt: skip
    a += np.sum(dpsi)
    b = potential_drops(
        c, n, 1.0, False, d_f, c_src, h, d, faces, thickness, d_n1, kind, d_const, u0, du,
        logd, slope, n_lo, dpsi, a_mob,
    )  # fmt: skip
    b += np.sum(dpsi) - a
    # bracket the root of g(v) = a + b v + Donnan(v) - psi_target (g increasing), then Newton
    # safeguarded by bisection (the Donnan step is flat beyond its clamps)
    v = (psi_target - a) / b
    step = max(abs(v), 1.0e-30)
    lo = v
    hi = v
    while _front_terms(c[0], d[0], lo, d_f, c_src, True)[0] + a + b * lo > psi_target:
        lo -= step
        step *= 2.0
    step = max(abs(v), 1.0e-30)
    while _front_terms(c[0], d[0], hi, d_f, c_src, True)[0] + a + b * hi < psi_target:
        hi += step
        step *= 2.0
    v = 0.5 * (lo + hi)
    for _ in range(200):
        don, _, don_v = _front_terms(c[0], d[0], v, d_f, c_src, True)
        g = a + b * v + don - psi_target
        if g > 0.0:
            hi = v
        else:
            lo = v
        vn = v - g / (b + don_v)
        if not lo < vn < hi:
            vn = 0.5 * (lo + hi)
        if abs(vn - v) * b <= 1.0e-13 * max(1.0, abs(psi_target)) or hi - lo <= 0.0:
            return vn
        v = vn
    return v
