"""Compiled Newton assembly of the electroneutral reduced solver (numba, cache=True): the
residual and Jacobian of one implicit step on the active window (tridiagonal in the foreign
fractions c_k, bordered under potentiostatic control by the column d(res)/dv and the row
d(psi_front)/dc), assembled from the face terms together with the forward sweep of its
elimination (`newton_system`), the back substitution, and `assemble`, the plain residual and
Jacobian.

Split out of `solvers.electroneutral_kernels` (which re-exports every name here).

Scaled variables, as in `solvers.kernels`: c = foreign fraction of n_bulk (the native fraction is
u = 1 - c), psi = e phi / (k_B T), lengths in nm, times in s, D in nm^2/s, the total current as
v = j / (e n_bulk) (fraction * nm/s).

Rows: a0 c_k + hist_k + dt/h_k (F_{k+1/2} - F_{k-1/2}) = 0 (BDF coefficients a0 and history
hist, flux F of `solvers.electroneutral_faces`); front face: F = v (native blocked), or 0 for a
blocking front; window end (the last active face): Dirichlet c = 0 over the half cell. The front
potential psi_front (thermal units) sums the drops of the faces, the front half cell (trapezoid
rule with the exact front field E(0) = v / D_F and E(x_0) interpolated linearly to the first
segment), the pristine bulk beyond the window, v (L - x_end) / D_N(1), and the Donnan step.

The numpy twin of `assemble` is `solvers.electroneutral_numpy.assemble`; tests check they agree.
All functions are module-level and free of closures (the on-disk cache is reused).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from solvers.electroneutral_faces import _face_d, _front_terms, native_mobilities, peclet_terms


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


#: rows of the face scratch `ft` of `newton_system` (index f: face f, 1..n): the flux, its
#: derivatives by the left and right fraction and by v, the potential drop and its three
#: derivatives, then B(P), B(-P), B'(P), B'(-P) of the face's Peclet number
N_FACE_WORK = 12


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def newton_system(
    c, n, hist, a0, dt, v, front_open, border, d_f, c_src, h, inv_h, d, inv_d, inv_half,
    faces, thickness, d_n1, kind, d_const, u0, du, logd, slope, n_lo,
    res, lo, di, up, bcol, brow, out, gam, y, z, uf, dn, dn_u, a_mob=1.0, ft=None,
):  # fmt: skip
    """`assemble` and the forward sweep of the tridiagonal elimination.

    Fills what `assemble` fills (res, lo, di, up, bcol, brow, out) and, row by row as each is
    complete, eliminates the sub-diagonal: gam[k] = up[k] / w_k with the pivots w_k of
    `tridiag_factor`, y[k] the forward-substituted -res and, when `border`, z[k] the
    forward-substituted bcol (the operations of `tridiag_factor` and `tridiag_solve`, with
    multiply-adds fused: 8 % faster). The back substitution is `back_substitute`. inv_h,
    inv_d, inv_half: see `inverse_geometry`; uf, dn, dn_u: work arrays for
    `native_mobilities`; ft: N_FACE_WORK x (n + 1) scratch for the face terms (None: allocated
    here). Returns 0, or k + 1 if pivot k is zero or not finite.

    Three passes after the mobilities: the Peclet terms of every face (computed anew only where
    the node distance changes), the face terms (`_face_d`, independent across faces, so that
    the processor overlaps them and parts vectorise), then the rows with their elimination,
    whose pivots form a chain of divisions. One pass doing all three per row took 20-25 %
    longer (lbo_k, 600 active cells); the values are the same bit for bit (every operation
    and its fused multiply-adds unchanged: the stored face terms are complete results).
    """
    if ft is None:
        fw = np.empty((N_FACE_WORK, n + 1))
    else:
        fw = ft
    native_mobilities(c, n, kind, d_const, u0, du, logd, slope, n_lo, uf, dn, dn_u, a_mob)
    fx, fcl, fcr, fv, fdp, fpcl, fpcr, fpv = fw[0], fw[1], fw[2], fw[3], fw[4], fw[5], fw[6], fw[7]
    pb_p, pb_m, pdb_p, pdb_m = fw[8], fw[9], fw[10], fw[11]
    # the Peclet terms of the faces: face f < n between cells f - 1 and f, face n the half
    # cell to the window end (where c = 0)
    last = -1.0
    bp = bm = dbp = dbm = 0.0
    for f in range(1, n + 1):
        dist = d[f] if f < n else 0.5 * h[f - 1]
        if dist != last:
            bp, bm, dbp, dbm = peclet_terms(v, dist, d_f)
            last = dist
        pb_p[f] = bp
        pb_m[f] = bm
        pdb_p[f] = dbp
        pdb_m[f] = dbm
    # the face terms: between two cells, then the half cell to the window end, where c = 0.
    # That 0 is `zero`, which the compiler cannot fold (0 * c_k for a finite c_k, and c >= 0
    # in every iterate): with a literal 0, it fuses other multiply-adds in that face's terms
    # than in the others' and the last bits change.
    for f in range(1, n):
        k = f - 1
        cl = c[k]
        cr = c[f]
        t = _face_d(
            cl, cr, 0.5 * (cl + cr), uf[k], dn[k], dn_u[k], d[f], inv_d[f], v, d_f, pb_p[f],
            pb_m[f], pdb_p[f], pdb_m[f],
        )  # fmt: skip
        fx[f], fcl[f], fcr[f], fv[f], fdp[f], fpcl[f], fpcr[f], fpv[f] = t
    k = n - 1
    cl = c[k]
    zero = 0.0 * cl
    t = _face_d(
        cl, zero, 0.5 * (cl + zero), uf[k], dn[k], dn_u[k], 0.5 * h[k], inv_half[k], v, d_f,
        pb_p[n], pb_m[n], pdb_p[n], pdb_m[n],
    )  # fmt: skip
    fx[n], fcl[n], fcr[n], fv[n], fdp[n], fpcl[n], fpcr[n], fpv[n] = t
    fcr[n] = 0.0  # c = 0 at the window end is not an unknown
    # the rows and their forward elimination
    bulk = (thickness - faces[n]) / d_n1
    psi = v * bulk
    psi_v = bulk
    # the face to the left of the current row: the front (F = v, or 0 for a blocking front)
    fl = v if front_open else 0.0
    fl_cl = 0.0
    fl_cr = 0.0
    fl_v = 1.0 if front_open else 0.0
    pl_cr = 0.0
    g_prev = 0.0
    y_prev = 0.0
    z_prev = 0.0
    status = 0
    for f in range(1, n + 1):
        k = f - 1
        flux = fx[f]
        f_cl = fcl[f]
        f_cr = fcr[f]
        f_v = fv[f]
        # row k: a0 c_k + hist_k + dt/h_k (F_{k+1/2} - F_{k-1/2})
        w = dt * inv_h[k]
        r_k = a0 * c[k] + hist[k] + w * (flux - fl)
        l_k = -w * fl_cl
        d_k = a0 + w * (f_cl - fl_cr)
        u_k = w * f_cr
        b_k = w * (f_v - fl_v)
        res[k] = r_k
        lo[k] = l_k
        di[k] = d_k
        up[k] = u_k
        bcol[k] = b_k
        brow[k] = fpcl[f] + pl_cr
        psi += fdp[f]
        psi_v += fpv[f]
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
        fl, fl_cl, fl_cr, fl_v, pl_cr = flux, f_cl, f_cr, f_v, fpcr[f]
    # front half cell: trapezoid between E(0) = v / D_F and E(x_0) interpolated towards the
    # mean field of the first segment (at its midpoint x_m)
    dist1 = d[1] if n > 1 else 0.5 * h[0]
    x0 = d[0]
    theta = x0 / (2.0 * (x0 + 0.5 * dist1))
    r = theta * x0 / dist1
    psi += x0 * (1.0 - theta) * v / d_f + r * fdp[1]
    psi_v += x0 * (1.0 - theta) / d_f + r * fpv[1]
    brow[0] += r * fpcl[1]
    if n > 1:
        brow[1] += r * fpcr[1]
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
