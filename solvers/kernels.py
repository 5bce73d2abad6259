"""Compiled kernels of the full Nernst-Planck-Poisson solver (numba, cache=True): the time loop
(`advance`) and its constants, and, re-exported under their old names, the kernels split by
concept into `solvers.kernels_mobility` (Bernoulli function, D(c) tables),
`solvers.kernels_assembly` (face fluxes, residual and Jacobian, balances) and
`solvers.kernels_linalg` (banded LU, two-species block elimination).

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
)
from solvers.kernels_linalg import (  # noqa: F401  (re-exported)
    BLOCK_DET_MIN,
    _adjugate3,
    _back_substitute_3,
    banded_lu,
    banded_solve,
    block_solve_2,
)
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

# Status codes of `advance`.
STATUS_OK = 0
STATUS_DT_UNDERFLOW = 1
STATUS_MAX_STEPS = 2
STATUS_BUFFER_FULL = 3
#: a converged, error-controlled step brought a fraction above its limit `c_limit` (the site
#: density N_sites / n_bulk): the dilute model is outside its validity there; the step is not
#: accepted, fs[FS_OVER_C], fs[FS_OVER_T], ist[IS_OVER_SPECIES], ist[IS_OVER_CELL] say where.
STATUS_OVERFULL = 4

# Newton and step-control constants.
#: Newton converged when the update is below this fraction of the error weights (atol + rtol|c|),
#: i.e. the iteration error is 1 % of what the step-size control allows (Hairer & Wanner, Solving
#: ODEs II, IV.8, recommend 1e-2 to 1e-1); 1e-3 changed no profile by more than 1e-9 (lbo_k).
NEWTON_TOL = 1.0e-2
#: ...and the potential update below this (thermal-voltage units, ~3e-8 V at 350 K), relative to
#: the front potential when that exceeds one thermal voltage: a potential error of 1e-6 of the
#: applied voltage changes the current by ~1e-6 of itself, far below the local error control.
NEWTON_PSI_TOL = 1.0e-6
#: maximum Newton iterations before the step is retried with a smaller step.
NEWTON_MAXITER = 12
#: Newton is quadratic: the next update is about kappa E^2 (E the scaled size of this update,
#: max of |dc|/(NEWTON_TOL w) and |dpsi| over the potential tolerance), with kappa observed on
#: earlier iterations (lbo_k: 1e-12 to 2.4e-8, median 1.8e-9, while E_1 ~ 3.6e3 and E_2 ~ 0.02). An
#: iterate is accepted when this estimate, times the safety factor, is below 1: most steps then
#: need one Newton iteration instead of a second one that only confirms convergence. Only BDF2
#: steps, whose error estimate would also see a Newton error, use the estimate, and kappa is
#: observed afresh after every backward-Euler step: in the dielectric transient at the start
#: kappa grows 1000-fold within a few steps.
NEWTON_KAPPA_SAFETY = 1.0
#: kappa decays by this factor per observation, so that it follows a problem that becomes
#: more linear, but never below the newest observation.
NEWTON_KAPPA_DECAY = 0.5
#: after this many steps accepted on the estimate, one step iterates to E <= 1 again, which
#: refreshes kappa (the nonlinearity changes as the front forms and moves).
NEWTON_KAPPA_REFRESH = 16
# An iterate that passes the update test is accepted only if each species' discrete balance
# (storage change minus the boundary fluxes, `conservation_residual`) is below NEWTON_BALANCE_TOL
# of what the error control allows for its inventory, NEWTON_BALANCE_TOL a0 (rtol sum_k h_k |c_k| +
# atol h_0). The update test alone bounds each cell's error by NEWTON_TOL (atol + rtol |c_k|),
# which over a 500 um sample admits NEWTON_TOL atol L = 5e-5 nm of a species per step: for a
# fast foreign ion with a small inventory (K with D = 1e-8 cm^2/s: 0.15 nm in 10 s) the charge
# passed then drifted 2e-3 from the inventory. Newton reduces this linear invariant
# quadratically, so the test costs an iteration only on such steps. NEWTON_BALANCE_TOL, 10x
# tighter than NEWTON_TOL, keeps the drift over ~1e3 such steps below ~1e-6 of the inventory.
NEWTON_BALANCE_TOL = 1.0e-3
# Under current control an iterate is accepted only if, in addition, its total front current
# (ionic plus displacement: the bordered constraint, evaluated at the iterate) equals the target
# within NEWTON_CURRENT_TOL of the target (of 1e-3 of the ionic current when that is larger),
# plus CURRENT_ROUNDOFF of the size of its terms: the displacement term lam2 (a0 G + hist) / dt,
# G = (U - psi_0) / d_0, is known only to the round-off of the potentials,
# ~eps lam2 (a0 - a1 + a2) (|U| + |psi_0|) / (d_0 dt), which in the first steps of a stage
# (dt ~ 1e-9 s) is ~1e-7 of the current: no iterate does better there. The update test alone
# leaves the constraint's quadratic remainder: in the first microseconds of a galvanostatic
# stage a BDF2 step accepted after one Newton iteration held the total current up to 2e-2 off
# the target (the charge stayed exact: the BDF history corrects it on the next step). The test
# costs ~10-15 % more Newton iterations in galvanostatic runs (travelling-front tests: 1764 ->
# 2039, 3788 -> 4166; same steps), none in potentiostatic ones.
NEWTON_CURRENT_TOL = 5.0e-10
CURRENT_ROUNDOFF = 1.0e-15
#: largest potential change per Newton iteration (thermal-voltage units); larger updates are
#: scaled down as a whole (damping), which keeps the exponential SG fluxes in range.
DPSI_MAX = 5.0
#: step-size controller: safety factor, largest growth (variable-step BDF2 is zero-stable for
#: ratios below 1 + sqrt(2)), smallest shrink per step.
SAFETY = 0.85
GROWTH_MAX = 2.0
SHRINK_MIN = 0.2
#: shrink factor after a Newton failure.
SHRINK_FAIL = 0.25
#: the electroneutral solver rejects a step with a concentration below -NEG_TOL after
#: convergence and sets tiny negative round-off above it to zero. (`advance` needs no such
#: test: its Newton update keeps every fraction >= 0.)
NEG_TOL = 1.0e-12


# ---------------------------------------------------------------------------------------------
# Time loop
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _interp(t, tab_t, tab_v):
    n = tab_t.shape[0]
    if n == 1 or t <= tab_t[0]:
        return tab_v[0]
    if t >= tab_t[n - 1]:
        return tab_v[n - 1]
    j = np.searchsorted(tab_t, t) - 1
    w = (t - tab_t[j]) / (tab_t[j + 1] - tab_t[j])
    return tab_v[j] + w * (tab_v[j + 1] - tab_v[j])


@njit(cache=True)
def _bdf_coefficients(dt, dt1, order):
    """(a0, a1, a2) of the variable-step BDF formula a0 y+ + a1 y + a2 y- = dt f(y+)."""
    if order == 1:
        return 1.0, -1.0, 0.0
    w = dt / dt1
    return (1.0 + 2.0 * w) / (1.0 + w), -(1.0 + w), w * w / (1.0 + w)


@njit(cache=True)
def milne_factor(dt, dt1, dt2):
    """Local error of a BDF2 step of size dt (previous steps dt1, dt2) as a multiple of its
    distance from the quadratic predictor: e_BDF / (e_BDF + e_pred) (Milne device), with the
    error constants e_BDF = (1 + w)^2 / (6 w (1 + 2 w)) dt^3, w = dt / dt1, and
    e_pred = dt (dt + dt1) (dt + dt1 + dt2) / 6."""
    w = dt / dt1
    e_bdf = (1.0 + w) ** 2 / (6.0 * w * (1.0 + 2.0 * w)) * dt**3
    e_pred = dt * (dt + dt1) * (dt + dt1 + dt2) / 6.0
    return e_bdf / (e_bdf + e_pred)


@njit(cache=True)
def newton_converged(e_now, e_prev, order, fs, i_kappa, ist, i_age):
    """Newton convergence test shared by the time loops (see NEWTON_KAPPA_SAFETY).

    e_now, e_prev: scaled sizes of this and the previous undamped update (e_prev <= 0: none);
    order: BDF order of the step; fs[i_kappa]: the quadratic-convergence constant kappa (0: not
    observed), updated here from (e_prev, e_now); ist[i_age]: steps accepted on the kappa
    estimate since kappa was last observed. True when e_now <= 1, or, on a BDF2 step with a
    fresh enough kappa, when the predicted next update kappa e_now^2 (times the safety factor)
    is <= 1.
    """
    if e_prev > 0.0:
        kappa_obs = max(e_now, 1.0e-300) / (e_prev * e_prev)
        fs[i_kappa] = max(kappa_obs, NEWTON_KAPPA_DECAY * fs[i_kappa])
        ist[i_age] = 0
    if e_now <= 1.0:
        return True
    kappa = fs[i_kappa]
    if (
        order == 2
        and kappa > 0.0
        and ist[i_age] < NEWTON_KAPPA_REFRESH
        and NEWTON_KAPPA_SAFETY * kappa * e_now * e_now <= 1.0
    ):
        ist[i_age] += 1
        return True
    return False


# Indices into the float state vector `fs` and the integer state vector `ist` of `advance`.
# FS_KAPPA: Newton's quadratic-convergence constant (0 = not yet observed);
# IS_KAPPA_AGE: steps accepted on the kappa estimate since it was last observed.
# FS_OVER_C, FS_OVER_T, IS_OVER_SPECIES, IS_OVER_CELL: see STATUS_OVERFULL.
# IS_BANDED: Newton iterations solved with the banded LU (all of them unless there are two
# species; with two, those where a block of `newton_system_2` was ill-conditioned).
# FS_G, FS_G1: the front field G = (U - psi_0) / d_0 (thermal units per nm) of the current and
# the previous accepted state, the history of the displacement current lam2 dG/dt of every
# step's total current; FS_G0: G at the start of the run, from which the surface charge on
# the front electrode lam2 (G - G0) is counted. The caller sets all three to G of the initial
# state; a jump of the front potential at a stage start then enters the displacement current
# of the stage's first step (so the recorded total current integrates to the total charge).
(
    FS_T, FS_DT, FS_DT1, FS_DT2, FS_Q, FS_Q1, FS_Q2, FS_U, FS_U1, FS_U2, FS_KAPPA, FS_OVER_C,
    FS_OVER_T, FS_G, FS_G1, FS_G0,
) = range(16)  # fmt: skip
(
    IS_NHIST, IS_STEPS, IS_REJECT, IS_NEWTON, IS_NREC, IS_NEWTON_FAIL, IS_LU_FAIL,
    IS_KAPPA_AGE, IS_OVER_SPECIES, IS_OVER_CELL, IS_BANDED,
) = range(11)  # fmt: skip
N_FS = 16
N_IS = 11


@njit(cache=True)
def advance(
    t_stop, y, y1, y2, fs, ist, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, c_limit, control, tab_t, tab_v,
    rtol, atol, max_steps, max_order, rec_t, rec_flux, rec_psi, rec_q, rec_total, rec_qtot,
):  # fmt: skip
    """Integrate from fs[FS_T] to t_stop with adaptive variable-step BDF2 (BE first step).

    y, y1, y2: current state and the two previous accepted states (history); fs/ist: float and
    integer solver state (time, step sizes, charge and front potential histories; history
    depth, counters). control 0: potentiostatic, tab_v = psi_front(t) (thermal units);
    control 1: galvanostatic, tab_v = total front current (fraction nm/s: ionic flux plus
    the displacement current lambda^2 dE/dt at x = 0, which the attached surface charge
    carries) and psi_front is an extra unknown (bordered Newton system). tab_t: absolute
    times (s). max_order: 2 (BDF2 with error control) or 1 (backward Euler, no error control:
    steps set by the caller). c_limit: per species the largest fraction a step may reach
    (STATUS_OVERFULL beyond). c_imm: per species the immobile fraction (MODEL.md section 10:
    only max(c - c_imm, 0) drifts and diffuses, with D at c; 0 for an ordinary species).
    rec_*: per accepted step time, ionic front flux, front psi,
    ionic charge (fraction nm), total current (ionic flux plus the displacement current
    lam2 dG/dt by the step's BDF formula, the one the galvanostatic control holds at its target:
    in 1D the current of the external circuit) and total charge (ionic charge plus
    lam2 (G - fs[FS_G0]), the BDF integral of the total current). Returns a STATUS_* code.
    """
    status, ya, y1a, y2a = _advance_steps(
        t_stop, y, y1, y2, fs, ist, h, d, lam2, z, cfix, src, c_src, back_kind, back_c, kind,
        d_const, u0, du, logd, slope, n_lo, cref, c_imm, c_limit, control, tab_t, tab_v, rtol, atol,
        max_steps, max_order, rec_t, rec_flux, rec_psi, rec_q, rec_total, rec_qtot,
    )  # fmt: skip
    # the accepted states rotate through four buffers: copy the final ones into the caller's
    a = ya.copy()
    b = y1a.copy()
    c = y2a.copy()
    # element loops, not y[:] = a: an array-to-slice copy makes numba compile its shape-mismatch
    # error message (string formatting, ~4 s of cold compile)
    for j in range(y.size):
        y[j] = a[j]
        y1[j] = b[j]
        y2[j] = c[j]
    return status


@njit(cache=True)
def _advance_steps(
    t_stop, y, y1, y2, fs, ist, h, d, lam2, z, cfix, src, c_src, back_kind, back_c,
    kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, c_limit, control, tab_t, tab_v,
    rtol, atol, max_steps, max_order, rec_t, rec_flux, rec_psi, rec_q, rec_total, rec_qtot,
):  # fmt: skip
    """`advance`, with the accepted states rotating through the buffers y, y1, y2 and a work
    buffer: returns (status, current, previous, the one before)."""
    n = y.shape[0]
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
    dval = np.zeros((n_species, n_cells))
    dder = np.zeros((n_species, n_cells))
    dres_du = np.zeros(nb)
    jac_front = np.zeros(nb + 2)
    balance = np.zeros(n_species)
    inventory = np.zeros(n_species)
    storage = np.zeros(n_species)
    # two species: block elimination cell by cell (newton_system_2)
    use_blocks = n_species == 2
    xblk = np.empty((n_cells if use_blocks else 1, 9))  # written before it is read
    # face fluxes of both paths, and D(c) (dval, dder) kept between iterations and steps for
    # the cells whose fraction has not changed (c_seen, see update_mobilities)
    fflux = np.empty((n_species, n_cells + 1))
    fdl = np.empty((n_species, n_cells + 1))
    fdr = np.empty((n_species, n_cells + 1))
    fdp = np.empty((n_species, n_cells + 1))
    c_seen = np.full((n_species, n_cells), np.nan)
    galvanostatic = control == 1
    steps_here = 0
    # after a Newton failure the retry starts from the last accepted state with backward Euler
    # (robust: L-stable, no extrapolated guess); cleared by the next accepted step
    safe_retry = False

    while fs[FS_T] < t_stop:
        t = fs[FS_T]
        dt = fs[FS_DT]
        # land exactly on t_stop; split the last two steps evenly instead of a sliver
        if t + dt >= t_stop:
            dt = t_stop - t
        elif t + 2.0 * dt > t_stop:
            dt = 0.5 * (t_stop - t)
        if dt <= 1.0e-15 * max(1.0, abs(t)):
            return STATUS_DT_UNDERFLOW, y, y1, y2
        if steps_here >= max_steps:
            return STATUS_MAX_STEPS, y, y1, y2
        if ist[IS_NREC] >= rec_t.shape[0]:
            return STATUS_BUFFER_FULL, y, y1, y2
        nhist = ist[IS_NHIST]
        order = 1 if (nhist < 2 or max_order == 1 or safe_retry) else 2
        dt1 = fs[FS_DT1]
        dt2 = fs[FS_DT2]
        a0, a1, a2 = _bdf_coefficients(dt, dt1, order)
        tn = t + dt
        # predictor (quadratic through 3 levels, linear through 2, or constant), the BDF
        # history and the species inventories (for the balance test) in
        # one pass; the divisions by the step sizes are taken out of the loop
        if safe_retry or nhist < 2:
            mode = 0
        elif nhist >= 3:
            mode = 2
        else:
            mode = 1
        i1 = 1.0 / dt1 if mode > 0 else 0.0
        i2 = 1.0 / dt2 if mode == 2 else 0.0
        i12 = 1.0 / (dt1 + dt2) if mode == 2 else 0.0
        w1 = dt * i1
        ww = dt * (dt + dt1)
        use_y1 = order == 2
        for i in range(n_species):
            inventory[i] = 0.0
        for k in range(n_cells):
            base = k * nb
            for j in range(nb):
                r = base + j
                yr = y[r]
                if mode == 0:
                    p = yr
                elif mode == 2:
                    # Newton form through (t-dt1-dt2, y2), (t-dt1, y1), (t, y)
                    d1 = (yr - y1[r]) * i1
                    d0 = (y1[r] - y2[r]) * i2
                    p = yr + dt * d1 + ww * ((d1 - d0) * i12)
                else:
                    p = yr + w1 * (yr - y1[r])
                if j < n_species:
                    if p < 0.0:
                        p = 0.0
                    hist[r] = a1 * yr + (a2 * y1[r] if use_y1 else 0.0)
                    inventory[j] += h[k] * abs(yr)
                ypred[r] = p
                ynew[r] = p
        if galvanostatic:
            u_guess = fs[FS_U]
            if nhist >= 2 and not safe_retry:
                u_guess = fs[FS_U] + dt * (fs[FS_U] - fs[FS_U1]) / dt1
            target = _interp(tn, tab_t, tab_v)
            g_now = (fs[FS_U] - y[n_species]) / d[0]
            g_old = (fs[FS_U1] - y1[n_species]) / d[0]
            hist_g = a1 * g_now + (a2 * g_old if order == 2 else 0.0)
        else:
            hist_g = 0.0
            u_guess = _interp(tn, tab_t, tab_v)
            target = 0.0
        psi_front = u_guess
        # the local error estimate (Milne device with the quadratic predictor, fractions only)
        estimate = order == 2 and nhist >= 3
        cerr = milne_factor(dt, dt1, dt2) if estimate else 0.0
        err = 0.0
        over_k = -1
        over_i = -1

        converged = False
        lu_failed = False
        e_prev = -1.0  # scaled size of the previous undamped, unclipped update (-1: none)
        if order == 1:
            # backward-Euler steps (start, restart, retry, or no error control) iterate to
            # convergence; kappa is observed afresh on the BDF2 steps that follow
            fs[FS_KAPPA] = 0.0
        for _it in range(NEWTON_MAXITER):
            ist[IS_NEWTON] += 1
            # dy = -J^-1 res and, under current control, zcol = J^-1 dres/dpsi_front
            solved = False
            # the block path, except on the retry after a failed Newton iteration: that retry
            # (backward Euler from the last state, a quarter of the step) takes the banded LU
            # with partial pivoting, so that a step can never fail for the block path alone
            if use_blocks and not safe_retry:
                solved = newton_system_2(
                    ynew, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind,
                    back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, dval, dder,
                    c_seen, fflux, fdl, fdr, fdp, res, dy, jac_front, galvanostatic, zcol, xblk,
                )  # fmt: skip
            if not solved:
                ist[IS_BANDED] += 1
                assemble(
                    ynew, hist, a0, dt, psi_front, h, d, lam2, z, cfix, src, c_src, back_kind,
                    back_c, kind, d_const, u0, du, logd, slope, n_lo, cref, c_imm, dval, dder,
                    res, ab, dres_du, jac_front, fflux, fdl, fdr, fdp, c_seen,
                )  # fmt: skip
                if banded_lu(ab, kl, ku, ipiv) != 0:
                    lu_failed = True
                    break
                for r in range(n):
                    dy[r] = -res[r]
                banded_solve(ab, kl, ku, ipiv, dy)
                if galvanostatic:
                    zcol[:] = 0.0
                    for r in range(nb):
                        zcol[r] = dres_du[r]
                    banded_solve(ab, kl, ku, ipiv, zcol)
            dpsi_front = 0.0
            if galvanostatic:
                # bordered system: [A b; c^T e] [dy; du] = -[res; g]
                # total current = ionic + displacement lambda^2 dG/dt, G = (U - psi_0)/d_0
                # the field at the front face (thermal units per nm), in flux units
                w_front = dt / h[0]
                g_new = (psi_front - ynew[n_species]) / d[0]
                cdisp = lam2 * a0 / (dt * d[0])
                g = w_front * (jac_front[0] + lam2 * (a0 * g_new + hist_g) / dt - target)
                ct_y = 0.0
                ct_z = 0.0
                for r in range(nb):
                    cr = w_front * jac_front[1 + r]
                    if r == n_species:
                        cr -= w_front * cdisp
                    ct_y += cr * dy[r]
                    ct_z += cr * zcol[r]
                e_corner = w_front * (jac_front[nb + 1] + cdisp)
                denom = e_corner - ct_z
                if denom == 0.0 or not math.isfinite(denom):
                    lu_failed = True
                    break
                dpsi_front = (-g - ct_y) / denom
                for r in range(n):
                    dy[r] -= zcol[r] * dpsi_front
            # damping of the potential update
            dpsi_max = abs(dpsi_front)
            for k in range(n_cells):
                v = abs(dy[k * nb + n_species])
                if v > dpsi_max:
                    dpsi_max = v
            if not math.isfinite(dpsi_max):
                break
            lam = 1.0
            if dpsi_max > DPSI_MAX:
                lam = DPSI_MAX / dpsi_max
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
            for k in range(n_cells):
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
            if newton_converged(e_now, e_prev, order, fs, FS_KAPPA, ist, IS_KAPPA_AGE):
                # ...and the discrete balance of every species within Newton's tolerance
                # integrated over the cells (conservation_residual: the storage summed in the
                # update loop above, plus the boundary fluxes): O(N), no assembly
                for i in range(n_species):
                    balance[i] = storage[i] + boundary_balance(
                        ynew, i, dt, psi_front, d, z, src, c_src, back_kind, back_c, kind,
                        d_const, u0, du, logd, slope, n_lo, cref, c_imm,
                    )  # fmt: skip
                balanced = True
                for i in range(n_species):
                    tol_i = NEWTON_BALANCE_TOL * a0 * (rtol * inventory[i] + atol * h[0])
                    if not abs(balance[i]) <= tol_i:
                        balanced = False
                if balanced and galvanostatic:
                    # ...and, under current control, the constraint at the iterate itself: the
                    # total current (ionic plus displacement) equals the target
                    flux_it = front_flux(
                        ynew, psi_front, d, z, src, c_src, kind, d_const, u0, du, logd, slope,
                        n_lo, cref, c_imm,
                    )  # fmt: skip
                    psi_0 = ynew[n_species]
                    disp = lam2 * (a0 * (psi_front - psi_0) / d[0] + hist_g) / dt
                    size = abs(flux_it) + lam2 * (a0 - a1 + a2) * (
                        abs(psi_front) + abs(psi_0)
                    ) / (d[0] * dt)  # fmt: skip
                    tol_j = NEWTON_CURRENT_TOL * max(abs(target), 1.0e-3 * abs(flux_it))
                    if not abs(flux_it + disp - target) <= tol_j + CURRENT_ROUNDOFF * size:
                        balanced = False
                if balanced:
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
            safe_retry = True
            continue
        # the converged iterate: the local error estimate and fractions above their limit,
        # evaluated in the update that produced it; decided in this order
        factor = GROWTH_MAX
        if estimate:
            if err > 1.0:
                ist[IS_REJECT] += 1
                fs[FS_DT] = dt * max(SHRINK_MIN, SAFETY * err ** (-1.0 / 3.0))
                continue
            if err > 0.0:
                factor = min(GROWTH_MAX, max(SHRINK_MIN, SAFETY * err ** (-1.0 / 3.0)))
        if over_k >= 0:
            fs[FS_OVER_C] = ynew[over_k * nb + over_i]
            fs[FS_OVER_T] = tn
            ist[IS_OVER_SPECIES] = over_i
            ist[IS_OVER_CELL] = over_k
            return STATUS_OVERFULL, y, y1, y2
        # accept
        safe_retry = False
        flux = front_flux(
            ynew,
            psi_front,
            d,
            z,
            src,
            c_src,
            kind,
            d_const,
            u0,
            du,
            logd,
            slope,
            n_lo,
            cref,
            c_imm,
        )
        q_new = (dt * flux - a1 * fs[FS_Q] - (a2 * fs[FS_Q1] if order == 2 else 0.0)) / a0
        # total current: the displacement term of the galvanostatic constraint (hist_g there is
        # this history, bit for bit, since fs[FS_G] = (fs[FS_U] - y[psi_0]) / d_0)
        g_acc = (psi_front - ynew[n_species]) / d[0]
        hist_gr = a1 * fs[FS_G] + (a2 * fs[FS_G1] if order == 2 else 0.0)
        total = flux + lam2 * (a0 * g_acc + hist_gr) / dt
        fs[FS_G1] = fs[FS_G]
        fs[FS_G] = g_acc
        # the new state becomes the current one by rotating the four buffers (no copying);
        # `advance` copies the final order back into the caller's arrays
        y2, y1, y, ynew = y1, y, ynew, y2
        fs[FS_Q2] = fs[FS_Q1]
        fs[FS_Q1] = fs[FS_Q]
        fs[FS_Q] = q_new
        fs[FS_U2] = fs[FS_U1]
        fs[FS_U1] = fs[FS_U]
        fs[FS_U] = psi_front
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
        rec_flux[nr] = flux
        rec_psi[nr] = psi_front
        rec_q[nr] = q_new
        rec_total[nr] = total
        rec_qtot[nr] = q_new + lam2 * (g_acc - fs[FS_G0])
        ist[IS_NREC] = nr + 1
    return STATUS_OK, y, y1, y2
