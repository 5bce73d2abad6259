"""Compiled kernels of the electroneutral reduced solver (numba, cache=True).

Scaled variables, as in `solvers.kernels`: c = foreign fraction of n_bulk (the native fraction is
u = 1 - c), psi = e phi / (k_B T), lengths in nm, times in s, D in nm^2/s, the total current as
v = j / (e n_bulk) (fraction * nm/s). One unknown per cell (c_k) plus, under potentiostatic
control, the scalar v (bordered Newton system: tridiagonal + one dense row and column).

Discretisation (see `solvers.electroneutral` for the reasoning):

- foreign flux at a face F = v - J_N, where the native flux J_N = D~(c) (E^ u - du/dx) is a
  drift-diffusion flux with the *spatially constant* drift E^ = v / D_F and the interdiffusion
  coefficient D~ = D_F D_N(u) / s, s = D_F c + D_N(u) u. J_N is discretised by
  Scharfetter-Gummel, J_N = (D~_f / d) (B(-P) u_L - B(P) u_R), P = v d / D_F, with D~_f taken at
  the face-mean fraction c_f = (c_L + c_R) / 2;
- front face: F = v (native blocked), or 0 for a blocking front; window end (the last active
  face): Dirichlet c = 0 over the half cell;
- potential drop between two nodes (psi_L - psi_R) = (v d + (D_F - D_N(u_f)) (c_R - c_L)) / s_f
  (midpoint rule for -dpsi/dx = (v + (D_F - D_N) dc/dx) / s); over the front half cell the
  trapezoid rule with the exact front field E(0) = v / D_F and E(x_0) interpolated linearly to
  the first segment; beyond the active window the pristine bulk: v (L - x_end) / D_N(1);
- Donnan step across the unresolved space-charge layer at an open front:
  psi(0) - psi(0+) = ln(c(0+) / c_s), c(0+) extrapolated from the first cell with the exact front
  gradient dc/dx(0) = -v u / D_F.

Every kernel here has a numpy twin in `solvers.electroneutral_numpy`; tests check they agree.
All functions are module-level and free of closures (the on-disk cache is reused).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from solvers.kernels import (
    DPSI_MAX,
    GROWTH_MAX,
    LOGD_OVERFILL_MAX,
    NEG_TOL,
    NEWTON_MAXITER,
    NEWTON_PSI_TOL,
    NEWTON_TOL,
    SAFETY,
    SHRINK_FAIL,
    SHRINK_MIN,
    STATUS_BUFFER_FULL,
    STATUS_DT_UNDERFLOW,
    STATUS_MAX_STEPS,
    STATUS_OK,
    bernoulli_pair,
    hermite_log_d,
    milne_factor,
    mobility,
    newton_converged,
)

__all__ = [
    "STATUS_BUFFER_FULL",
    "STATUS_DT_UNDERFLOW",
    "STATUS_GRID_END",
    "STATUS_MAX_STEPS",
    "STATUS_OK",
    "advance",
    "assemble",
    "face_terms",
    "front_current",
    "peclet_terms",
    "potential_drops",
    "potential_profile",
    "tridiag_factor",
    "tridiag_solve",
]

#: `advance` status: the profile reached the end of the reduced grid (see TAIL_FAIL)
STATUS_GRID_END = 4

#: floor of the extrapolated surface fraction c(0+) in the Donnan term ln(c(0+) / c_s), which
#: keeps ln finite in Newton iterates; no accepted state sits on it. So low (230 kT/e) that a
#: reverse bias can hold c(0+) at the Boltzmann value c_s exp(-e|U|/kT) with a vanishing current.
DONNAN_C_MIN = 1.0e-100
#: largest factor by which one Newton iteration may change c(0+) in the Donnan step
DONNAN_STEP_MAX = 10.0
#: cells whose foreign fraction is at most this fraction of the absolute tolerance atol count as
#: pristine for the active window (1e-11 at the default atol 1e-8): far below anything the error
#: control resolves. With WINDOW_MARGIN, the window of the standard cases (rtol 1e-4 to 3e-3,
#: atol 1e-4 rtol) has 12-14 % fewer cell-iterations than with the former fixed 1e-12 and a
#: margin of 24, and no fraction changes by more than 6e-4 atol (3.2e-12 at the default
#: tolerances); 1e-4 here would cost 3.5 % more cell-iterations.
WINDOW_TOL_REL = 1.0e-3
#: the active window keeps at least this many pristine cells beyond the last non-pristine one;
#: it grows by twice this when the profile comes closer (24 would cost 8 % more).
WINDOW_MARGIN = 12
#: the run fails when the window cannot grow (end of the reduced grid) and the foreign fraction
#: in the last cell exceeds this: the Dirichlet c = 0 there would distort the profile.
TAIL_FAIL = 1.0e-6

# Indices into the float state `fs` and the integer state `ist` of `advance`.
# FS_KAPPA, IS_KAPPA_AGE: Newton's quadratic-convergence constant and the steps accepted on it
# since it was last observed, as in `solvers.kernels.advance`. IS_CELL_ITER: active cells summed
# over the Newton iterations (the work, independent of the machine).
FS_T, FS_DT, FS_DT1, FS_DT2, FS_Q, FS_Q1, FS_Q2, FS_V, FS_V1, FS_V2, FS_KAPPA = range(11)
N_FS = 11
(
    IS_NHIST, IS_STEPS, IS_REJECT, IS_NEWTON, IS_NREC, IS_NEWTON_FAIL, IS_LU_FAIL, IS_NACT,
    IS_KAPPA_AGE, IS_CELL_ITER,
) = range(10)  # fmt: skip
N_IS = 10


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


# ---------------------------------------------------------------------------------------------
# Residual, Jacobian (tridiagonal + border) and front potential
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def inverse_geometry(h, d):
    """(1 / h, 1 / d, 1 / (h / 2)): the inverse cell widths and node distances (the last one
    for the half cell to the window end) that `newton_system` multiplies with."""
    inv_h = 1.0 / h
    inv_d = 1.0 / d
    inv_half = 2.0 / h
    return inv_h, inv_d, inv_half


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def newton_system(
    c, n, hist, a0, dt, v, front_open, border, d_f, c_src, h, inv_h, d, inv_d, inv_half,
    faces, thickness, d_n1, kind, d_const, u0, du, logd, slope, n_lo,
    res, lo, di, up, bcol, brow, out, gam, y, z, uf, dn, dn_u, a_mob=1.0,
):  # fmt: skip
    """`assemble` and the forward sweep of the tridiagonal elimination in one pass.

    Fills what `assemble` fills (res, lo, di, up, bcol, brow, out) and, row by row as each is
    complete, eliminates the sub-diagonal: gam[k] = up[k] / w_k with the pivots w_k of
    `tridiag_factor`, y[k] the forward-substituted -res and, when `border`, z[k] the
    forward-substituted bcol (the operations of `tridiag_factor` and `tridiag_solve`, with
    multiply-adds fused: 8 % faster). The back substitution is `back_substitute`. inv_h,
    inv_d, inv_half: see `inverse_geometry`; uf, dn, dn_u: work arrays for
    `native_mobilities`. Returns 0, or k + 1 if pivot k is zero or not finite.
    """
    native_mobilities(c, n, kind, d_const, u0, du, logd, slope, n_lo, uf, dn, dn_u, a_mob)
    bulk = (thickness - faces[n]) / d_n1
    psi = v * bulk
    psi_v = bulk
    p1 = 0.0
    p1_cl = 0.0
    p1_cr = 0.0
    p1_v = 0.0
    dist1 = 0.5 * h[0]
    last = -1.0
    bp = bm = dbp = dbm = 0.0
    # the face to the left of the current row: the front (F = v, or 0 for a blocking front)
    fl = v if front_open else 0.0
    fl_cr = 0.0
    fl_v = 1.0 if front_open else 0.0
    fl_cl = 0.0
    pl_cr = 0.0
    g_prev = 0.0
    y_prev = 0.0
    z_prev = 0.0
    status = 0
    for f in range(1, n + 1):
        k = f - 1
        cl = c[k]
        if f < n:
            cr = c[f]
            dist = d[f]
            inv_dist = inv_d[f]
        else:
            cr = 0.0
            dist = 0.5 * h[k]
            inv_dist = inv_half[k]
        if dist != last:
            bp, bm, dbp, dbm = peclet_terms(v, dist, d_f)
            last = dist
        flux, f_cl, f_cr, f_v, dp, p_cl, p_cr, p_v = _face_d(
            cl, cr, 0.5 * (cl + cr), uf[k], dn[k], dn_u[k], dist, inv_dist, v, d_f, bp, bm, dbp,
            dbm,
        )  # fmt: skip
        if f == n:
            f_cr = 0.0  # c = 0 at the window end is not an unknown
        # row k: a0 c_k + hist_k + dt/h_k (F_{k+1/2} - F_{k-1/2})
        w = dt * inv_h[k]
        r_k = a0 * cl + hist[k] + w * (flux - fl)
        l_k = -w * fl_cl
        d_k = a0 + w * (f_cl - fl_cr)
        u_k = w * f_cr
        b_k = w * (f_v - fl_v)
        res[k] = r_k
        lo[k] = l_k
        di[k] = d_k
        up[k] = u_k
        bcol[k] = b_k
        brow[k] = p_cl + pl_cr
        psi += dp
        psi_v += p_v
        if f == 1:
            p1, p1_cl, p1_cr, p1_v, dist1 = dp, p_cl, p_cr, p_v, dist
        # forward elimination of row k
        piv = d_k - l_k * g_prev
        if status == 0 and (piv == 0.0 or not math.isfinite(piv)):
            status = k + 1
        piv = 1.0 / piv
        g_prev = u_k * piv
        gam[k] = g_prev
        y_prev = (-r_k - l_k * y_prev) * piv
        y[k] = y_prev
        if border:
            z_prev = (b_k - l_k * z_prev) * piv
            z[k] = z_prev
        fl, fl_cl, fl_cr, fl_v, pl_cr = flux, f_cl, f_cr, f_v, p_cr
    # front half cell: trapezoid between E(0) = v / D_F and E(x_0) interpolated towards the
    # mean field of the first segment (at its midpoint x_m)
    x0 = d[0]
    theta = x0 / (2.0 * (x0 + 0.5 * dist1))
    r = theta * x0 / dist1
    psi += x0 * (1.0 - theta) * v / d_f + r * p1
    psi_v += x0 * (1.0 - theta) / d_f + r * p1_v
    brow[0] += r * p1_cl
    if n > 1:
        brow[1] += r * p1_cr
    don, don_c, don_v = _front_terms(c[0], x0, v, d_f, c_src, front_open)
    out[0] = psi + don
    out[1] = psi_v + don_v
    brow[0] += don_c
    return status


@njit(cache=True)
def back_substitute(gam, n, y, z, border, brow):
    """Back substitution of `newton_system`'s forward sweep for y (and z when `border`);
    returns (brow . y, brow . z) of the solutions (0 for z without border)."""
    ry = brow[n - 1] * y[n - 1]
    rz = 0.0
    if border:
        rz = brow[n - 1] * z[n - 1]
        for k in range(n - 2, -1, -1):
            g = gam[k]
            yk = y[k] - g * y[k + 1]
            zk = z[k] - g * z[k + 1]
            y[k] = yk
            z[k] = zk
            ry += brow[k] * yk
            rz += brow[k] * zk
    else:
        for k in range(n - 2, -1, -1):
            yk = y[k] - gam[k] * y[k + 1]
            y[k] = yk
            ry += brow[k] * yk
    return ry, rz


@njit(cache=True)
def assemble(
    c, n, hist, a0, dt, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1,
    kind, d_const, u0, du, logd, slope, n_lo, res, lo, di, up, bcol, brow, out, a_mob=1.0,
):  # fmt: skip
    """Residual and Jacobian of one implicit step on the active cells 0..n-1.

    Rows: a0 c_k + hist_k + dt/h_k (F_{k+1/2} - F_{k-1/2}) = 0. Outputs (first n entries):
    res; the tridiagonal Jacobian lo[k] = dres_k/dc_{k-1}, di, up[k] = dres_k/dc_{k+1};
    bcol = dres/dv; brow = dpsi_front/dc; out[0] = psi_front (thermal units: the drop from
    x = 0 to x = L), out[1] = dpsi_front/dv. h: cell widths; d: d[0] = first centre - 0,
    d[k] = centre distance of cells k-1, k; faces: cell faces (nm); thickness: L (nm);
    d_n1: D_N(u = 1) (nm^2/s) of the pristine bulk beyond the window; a_mob: see
    `native_mobilities` (c, v and c_src are then scaled by 1 / a_mob).
    The time loop calls `newton_system`, which computes exactly this (and more).
    """
    inv_h, inv_d, inv_half = inverse_geometry(h, d)
    m = c.shape[0]
    newton_system(
        c, n, hist, a0, dt, v, front_open, True, d_f, c_src, h, inv_h, d, inv_d, inv_half,
        faces, thickness, d_n1, kind, d_const, u0, du, logd, slope, n_lo,
        res, lo, di, up, bcol, brow, out, np.zeros(m), np.zeros(m), np.zeros(m), np.zeros(m),
        np.zeros(m), np.zeros(m), a_mob,
    )  # fmt: skip


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


# ---------------------------------------------------------------------------------------------
# Tridiagonal LU (Thomas algorithm, no pivoting)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def tridiag_factor(lo, di, up, n, piv, gam):
    """LU of the tridiagonal (lo, di, up)[:n] without pivoting: the matrix of a conservative
    implicit step is diagonally dominant by (h-weighted) columns, for which elimination without
    pivoting is stable. Returns 0, or k+1 if pivot k is zero or not finite."""
    for k in range(n):
        w = di[k] if k == 0 else di[k] - lo[k] * gam[k - 1]
        if w == 0.0 or not math.isfinite(w):
            return k + 1
        piv[k] = 1.0 / w
        gam[k] = up[k] * piv[k] if k < n - 1 else 0.0
    return 0


@njit(cache=True)
def tridiag_solve(lo, piv, gam, n, b):
    """Solve A x = b in place with the factors of `tridiag_factor` (piv: inverse pivots)."""
    b[0] *= piv[0]
    for k in range(1, n):
        b[k] = (b[k] - lo[k] * b[k - 1]) * piv[k]
    for k in range(n - 2, -1, -1):
        b[k] -= gam[k] * b[k + 1]


# ---------------------------------------------------------------------------------------------
# Time loop
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def interp_table(t, tab_t, tab_v):
    """Piecewise-linear table value at t (constant beyond the ends)."""
    m = tab_t.shape[0]
    if m == 1 or t <= tab_t[0]:
        return tab_v[0]
    if t >= tab_t[m - 1]:
        return tab_v[m - 1]
    j = np.searchsorted(tab_t, t) - 1
    w = (t - tab_t[j]) / (tab_t[j + 1] - tab_t[j])
    return tab_v[j] + w * (tab_v[j + 1] - tab_v[j])


@njit(cache=True)
def bdf_coefficients(dt, dt1, order):
    """(a0, a1, a2) of the variable-step BDF formula a0 y+ + a1 y + a2 y- = dt f(y+)."""
    if order == 1:
        return 1.0, -1.0, 0.0
    w = dt / dt1
    return (1.0 + 2.0 * w) / (1.0 + w), -(1.0 + w), w * w / (1.0 + w)


@njit(cache=True)
def active_cells(c, n, n_max, tol):
    """Size of the active window: at least WINDOW_MARGIN pristine cells (c <= tol, see
    WINDOW_TOL_REL) beyond the last non-pristine cell, grown by 2 WINDOW_MARGIN when needed,
    at most n_max. The window never shrinks: the cells beyond it are exactly 0."""
    last = -1
    for k in range(n - 1, -1, -1):
        if c[k] > tol:
            last = k
            break
    if n - 1 - last >= WINDOW_MARGIN:
        return n
    return min(n_max, last + 1 + 2 * WINDOW_MARGIN)


#: rows of the scratch array of `advance`
N_WORK = 17


def work_arrays(n_max):
    """The scratch array of `advance` for a reduced grid of n_max cells (allocated once per
    solve rather than once per call of `advance`)."""
    return np.zeros((N_WORK, n_max + 1))


@njit(cache=True)
def advance(
    t_stop, c, c1, c2, fs, ist, h, d, faces, thickness, d_f, c_src, front_open, d_n1,
    kind, d_const, u0, du, logd, slope, n_lo, control, tab_t, tab_v, rtol, atol, max_steps,
    max_order, rec_t, rec_v, rec_psi, rec_q, work, inv_geo, a_mob=1.0,
):  # fmt: skip
    """Integrate from fs[FS_T] to t_stop with adaptive variable-step BDF2 (BE first step).

    c, c1, c2: foreign fractions now and at the two previous accepted steps (length n_max of
    the reduced grid; cells beyond the active window ist[IS_NACT] are exactly 0). control 0:
    potentiostatic, tab_v = psi_front(t) (thermal units), v is an unknown (bordered Newton);
    control 1: galvanostatic, tab_v = v(t) (fraction nm/s). A blocking front (front_open
    False) carries no current: v = 0. Step control as `solvers.kernels.advance`: Milne device
    with the quadratic predictor, max norm over both fractions (c and 1 - c) with weights
    atol + rtol |.|; max_order 1: backward Euler without error control. Newton: converged when
    the fraction updates are below NEWTON_TOL of the weights and the v update moves psi_front
    (along the Newton direction) by less than NEWTON_PSI_TOL; iterates stay in [0, 1], the v
    update is damped to DPSI_MAX and to a factor DONNAN_STEP_MAX in c(0+). Active window: see
    `active_cells`; STATUS_GRID_END when it cannot grow and the last cell holds more than
    TAIL_FAIL. rec_*: per accepted step time, v, front potential (thermal units), charge
    (fraction nm), the charge integrated with the same BDF formula as the profile, so that
    int c dx = charge to round-off. work: N_WORK x (n_max + 1) scratch (see `work_arrays`);
    inv_geo: `inverse_geometry(h, d)`; a_mob: 1 - f, f the native immobile fraction (c, v,
    tab_v under current control and c_src are then scaled by 1 / a_mob; `native_mobilities`).
    Returns a STATUS_*.
    """
    n_max = c.shape[0]
    res, lo, di, up, bcol, brow = work[0], work[1], work[2], work[3], work[4], work[5]
    gam, uf, dn, dn_u, y, z = work[6], work[7], work[8], work[9], work[10], work[11]
    hist, cnew, cpred, inv_w, dpsi = work[12], work[13], work[14], work[15], work[16]
    inv_h, inv_d, inv_half = inv_geo
    out = np.zeros(2)
    potentiostatic = control == 0 and front_open
    window_tol = WINDOW_TOL_REL * atol
    steps_here = 0

    while fs[FS_T] < t_stop:
        t = fs[FS_T]
        dt = fs[FS_DT]
        # land exactly on t_stop; split the last two steps evenly instead of a sliver
        if t + dt >= t_stop:
            dt = t_stop - t
        elif t + 2.0 * dt > t_stop:
            dt = 0.5 * (t_stop - t)
        if dt <= 1.0e-15 * max(1.0, abs(t)):
            return STATUS_DT_UNDERFLOW
        if steps_here >= max_steps:
            return STATUS_MAX_STEPS
        if ist[IS_NREC] >= rec_t.shape[0]:
            return STATUS_BUFFER_FULL
        n = active_cells(c, ist[IS_NACT], n_max, window_tol)
        if n == n_max and c[n_max - 1] > TAIL_FAIL:
            return STATUS_GRID_END
        ist[IS_NACT] = n
        nhist = ist[IS_NHIST]
        order = 1 if (nhist < 2 or max_order == 1) else 2
        dt1 = fs[FS_DT1]
        dt2 = fs[FS_DT2]
        a0, a1, a2 = bdf_coefficients(dt, dt1, order)
        tn = t + dt
        # predictor: quadratic (3 levels), linear (2 levels) or constant extrapolation, as
        # c + p1 (c - c1) + p2 (c1 - c2) (Newton form through the last three states)
        p1 = 0.0
        p2 = 0.0
        if nhist >= 3:
            q = dt * (dt + dt1) / (dt1 + dt2)
            p1 = (dt + q) / dt1
            p2 = -q / dt2
        elif nhist == 2:
            p1 = dt / dt1
        a2h = a2 if order == 2 else 0.0
        for k in range(n):
            ck = c[k]
            cp = ck + p1 * (ck - c1[k]) + p2 * (c1[k] - c2[k])
            cp = min(max(cp, 0.0), 1.0)
            cpred[k] = cp
            cnew[k] = cp
            hist[k] = a1 * ck + a2h * c1[k]
            # inverse error weights 1 / (atol + rtol |.|), the smaller of the two fractions
            inv_w[k] = 1.0 / (atol + rtol * min(abs(ck), abs(1.0 - ck)))
        target = interp_table(tn, tab_t, tab_v)
        if not front_open:
            v = 0.0
        elif potentiostatic:
            v = fs[FS_V]
            if nhist >= 2:
                # the predictor of the profile (quadratic from three levels, else linear):
                # the first Newton update of v is then as small as those of the fractions
                v_ex = v + p1 * (v - fs[FS_V1]) + p2 * (fs[FS_V1] - fs[FS_V2])
                # keep the extrapolation where the Donnan step stays defined (c(0+) > 0)
                if _surface_fraction(c[0], d[0], v_ex, d_f) > 0.5 * _surface_fraction(
                    c[0], d[0], v, d_f
                ):
                    v = v_ex
        else:
            v = target

        converged = False
        lu_failed = False
        e_prev = -1.0  # scaled size of the previous undamped, uncut update (-1: none)
        if order == 1:
            fs[FS_KAPPA] = 0.0  # observed afresh on the BDF2 steps (see kernels.advance)
        for _it in range(NEWTON_MAXITER):
            ist[IS_NEWTON] += 1
            ist[IS_CELL_ITER] += n
            if (
                newton_system(
                    cnew, n, hist, a0, dt, v, front_open, potentiostatic, d_f, c_src, h,
                    inv_h, d, inv_d, inv_half, faces, thickness, d_n1, kind, d_const, u0, du,
                    logd, slope, n_lo, res, lo, di, up, bcol, brow, out, gam, y, z, uf, dn,
                    dn_u, a_mob,
                )
                != 0
            ):  # fmt: skip
                lu_failed = True
                break
            ry, rz = back_substitute(gam, n, y, z, potentiostatic, brow)
            dv = 0.0
            dpsi_v = 0.0
            if potentiostatic:
                # bordered system [T b; r^T e] [dc; dv] = -[res; psi_front - target]
                denom = out[1] - rz
                if denom == 0.0 or not math.isfinite(denom):
                    lu_failed = True
                    break
                dv = (-(out[0] - target) - ry) / denom
                # (the update of the fractions is y - z dv: applied in the loop below)
                # change of the front potential along the Newton direction (Schur complement)
                dpsi_v = abs(dv * denom)
            if not math.isfinite(dpsi_v):
                break
            # damping: the change of v may move the front potential by at most DPSI_MAX
            lam = 1.0
            if dpsi_v > DPSI_MAX:
                lam = DPSI_MAX / dpsi_v
            if potentiostatic:
                # the Donnan step is logarithmic in c(0+): let c(0+) change by at most a
                # factor DONNAN_STEP_MAX per iteration (Newton on ln c(0+) would overshoot)
                cs_old = _surface_fraction(cnew[0], d[0], v, d_f)
                delta = _surface_fraction(cnew[0], d[0], v + dv, d_f) - cs_old
                if cs_old > 0.0:
                    if cs_old + lam * delta < cs_old / DONNAN_STEP_MAX:
                        lam = (1.0 - 1.0 / DONNAN_STEP_MAX) * cs_old / -delta
                    elif cs_old + lam * delta > cs_old * DONNAN_STEP_MAX:
                        lam = (DONNAN_STEP_MAX - 1.0) * cs_old / delta
            err_c = 0.0
            finite = True
            for k in range(n):
                yk = y[k] - z[k] * dv if potentiostatic else y[k]
                step = lam * yk
                e = abs(yk) * inv_w[k]
                if not math.isfinite(e):
                    finite = False
                    break
                if e > err_c:
                    err_c = e
                cn = cnew[k] + step
                # keep iterates inside [0, 1]: part of the way to the violated bound; a cut
                # larger than the tolerance means this iterate is not converged
                cut = cn
                if cn < 0.0:
                    cut = 0.1 * cnew[k]
                elif cn > 1.0:
                    cut = 1.0 - 0.1 * (1.0 - cnew[k])
                if abs(cut - cn) * inv_w[k] > NEWTON_TOL:
                    err_c = 1.0e30
                cnew[k] = cut
            if not finite:
                break
            v += lam * dv
            # v is converged when it moves the front potential by less than NEWTON_PSI_TOL or
            # when the charge it carries in this step moves the first cell by less than the
            # Newton tolerance (with no foreign ions at the front the Donnan step makes
            # psi_front so sensitive to v that round-off alone moves it by more)
            if potentiostatic and _surface_fraction(cnew[0], d[0], v, d_f) <= DONNAN_C_MIN:
                e_prev = -1.0  # the Donnan step is clamped: not a solution
                continue
            if lam < 1.0 or err_c >= 1.0e30:
                e_prev = -1.0
                continue
            e_v = min(dpsi_v / NEWTON_PSI_TOL, abs(dv) * dt / h[0] * inv_w[0] / NEWTON_TOL)
            e_now = max(err_c / NEWTON_TOL, e_v)
            if newton_converged(e_now, e_prev, order, fs, FS_KAPPA, ist, IS_KAPPA_AGE):
                converged = True
                break
            e_prev = e_now

        if lu_failed:
            ist[IS_LU_FAIL] += 1
        if not converged:
            ist[IS_NEWTON_FAIL] += 1
            ist[IS_REJECT] += 1
            fs[FS_DT] = dt * SHRINK_FAIL
            fs[FS_KAPPA] = 0.0
            continue
        # neither fraction may be negative; and, in the same pass, the local error estimate
        # (Milne device with the quadratic predictor) when the step has one
        estimate = order == 2 and nhist >= 3
        cerr = milne_factor(dt, dt1, dt2) if estimate else 0.0
        bad = False
        err = 0.0
        for k in range(n):
            cn = cnew[k]
            if cn < 0.0:
                if cn < -NEG_TOL:
                    bad = True
                cn = 0.0
                cnew[k] = cn
            elif cn > 1.0:
                if cn > 1.0 + NEG_TOL:
                    bad = True
                cn = 1.0
                cnew[k] = cn
            if estimate:
                cmax = max(abs(cn), abs(c[k]))
                umax = max(abs(1.0 - cn), abs(1.0 - c[k]))
                wt = atol + rtol * min(cmax, umax)
                e = cerr * abs(cn - cpred[k])
                if e > err * wt:
                    err = e / wt
        if bad:
            ist[IS_REJECT] += 1
            fs[FS_DT] = dt * SHRINK_FAIL
            continue
        factor = GROWTH_MAX
        if estimate:
            if err > 1.0:
                ist[IS_REJECT] += 1
                fs[FS_DT] = dt * max(SHRINK_MIN, SAFETY * err ** (-1.0 / 3.0))
                continue
            if err > 0.0:
                factor = min(GROWTH_MAX, max(SHRINK_MIN, SAFETY * err ** (-1.0 / 3.0)))
        # accept
        if potentiostatic or (control == 0 and not front_open):
            psi_front = target
        else:
            psi_end = potential_drops(
                cnew, n, v, front_open, d_f, c_src, h, d, faces, thickness, d_n1, kind,
                d_const, u0, du, logd, slope, n_lo, dpsi, a_mob,
            )  # fmt: skip
            psi_front = psi_end
            for f in range(n + 1):
                psi_front += dpsi[f]
        flux = v if front_open else 0.0
        q_new = (dt * flux - a1 * fs[FS_Q] - (a2 * fs[FS_Q1] if order == 2 else 0.0)) / a0
        for k in range(n):
            c2[k] = c1[k]
            c1[k] = c[k]
            c[k] = cnew[k]
        fs[FS_Q2] = fs[FS_Q1]
        fs[FS_Q1] = fs[FS_Q]
        fs[FS_Q] = q_new
        fs[FS_V2] = fs[FS_V1]
        fs[FS_V1] = fs[FS_V]
        fs[FS_V] = v
        fs[FS_DT2] = dt1
        fs[FS_DT1] = dt
        fs[FS_T] = t_stop if dt == t_stop - t else min(tn, t_stop)
        fs[FS_DT] = dt * factor
        if nhist < 3:
            ist[IS_NHIST] = nhist + 1
        ist[IS_STEPS] += 1
        steps_here += 1
        nr = ist[IS_NREC]
        rec_t[nr] = fs[FS_T]
        rec_v[nr] = flux
        rec_psi[nr] = psi_front
        rec_q[nr] = q_new
        ist[IS_NREC] = nr + 1
    return STATUS_OK
