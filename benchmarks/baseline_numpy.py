"""BASELINE: the NPP time loop written in plain Python + numpy/scipy, for the benchmarks only.

This is the "straightforward" implementation the compiled solver is measured against: the same
scheme as `solvers.kernels.advance` driven by `solvers.npp.solve` (variable-step BDF2 with a
backward-Euler start, Milne-device local error estimate with the quadratic predictor, damped
Newton on the fully coupled system, step barriers at the output times), but with a Python loop
over time steps and Newton iterations that calls the vectorised numpy twins
`solvers.kernels_numpy.assemble` (residual + banded Jacobian) and
`solvers.kernels_numpy.banded_solve` (LAPACK gbsv through `scipy.linalg.solve_banded`).

It is not part of the package and is never used for production runs. It mirrors `advance`
decision by decision (same constants, imported from `solvers.kernels`), so on a problem without
borderline step decisions it takes the same steps and agrees with `solvers.npp.solve` to
round-off; `tests/test_benchmarks.py` checks that. Only potentiostatic stages are mirrored;
a galvanostatic stage raises NotImplementedError.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.linalg

from solvers import kernels as K
from solvers import kernels_numpy as KN
from solvers.grid import cell_centers_nm
from solvers.npp import initial_state, kernel_arrays
from solvers.problem import Problem, stage_stops


def _interp(t: float, tab_t: np.ndarray, tab_v: np.ndarray) -> float:
    """Piecewise-linear control value at t, with the rounding of `solvers.kernels._interp`."""
    n = tab_t.shape[0]
    if n == 1 or t <= tab_t[0]:
        return float(tab_v[0])
    if t >= tab_t[n - 1]:
        return float(tab_v[n - 1])
    j = int(np.searchsorted(tab_t, t)) - 1
    w = (t - tab_t[j]) / (tab_t[j + 1] - tab_t[j])
    return float(tab_v[j] + w * (tab_v[j + 1] - tab_v[j]))


def _bdf_coefficients(dt: float, dt1: float, order: int) -> tuple[float, float, float]:
    """(a0, a1, a2) of a0 y+ + a1 y + a2 y- = dt f(y+) (as `solvers.kernels`)."""
    if order == 1:
        return 1.0, -1.0, 0.0
    w = dt / dt1
    return (1.0 + 2.0 * w) / (1.0 + w), -(1.0 + w), w * w / (1.0 + w)


def _front_flux(y: np.ndarray, psi_front: float, ka, src: int, c_src: float) -> float:
    """Total scaled flux sum z F through x = 0 (as `solvers.kernels.front_flux`)."""
    if src < 0:
        return 0.0
    nb = len(ka.z) + 1
    i = src
    zi = ka.z[i]
    tab = (ka.kind[i], ka.d_const[i], ka.u0[i], ka.du[i], ka.logd[i], ka.slope[i], ka.n_lo[i])
    dsrc = KN.mobility(np.array([c_src]), *tab)[0][0]
    d1 = KN.mobility(np.array([y[i]]), *tab)[0][0]
    dpsi = zi * (y[nb - 1] - psi_front)
    bp, bm = KN.bernoulli(np.array([dpsi, -dpsi]))
    df = 0.5 * (dsrc + d1)
    return float(zi * df / ka.d[0] * (bp * c_src - bm * y[i]))


class _State:
    """The mutable time-stepping state that `advance` keeps in its fs/ist arrays."""

    def __init__(self, y: np.ndarray) -> None:
        self.y = y
        self.y1 = y.copy()
        self.y2 = y.copy()
        self.t = 0.0
        self.dt = self.dt1 = self.dt2 = 0.0
        self.q = self.q1 = 0.0
        self.nhist = 1
        self.steps = 0
        self.rejected = 0
        self.newton = 0
        self.newton_fail = 0
        self.kappa = 0.0  # Newton's quadratic-convergence constant (0: not yet observed)
        self.kappa_age = 0


def _advance(st: _State, t_stop: float, ka, src: int, c_src: float, tab_t, tab_v,
             problem: Problem, max_steps: int, deadline: float) -> str | None:  # fmt: skip
    """Step from st.t to t_stop (potentiostatic); None on success, else the reason it stopped."""
    n = st.y.shape[0]
    n_species = len(ka.z)
    nb = n_species + 1
    kl, ku = K.band_widths(n_species)
    conc = np.ones(n, dtype=bool)
    conc[n_species::nb] = False
    pot = ~conc
    rtol, atol = problem.rtol, problem.atol
    steps_here = 0
    safe_retry = False
    while st.t < t_stop:
        if time.perf_counter() > deadline:
            return "wall-time limit reached"
        y, y1, y2 = st.y, st.y1, st.y2
        t = st.t
        dt = st.dt
        if t + dt >= t_stop:
            dt = t_stop - t
        elif t + 2.0 * dt > t_stop:
            dt = 0.5 * (t_stop - t)
        if dt <= 1.0e-15 * max(1.0, abs(t)):
            return "time step underflow"
        if steps_here >= max_steps:
            return "maximum number of steps reached"
        nhist = st.nhist
        order = 1 if (nhist < 2 or problem.max_order == 1 or safe_retry) else 2
        dt1, dt2 = st.dt1, st.dt2
        a0, a1, a2 = _bdf_coefficients(dt, dt1, order)
        tn = t + dt
        if safe_retry or nhist < 2:
            ypred = y.copy()
        elif nhist >= 3:
            # the kernel's arithmetic: reciprocals of the step sizes out of the loop
            d1 = (y - y1) * (1.0 / dt1)
            d0 = (y1 - y2) * (1.0 / dt2)
            ypred = y + dt * d1 + (dt * (dt + dt1)) * ((d1 - d0) * (1.0 / (dt1 + dt2)))
        else:
            ypred = y + (dt * (1.0 / dt1)) * (y - y1)
        ypred[conc] = np.maximum(ypred[conc], 0.0)
        hist = np.zeros(n)
        hist[conc] = a1 * y[conc] + (a2 * y1[conc] if order == 2 else 0.0)
        psi_front = _interp(tn, tab_t, tab_v)
        ynew = ypred.copy()
        weights = atol + rtol * np.abs(y)

        converged = False
        e_prev = -1.0
        if order == 1:
            st.kappa = 0.0
        for _ in range(K.NEWTON_MAXITER):
            st.newton += 1
            res, ab, _, _ = KN.assemble(
                ynew, hist, a0, dt, psi_front, ka.h, ka.d, ka.lam2, ka.z, ka.cfix, src, c_src,
                ka.back_kind, ka.back_c, ka.kind, ka.d_const, ka.u0, ka.du, ka.logd, ka.slope,
                ka.n_lo,
            )  # fmt: skip
            try:
                dy = KN.banded_solve(ab, kl, ku, -res)
            except (scipy.linalg.LinAlgError, ValueError):
                # singular (zero pivot) or non-finite system: the step is retried smaller
                break
            dpsi_max = float(np.max(np.abs(dy[pot])))
            if not math.isfinite(dpsi_max):
                break
            lam = 1.0 if dpsi_max <= K.DPSI_MAX else K.DPSI_MAX / dpsi_max
            dyc = dy[conc]
            wc = weights[conc]
            yc = ynew[conc]
            err_c = float(np.max(np.abs(dyc) / wc))
            cnew = yc + lam * dyc
            negative = cnew < 0.0
            clip = negative & (-cnew > K.NEWTON_TOL * wc)
            cnew[negative & ~clip] = 0.0
            if clip.any():
                cnew[clip] = np.where(yc[clip] > 0.0, 0.1 * yc[clip], 0.0)
                err_c = max(err_c, 1.0e30)
            ynew[conc] = cnew
            ynew[pot] += lam * dy[pot]
            if not np.all(np.isfinite(ynew[pot])):
                break
            if lam < 1.0 or err_c >= 1.0e30:
                e_prev = -1.0
                continue
            psi_tol = K.NEWTON_PSI_TOL * max(1.0, abs(psi_front))
            e_now = max(err_c / K.NEWTON_TOL, dpsi_max / psi_tol)
            if e_prev > 0.0:
                st.kappa = max(max(e_now, 1.0e-300) / e_prev**2, K.NEWTON_KAPPA_DECAY * st.kappa)
                st.kappa_age = 0
            if e_now <= 1.0:
                converged = True
                break
            if (
                order == 2
                and st.kappa > 0.0
                and st.kappa_age < K.NEWTON_KAPPA_REFRESH
                and K.NEWTON_KAPPA_SAFETY * st.kappa * e_now**2 <= 1.0
            ):
                st.kappa_age += 1
                converged = True
                break
            e_prev = e_now
        if not converged:
            st.newton_fail += 1
            st.rejected += 1
            st.kappa = 0.0
            st.dt = dt * K.SHRINK_FAIL
            safe_retry = True
            continue
        yc = ynew[conc]
        if np.any(yc < -K.NEG_TOL):
            st.rejected += 1
            st.dt = dt * K.SHRINK_FAIL
            safe_retry = True
            continue
        ynew[conc] = np.where(yc < 0.0, 0.0, yc)
        factor = K.GROWTH_MAX
        if order == 2 and nhist >= 3:
            w = dt / dt1
            e_bdf = (1.0 + w) ** 2 / (6.0 * w * (1.0 + 2.0 * w)) * dt**3
            e_pred = dt * (dt + dt1) * (dt + dt1 + dt2) / 6.0
            cerr = e_bdf / (e_bdf + e_pred)
            wt = atol + rtol * np.maximum(np.abs(ynew[conc]), np.abs(y[conc]))
            err = float(np.max(cerr * np.abs(ynew[conc] - ypred[conc]) / wt))
            if err > 1.0:
                st.rejected += 1
                st.dt = dt * max(K.SHRINK_MIN, K.SAFETY * err ** (-1.0 / 3.0))
                continue
            if err > 0.0:
                factor = min(K.GROWTH_MAX, max(K.SHRINK_MIN, K.SAFETY * err ** (-1.0 / 3.0)))
        safe_retry = False
        flux = _front_flux(ynew, psi_front, ka, src, c_src)
        q_new = (dt * flux - a1 * st.q - (a2 * st.q1 if order == 2 else 0.0)) / a0
        st.y2, st.y1, st.y = y1, y, ynew
        st.q1, st.q = st.q, q_new
        st.dt2, st.dt1 = dt1, dt
        st.t = t_stop if dt == t_stop - t else min(tn, t_stop)
        st.dt = dt * factor
        if nhist < 3:
            st.nhist = nhist + 1
        st.steps += 1
        steps_here += 1
    return None


def solve_numpy(problem: Problem, *, max_wall_s: float = math.inf) -> dict:
    """Integrate a potentiostatic `problem` with the numpy baseline.

    max_wall_s: give up (completed False) after this wall time (s).
    Returns a dict: species_names, x_centers_nm (n_cells,), fractions (S, n_cells) and
    potential_V (n_cells,) at the end, steps, rejected_steps, newton_iterations, n_cells,
    wall_s, completed, message. Raises NotImplementedError for a galvanostatic stage.
    """
    for i, stage in enumerate(problem.stages, 1):
        if stage.control != "potential":
            raise NotImplementedError(
                f"benchmarks.baseline_numpy mirrors only potentiostatic stages; stage {i} is "
                f"{stage.control!r}-controlled (use solvers.npp.solve)"
            )
    t0 = time.perf_counter()
    deadline = t0 + max_wall_s
    ka = kernel_arrays(problem)
    n_species = len(problem.species)
    nb = n_species + 1
    st = _State(initial_state(problem, ka))
    message = ""
    t_stage0 = 0.0
    for i_stage, stage in enumerate(problem.stages, 1):
        src = -1 if stage.source is None else int(stage.source)
        tab_v = np.asarray(stage.table_value, dtype=float) / ka.thermal_voltage_V
        tab_t = np.asarray(stage.table_t_s, dtype=float) + t_stage0
        st.nhist = 1
        st.t = t_stage0
        st.dt = st.dt1 = st.dt2 = problem.dt_initial_s
        st.q1 = st.q
        st.kappa = 0.0
        stops, _, kinks = stage_stops(problem, stage, t_stage0)
        steps_at_start = st.steps
        for t_out in stops:
            reason = _advance(
                st, t_out, ka, src, stage.surface_fraction, tab_t, tab_v, problem,
                problem.max_steps - (st.steps - steps_at_start), deadline,
            )  # fmt: skip
            if reason is not None:
                message = f"stopped at t = {st.t:.6g} s (stage {i_stage}): {reason}"
                break
            if t_out in kinks:
                st.nhist = 1
        if message:
            break
        t_stage0 += stage.duration_s
    return {
        "species_names": tuple(sp.name for sp in problem.species),
        "x_centers_nm": cell_centers_nm(np.asarray(problem.x_faces_nm, dtype=float)),
        "fractions": np.stack([st.y[i::nb] for i in range(n_species)]),
        "potential_V": st.y[n_species::nb] * ka.thermal_voltage_V,
        "steps": st.steps,
        "rejected_steps": st.rejected,
        "newton_iterations": st.newton,
        "n_cells": len(ka.h),
        "wall_s": time.perf_counter() - t0,
        "completed": not message,
        "message": message,
    }
