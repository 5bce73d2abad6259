"""Compiled kernels of the electroneutral reduced solver (numba, cache=True): the time loop
(`advance`) with its constants, status codes, state indices and helpers, and, re-exported under
their old names, the kernels split by concept into `solvers.electroneutral_faces` (native
mobilities, flux and potential drop of one face, Donnan step), `solvers.electroneutral_assembly`
(residual, bordered tridiagonal Jacobian and its elimination), `solvers.electroneutral_potential`
(potential drops and profile, current at a front potential) and `solvers.electroneutral_linalg`
(tridiagonal LU).

Scaled variables, as in `solvers.kernels`: c = foreign fraction of n_bulk (the native fraction is
u = 1 - c), psi = e phi / (k_B T), lengths in nm, times in s, D in nm^2/s, the total current as
v = j / (e n_bulk) (fraction * nm/s). One unknown per cell (c_k) plus, under potentiostatic
control, the scalar v (bordered Newton system: tridiagonal + one dense row and column). The
discretisation is described in those modules and in `solvers.electroneutral`.

All functions are module-level and free of closures (the on-disk cache is reused).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from solvers.bdf import (
    ALPHA,
    ERROR_CONST,
    MAX_ORDER,
    N_DIFF,
    landing,
    predict,
    rescale,
    restart,
    update,
)
from solvers.electroneutral_assembly import (  # noqa: F401  (re-exported)
    N_FACE_WORK,
    assemble,
    back_substitute,
    inverse_geometry,
    newton_system,
)
from solvers.electroneutral_faces import (  # noqa: F401  (re-exported)
    DONNAN_C_MIN,
    _face_d,
    _front_terms,
    _surface_fraction,
    _total,
    face_terms,
    native_mobilities,
    peclet_terms,
)
from solvers.electroneutral_linalg import tridiag_factor, tridiag_solve  # re-exported (__all__)
from solvers.electroneutral_potential import (  # re-exported (__all__)
    front_current,
    potential_drops,
    potential_profile,
)
from solvers.electroneutral_sensitivity import N_SWORK as ES_N_SWORK
from solvers.electroneutral_sensitivity import sensitivity_step
from solvers.kernels import (  # noqa: F401  (re-exported: D_N(1) of the pristine bulk)
    mobility,
)
from solvers.stepping import (
    DPSI_MAX,
    NEG_TOL,
    NEWTON_MAXITER,
    NEWTON_PSI_TOL,
    NEWTON_TOL,
    PSI_TOL_RTOL,
    SAFETY,
    SHRINK_FAIL,
    SHRINK_MIN,
    STATUS_BUFFER_FULL,
    STATUS_DT_UNDERFLOW,
    STATUS_MAX_STEPS,
    STATUS_OK,
    STATUS_SENSITIVITY,
    _interp,
    newton_converged,
    next_step,
)

__all__ = [
    "STATUS_BUFFER_FULL",
    "STATUS_DT_UNDERFLOW",
    "STATUS_GRID_END",
    "STATUS_MAX_STEPS",
    "STATUS_OK",
    "STATUS_SENSITIVITY",
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

#: largest factor by which one Newton iteration may change c(0+) in the Donnan step (its floor,
#: DONNAN_C_MIN, is defined with the Donnan step in `solvers.electroneutral_faces`)
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

# Indices into the float state `fs` and the integer state `ist` of `advance`, as in
# `solvers.kernels` (FS_T, FS_DT, FS_DT_WANT, FS_KAPPA; IS_NHIST, IS_ORDER, IS_NEQUAL,
# IS_KAPPA_AGE, IS_ORDER_STEPS + k). IS_NACT: the active window; IS_CELL_ITER: active cells
# summed over the Newton iterations (the work, independent of the machine).
FS_T, FS_DT, FS_KAPPA, FS_DT_WANT = range(4)
N_FS = 4
(
    IS_NHIST, IS_STEPS, IS_REJECT, IS_NEWTON, IS_NREC, IS_NEWTON_FAIL, IS_LU_FAIL, IS_NACT,
    IS_KAPPA_AGE, IS_CELL_ITER, IS_ORDER, IS_NEQUAL, IS_NSTOP, IS_NSNAP, IS_ORDER_STEPS,
) = range(15)  # fmt: skip
N_IS = IS_ORDER_STEPS + MAX_ORDER + 1
# Columns of the scalar history `dsc` (N_DIFF x N_SC): the charge passed (fraction nm, the BDF
# integral of v) and v itself (the unknown under potentiostatic control).
SC_Q, SC_V = 0, 1
N_SC = 2


def new_state(c, dt_s, v):
    """Fresh solver state for `advance` at the foreign fractions c (length n_max): returns
    (dd, dsc, fs, ist) with the history restarted, the step size dt_s (s) and the total current
    v (fraction nm/s)."""
    dd = np.zeros((N_DIFF, c.size))
    dd[0] = c
    dsc = np.zeros((N_DIFF, N_SC))
    dsc[0, SC_V] = v
    fs = np.zeros(N_FS)
    fs[FS_DT] = dt_s
    ist = np.zeros(N_IS, dtype=np.int64)
    ist[IS_NHIST] = 1
    ist[IS_ORDER] = 1
    return dd, dsc, fs, ist


def restart_history(dd, dsc, ist, keep_slope, sd=None):
    """Restart the multistep history at the current state, as `solvers.kernels.restart_history`
    (and the histories sd of the forward sensitivities)."""
    restart(dd, keep_slope)
    restart(dsc, keep_slope)
    for q in range(0 if sd is None else sd.shape[0]):
        restart(sd[q], keep_slope)
    ist[IS_NHIST] = min(int(ist[IS_NHIST]), 2) if keep_slope else 1
    ist[IS_ORDER] = 1
    ist[IS_NEQUAL] = 0


# ---------------------------------------------------------------------------------------------
# Time loop
# ---------------------------------------------------------------------------------------------
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


#: rows of the scratch array of `advance`: its own, then the face scratch of `newton_system`
N_WORK = 18 + N_FACE_WORK


def work_arrays(n_max):
    """The scratch array of `advance` for a reduced grid of n_max cells (allocated once per
    solve rather than once per call of `advance`)."""
    return np.zeros((N_WORK, n_max + 1))


@njit(cache=True)
def _rescale_all(dd, dsc, sd, order, factor, fs, n):
    rescale(dd, order, factor, n)
    rescale(dsc, order, factor, N_SC)
    for q in range(sd.shape[0]):
        rescale(sd[q], order, factor, n)
    fs[FS_DT] *= factor


@njit(cache=True, nogil=True)
def advance(
    t_stops, stop_flags, snaps, dd, dsc, fs, ist, h, d, faces, thickness, d_f, c_src,
    front_open, d_n1, kind, d_const, u0, du, logd, slope, n_lo, control, tab_t, tab_v, rtol,
    atol, max_steps, max_order, error_control, rec_t, rec_v, rec_psi, rec_q, work, inv_geo,
    sd, sv, ps_kind, ps_scale, ps_df, ps_dn1, ps_dconst, ps_u0, ps_du, ps_logd, ps_slope, ps_n_lo,
    ps_tabv, ps_inv_delta, swork, s_pred, s_hist, s_rhs, xc, snap_psi, a_mob=1.0,
):  # fmt: skip
    """Integrate through the stop times t_stops[ist[IS_NSTOP]:] (s, increasing) with the
    adaptive variable-order BDF of solvers.bdf, landing on each exactly, as
    `solvers.kernels.advance` (stop_flags, snaps: see there; a snapshot snaps[j] here is
    (1 + m) x (n_max + 1): the n_max fractions and v, then per sensitivity d c / d p and
    dv / dp).

    dd, dsc: the history of the foreign fractions (N_DIFF x n_max, the reduced grid; cells
    beyond the active window ist[IS_NACT] are exactly 0, with zero differences) and of the
    scalars SC_Q, SC_V (see `new_state`). control 0: potentiostatic, tab_v = psi_front(t)
    (thermal units), v is an unknown (bordered Newton); control 1: galvanostatic, tab_v = v(t)
    (fraction nm/s). A blocking front (front_open False) carries no current: v = 0. Step and
    order control as `solvers.kernels.advance` (max_order, error_control), the local error
    estimates in the max norm over both fractions (c and 1 - c) with weights atol + rtol |.|.
    Newton: converged when the fraction updates are below NEWTON_TOL of the weights and the v
    update moves psi_front (along the Newton direction) by less than NEWTON_PSI_TOL, scaled
    by rtol / PSI_TOL_RTOL above that tolerance (as the fraction weights are); iterates
    stay in [0, 1], the v update is damped to DPSI_MAX and to a factor DONNAN_STEP_MAX in c(0+).
    Active window: see `active_cells`; STATUS_GRID_END when it cannot grow and the last cell
    holds more than TAIL_FAIL. rec_*: per accepted step time, v, front potential (thermal
    units), charge (fraction nm), the charge integrated with the same BDF formula as the
    profile, so that int c dx = charge to round-off. work: N_WORK x (n_max + 1) scratch (see
    `work_arrays`); inv_geo: `inverse_geometry(h, d)`; a_mob: 1 - f, f the native immobile
    fraction (c, v, tab_v under current control and c_src are then scaled by 1 / a_mob;
    `native_mobilities`). sd (m x N_DIFF x n_max): the histories of the forward sensitivities
    of m parameters, integrated with the state when m > 0 (`solvers.electroneutral_sensitivity`,
    whose `sensitivity_step` takes ps_*, swork, s_pred, s_hist, s_rhs; sv: dv/dp of the last
    step); STATUS_SENSITIVITY if their system is singular. xc: the cell centres of the reduced
    grid (nm); snap_psi (len(snaps) x n_max): with each snapshot j, the potential profile of
    its state at xc (`potential_profile`, thermal units, v = 0 at a blocking front), so that
    the driver need not call back for every snapshot. Returns a STATUS_*.
    """
    n_max = dd.shape[1]
    res, lo, di, up, bcol, brow = work[0], work[1], work[2], work[3], work[4], work[5]
    gam, uf, dn, dn_u, y, z = work[6], work[7], work[8], work[9], work[10], work[11]
    hist, cnew, cpred, inv_w, dpsi, c = work[12], work[13], work[14], work[15], work[16], work[17]
    face_work = work[18:]
    inv_h, inv_d, inv_half = inv_geo
    # forward sensitivities: the iterate at which the last Newton matrix was formed
    n_sens = sd.shape[0]
    c_jac = swork[ES_N_SWORK - 1]
    v_jac = 0.0
    out = np.zeros(2)
    sc_pred = np.zeros(N_SC)
    sc_hist = np.zeros(N_SC)
    sc_new = np.zeros(N_SC)
    potentiostatic = control == 0 and front_open
    adaptive = error_control != 0
    # the Newton tolerance on the front potential, looser with rtol above PSI_TOL_RTOL (the
    # shipped cases' rtol, where it is NEWTON_PSI_TOL): at rtol 1e-2 a fixed 1e-6 made the
    # potential decide most extra iterations (lbo2024_cs 774 -> 511 iterations, lbo_k 335 ->
    # 323; results at rtol <= PSI_TOL_RTOL bit for bit unchanged)
    psi_tol = NEWTON_PSI_TOL * max(1.0, rtol / PSI_TOL_RTOL)
    window_tol = WINDOW_TOL_REL * atol
    steps_here = 0
    n_fail = 0
    # the current fractions, contiguous (dd[0] is a row of the history)
    for k in range(n_max):
        c[k] = dd[0, k]

    n_stops = t_stops.shape[0]
    while True:
        i_stop = ist[IS_NSTOP]
        if i_stop >= n_stops:
            return STATUS_OK
        t_stop = t_stops[i_stop]
        if fs[FS_T] >= t_stop:
            # on a stop: a snapshot of the state (flag 1) and/or a restart of the history at a
            # kink of the control table (flag 2: order 1, the last slope kept)
            flag = stop_flags[i_stop]
            if flag & 1:
                j = ist[IS_NSNAP]
                for r in range(n_max):
                    snaps[j, 0, r] = c[r]
                snaps[j, 0, n_max] = dsc[0, SC_V]
                potential_profile(
                    c[:n_max], dsc[0, SC_V] if front_open else 0.0, front_open, d_f, c_src, h,
                    d, faces, thickness, d_n1, kind, d_const, u0, du, logd, slope, n_lo, xc,
                    snap_psi[j], a_mob,
                )  # fmt: skip
                for q in range(n_sens):
                    for r in range(n_max):
                        snaps[j, 1 + q, r] = sd[q, 0, r]
                    snaps[j, 1 + q, n_max] = sv[q]
                ist[IS_NSNAP] = j + 1
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
        dt = landing(t, fs[FS_DT], t_stop)
        n = active_cells(c, ist[IS_NACT], n_max, window_tol)
        if n == n_max and c[n_max - 1] > TAIL_FAIL:
            return STATUS_GRID_END
        ist[IS_NACT] = n
        if dt != fs[FS_DT]:
            # a shortened step: as in solvers.kernels.advance (FS_DT_WANT)
            if fs[FS_DT_WANT] == 0.0 and dt < fs[FS_DT]:
                fs[FS_DT_WANT] = fs[FS_DT]
            _rescale_all(dd, dsc, sd, order, dt / fs[FS_DT], fs, n)
            fs[FS_DT] = dt
        if dt <= 1.0e-15 * max(1.0, abs(t)):
            return STATUS_DT_UNDERFLOW
        if steps_here >= max_steps:
            return STATUS_MAX_STEPS
        if ist[IS_NREC] >= rec_t.shape[0]:
            return STATUS_BUFFER_FULL
        nhist = ist[IS_NHIST]
        safe_retry = n_fail > 0
        a0 = ALPHA[order]
        tn = t + dt
        predict(dd, order, cpred, hist, n)
        predict(dsc, order, sc_pred, sc_hist, N_SC)
        for k in range(n):
            ck = c[k]
            cp = ck if safe_retry else min(max(cpred[k], 0.0), 1.0)
            cnew[k] = cp
            # inverse error weights 1 / (atol + rtol |.|), the smaller of the two fractions
            inv_w[k] = 1.0 / (atol + rtol * min(abs(ck), abs(1.0 - ck)))
        target = _interp(tn, tab_t, tab_v)
        if not front_open:
            v = 0.0
        elif potentiostatic:
            v = dsc[0, SC_V]
            if nhist >= 2 and not safe_retry:
                # the predictor of the profile's order: the first Newton update of v is then
                # as small as those of the fractions
                v_ex = sc_pred[SC_V]
                # keep the extrapolation where the Donnan step stays defined (c(0+) > 0)
                if _surface_fraction(c[0], d[0], v_ex, d_f) > 0.5 * _surface_fraction(
                    c[0], d[0], v, d_f
                ):
                    v = v_ex
        else:
            v = target
        estimate = adaptive and nhist >= 2

        converged = False
        lu_failed = False
        e_prev = -1.0  # scaled size of the previous undamped, uncut update (-1: none)
        if not estimate:
            fs[FS_KAPPA] = 0.0  # observed afresh (see kernels.advance)
        for _it in range(NEWTON_MAXITER):
            ist[IS_NEWTON] += 1
            ist[IS_CELL_ITER] += n
            if (
                newton_system(
                    cnew, n, hist, a0, dt, v, front_open, potentiostatic, d_f, c_src, h,
                    inv_h, d, inv_d, inv_half, faces, thickness, d_n1, kind, d_const, u0, du,
                    logd, slope, n_lo, res, lo, di, up, bcol, brow, out, gam, y, z, uf, dn,
                    dn_u, a_mob, face_work,
                )
                != 0
            ):  # fmt: skip
                lu_failed = True
                break
            if n_sens > 0:
                # the iterate this Newton matrix belongs to (for `sensitivity_step`)
                for k in range(n):
                    c_jac[k] = cnew[k]
                v_jac = v
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
            # v is converged when it moves the front potential by less than psi_tol or
            # when the charge it carries in this step moves the first cell by less than the
            # Newton tolerance (with no foreign ions at the front the Donnan step makes
            # psi_front so sensitive to v that round-off alone moves it by more)
            if potentiostatic and _surface_fraction(cnew[0], d[0], v, d_f) <= DONNAN_C_MIN:
                e_prev = -1.0  # the Donnan step is clamped: not a solution
                continue
            if lam < 1.0 or err_c >= 1.0e30:
                e_prev = -1.0
                continue
            e_v = min(dpsi_v / psi_tol, abs(dv) * dt / h[0] * inv_w[0] / NEWTON_TOL)
            e_now = max(err_c / NEWTON_TOL, e_v)
            if newton_converged(e_now, e_prev, estimate, fs, FS_KAPPA, ist, IS_KAPPA_AGE):
                converged = True
                break
            e_prev = e_now

        if lu_failed:
            ist[IS_LU_FAIL] += 1
        if not converged:
            ist[IS_NEWTON_FAIL] += 1
            ist[IS_REJECT] += 1
            _rescale_all(dd, dsc, sd, order, SHRINK_FAIL, fs, n)
            ist[IS_NEQUAL] = 0
            fs[FS_DT_WANT] = 0.0
            fs[FS_KAPPA] = 0.0
            if n_fail > 0:
                ist[IS_ORDER] = 1
            n_fail += 1
            continue
        # neither fraction may be negative; and, in the same pass, the local error estimate
        # ERROR_CONST[order] |c - c_pred| when the step has one
        cerr = ERROR_CONST[order] if estimate else 0.0
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
            _rescale_all(dd, dsc, sd, order, SHRINK_FAIL, fs, n)
            ist[IS_NEQUAL] = 0
            fs[FS_DT_WANT] = 0.0
            continue
        if estimate and err > 1.0:
            ist[IS_REJECT] += 1
            factor = max(SHRINK_MIN, SAFETY * err ** (-1.0 / (order + 1)))
            _rescale_all(dd, dsc, sd, order, factor, fs, n)
            ist[IS_NEQUAL] = 0
            fs[FS_DT_WANT] = 0.0
            continue
        # accept
        n_fail = 0
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
        q_new = (dt * flux - sc_hist[SC_Q]) / a0
        update(dd, order, cnew, cpred, n)
        for k in range(n):
            c[k] = cnew[k]
        sc_new[SC_Q] = q_new
        sc_new[SC_V] = v
        update(dsc, order, sc_new, sc_pred, N_SC)
        if n_sens > 0 and not sensitivity_step(
            c_jac, v_jac, n, order, dt, tn, front_open, potentiostatic, control, d_f, d_n1, h,
            inv_h, d, faces, thickness, kind, uf, dn, tab_t, tab_v, lo, di, gam, bcol, brow,
            out, z, sd, sv, ps_kind, ps_scale, ps_df, ps_dn1, ps_dconst, ps_u0, ps_du, ps_logd,
            ps_slope, ps_n_lo, ps_tabv, ps_inv_delta, swork, s_pred, s_hist, s_rhs, a_mob,
        ):  # fmt: skip
            return STATUS_SENSITIVITY
        fs[FS_T] = t_stop if dt == t_stop - t else min(tn, t_stop)
        nhist = min(nhist + 1, N_DIFF)
        ist[IS_NHIST] = nhist
        ist[IS_NEQUAL] += 1
        ist[IS_STEPS] += 1
        ist[IS_ORDER_STEPS + order] += 1
        steps_here += 1
        nr = ist[IS_NREC]
        rec_t[nr] = fs[FS_T]
        rec_v[nr] = flux
        rec_psi[nr] = psi_front
        rec_q[nr] = q_new
        ist[IS_NREC] = nr + 1
        # the next step's order and size (solvers.stepping.next_step)
        new_order, factor, reset, clear = next_step(
            dd, order, err, c, n, 1, 1, True, atol, rtol, max_order, nhist, adaptive, estimate,
            ist[IS_NEQUAL], fs[FS_T] == t_stop, dt, fs[FS_DT_WANT],
        )  # fmt: skip
        ist[IS_ORDER] = new_order
        _rescale_all(dd, dsc, sd, new_order, factor, fs, n)
        if reset:
            ist[IS_NEQUAL] = 0
        if clear:
            fs[FS_DT_WANT] = 0.0
