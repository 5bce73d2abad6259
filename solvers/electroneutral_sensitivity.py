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
iteration started from, which differs from the accepted state by the last Newton update
(about the local error): the sensitivities inherit an error of that relative size. Measured on
lbo_k against the sensitivities of a run at rtol 1e-8 (max over the cells at the stage end,
relative to the largest derivative; D_K, D_Li, the SED width, U): 2.5e-4 to 5.6e-4 at rtol 1e-3,
1.1e-4 to 1.8e-4 at the shipped rtol 1e-4, 3.5e-6 to 7.2e-6 at rtol 1e-5 (the state itself:
1.1e-6 at rtol 1e-4). Re-assembling and factorising at the accepted state brought the error at
rtol 1e-4 to 6e-6 to 1.1e-5, but cost one more Newton iteration per step: a simulation with
two sensitivities 0.0158 s instead of 0.0118 s (lbo_k_synthetic, plain 0.0057 s). For a fit's
Jacobian 1e-4 is ample (forward differences gave standard errors up to 4 % off), so the step
keeps the matrix it has, as the full solver's does. dR/dp and dpsi_front/dp are taken at the
same iterate, analytically (`parameter_derivatives`): every parameter enters the residual and
the front potential through the foreign D_F and the native D_N at the faces (and D_N(1) of the
pristine bulk), so
dR/dp = sum over the faces of dR/dD_F dD_F/dp + dR/dD_N,face dD_N,face/dp. dD_F/dp and
dD_N(1)/dp come from the perturbed parameter set (ps_*: exact, they are linear); dD_N,face/dp is
D_N times a constant for a reference D (NATIVE_SCALE), and for any other change of the native
table (an SED width, NATIVE_TABLE) the difference quotient of the perturbed table's D_N at the
same face fractions, (D_N(u; p + delta) - D_N(u; p)) / delta. A parameter that only changes the
control table (U of a potentiostatic stage, the current of a galvanostatic one) has dR/dp = 0.

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
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from solvers.bdf import predict, update
from solvers.electroneutral_faces import (
    DONNAN_C_MIN,
    _surface_fraction,
    native_mobilities,
    peclet_terms,
)
from solvers.kernels import mobility
from solvers.stepping import _interp

if TYPE_CHECKING:  # annotations only: the kernels' sources (solvers.cachestamp) stay apart
    from solvers.problem import Problem

#: how the native D_N of a parameter's perturbed set changes (`sensitivity_step`): not at all;
#: by a constant factor (its reference D: d ln D_N / dp = ps_scale); otherwise (an SED width:
#: the perturbed table is evaluated at the same state)
NATIVE_SAME, NATIVE_SCALE, NATIVE_TABLE = 0, 1, 2


class SensitivityError(ValueError):
    """A parameter whose forward sensitivity the electroneutral solver cannot integrate."""


#: rows of the scratch array of `sensitivity_step` (see `work_arrays`)
N_SWORK = 10


def work_arrays(n_sens: int, n_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scratch of `sensitivity_step` for n_sens parameters on a reduced grid of n_max cells:
    (swork: N_SWORK x (n_max + 1), the face derivatives, the perturbed native D_N, the inverse
    pivots and multipliers and, in its last row, the iterate c_jac of `advance`;
    s_pred, s_hist, rhs: n_sens x (n_max + 1))."""
    swork = np.zeros((N_SWORK, n_max + 1))
    rows = tuple(np.zeros((n_sens, n_max + 1)) for _ in range(3))
    return (swork, *rows)


@njit(cache=True)
def parameter_derivatives(
    c, n, v, front_open, d_f, d_n1, h, d, faces, thickness, uf, dn, f_dn, f_df, p_dn
):  # fmt: skip
    """Derivatives of the face fluxes and of the front potential with respect to the two
    mobilities, at fixed fractions c (the active window's n cells), current v and native
    D_N at the faces (uf, dn: the face-mean native fractions and D_N of `native_mobilities`):
    f_dn[j], f_df[j] = dF/dD_N and dF/dD_F of face j + 1 (between cells j and j + 1; the last
    one at the window end; fraction nm/s per nm^2/s), p_dn[j] = dpsi_front/dD_N of that face
    (thermal units per nm^2/s: its drop, and its share in the front half cell). Returns
    (dpsi_front/dD_F, dpsi_front/dD_N(1)) (the latter through the pristine bulk beyond the
    window). The formulas are those of `solvers.electroneutral_faces._face_d` differentiated
    (s = D_F c_f + D_N u_f, D~ = D_F D_N / s, Peclet number P = v dist / D_F), and of the front
    terms of `solvers.electroneutral_assembly.newton_system`."""
    last = -1.0
    bp = bm = dbp = dbm = 0.0
    psi_df = 0.0
    psi_df1 = 0.0
    dist1 = 0.5 * h[0]
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
        cf = 0.5 * (cl + cr)
        u = uf[k]
        dnk = dn[k]
        inv_s = 1.0 / (d_f * cf + dnk * u)
        dtl = d_f * dnk * inv_s
        ul = 1.0 - cl
        ur = 1.0 - cr
        drift = bm * ul - bp * ur
        dc = cr - cl
        dpsi = (v * dist + (d_f - dnk) * dc) * inv_s
        # d/dD_N: ds = u_f, dD~ = D_F^2 c_f / s^2
        f_dn[k] = -(d_f * d_f * cf * inv_s * inv_s / dist) * drift
        p_dn[k] = -(dc + dpsi * u) * inv_s
        # d/dD_F: ds = c_f, dD~ = D_N^2 u_f / s^2, dP = -P / D_F
        p_v = v * dist / (d_f * d_f)  # -dP/dD_F
        drift_df = p_v * (ul * dbm + ur * dbp)
        f_df[k] = -(dnk * dnk * u * inv_s * inv_s * drift + dtl * drift_df) / dist
        dpsi_df = (dc - dpsi * cf) * inv_s
        psi_df += dpsi_df
        if f == 1:
            dist1 = dist
            psi_df1 = dpsi_df
    # the front half cell: x0 (1 - theta) v / D_F + r dpsi_1 (`newton_system`)
    x0 = d[0]
    theta = x0 / (2.0 * (x0 + 0.5 * dist1))
    r = theta * x0 / dist1
    psi_df += r * psi_df1
    psi_df -= x0 * (1.0 - theta) * v / (d_f * d_f)
    p_dn[0] *= 1.0 + r
    # the Donnan step ln(c(0+) / c_s), c(0+) = c_0 + x0 v (1 - c_0) / D_F (unless clamped)
    if front_open:
        cs = _surface_fraction(c[0], x0, v, d_f)
        if DONNAN_C_MIN <= cs <= 1.0:
            psi_df -= x0 * v * (1.0 - c[0]) / (d_f * d_f * cs)
    # the pristine bulk beyond the window: v (L - x_end) / D_N(1)
    psi_dn1 = -v * (thickness - faces[n]) / (d_n1 * d_n1)
    return psi_df, psi_dn1


@njit(cache=True)
def sensitivity_step(
    c_jac, v_jac, n, order, dt, tn, front_open, potentiostatic, control, d_f, d_n1, h, inv_h, d,
    faces, thickness, kind, uf, dn, tab_t, tab_v, lo, di, gam, bcol, brow, out, z, sd, sv,
    ps_kind, ps_scale, ps_df, ps_dn1, ps_dconst, ps_u0, ps_du, ps_logd, ps_slope, ps_n_lo,
    ps_tabv, ps_inv_delta, swork, s_pred, s_hist, rhs, a_mob,
):  # fmt: skip
    """The sensitivities of an accepted step of order `order` ending at tn (s): solves the
    system of the module doc for every parameter q, updates its history sd[q] (N_DIFF x n_max,
    first n columns) and sets sv[q] = dv/dp (fraction nm/s per parameter unit). c_jac, v_jac:
    the iterate at which the step's last Newton matrix was formed; uf, dn: the native D_N at
    its faces; lo, di, gam, bcol, brow, out: what `newton_system` left there (z: T^-1 bcol
    after `back_substitute`, potentiostatic only). ps_*[q]: the kernel arrays of the perturbed
    parameter set q (ps_df its foreign D, ps_dn1 its D_N(1), nm^2/s; ps_tabv its control table
    in the units of tab_v), ps_inv_delta[q] = 1 / its perturbation (1 / parameter unit),
    ps_kind[q]: how its native D_N changes (NATIVE_SAME, NATIVE_SCALE by the factor
    1 + ps_scale[q] dp, NATIVE_TABLE). swork, s_pred, s_hist, rhs: see `work_arrays`. The
    other arguments: those of `advance`. Returns False if the bordered system is singular.
    """
    n_sens = sd.shape[0]
    f_dn, f_df, p_dn, dr = swork[0], swork[1], swork[2], swork[3]
    p_uf, p_dn_new, p_dn_u, ipiv = swork[4], swork[5], swork[6], swork[7]
    mult = swork[8]
    need_faces = False
    for q in range(n_sens):
        if ps_kind[q] != NATIVE_SAME or ps_df[q] != d_f:
            need_faces = True
    psi_df = psi_dn1 = 0.0
    if need_faces:
        psi_df, psi_dn1 = parameter_derivatives(
            c_jac, n, v_jac, front_open, d_f, d_n1, h, d, faces, thickness, uf, dn, f_dn, f_df,
            p_dn,
        )  # fmt: skip
    # the inverse pivots of the tridiagonal elimination (`newton_system`'s forward sweep) and
    # the multipliers lo[k] / pivot, shared by every parameter: an independent loop, so that
    # the chain of each forward sweep below is one multiply-add per cell
    ipiv[0] = 1.0 / di[0]
    mult[0] = 0.0
    for k in range(1, n):
        w = 1.0 / (di[k] - lo[k] * gam[k - 1])
        ipiv[k] = w
        mult[k] = lo[k] * w
    denom = 1.0
    if potentiostatic:
        rz = 0.0
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
        g = 0.0
        a_f = (ps_df[q] - d_f) * inv_delta  # dD_F/dp
        kq = ps_kind[q]
        if kq == NATIVE_SAME and a_f == 0.0:
            for k in range(n):
                dr[k] = 0.0
        else:
            # dR/dp (dr) and dpsi_front/dp from the analytic face derivatives and dD_N/dp at
            # each face: D_N times a constant (a reference D), or the difference of the
            # perturbed table's D_N at the same state; the front face carries v: no dependence
            if kq == NATIVE_TABLE:
                native_mobilities(
                    c_jac, n, kind, ps_dconst[q], ps_u0[q], ps_du[q], ps_logd[q], ps_slope[q],
                    ps_n_lo[q], p_uf, p_dn_new, p_dn_u, a_mob,
                )  # fmt: skip
            dpsi = a_f * psi_df + (ps_dn1[q] - d_n1) * inv_delta * psi_dn1
            scale = ps_scale[q]
            f_left = 0.0
            for k in range(n):
                if kq == NATIVE_SCALE:
                    ddn = dn[k] * scale
                elif kq == NATIVE_TABLE:
                    ddn = (p_dn_new[k] - dn[k]) * inv_delta
                else:
                    ddn = 0.0
                fk = f_df[k] * a_f + f_dn[k] * ddn
                dr[k] = dt * inv_h[k] * (fk - f_left)
                f_left = fk
                dpsi += p_dn[k] * ddn
            g = -dpsi
        # under current control dv/dp is known (the table's), and moves the residual by b s_v
        s_b = 0.0
        if not potentiostatic and front_open and control == 1:
            s_b = d_ctl
        # T x = -(hist_s + dR/dp + b s_b): the forward sweep, then the back substitution with
        # r . x for the border
        r = rhs[q]
        sh = s_hist[q]
        y = 0.0
        for k in range(n):
            y = -(sh[k] + dr[k] + bcol[k] * s_b) * ipiv[k] - mult[k] * y
            r[k] = y
        x = r[n - 1]
        rx = brow[n - 1] * x
        for k in range(n - 2, -1, -1):
            x = r[k] - gam[k] * x
            r[k] = x
            rx += brow[k] * x
        if not math.isfinite(rx):  # a NaN or infinity anywhere in x reaches the sum
            return False
        if potentiostatic:
            # [T b; r^T e] [s; s_v] = [-(hist_s + dR/dp); g + dU/dp]: s = x - z s_v
            s_v = (g + d_ctl - rx) / denom
            if not math.isfinite(s_v):
                return False
            for k in range(n):
                r[k] -= z[k] * s_v
        else:
            s_v = s_b
        sv[q] = s_v
        update(sd[q], order, r, s_pred[q], n)
    return True


# ---------------------------------------------------------------------------------------------
# Perturbed kernel arrays (Python)
# ---------------------------------------------------------------------------------------------
@dataclass
class SensitivityArrays:
    """The perturbed kernel arrays of m parameters, stacked for `sensitivity_step`: kind
    (NATIVE_SAME, NATIVE_SCALE with d ln D_N / dp = scale, NATIVE_TABLE), the foreign D d_f
    and D_N(1) d_n1 (nm^2/s), the native mobility table (d_const, u0, du, logd, slope, n_lo as
    `solvers.electroneutral._native_table`), each stage's control table in kernel units
    (tab_v[k_stage]: m x table length) and 1 / delta (1 / parameter unit)."""

    kind: np.ndarray
    scale: np.ndarray
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


#: Problem fields a parameter of a forward sensitivity may not change (the perturbed problems
#: are read for their physics only: the solver settings are those of `problem`)
_PROBLEM_FIXED = ("thickness_nm", "temperature_K", "n_bulk_cm3", "eps_r")
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
        scale=np.zeros(m),
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
                # (the full solver refuses f too: its flux of max(c - f, 0) is not
                # differentiable at the plateau)
                raise SensitivityError(
                    f"{label}: an immobile fraction rescales the electroneutral solver's "
                    "unknowns c / (1 - f), which its sensitivities do not follow (use finite "
                    "differences)"
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
        out.kind[q], out.scale[q] = _native_kind(mob0, mob, delta)
    return out


def _native_kind(mob0: tuple, mob: tuple, delta: float) -> tuple[int, float]:
    """(kind, d ln D_N / dp) of a change of the native table mob0 -> mob by delta: NATIVE_SAME;
    NATIVE_SCALE when D_N changes by one factor everywhere (a constant D, or every entry of
    ln D shifted alike: the reference D of an SED); else NATIVE_TABLE."""
    changed = [j for j in range(1, 7) if not np.array_equal(mob[j], mob0[j])]
    if not changed:
        return NATIVE_SAME, 0.0
    if changed == [1] and mob0[1] > 0.0:
        return NATIVE_SCALE, math.log(mob[1] / mob0[1]) / delta
    if changed == [4]:
        shift = np.asarray(mob[4]) - np.asarray(mob0[4])
        if np.ptp(shift) <= 1e-12 * max(1.0, float(np.max(np.abs(shift)))):
            return NATIVE_SCALE, float(np.mean(shift)) / delta
    return NATIVE_TABLE, 0.0
