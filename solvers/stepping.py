"""Step control shared by the compiled time loops (`solvers.kernels.advance`,
`solvers.electroneutral_kernels.advance`): status codes, Newton and step-size constants, the
control-table interpolation and Newton's convergence test. The variable-order BDF itself is in
`solvers.bdf`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from solvers.bdf import ERROR_CONST, choose_order

# Status codes of `advance`.
STATUS_OK = 0
STATUS_DT_UNDERFLOW = 1
STATUS_MAX_STEPS = 2
STATUS_BUFFER_FULL = 3
#: a converged, error-controlled step brought a fraction above its limit `c_limit` (the site
#: density N_sites / n_bulk): the dilute model is outside its validity there; the step is not
#: accepted, fs[FS_OVER_C], fs[FS_OVER_T], ist[IS_OVER_SPECIES], ist[IS_OVER_CELL] say where.
STATUS_OVERFULL = 4
#: the linear system of the forward sensitivities could not be solved at an accepted step
STATUS_SENSITIVITY = 5

# Newton and step-control constants.
#: Newton converged when the update is below this fraction of the error weights (atol + rtol|c|),
#: i.e. the iteration error is 1 % of what the step-size control allows (Hairer & Wanner, Solving
#: ODEs II, IV.8, recommend 1e-2 to 1e-1); 1e-3 changed no profile by more than 1e-9 (lbo_k).
NEWTON_TOL = 1.0e-2
#: ...and the potential update below this (thermal-voltage units, ~3e-8 V at 350 K), relative to
#: the front potential when that exceeds one thermal voltage: a potential error of 1e-6 of the
#: applied voltage changes the current by ~1e-6 of itself, far below the local error control.
NEWTON_PSI_TOL = 1.0e-6
#: the electroneutral loop scales NEWTON_PSI_TOL by rtol / PSI_TOL_RTOL above this rtol (the
#: shipped cases' tolerance), as the fraction weights scale with rtol
PSI_TOL_RTOL = 1.0e-4
#: maximum Newton iterations before the step is retried with a smaller step.
NEWTON_MAXITER = 12
#: Newton is quadratic: the next update is about kappa E^2 (E the scaled size of this update,
#: max of |dc|/(NEWTON_TOL w) and |dpsi| over the potential tolerance), with kappa observed on
#: earlier iterations (lbo_k: 1e-12 to 2.4e-8, median 1.8e-9, while E_1 ~ 3.6e3 and E_2 ~ 0.02). An
#: iterate is accepted when this estimate, times the safety factor, is below 1: most steps then
#: need one Newton iteration instead of a second one that only confirms convergence. Only steps
#: with a local error estimate, which would also see a Newton error, use the estimate, and kappa
#: is observed afresh after every step without one (the first step of a stage): in the
#: dielectric transient at the start kappa grows 1000-fold within a few steps.
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
#: step-size controller: safety factor, growth per step of the mode without error control (its
#: steps double and land on the caller's stop times), smallest shrink after a rejected step.
SAFETY = 0.85
GROWTH_MAX = 2.0
SHRINK_MIN = 0.2
#: largest growth of the step size at an order/step decision of the variable-order BDF (made
#: after order + 1 steps of one size; scipy's BDF and ode15s use 10)
GROWTH_MAX_ORDER = 10.0
#: shrink factor after a Newton failure.
SHRINK_FAIL = 0.25
#: the electroneutral solver rejects a step with a concentration below -NEG_TOL after
#: convergence and sets tiny negative round-off above it to zero. (`advance` needs no such
#: test: its Newton update keeps every fraction >= 0.)
NEG_TOL = 1.0e-12


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
def newton_converged(e_now, e_prev, estimated, fs, i_kappa, ist, i_age):
    """Newton convergence test shared by the time loops (see NEWTON_KAPPA_SAFETY).

    e_now, e_prev: scaled sizes of this and the previous undamped update (e_prev <= 0: none);
    estimated: True if the step has a local error estimate; fs[i_kappa]: the quadratic-
    convergence constant kappa (0: not observed), updated here from (e_prev, e_now); ist[i_age]:
    steps accepted on the kappa estimate since kappa was last observed. True when e_now <= 1,
    or, on a step with an error estimate and a fresh enough kappa, when the predicted next
    update kappa e_now^2 (times the safety factor) is <= 1.
    """
    if e_prev > 0.0:
        kappa_obs = max(e_now, 1.0e-300) / (e_prev * e_prev)
        fs[i_kappa] = max(kappa_obs, NEWTON_KAPPA_DECAY * fs[i_kappa])
        ist[i_age] = 0
    if e_now <= 1.0:
        return True
    kappa = fs[i_kappa]
    if (
        estimated
        and kappa > 0.0
        and ist[i_age] < NEWTON_KAPPA_REFRESH
        and NEWTON_KAPPA_SAFETY * kappa * e_now * e_now <= 1.0
    ):
        ist[i_age] += 1
        return True
    return False


@njit(cache=True)
def _neighbour_errors(dd, order, y, m_cols, stride, n_frac, two_sided, atol, rtol, want_m, want_p):
    """(err_m, err_p): the scaled local errors the orders k - 1 and k + 1 would have made in
    the last step, ERROR_CONST[k -+ 1] |D[k]| and ERROR_CONST[k + 1] |D[k + 2]| over the weights
    atol + rtol |y| (two_sided: rtol times the smaller of |y| and |1 - y|), in the max norm over
    the columns r < m_cols with r % stride < n_frac (the fractions); -1 where not wanted."""
    err_m = 0.0 if want_m else -1.0
    err_p = 0.0 if want_p else -1.0
    if not (want_m or want_p):
        return err_m, err_p
    cm = ERROR_CONST[order - 1]
    cp = ERROR_CONST[order + 1]
    for r in range(m_cols):
        if r % stride >= n_frac:
            continue
        yr = y[r]
        if two_sided:
            wt = atol + rtol * min(abs(yr), abs(1.0 - yr))
        else:
            wt = atol + rtol * abs(yr)
        if want_m:
            v = cm * abs(dd[order, r])
            if v > err_m * wt:
                err_m = v / wt
        if want_p:
            v = cp * abs(dd[order + 2, r])
            if v > err_p * wt:
                err_p = v / wt
    return err_m, err_p


@njit(cache=True)
def next_step(
    dd, order, err, y, m_cols, stride, n_frac, two_sided, atol, rtol, max_order, nhist,
    adaptive, estimate, n_equal, landed, dt, dt_want,
):  # fmt: skip
    """Order and size of the next step after an accepted one, for both time loops (the
    decision of Shampine & Reichelt: after order + 1 steps of one size, the order among k - 1,
    k, k + 1 whose error estimate allows the largest step; `_neighbour_errors` for the
    arguments dd..rtol). Without error control (adaptive False) the order rises as history
    accrues and the step doubles. A step that landed on a stop (landed) restores the size the
    control had chosen before the stop shortened it (dt_want > 0; dt: the step just taken, s).
    Returns (order, factor by which to rescale the history (1: none), reset the count of equal
    steps, clear dt_want)."""
    if not adaptive:
        new_order = max(1, min(max_order, nhist - 1))
        if new_order > order + 1:
            new_order = order + 1
        return new_order, GROWTH_MAX, False, True
    if estimate and n_equal >= order + 1:
        err_m, err_p = _neighbour_errors(
            dd, order, y, m_cols, stride, n_frac, two_sided, atol, rtol, order > 1,
            order < max_order and nhist >= order + 3,
        )  # fmt: skip
        new_order, f_best = choose_order(err_m, err, err_p, order)
        factor = min(GROWTH_MAX_ORDER, SAFETY * f_best)
        clear = False
        if dt_want > 0.0 and landed:
            # from the size the control chose before the stop shortened the step
            factor = min(factor * dt, GROWTH_MAX_ORDER * dt_want) / dt
            clear = True
        return new_order, factor, True, clear
    if dt_want > 0.0 and landed:
        return order, dt_want / dt, False, True
    return order, 1.0, False, False
