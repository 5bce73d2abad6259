"""Forward sensitivities of the electroneutral reduced solver: d c / d p for parameters p of
the problem, integrated alongside the solution by the staggered direct method (as
`solvers.kernels_sensitivity` does for the full solver).

Each accepted step of `solvers.electroneutral_kernels.advance` solves, on the active window of
n cells, R_k(c, v) = a0 c_k + hist_k + dt/h_k (F_{k+1/2} - F_{k-1/2}) = 0 and, under
potentiostatic control, the constraint psi_front(c, v) = U(t) for the current v (bordered
system: the tridiagonal T = dR/dc, the column b = dR/dv, the row r = dpsi_front/dc, the corner
e = dpsi_front/dv). Its derivative along p, with the step's state fixed and s = dc/dp carried
in its own BDF history (the same differences as the state's, `solvers.bdf`), is

    [T b; r^T e] [s; s_v] = -[hist_s + dR/dp; dpsi_front/dp - dU/dp]

(galvanostatic: s_v = dv/dp is the derivative of the control table, known, and
T s = -(hist_s + dR/dp + b s_v); a blocking front: s_v = 0). The matrix is the one of the
step's last Newton iteration, still factorised in the loop's work arrays (its forward sweep
`gam` and the solution z = T^-1 b of its border), formed at the iterate (c_jac, v_jac) that
iteration started from; dR/dp and dpsi_front/dp are taken there too, from the residual and front
potential of the perturbed parameter set at the same state: (R(c_jac, v_jac; p + delta) -
R(c_jac, v_jac; p)) / delta, the perturbed ones by `newton_system` itself (its elimination is
not used). So any parameter that enters through the foreign D, the native D(u) table (its
reference D, an SED width) or the control table is covered without derivatives of the face
terms to maintain; a parameter that only changes the control table (U of a potentiostatic
stage, the current of a galvanostatic one) needs no residual at all (SENS_CONTROL).

Cells beyond the active window hold c = 0 exactly (the window never shrinks; their
differences are 0) for every value of p near the given one: their sensitivity is 0, and when
the window grows over them their histories start from 0, as the state's do.

`sensitivity_arrays` builds the perturbed kernel arrays from perturbed problems and refuses
what the step cannot differentiate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from solvers.bdf import predict, update
from solvers.electroneutral_assembly import newton_system
from solvers.kernels import mobility
from solvers.problem import Problem
from solvers.stepping import _interp

#: how dR/dp of a parameter is formed (`sensitivity_step`): from the residual and front
#: potential of its perturbed kernel arrays; or none (only its control table changes)
SENS_GENERIC, SENS_CONTROL = 0, 1


class SensitivityError(ValueError):
    """A parameter whose forward sensitivity the electroneutral solver cannot integrate."""


#: rows of the scratch array of `sensitivity_step` (see `work_arrays`)
N_SWORK = 14


def work_arrays(n_sens: int, n_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scratch of `sensitivity_step` for n_sens parameters on a reduced grid of n_max cells:
    (swork: N_SWORK x (n_max + 1), the perturbed residual's outputs and the iterate c_jac;
    s_pred, s_hist, rhs: n_sens x (n_max + 1))."""
    swork = np.zeros((N_SWORK, n_max + 1))
    rows = tuple(np.zeros((n_sens, n_max + 1)) for _ in range(3))
    return (swork, *rows)


@njit(cache=True)
def _solve_factored(lo, di, gam, n, b):
    """Solve T x = b in place (first n entries) with the forward sweep `newton_system` left:
    gam[k] = up[k] / w_k and the pivots w_k = di[k] - lo[k] gam[k - 1], recomputed."""
    w = di[0]
    b[0] = b[0] / w
    for k in range(1, n):
        w = di[k] - lo[k] * gam[k - 1]
        b[k] = (b[k] - lo[k] * b[k - 1]) / w
    for k in range(n - 2, -1, -1):
        b[k] -= gam[k] * b[k + 1]


@njit(cache=True)
def sensitivity_step(
    c_jac, v_jac, n, hist, a0, dt, order, tn, front_open, potentiostatic, control, c_src, h,
    inv_h, d, inv_d, inv_half, faces, thickness, kind, tab_t, tab_v, res, lo, di, gam, bcol,
    brow, out, z, sd, sv, ps_kind, ps_df, ps_dn1, ps_dconst, ps_u0, ps_du, ps_logd, ps_slope,
    ps_n_lo, ps_tabv, ps_inv_delta, swork, s_pred, s_hist, rhs, a_mob,
):  # fmt: skip
    """The sensitivities of an accepted step of order `order`, size dt (s), ending at tn (s):
    solves the system of the module doc for every parameter q, updates its history sd[q]
    (N_DIFF x n_max, first n columns) and sets sv[q] = dv/dp (fraction nm/s per parameter
    unit). c_jac, v_jac: the iterate at which the step's last Newton matrix was formed; hist:
    the step's BDF history; res, lo, di, gam, bcol, brow, out: what `newton_system` left there
    (z: T^-1 bcol after `back_substitute`, potentiostatic only). ps_*[q]: the kernel arrays of
    the perturbed parameter set q (ps_df its foreign D, ps_dn1 its D_N(1), nm^2/s; ps_tabv its
    control table in the units of tab_v), ps_inv_delta[q] = 1 / its perturbation (1 /
    parameter unit), ps_kind: SENS_GENERIC or SENS_CONTROL. swork, s_pred, s_hist, rhs: see
    `work_arrays`. The other arguments: those of `advance`. Returns False if the bordered
    system is singular (not finite).
    """
    n_sens = sd.shape[0]
    p_res, p_lo, p_di, p_up, p_bcol = swork[0], swork[1], swork[2], swork[3], swork[4]
    p_brow, p_out, p_gam, p_y, p_z = swork[5], swork[6], swork[7], swork[8], swork[9]
    p_uf, p_dn, p_dn_u = swork[10], swork[11], swork[12]
    rz = 0.0
    denom = 1.0
    if potentiostatic:
        for k in range(n):
            rz += brow[k] * z[k]
        denom = out[1] - rz
        if denom == 0.0 or not math.isfinite(denom):
            return False
    u_now = _interp(tn, tab_t, tab_v)
    for q in range(n_sens):
        predict(sd[q], order, s_pred[q], s_hist[q], n)
        inv_delta = ps_inv_delta[q]
        # the derivative of the control (U, or v under current control) at tn
        d_ctl = (_interp(tn, tab_t, ps_tabv[q]) - u_now) * inv_delta
        r = rhs[q]
        g = 0.0
        if ps_kind[q] == SENS_GENERIC:
            newton_system(
                c_jac, n, hist, a0, dt, v_jac, front_open, False, ps_df[q], c_src, h, inv_h, d,
                inv_d, inv_half, faces, thickness, ps_dn1[q], kind, ps_dconst[q], ps_u0[q],
                ps_du[q], ps_logd[q], ps_slope[q], ps_n_lo[q], p_res, p_lo, p_di, p_up, p_bcol,
                p_brow, p_out, p_gam, p_y, p_z, p_uf, p_dn, p_dn_u, a_mob,
            )  # fmt: skip
            for k in range(n):
                r[k] = -(s_hist[q, k] + (p_res[k] - res[k]) * inv_delta)
            g = -(p_out[0] - out[0]) * inv_delta
        else:
            for k in range(n):
                r[k] = -s_hist[q, k]
        if potentiostatic:
            # [T b; r^T e] [s; s_v] = [r; g + dU/dp]: s = T^-1 r - z s_v
            _solve_factored(lo, di, gam, n, r)
            rx = 0.0
            for k in range(n):
                rx += brow[k] * r[k]
            s_v = (g + d_ctl - rx) / denom
            for k in range(n):
                r[k] -= z[k] * s_v
        else:
            s_v = d_ctl if (front_open and control == 1) else 0.0
            if s_v != 0.0:
                for k in range(n):
                    r[k] -= bcol[k] * s_v
            _solve_factored(lo, di, gam, n, r)
        for k in range(n):
            if not math.isfinite(r[k]):
                return False
        sv[q] = s_v
        update(sd[q], order, r, s_pred[q], n)
    return True


# ---------------------------------------------------------------------------------------------
# Perturbed kernel arrays (Python)
# ---------------------------------------------------------------------------------------------
@dataclass
class SensitivityArrays:
    """The perturbed kernel arrays of m parameters, stacked for `sensitivity_step`: kind
    (SENS_GENERIC, SENS_CONTROL), the foreign D d_f and D_N(1) d_n1 (nm^2/s), the native
    mobility table (d_const, u0, du, logd, slope, n_lo as `solvers.electroneutral._native_table`),
    each stage's control table in kernel units (tab_v[k_stage]: m x table length) and
    1 / delta (1 / parameter unit)."""

    kind: np.ndarray
    d_f: np.ndarray
    d_n1: np.ndarray
    d_const: np.ndarray
    u0: np.ndarray
    du: np.ndarray
    logd: np.ndarray
    slope: np.ndarray
    n_lo: np.ndarray
    tab_v: list[np.ndarray]
    inv_delta: np.ndarray


#: Problem fields a parameter of a forward sensitivity may not change
_PROBLEM_FIXED = (
    "thickness_nm", "temperature_K", "n_bulk_cm3", "eps_r", "rtol", "atol", "n_output",
    "dt_initial_s", "max_steps", "max_order", "error_control", "output_times_s",
)  # fmt: skip
#: SpeciesSpec fields it may not change (the mobility may)
_SPECIES_FIXED = (
    "name",
    "charge",
    "initial_fraction",
    "back",
    "back_fraction",
    "mobility_reference",
)


def sensitivity_arrays(
    problem: Problem,
    i_n: int,
    i_f: int,
    sensitivities: Sequence[tuple[Problem, float]],
    native_table,
    control_scale: Sequence[float],
) -> SensitivityArrays:
    """Stack the kernel arrays of the perturbed problems (problem with one parameter changed
    by delta, and delta) of `solvers.electroneutral.solve`'s `sensitivities`. i_n, i_f: the
    native and foreign species; native_table: the function giving the kernels' native table
    of a mobility; control_scale[k]: the factor from stage k's control values to kernel units.
    Raises SensitivityError (a ValueError, one line) if a problem differs from `problem` in
    anything but the foreign species' constant D, the native species' D(u) (same kind and table
    length) and the stages' control values, or changes an immobile fraction."""
    m = len(sensitivities)
    mob0 = native_table(problem.species[i_n].mobility)
    n_tab = len(mob0[4])
    out = SensitivityArrays(
        kind=np.zeros(m, dtype=np.int64),
        d_f=np.zeros(m),
        d_n1=np.zeros(m),
        d_const=np.zeros(m),
        u0=np.zeros(m),
        du=np.zeros(m),
        logd=np.zeros((m, n_tab)),
        slope=np.zeros((m, n_tab)),
        n_lo=np.zeros(m),
        tab_v=[np.zeros((m, len(st.table_value))) for st in problem.stages],
        inv_delta=np.zeros(m),
    )
    d_f0 = problem.species[i_f].mobility.kernel_table().D_const * 1.0e14
    for q, (pq, delta) in enumerate(sensitivities):
        label = f"sensitivity {q + 1}"
        if not delta or not math.isfinite(delta):
            raise SensitivityError(f"{label}: delta must be finite and non-zero")
        for f in _PROBLEM_FIXED:
            if not np.array_equal(getattr(pq, f), getattr(problem, f)):
                raise SensitivityError(f"{label}: the parameter changes {f}")
        if not np.array_equal(pq.x_faces_nm, problem.x_faces_nm):
            raise SensitivityError(f"{label}: the parameter changes the grid")
        if len(pq.species) != len(problem.species):
            raise SensitivityError(f"{label}: the parameter changes the species")
        for a, b in zip(problem.species, pq.species, strict=True):
            for f in _SPECIES_FIXED:
                if getattr(a, f) != getattr(b, f):
                    raise SensitivityError(f"{label}: the parameter changes {f} of {a.name}")
            if a.immobile_fraction != b.immobile_fraction:
                # the kernels solve for c / (1 - f): a change of f rescales the unknowns, the
                # source fraction and the current, which this step does not differentiate
                # (and the full solver's flux of max(c - f, 0) is not differentiable at the
                # plateau: both solvers leave f to finite differences)
                raise SensitivityError(
                    f"{label}: an immobile fraction makes the fluxes non-smooth at its "
                    "plateau (use finite differences)"
                )
        ft = pq.species[i_f].mobility.kernel_table()
        if ft.kind != 0:
            raise SensitivityError(f"{label}: the foreign species' D must stay constant")
        mob = native_table(pq.species[i_n].mobility)
        if mob[0] != mob0[0] or len(mob[4]) != n_tab:
            raise SensitivityError(
                f"{label}: the parameter changes the shape of the native D table"
            )
        if len(pq.stages) != len(problem.stages):
            raise SensitivityError(f"{label}: the parameter changes the stages")
        for k, (a, b) in enumerate(zip(problem.stages, pq.stages, strict=True)):
            same = (
                a.duration_s == b.duration_s
                and a.source == b.source
                and a.surface_fraction == b.surface_fraction
                and a.control == b.control
                and np.array_equal(a.table_t_s, b.table_t_s)
            )
            if not same:
                raise SensitivityError(f"{label}: the parameter changes stage {k + 1}")
            out.tab_v[k][q] = np.asarray(b.table_value, dtype=float) * control_scale[k]
        d_f = ft.D_const * 1.0e14
        out.d_f[q] = d_f
        out.d_const[q], out.u0[q], out.du[q] = mob[1], mob[2], mob[3]
        out.logd[q], out.slope[q], out.n_lo[q] = mob[4], mob[5], mob[6]
        out.d_n1[q] = mobility(1.0, *mob)[0]
        out.inv_delta[q] = 1.0 / delta
        same_mob = d_f == d_f0 and all(
            np.array_equal(x, y) for x, y in zip(mob[1:], mob0[1:], strict=True)
        )
        out.kind[q] = SENS_CONTROL if same_mob else SENS_GENERIC
    return out
