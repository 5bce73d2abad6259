"""Forward sensitivities of the full NPP solver (numba, cache=True): d y / d p for parameters p
of the problem, integrated alongside the solution by the staggered direct method.

Each accepted step of the variable-order BDF solves R(y_{n+1}) = 0 with, for a species row,
R = a0 c + hist + dt/h (F_right - F_left) (`solvers.kernels_linalg.block_solve_2`). Its
derivative along p, with y_{n+1} fixed by the step and s = dy/dp carried in its own history
(the same differences as the state, `solvers.bdf`), is the linear system

    J s_{n+1} = -(hist_s + dR/dp),

J the Newton matrix at the accepted state, hist_s the history term of s (species rows only: the
Poisson rows have none). dR/dp is taken from the face fluxes of a perturbed parameter set at the
same state, (F(y; p + delta) - F(y; p)) / delta: any parameter that enters through the kernel
arrays of the mobilities (constant D, the D(c) tables of an SED, the immobile fraction) or the
front potential, with no analytic derivative to maintain. The solve reuses the factors of the
step's last two-species block elimination (substitutions only, `block_substitute_2`); when
that iteration took the banded LU (a flagged block, a retry), and for other species counts, the
sensitivities take the banded LU too.

Under current control the front potential U is an unknown of the step, with the constraint
that the ionic front flux plus the displacement current lam2 dG/dt (G = (U - psi_0) / d_0, the
front field) equals the target: the sensitivities solve the same bordered system as the Newton
step (s = x - zcol s_U, zcol = J^-1 dR/dU), with the history of s_G = dG/dp kept in an extra
last column of each parameter's history (under either control, so that it carries over a
change of control), and d/dp of the start's front field (it depends on the bulk's conductance
under current control) as its initial value.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from solvers.bdf import ALPHA, GAMMA, predict, update
from solvers.kernels_assembly import assemble, band_widths, face_fluxes
from solvers.kernels_current import bordered_products
from solvers.kernels_linalg import (
    banded_lu,
    banded_solve,
    block_substitute_2,
)
from solvers.kernels_mobility import species_mobility, update_mobilities
from solvers.stepping import _interp

#: how dR/dp of a parameter is obtained (`sensitivity_step`): from the face fluxes of the
#: perturbed kernel arrays; analytically, the flux of species ps_species[q] scaling as
#: d ln F / dp = ps_scale[q]; analytically, from the front potential's change; from the
#: perturbed D(c) of species ps_species[q] alone (its face flux is linear in the face's
#: D_l + D_r, so F (D'_l + D'_r) / (D_l + D_r) is its perturbed flux: no Bernoulli function)
SENS_GENERIC, SENS_SCALE, SENS_FRONT, SENS_TABLE = 0, 1, 2, 3


def sensitivity_work(n_sens, n_species, n_cells):
    """Scratch arrays of `sensitivity_step` for n_sens parameters: (pdval, pdder, pc_seen) D(c)
    caches per parameter, (pflux, pfdl, pfdr, pfdp) face scratch, (s_pred, s_hist, rhs) per
    parameter."""
    n = n_cells * (n_species + 1)
    caches = (
        np.zeros((n_sens, n_species, n_cells)),
        np.zeros((n_sens, n_species, n_cells)),
        np.full((n_sens, n_species, n_cells), np.nan),
    )
    faces = tuple(np.zeros((n_species, n_cells + 1)) for _ in range(4))
    rows = tuple(np.zeros((n_sens, n)) for _ in range(3))
    return caches + faces + rows


@njit(cache=True)
def _predict_column(dd, order, col, ypred, hist, out):
    """`solvers.bdf.predict` of the one column col of dd, into ypred[out] and hist[out] (the
    same operations)."""
    p = dd[0, col]
    s = 0.0
    for j in range(1, order + 1):
        v = dd[j, col]
        p += v
        s += GAMMA[j] * v
    ypred[out] = p
    hist[out] = s - ALPHA[order] * p


@njit(cache=True)
def _update_column(dd, order, col, y_new, y_pred):
    """`solvers.bdf.update` of the one column col of dd from the values y_new, y_pred (the
    same operations)."""
    k = order
    if k + 2 < dd.shape[0]:
        dd[k + 2, col] = (y_new - y_pred) - dd[k + 1, col]
    dd[k + 1, col] = y_new - y_pred
    for i in range(k, 0, -1):
        dd[i, col] += dd[i + 1, col]
    dd[0, col] = y_new


@njit(cache=True)
def _right_hand_sides(
    y, psi_front, order, tn, h, d, lam2, z, src, c_src, back_kind, back_c, kind, cref, tab_t, dt,
    fflux, fdp, dval, mob, sd, ps_kind, ps_species, ps_scale, ps_dconst, ps_u0, ps_du, ps_logd,
    ps_slope, ps_n_lo, ps_cimm, ps_tabv, ps_inv_delta, pdval, pdder, pc_seen, pflux, pfdl, pfdr,
    pfdp, s_pred, s_hist, rhs, galvanostatic, tab_v, dg,
):  # fmt: skip
    """rhs[q] = -(hist_s + dR/dp) of every parameter q (see the module doc), and the
    predictors s_pred[q] of the sensitivities (for the update of their histories; the last
    column: the front field's). dval: D of every species and cell at y (`face_fluxes`); mob:
    the problem's kernel arrays (d_const, u0, du, logd, slope, n_lo). Under current control
    (galvanostatic; tab_v: the current table) psi_front is the unknown front potential at y,
    and dg[q] receives d/dp of the constraint's explicit part: the front flux sum z F(0) minus
    the target current."""
    n_sens = sd.shape[0]
    n = y.shape[0]
    n_species = z.shape[0]
    nb = n_species + 1
    n_cells = h.shape[0]
    n_col = sd.shape[2]
    for q in range(n_sens):
        predict(sd[q], order, s_pred[q], s_hist[q], n)
        _predict_column(sd[q], order, n_col - 1, s_pred[q], s_hist[q], n)
        kind_q = ps_kind[q]
        dg[q] = 0.0
        if galvanostatic:
            # the front potential is an unknown: the perturbed residual is taken at the same
            # one; a change of the current table moves the target of the constraint only
            psi_q = psi_front
            if kind_q == SENS_FRONT:
                target = _interp(tn, tab_t, tab_v)
                dg[q] = -(_interp(tn, tab_t, ps_tabv[q]) - target) * ps_inv_delta[q]
        else:
            psi_q = _interp(tn, tab_t, ps_tabv[q])
        if kind_q == SENS_SCALE or kind_q == SENS_FRONT:
            # analytic dR/dp: the flux of one species scales with p (a constant D, or the
            # reference D of a D(c) table), or the front potential moves
            for k in range(n_cells):
                w = dt / h[k]
                base = k * nb
                for i in range(n_species):
                    dr = 0.0
                    if kind_q == SENS_SCALE and i == ps_species[q]:
                        dr = (fflux[i, k + 1] - fflux[i, k]) * ps_scale[q]
                    rhs[q, base + i] = -(s_hist[q, base + i] + w * dr)
                rhs[q, base + n_species] = 0.0
            if kind_q == SENS_SCALE:
                i = ps_species[q]
                dg[q] = z[i] * fflux[i, 0] * ps_scale[q]
            elif not galvanostatic:
                dpsi = (psi_q - psi_front) * ps_inv_delta[q]
                w0 = dt / h[0]
                for i in range(n_species):
                    rhs[q, i] -= w0 * fdp[i, 0] * dpsi
                rhs[q, n_species] = -(lam2 / (h[0] * d[0])) * dpsi
            continue
        if kind_q == SENS_TABLE:
            i = ps_species[q]
            dg[q] = z[i] * _table_right_hand_side(
                q, i, y, n_species, h, d, src, c_src, back_kind, back_c, kind, cref, dt, fflux,
                dval, mob, (ps_dconst[q], ps_u0[q], ps_du[q], ps_logd[q], ps_slope[q],
                ps_n_lo[q]), pdval[q], pdder[q], pc_seen[q], s_hist, rhs, ps_inv_delta[q],
            )  # fmt: skip
            continue
        face_fluxes(
            y, psi_q, d, z, src, c_src, back_kind, back_c, kind, ps_dconst[q], ps_u0[q],
            ps_du[q], ps_logd[q], ps_slope[q], ps_n_lo[q], cref, ps_cimm[q], pdval[q],
            pdder[q], pc_seen[q], pflux, pfdl, pfdr, pfdp,
        )  # fmt: skip
        inv_delta = ps_inv_delta[q]
        for k in range(n_cells):
            w = dt / h[k]
            base = k * nb
            for i in range(n_species):
                dr = (pflux[i, k + 1] - pflux[i, k]) - (fflux[i, k + 1] - fflux[i, k])
                rhs[q, base + i] = -(s_hist[q, base + i] + w * dr * inv_delta)
            rhs[q, base + n_species] = 0.0
        for i in range(n_species):
            dg[q] += z[i] * (pflux[i, 0] - fflux[i, 0]) * inv_delta
        # the Poisson row of cell 0 sees the front potential: - lam2/(h d_0) (psi_0 - psi_front)
        rhs[q, n_species] = -(lam2 / (h[0] * d[0])) * (psi_q - psi_front) * inv_delta


@njit(cache=True)
def _table_right_hand_side(
    q, i, y, n_species, h, d, src, c_src, back_kind, back_c, kind, cref, dt, fflux, dval, mob,
    pmob, pdval, pdder, pc_seen, s_hist, rhs, inv_delta,
):  # fmt: skip
    """rhs[q] of a parameter that changes the D(c) of species i only (SENS_TABLE): the face
    flux F = (D_l + D_r) / (2 d) * drift of species i is linear in D_l + D_r, so its change is
    F ((D'_l - D_l) + (D'_r - D_r)) / (D_l + D_r), D' the perturbed D (pdval, brought up to
    date here with its cache pc_seen; at the source and back values where those faces are
    open). mob, pmob: the kernel arrays (d_const, u0, du, logd, slope, n_lo) of the problem and
    of the perturbed one. The other species' rows have no dR/dp. Returns dF/dp of species i at
    the front face (fraction nm/s per parameter unit)."""
    nb = n_species + 1
    n_cells = h.shape[0]
    update_mobilities(y, n_species, kind, *pmob, cref, pdval, pdder, pc_seen)
    # dF/dp at the front face (cell 0's left face) and at each right face, as it goes
    f_left = 0.0
    f_front = 0.0
    if src == i and fflux[i, 0] != 0.0:
        b_src, _ = species_mobility(c_src, i, 0, kind, *mob, cref)
        p_src, _ = species_mobility(c_src, i, 0, kind, *pmob, cref)
        s = b_src + dval[i, 0]
        if s > 0.0:
            f_left = fflux[i, 0] * ((p_src - b_src) + (pdval[i, 0] - dval[i, 0])) / s
            f_front = f_left
    for k in range(n_cells):
        f_right = 0.0
        if k < n_cells - 1:
            s = dval[i, k] + dval[i, k + 1]
            if s > 0.0:
                f_right = fflux[i, k + 1] * (
                    (pdval[i, k] - dval[i, k]) + (pdval[i, k + 1] - dval[i, k + 1])
                ) / s  # fmt: skip
        elif back_kind[i] != 1 and fflux[i, n_cells] != 0.0:
            cb = back_c[i] if back_kind[i] == 0 else 0.0
            b_back, _ = species_mobility(cb, i, k, kind, *mob, cref)
            p_back, _ = species_mobility(cb, i, k, kind, *pmob, cref)
            s = dval[i, k] + b_back
            if s > 0.0:
                f_right = fflux[i, n_cells] * ((pdval[i, k] - dval[i, k]) + (p_back - b_back)) / s
        base = k * nb
        w = dt / h[k]
        for j in range(n_species):
            rhs[q, base + j] = -s_hist[q, base + j]
        rhs[q, base + i] -= w * (f_right - f_left) * inv_delta
        rhs[q, base + n_species] = 0.0
        f_left = f_right
    return f_front * inv_delta


@njit(cache=True)
def sensitivity_step(
    y, psi_front, a0, dt, order, tn, h, d, lam2, z, cfix, src, c_src, back_kind, back_c, kind,
    d_const, u0, du, logd, slope, n_lo, cref, c_imm, tab_t, dval, dder, c_seen, fflux, fdl, fdr,
    fdp, sd, ps_kind, ps_species, ps_scale, ps_dconst, ps_u0, ps_du, ps_logd, ps_slope, ps_n_lo,
    ps_cimm, ps_tabv, ps_inv_delta, pdval, pdder, pc_seen, pflux, pfdl, pfdr, pfdp, s_pred, s_hist,
    rhs, xblk, dinv, factored, ab, ipiv, res, hist0, dres_du, jac_front, galvanostatic, zcol,
    tab_v,
):  # fmt: skip
    """The sensitivities of an accepted step of order `order`, size dt (s), ending at tn (s), with
    front potential psi_front (thermal units): solves the system of the module doc for every
    parameter q and updates its history sd[q] (N_DIFF x n). y: the iterate at which the step's
    last Newton matrix was formed (interleaved scaled unknowns; the predictor when one iteration
    sufficed), whose fluxes and derivatives fflux, fdl, fdr, fdp are still in the workspace: J
    and dR/dp there differ from those at the accepted state by about the step's local error,
    relative ~(order + 1) rtol, which the sensitivities inherit (measured: 1e-5 to 7e-4 from
    central differences of whole simulations on lbo_k at rtol 1e-4). ps_*[q]: the kernel arrays
    of the perturbed parameter set q (ps_tabv: its control table, thermal units),
    ps_inv_delta[q]: 1 / its perturbation (1 / parameter unit); ps_kind, ps_species, ps_scale:
    see SENS_GENERIC. factored: the step's last Newton iteration was solved by the block
    elimination, whose factors are in xblk and dinv (`block_solve_2`): the sensitivities are
    then solved by substitutions only. galvanostatic: under current control psi_front is the
    unknown front potential at y, and the bordered system of the Newton step is solved for s and
    s_U = d psi_front / dp with zcol = J^-1 d res / d psi_front and jac_front of that iteration
    (still in the workspace); the constraint's history is that of the front field G, the last
    column of sd (s_G = (s_U - s_psi_0) / d_0, kept under either control). Active window: y,
    h, d and the workspace rows are those of the window's cells (d ending with the distance to
    the back, see `solvers.kernels.advance`); the columns of sd beyond them are not touched
    but for the front field's. tab_v: the stage's
    control table (thermal units or the current). The other arguments: those of
    `solvers.kernels.advance` and its workspace (hist0: zeros). Returns False if no linear
    solve succeeded.
    """
    n_sens = sd.shape[0]
    n = y.shape[0]
    n_species = z.shape[0]
    mob = (d_const, u0, du, logd, slope, n_lo)
    dg = np.zeros(n_sens)
    _right_hand_sides(
        y, psi_front, order, tn, h, d, lam2, z, src, c_src, back_kind, back_c, kind, cref, tab_t,
        dt, fflux, fdp, dval, mob, sd, ps_kind, ps_species, ps_scale, ps_dconst, ps_u0, ps_du,
        ps_logd, ps_slope, ps_n_lo, ps_cimm, ps_tabv, ps_inv_delta, pdval, pdder, pc_seen, pflux,
        pfdl, pfdr, pfdp, s_pred, s_hist, rhs, galvanostatic, tab_v, dg,
    )  # fmt: skip
    if n_species == 2 and factored and dinv.shape[0] == h.shape[0]:
        block_substitute_2(dt, h, d, lam2, fdl, fdp, dinv, xblk, rhs)
    else:
        kl, ku = band_widths(n_species)
        assemble(
            y, hist0, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
            kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, dval, dder, res, ab,
            dres_du, jac_front, fflux, fdl, fdr, fdp, c_seen,
        )  # fmt: skip
        if banded_lu(ab, kl, ku, ipiv) != 0:
            return False
        for q in range(n_sens):
            banded_solve(ab, kl, ku, ipiv, rhs[q, :n])
    nb = n_species + 1
    w0 = dt / h[0]
    cdisp = lam2 * a0 / (dt * d[0])
    target = _interp(tn, tab_t, tab_v)
    for q in range(n_sens):
        if galvanostatic:
            # the bordered row (see the galvanostatic Newton step of `advance`): s = x - zcol s_U
            ct_x, ct_z = bordered_products(jac_front, w0, cdisp, rhs[q], zcol, n_species)
            rhs_g = -w0 * (dg[q] + lam2 * s_hist[q, n] / dt)
            s_u = (rhs_g - ct_x) / (w0 * (jac_front[nb + 1] + cdisp) - ct_z)
            for r in range(n):
                rhs[q, r] -= zcol[r] * s_u
        elif ps_kind[q] == SENS_FRONT:
            s_u = (_interp(tn, tab_t, ps_tabv[q]) - target) * ps_inv_delta[q]
        else:
            s_u = 0.0
        # the front field G = (psi_front - psi_0) / d_0: its sensitivity, for its history
        rhs[q, n] = (s_u - rhs[q, n_species]) / d[0]
        update(sd[q], order, rhs[q], s_pred[q], n)
        _update_column(sd[q], order, sd.shape[2] - 1, rhs[q, n], s_pred[q, n])
    return True
