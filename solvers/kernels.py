"""Compiled kernels of the full Nernst-Planck-Poisson solver (numba, cache=True): the time loop
(`advance`), and, re-exported under their old names, its state layout (`solvers.kernels_state`),
the step control it shares with the electroneutral loop (`solvers.stepping`) and the kernels
split by concept into `solvers.kernels_mobility` (Bernoulli function, D(c) tables),
`solvers.kernels_assembly` (face fluxes, residual and Jacobian, balances),
`solvers.kernels_linalg` (banded LU, two-species block elimination) and
`solvers.kernels_linalg3` (three-species block elimination).

Scaled variables inside the kernels: fractions c = n / n_bulk, potential psi = e phi / (k_B T),
lengths in nm, times in s, diffusion coefficients in nm^2/s, fluxes in (fraction * nm/s).

Unknowns are interleaved per cell: y[k*(S+1) + i] = c_i in cell k (i < S), y[k*(S+1) + S] = psi_k.
The Jacobian is banded with kl = S+1, ku = 2S+1 (`band_widths`) and stored as the transpose of
the LAPACK gbtrf layout, A[r, col] -> AB[col, kl + ku + r - col] (shape n x (2 kl + ku + 1),
kl extra entries per column for the fill-in of pivoting), so that each column of the band is
contiguous in memory.

Every kernel here has a numpy twin in `solvers.kernels_numpy`; tests check they agree.
All functions are module-level and free of closures so that the on-disk cache is reused by
every new process.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from solvers.bdf import (
    ALPHA,
    ERROR_CONST,
    N_DIFF,
    landing,
    predict,
    restart,
    update,
)
from solvers.kernels_assembly import (  # noqa: F401  (re-exported)
    _add,
    _sg_face,
    assemble,
    band_widths,
    boundary_balance,
    conservation_residual,
    face_fluxes,
    front_flux,
    front_jacobian,
    newton_system_2,
    newton_system_3,
)
from solvers.kernels_current import bordered_update, current_met
from solvers.kernels_linalg import (  # noqa: F401  (re-exported)
    BLOCK_DET_MIN,
    _adjugate3,
    _back_substitute_3,
    banded_lu,
    banded_solve,
    block_solve_2,
)
from solvers.kernels_linalg3 import _adjugate4, _back_substitute_4, block_solve_3  # noqa: F401
from solvers.kernels_mobility import (  # noqa: F401  (re-exported)
    BERNOULLI_BIG,
    BERNOULLI_SERIES,
    CREF_ABSENT,
    KIND_CELL_REFERENCE,
    KIND_CONSTANT,
    KIND_TABLE,
    LOGD_OVERFILL_MAX,
    _species_mobilities,
    bernoulli,
    bernoulli_pair,
    bernoulli_prime,
    evaluate_mobilities,
    hermite_log_d,
    mobility,
    species_mobility,
    update_mobilities,
)
from solvers.kernels_sensitivity import sensitivity_step
from solvers.kernels_state import (  # noqa: F401  (re-exported)
    FS_DT,
    FS_DT_WANT,
    FS_G0,
    FS_KAPPA,
    FS_OVER_C,
    FS_OVER_T,
    FS_T,
    IS_BANDED,
    IS_CELL_ITER,
    IS_KAPPA_AGE,
    IS_LU_FAIL,
    IS_NACT,
    IS_NEQUAL,
    IS_NEWTON,
    IS_NEWTON_FAIL,
    IS_NHIST,
    IS_NREC,
    IS_NSNAP,
    IS_NSTOP,
    IS_ORDER,
    IS_ORDER_STEPS,
    IS_OVER_CELL,
    IS_OVER_SPECIES,
    IS_REJECT,
    IS_STEPS,
    N_FS,
    N_IS,
    N_SC,
    SC_G,
    SC_Q,
    SC_U,
    _rescale_all,
    new_state,
    newton_start,
    restart_history,
)
from solvers.kernels_window import (  # noqa: F401  (re-exported)
    WINDOW_MARGIN,
    WINDOW_TOL_REL,
    call_end,
    fill_bulk_potential,
    fill_histories,
    grow_window,
    initial_window,
    snapshot,
    window_size,
)
from solvers.stepping import (  # noqa: F401  (re-exported)
    CURRENT_ROUNDOFF,
    DPSI_MAX,
    GROWTH_MAX,
    GROWTH_MAX_ORDER,
    NEG_TOL,
    NEWTON_BALANCE_TOL,
    NEWTON_CURRENT_TOL,
    NEWTON_KAPPA_DECAY,
    NEWTON_KAPPA_REFRESH,
    NEWTON_KAPPA_SAFETY,
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
    STATUS_OVERFULL,
    STATUS_SENSITIVITY,
    _interp,
    newton_converged,
    next_step,
)


@njit(cache=True, nogil=True)
def advance(
    t_stops, stop_flags, snaps, dd, dsc, sd, fs, ist, h, d, lam2, z, cfix, src, c_src,
    back_kind, back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, c_limit, control,
    tab_t, tab_v, rtol, atol, max_steps, max_order, error_control, rec_t, rec_flux, rec_psi, rec_q,
    rec_total, rec_qtot, ps_kind, ps_species, ps_scale, ps_dconst, ps_u0, ps_du, ps_logd,
    ps_slope, ps_n_lo, ps_cimm, ps_tabv, ps_inv_delta, tail, c_bulk, window_tol,
):  # fmt: skip
    """Integrate through the stop times t_stops[ist[IS_NSTOP]:] (s, increasing) with the
    adaptive variable-order BDF of solvers.bdf, in one call for a whole stage (unless a limit
    returns first: the caller calls again to go on). On each stop the step lands exactly; then,
    by stop_flags: 1, the state is copied into snaps[ist[IS_NSNAP]] (and IS_NSNAP counts it); 2,
    the history restarts (a kink of the control table: order 1, the last slope kept).

    A step shortened to land on a stop has the history interpolated onto it (the order is kept),
    and the step size the control chose is restored after it (FS_DT_WANT). dd, dsc: the history
    of the state (interleaved unknowns) and of the scalars SC_Q, SC_G, SC_U (see `new_state`);
    sd (m x N_DIFF x (n + 1)): the histories of the forward sensitivities of m parameters (the
    last column: that of the front field G), integrated with the state when m > 0
    (solvers.kernels_sensitivity; ps_*: the perturbed kernel arrays there); a snapshot
    snaps[j] is (1 + m) x n: the state, then the sensitivities;
    fs/ist: float and integer solver state. control 0: potentiostatic, tab_v = psi_front(t)
    (thermal units); control 1: galvanostatic, tab_v = total front current (fraction nm/s: ionic
    flux plus the displacement current lambda^2 dE/dt at x = 0, which the attached surface
    charge carries) and psi_front is an extra unknown (bordered Newton system). tab_t: absolute
    times (s). max_order: highest BDF order (1..5). error_control 1: local error control (max
    norm of the fractions' estimates, weights atol + rtol |c|), order and step chosen by the
    standard rules; 0: no error control, the step size doubles after each step and lands on
    t_stop (steps set by the caller's stop times), the order rises to max_order as history
    accrues. c_limit: per species the largest fraction a step may reach (STATUS_OVERFULL
    beyond). c_imm: per species the immobile fraction (MODEL.md section 10). rec_*: per accepted
    step time, ionic front flux, front psi, ionic charge (fraction nm), total current (ionic
    flux plus the displacement current lam2 dG/dt by the step's BDF formula, the one the
    galvanostatic control holds at its target: in 1D the current of the external circuit) and
    total charge (ionic charge plus lam2 (G - fs[FS_G0]), the BDF integral of the total
    current). Returns a STATUS_* code.

    Active window: the steps solve only the first ist[IS_NACT] cells. Beyond them the glass is
    pristine: every fraction at its bulk value (within window_tol of c_bulk: 1e-6 of the error
    weight; frozen there), no charge, so the potential falls linearly from the window's last
    cell to 0 at the back (solvers.kernels_window; tail[j] = L - x_j, nm) and the species cross
    the bulk by drift in that uniform field. Its exact discrete form is the back condition of
    the full grid applied at the window's last cell with the node distance tail[last] (the
    whole bulk as one cell at the back electrode; c_bulk must equal the back condition's
    fractions). The window grows by `grow_window` after each step (with the potentials of the
    new cells and of their histories from the bulk's linear profile) and never shrinks; with
    ist[IS_NACT] = n_cells it is the whole grid and the steps are those without a window. On
    every return the cells beyond it are filled in every row of dd and sd (`call_end`), so
    that the caller sees whole states.
    """
    n = dd.shape[1]
    n_species = z.shape[0]
    nb = n_species + 1
    n_cells = n // nb
    kl, ku = band_widths(n_species)
    # the band is 12 doubles per unknown and only the fallback path uses it (assemble clears
    # it): not zeroed here, so that its pages are not even touched on the block path
    ab = np.empty((n, 2 * kl + ku + 1))
    ipiv = np.zeros(n, dtype=np.int64)
    res = np.zeros(n)
    dy = np.zeros(n)
    zcol = np.zeros(n)
    hist = np.zeros(n)
    ynew = np.zeros(n)
    ypred = np.zeros(n)
    sc_pred = np.zeros(N_SC)
    sc_hist = np.zeros(N_SC)
    sc_new = np.zeros(N_SC)
    dval = np.zeros((n_species, n_cells))
    dder = np.zeros((n_species, n_cells))
    dres_du = np.zeros(nb)
    jac_front = np.zeros(nb + 2)
    balance = np.zeros(n_species)
    inventory = np.zeros(n_species)
    storage = np.zeros(n_species)
    # two or three species: block elimination cell by cell (newton_system_2 / _3)
    use_blocks = n_species == 2 or n_species == 3
    xblk = np.empty((n_cells if use_blocks else 1, 9 if n_species == 2 else 16))  # written first
    # face fluxes of both paths, and D(c) (dval, dder) kept between iterations and steps for
    # the cells whose fraction has not changed (c_seen, see update_mobilities)
    fflux = np.empty((n_species, n_cells + 1))
    fdl = np.empty((n_species, n_cells + 1))
    fdr = np.empty((n_species, n_cells + 1))
    fdp = np.empty((n_species, n_cells + 1))
    c_seen = np.full((n_species, n_cells), np.nan)
    # forward sensitivities (solvers.kernels_sensitivity): their D(c) caches and scratch
    n_sens = sd.shape[0]
    # the inverted diagonal blocks of the last block elimination, kept for the substitutions
    # of the sensitivities (`block_substitute_2`); nothing is stored without sensitivities
    dinv = np.empty((n_cells if use_blocks and n_sens > 0 else 1, 9))
    pdval = np.zeros((n_sens, n_species, n_cells))
    pdder = np.zeros((n_sens, n_species, n_cells))
    pc_seen = np.full((n_sens, n_species, n_cells), np.nan)
    pflux = np.empty((n_species, n_cells + 1))
    pfdl = np.empty((n_species, n_cells + 1))
    pfdr = np.empty((n_species, n_cells + 1))
    pfdp = np.empty((n_species, n_cells + 1))
    # one more column than the state: the sensitivity of the front field G (its history is
    # the displacement current's under current control; see sensitivity_step)
    s_pred = np.zeros((n_sens, n + 1))
    s_hist = np.zeros((n_sens, n + 1))
    rhs = np.zeros((n_sens, n + 1))
    hist0 = np.zeros(n)
    y_jac = np.zeros(n if n_sens > 0 else 0)
    psi_jac = 0.0
    galvanostatic = control == 1
    adaptive = error_control != 0

    steps_here = 0
    # after a Newton failure the retry starts Newton from the last accepted state (no
    # extrapolated guess) and takes the banded LU; a second failure in a row also drops the
    # order to 1 (L-stable backward Euler); cleared by the next accepted step
    n_fail = 0
    # the current state, contiguous (dd[0] is a row of the history)
    y = np.empty(n)
    for r in range(n):
        y[r] = dd[0, r]
    # the active window and the node distances it sees: the last one that to the back
    if ist[IS_NACT] <= 0 or ist[IS_NACT] > n_cells:
        ist[IS_NACT] = n_cells
    dwin = d.copy()
    if ist[IS_NACT] < n_cells:
        dwin[ist[IS_NACT]] = tail[ist[IS_NACT] - 1]

    n_stops = t_stops.shape[0]
    while True:
        i_stop = ist[IS_NSTOP]
        if i_stop >= n_stops:
            return call_end(STATUS_OK, dd, sd, ist[IS_NACT], n_species, tail)
        t_stop = t_stops[i_stop]
        if fs[FS_T] >= t_stop:
            # on a stop: a snapshot of the state (flag 1) and/or a restart of the history at a
            # kink of the control table (flag 2: order 1, the last slope kept)
            flag = stop_flags[i_stop]
            if flag & 1:
                snapshot(snaps[ist[IS_NSNAP]], y, sd, ist[IS_NACT], n_species, tail)
                ist[IS_NSNAP] += 1
            if flag & 2:
                restart(dd, True)
                restart(dsc, True)
                for q in range(n_sens):
                    restart(sd[q], True)
                ist[IS_NHIST] = min(ist[IS_NHIST], 2)
                ist[IS_ORDER] = 1
                ist[IS_NEQUAL] = 0
            ist[IS_NSTOP] = i_stop + 1
            continue
        t = fs[FS_T]
        order = ist[IS_ORDER]
        # the active window's cells and unknowns, and views of the arrays on them
        n_act = ist[IS_NACT]
        m = n_act * nb
        h_a = h[:n_act]
        d_a = dwin[: n_act + 1]
        ynew_a = ynew[:m]
        hist_a = hist[:m]
        res_a = res[:m]
        dy_a = dy[:m]
        zcol_a = zcol[:m]
        ab_a = ab[:m]
        ipiv_a = ipiv[:m]
        xblk_a = xblk[: min(n_act, xblk.shape[0])]
        dinv_a = dinv[: min(n_act, dinv.shape[0])] if dinv.shape[0] == n_cells else dinv
        dt = fs[FS_DT]
        dt = landing(t, dt, t_stop)
        if dt != fs[FS_DT]:
            # a shortened step (the history is interpolated onto it, the order is kept); the
            # step size the control chose is restored after landing (and the count of equal
            # steps is kept: the order and step decisions are not delayed by output times)
            if fs[FS_DT_WANT] == 0.0 and dt < fs[FS_DT]:
                fs[FS_DT_WANT] = fs[FS_DT]
            _rescale_all(dd, dsc, sd, order, dt / fs[FS_DT], fs, m)
            fs[FS_DT] = dt
        if dt <= 1.0e-15 * max(1.0, abs(t)):
            return call_end(STATUS_DT_UNDERFLOW, dd, sd, ist[IS_NACT], n_species, tail)
        if steps_here >= max_steps:
            return call_end(STATUS_MAX_STEPS, dd, sd, ist[IS_NACT], n_species, tail)
        if ist[IS_NREC] >= rec_t.shape[0]:
            return call_end(STATUS_BUFFER_FULL, dd, sd, ist[IS_NACT], n_species, tail)
        nhist = ist[IS_NHIST]
        safe_retry = n_fail > 0
        a0 = ALPHA[order]
        tn = t + dt
        # predictor and BDF history; Newton starts from the predictor with fractions clipped
        # at 0 (from the last state on a retry); the species inventories (balance test)
        predict(dd, order, ypred, hist, m)
        predict(dsc, order, sc_pred, sc_hist, N_SC)
        newton_start(ynew_a, y, ypred, h, safe_retry, n_species, inventory)
        hist_q = sc_hist[SC_Q]
        hist_g = sc_hist[SC_G]
        u_pred = sc_pred[SC_U]
        if galvanostatic:
            u_guess = dsc[0, SC_U] if (safe_retry or nhist < 2) else u_pred
            target = _interp(tn, tab_t, tab_v)
        else:
            u_guess = _interp(tn, tab_t, tab_v)
            target = 0.0
        psi_front = u_guess
        # the local error estimate ERROR_CONST[order] |c - c_pred| (fractions only), available
        # once the predictor is built from accepted states
        estimate = adaptive and nhist >= 2
        cerr = ERROR_CONST[order] if estimate else 0.0
        err = 0.0
        over_k = -1
        over_i = -1

        converged = False
        lu_failed = False
        e_prev = -1.0  # scaled size of the previous undamped, unclipped update (-1: none)
        if not estimate:
            # steps without an error estimate iterate to convergence; kappa is observed afresh
            fs[FS_KAPPA] = 0.0
        for _it in range(NEWTON_MAXITER):
            ist[IS_NEWTON] += 1
            ist[IS_CELL_ITER] += n_act
            # dy = -J^-1 res and, under current control, zcol = J^-1 dres/dpsi_front
            solved = False
            # the block path, except on the retry after a failed Newton iteration: that retry
            # takes the banded LU with partial pivoting, so that a step can never fail for the
            # block path alone
            if use_blocks and not safe_retry and n_species == 2:
                solved = newton_system_2(
                    ynew_a, hist_a, a0, dt, psi_front, h_a, d_a, lam2, z, cfix, src, c_src,
                    back_kind, back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm,
                    dval, dder, c_seen, fflux, fdl, fdr, fdp, res_a, dy_a, jac_front,
                    galvanostatic, zcol_a, xblk_a, dinv_a,
                )  # fmt: skip
            elif use_blocks and not safe_retry:
                solved = newton_system_3(
                    ynew_a, hist_a, a0, dt, psi_front, h_a, d_a, lam2, z, cfix, src, c_src,
                    back_kind, back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm,
                    dval, dder, c_seen, fflux, fdl, fdr, fdp, res_a, dy_a, jac_front,
                    galvanostatic, zcol_a, xblk_a,
                )  # fmt: skip
            if not solved:
                ist[IS_BANDED] += 1
                assemble(
                    ynew_a, hist_a, a0, dt, psi_front, h_a, d_a, lam2, z, cfix, src, c_src,
                    back_kind, back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm,
                    dval, dder, res_a, ab_a, dres_du, jac_front, fflux, fdl, fdr, fdp, c_seen,
                )  # fmt: skip
                if banded_lu(ab_a, kl, ku, ipiv_a) != 0:
                    lu_failed = True
                    break
                for r in range(m):
                    dy[r] = -res[r]
                banded_solve(ab_a, kl, ku, ipiv_a, dy_a)
                if galvanostatic:
                    zcol_a[:] = 0.0
                    for r in range(nb):
                        zcol[r] = dres_du[r]
                    banded_solve(ab_a, kl, ku, ipiv_a, zcol_a)
            dpsi_front = 0.0
            if galvanostatic:
                ok, dpsi_front = bordered_update(
                    dy_a, zcol_a, jac_front, psi_front, ynew[n_species], h[0], d[0], lam2, a0,
                    dt, hist_g, target, n_species,
                )  # fmt: skip
                if not ok:
                    lu_failed = True
                    break
            # damping of the potential update
            dpsi_max = abs(dpsi_front)
            for k in range(n_act):
                v = abs(dy[k * nb + n_species])
                if v > dpsi_max:
                    dpsi_max = v
            if not math.isfinite(dpsi_max):
                break
            lam = 1.0
            if dpsi_max > DPSI_MAX:
                lam = DPSI_MAX / dpsi_max
            if n_sens > 0:
                # the iterate the fluxes and J of this iteration belong to (for the
                # sensitivities of the step, `sensitivity_step`)
                for r in range(m):
                    y_jac[r] = ynew[r]
                psi_jac = psi_front
            err_c = 0.0
            finite = True
            # along with the update, in the same pass: the storage part of the species
            # balances (see conservation_residual), sum_k h_k (a0 c_k + hist_k) of the new
            # iterate, and what the step's acceptance needs if the iterate converges: its local
            # error estimate and the first fraction above its limit (the site density: outside
            # the dilute model). Fractions stay >= 0: the predictor and the update clip them.
            for i in range(n_species):
                storage[i] = 0.0
            err = 0.0
            over_k = -1
            over_i = -1
            for k in range(n_act):
                for i in range(n_species):
                    r = k * nb + i
                    step = lam * dy[r]
                    y_abs = abs(y[r])
                    weight = atol + rtol * y_abs
                    # err_c = max |dy| / weight, dividing only where the maximum grows
                    if abs(dy[r]) > err_c * weight:
                        err_c = abs(dy[r]) / weight
                    cnew = ynew[r] + step
                    if cnew < 0.0:
                        if -cnew > NEWTON_TOL * weight:
                            # keep iterates positive: a fraction of the old value; the
                            # iteration is not converged while this clipping is needed
                            cnew = 0.1 * ynew[r] if ynew[r] > 0.0 else 0.0
                            err_c = max(err_c, 1.0e30)
                        else:
                            # round-off below the Newton tolerance of a vanishing fraction
                            cnew = 0.0
                    ynew[r] = cnew
                    storage[i] += h[k] * (a0 * cnew + hist[r])
                    if estimate:
                        wt = atol + rtol * max(cnew, y_abs)
                        v = cerr * abs(cnew - ypred[r])
                        if v > err * wt:  # divide only where the maximum grows
                            err = v / wt
                    if cnew > c_limit[i] and over_k < 0:
                        over_k = k
                        over_i = i
                r = k * nb + n_species
                ynew[r] += lam * dy[r]
                if not math.isfinite(ynew[r]):
                    finite = False
            psi_front += lam * dpsi_front
            if not finite:
                break
            if lam < 1.0 or err_c >= 1.0e30:
                e_prev = -1.0
                continue
            psi_tol = NEWTON_PSI_TOL * max(1.0, abs(psi_front))
            e_now = max(err_c / NEWTON_TOL, dpsi_max / psi_tol)
            if newton_converged(e_now, e_prev, estimate, fs, FS_KAPPA, ist, IS_KAPPA_AGE):
                # ...and the discrete balance of every species within Newton's tolerance
                # integrated over the cells (conservation_residual: the storage summed in the
                # update loop above, plus the boundary fluxes): O(N), no assembly
                for i in range(n_species):
                    balance[i] = storage[i] + boundary_balance(
                        ynew, i, dt, psi_front, d_a, z, src, c_src, back_kind, back_c, kind,
                        d_const, u0, du, logd, slope, n_lo, cref, c_imm,
                    )  # fmt: skip
                balanced = True
                for i in range(n_species):
                    tol_i = NEWTON_BALANCE_TOL * a0 * (rtol * inventory[i] + atol * h[0])
                    if not abs(balance[i]) <= tol_i:
                        balanced = False
                if balanced and galvanostatic:
                    # ...and, under current control, the constraint at the iterate itself
                    balanced = current_met(
                        ynew, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope,
                        n_lo, cref, c_imm, lam2, a0, dt, hist_g, target, order,
                    )  # fmt: skip
                if balanced:
                    converged = True
                    break
            e_prev = e_now

        if lu_failed:
            ist[IS_LU_FAIL] += 1
        if not converged:
            ist[IS_NEWTON_FAIL] += 1
            ist[IS_REJECT] += 1
            _rescale_all(dd, dsc, sd, order, SHRINK_FAIL, fs, m)
            ist[IS_NEQUAL] = 0
            fs[FS_DT_WANT] = 0.0
            fs[FS_KAPPA] = 0.0
            if n_fail > 0:
                ist[IS_ORDER] = 1
            n_fail += 1
            continue
        # the converged iterate: the local error estimate and fractions above their limit,
        # evaluated in the update that produced it; decided in this order
        if estimate and err > 1.0:
            ist[IS_REJECT] += 1
            fs[FS_DT_WANT] = 0.0
            factor = max(SHRINK_MIN, SAFETY * err ** (-1.0 / (order + 1)))
            _rescale_all(dd, dsc, sd, order, factor, fs, m)
            ist[IS_NEQUAL] = 0
            continue
        if over_k >= 0:
            fs[FS_OVER_C] = ynew[over_k * nb + over_i]
            fs[FS_OVER_T] = tn
            ist[IS_OVER_SPECIES] = over_i
            ist[IS_OVER_CELL] = over_k
            return call_end(STATUS_OVERFULL, dd, sd, ist[IS_NACT], n_species, tail)
        # accept
        n_fail = 0
        flux = front_flux(
            ynew, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope, n_lo, cref,
            c_imm,
        )  # fmt: skip
        q_new = (dt * flux - hist_q) / a0
        # total current: the displacement term of the galvanostatic constraint (hist_g there
        # is this history)
        g_acc = (psi_front - ynew[n_species]) / d[0]
        total = flux + lam2 * (a0 * g_acc + hist_g) / dt
        # the differences at the new point
        update(dd, order, ynew, ypred, m)
        for r in range(m):
            y[r] = ynew[r]
        sc_new[SC_Q] = q_new
        sc_new[SC_G] = g_acc
        sc_new[SC_U] = psi_front
        update(dsc, order, sc_new, sc_pred, N_SC)
        if n_sens > 0 and not sensitivity_step(
            y_jac[:m], psi_jac, a0, dt, order, tn, h_a, d_a, lam2, z, cfix, src, c_src,
            back_kind, back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, tab_t,
            dval, dder, c_seen, fflux, fdl, fdr, fdp, sd, ps_kind, ps_species, ps_scale,
            ps_dconst, ps_u0, ps_du, ps_logd, ps_slope, ps_n_lo, ps_cimm, ps_tabv, ps_inv_delta,
            pdval, pdder, pc_seen, pflux, pfdl, pfdr, pfdp, s_pred, s_hist, rhs, xblk_a, dinv_a,
            solved, ab_a, ipiv_a, res_a, hist0[:m], dres_du, jac_front, galvanostatic, zcol_a,
            tab_v,
        ):  # fmt: skip
            return call_end(STATUS_SENSITIVITY, dd, sd, ist[IS_NACT], n_species, tail)
        fs[FS_T] = t_stop if dt == t_stop - t else min(tn, t_stop)
        nhist = min(nhist + 1, N_DIFF)
        ist[IS_NHIST] = nhist
        ist[IS_NEQUAL] += 1
        ist[IS_STEPS] += 1
        ist[IS_ORDER_STEPS + order] += 1
        steps_here += 1
        nr = ist[IS_NREC]
        rec_t[nr] = fs[FS_T]
        rec_flux[nr] = flux
        rec_psi[nr] = psi_front
        rec_q[nr] = q_new
        rec_total[nr] = total
        rec_qtot[nr] = q_new + lam2 * (g_acc - fs[FS_G0])
        ist[IS_NREC] = nr + 1
        # the next step's order and size (solvers.stepping.next_step)
        new_order, factor, reset, clear = next_step(
            dd, order, err, y, m, nb, n_species, False, atol, rtol, max_order, nhist, adaptive,
            estimate, ist[IS_NEQUAL], fs[FS_T] == t_stop, dt, fs[FS_DT_WANT],
        )  # fmt: skip
        ist[IS_ORDER] = new_order
        _rescale_all(dd, dsc, sd, new_order, factor, fs, m)
        if reset:
            ist[IS_NEQUAL] = 0
        if clear:
            fs[FS_DT_WANT] = 0.0
        if n_act < n_cells:
            ist[IS_NACT] = grow_window(
                y, dd, sd, dwin, d, tail, n_act, n_species, c_bulk, window_tol
            )
