"""The electroneutral reduced solver (MODEL.md section 7): one PDE for the foreign fraction.

Model. With two monovalent mobile species and the Debye length (~0.03 nm) far below every
length of interest, sum z c = 1 holds outside a sub-nanometre layer at the front. With c the
foreign fraction, u = 1 - c the native one, v = j / (e n_bulk) the total current (nm/s):

    s(c) = D_F c + D_N(u) u,   dc/dt = -dF/dx,   F = t_F v - D~ dc/dx,
    t_F = D_F c / s,   D~ = D_F D_N / s,   F(0) = v (native blocked),   c -> 0 in the bulk,
    -dpsi/dx = (v + (D_F - D_N) dc/dx) / s.

Galvanostatic stages give v(t) directly (the displacement current, which the NPP solver adds to
the ionic current, dies out within microseconds); potentiostatic stages fix v implicitly by
psi(0) = U e / (k_B T): one scalar unknown per step, solved with the profile in a bordered
Newton system (tridiagonal + one dense row and column). A blocking front (no source) carries no
current: F(0) = 0 and v = 0.

Why only two species: with S monovalent species electroneutrality removes one fraction and the
potential, leaving S - 1 coupled equations. For S = 2 that is this scalar equation; for S = 3
(sequential Double-CAIT) it is a 2x2 cross-diffusion system with a full mobility matrix, which
is not implemented here: use the NPP solver.

Face flux (the choice asked for by MODEL.md section 7). The foreign flux is written through the
native flux, F = v - J_N, with J_N = D~ (E^ u - du/dx) and E^ = v / D_F: a drift-diffusion flux
whose drift E^ is the same everywhere (the field at which the foreign ions alone carry v), while
all the variation of the coefficients sits in D~. J_N is discretised by Scharfetter-Gummel,
J_N = (D~_f / d) (B(-P) u_L - B(P) u_R) with the cell Peclet number P = v d / D_F, and D~_f =
D~ at the face-mean fraction (c_L + c_R) / 2. This is exact for frozen D~ at any P (so robust
when the replaced zone is highly resistive and v d / D_F is large), reduces to central
differences plus O(P^2) as h -> 0 (second order on smooth solutions), and gives an M-matrix for
the linear part. The other exponential fitting one might try, with the foreign "drift"
v t_F / (D~ c) = v / D_N(u), has a drift that varies by the 4 decades of D_N across the profile
and loses exactness exactly where it is needed. Face values at the mean of the two nodes are
second order on the uniform fine cells where the profile lives; the graded cells beyond are
pristine (c ~ 0).

Potential: the midpoint rule between nodes, (psi_L - psi_R) = (v d + (D_F - D_N(u_f))
(c_R - c_L)) / s_f; over the front half cell the trapezoid rule with the exact front field
E(0) = v / D_F; a Donnan step psi(0) - psi(0+) = ln(c(0+) / c_s) across the unresolved
space-charge layer, where the source is held at c_s (Boltzmann equilibrium of the foreign ion,
as in the NPP solution), c(0+) extrapolated from the first cell with the exact front gradient
dc/dx(0) = -v u / D_F; in the pristine bulk beyond the grid the ohmic drop v (L - x_end) /
D_N(1). The Donnan step is small once c(0+) ~ c_s = 1, but early on (c(0+) << 1) it raises the
driving voltage by a few kT/e; the native fraction left behind near the surface remembers that
history, and without the step the standard case differs from the NPP solver by up to 9e-3.

Grid. Only the profile region is discretised: the leading cells of the problem grid whose width
is at most GRID_WIDTH_MAX times the first one (the uniform fine cells plus the start of the
graded part); the rest of the sample is the analytic series resistance. Within that reduced grid
the compiled loop solves only an active window: the non-pristine cells plus at least
WINDOW_MARGIN cells with c <= WINDOW_TOL_REL atol (1e-11 at the default atol), grown as the
profile advances (cells beyond are exactly pristine, so early steps cost almost nothing). If
the profile needs more cells than the reduced grid has and the last cell holds a foreign
fraction above 1e-6, the run stops (completed False, message with the time). Outputs are on the
problem's cell centres, bulk cells pristine, so they compare directly with `solvers.npp.solve`.

Immobile native fraction f (MODEL.md section 10): only the mobile native part 1 - f - c moves,
with D_N at the total native fraction 1 - c; then F = t_F v - D_F D_N (1 - f) / s dc/dx,
s = D_F c + D_N (1 - f - c). In the scaled variables c' = c / (1 - f), v' = v / (1 - f) this is
the equation above for c' with D_N evaluated at 1 - (1 - f) c' (and the potential formulas hold
unchanged, with c_s / (1 - f) in the Donnan step): the kernels solve for c' and v'
(`a_mob` = 1 - f), and this driver scales in and out. f = 0 is bit for bit the model above.

Time integration: the variable-order BDF (orders 1-5, `solvers.bdf`) with the local error and
order control of `solvers.kernels.advance` (max norm over both fractions with weights
atol + rtol |.|), Newton with the analytic Jacobian (the current v
predicted by the same polynomial as the profile), the whole loop compiled
(`solvers.electroneutral_kernels`: per Newton iteration three passes for the native D at the
faces, one for the face terms, one that assembles the rows and eliminates the tridiagonal
block); with each snapshot it also computes the potential profile.
"""

from __future__ import annotations

import functools
import logging
import threading
import time as _time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from solvers import electroneutral_kernels as EK
from solvers import electroneutral_sensitivity as ES
from solvers.bdf import set_history
from solvers.grid import cell_centers_nm
from solvers.interrupt import DeferredInterrupt, StepBudget, stopped_by
from solvers.npp import E_CHARGE_C, K_B_EV_K, LN_CM2_TO_NM2, NM_PER_CM, debye_length_nm
from solvers.problem import Problem, Solution, StepRecords, stage_stops, stop_arrays

log = logging.getLogger(__name__)

#: the reduced grid keeps the leading cells at most this many times wider than the first one:
#: the uniform fine region and the first graded cells, still fine enough for the front tail.
GRID_WIDTH_MAX = 4.0
#: records of accepted steps kept per call of the compiled loop before Python collects them
RECORD_BUFFER = 4096

STATUS_TEXT = {
    EK.STATUS_DT_UNDERFLOW: "the time step fell below round-off (Newton failed repeatedly)",
    EK.STATUS_MAX_STEPS: "the maximum number of steps was reached",
    EK.STATUS_SENSITIVITY: "the linear system of the forward sensitivities is singular",
}


class _Block(NamedTuple):
    """Consecutive snapshots of one stage in the reduced grid's kernel units: foreign fractions
    c (m x n_max, scaled by 1 / a_mob), currents v (m), sensitivities s (m x n_sens x n_max),
    potentials psi at the cell centres (m x n_max, thermal units; None: not computed yet)."""

    c: np.ndarray
    v: np.ndarray
    s: np.ndarray
    psi: np.ndarray | None
    stage: object


def _state_block(c, dsc, sd, front_open: bool, stage: object) -> _Block:
    """A one-snapshot `_Block` of the loop's current state (copies; psi not computed)."""
    v = float(dsc[0, EK.SC_V]) if front_open else 0.0
    return _Block(c.copy()[None], np.array([v]), sd[:, 0].copy()[None], None, stage)


def _check_problem(problem: Problem) -> tuple[int, int]:
    """(native index, foreign index); ValueError naming what the reduced model cannot do."""
    species = problem.species
    if len(species) != 2:
        raise ValueError(
            f"the electroneutral solver needs exactly two mobile species, got {len(species)} "
            "(with three it is a 2x2 cross-diffusion system, not implemented): use method 'npp'"
        )
    for sp in species:
        if sp.charge != 1:
            raise ValueError(
                f"the electroneutral solver needs charge +1 for every species, {sp.name} has "
                f"{sp.charge}: use method 'npp'"
            )
    natives = [i for i, sp in enumerate(species) if sp.initial_fraction == 1.0]
    foreigns = [i for i, sp in enumerate(species) if sp.initial_fraction == 0.0]
    if len(natives) != 1 or len(foreigns) != 1:
        raise ValueError(
            "the electroneutral solver needs one native species with initial fraction 1 and "
            "one foreign species with initial fraction 0: use method 'npp'"
        )
    i_n, i_f = natives[0], foreigns[0]
    nat, frn = species[i_n], species[i_f]
    if nat.back != "reservoir" or nat.back_fraction != 1.0:
        raise ValueError(
            f"the electroneutral solver needs the native species {nat.name} discharged into a "
            "reservoir at fraction 1 at the back electrode: use method 'npp'"
        )
    if frn.mobility.kernel_table().kind != 0:
        raise ValueError(
            f"the electroneutral solver needs a constant D for the foreign species {frn.name}: "
            "use method 'npp'"
        )
    for k, st in enumerate(problem.stages, start=1):
        if st.source is not None and st.source != i_f:
            raise ValueError(
                f"stage {k}: the electroneutral solver needs the source to be the foreign "
                f"species {frn.name} (or none): use method 'npp'"
            )
        if st.source is not None and not st.surface_fraction > 0.0:
            raise ValueError(f"stage {k}: the surface fraction of the source must be > 0")
        if st.source is None and st.control == "current" and np.any(st.table_value != 0.0):
            raise ValueError(
                f"stage {k}: a blocking front carries no steady current in the electroneutral "
                "model; use method 'npp' for a capacitive charging current"
            )
    return i_n, i_f


def unsupported_reason(problem: Problem) -> str | None:
    """None if the electroneutral reduction holds for `problem` (two species of charge +1, one
    native and one foreign with a constant D, the native discharged into a reservoir, the
    foreign as the only source), else what it cannot do (one line)."""
    try:
        _check_problem(problem)
    except ValueError as exc:
        return str(exc)
    return None


def reduced_cell_count(x_faces_nm: np.ndarray) -> int:
    """Number of leading cells at most GRID_WIDTH_MAX times as wide as the first one."""
    h = np.diff(np.asarray(x_faces_nm, dtype=float))
    wide = np.nonzero(h > GRID_WIDTH_MAX * h[0] * (1.0 + 1e-12))[0]
    return len(h) if wide.size == 0 else int(wide[0])


#: reduced grids of recent problems (`_reduced_grid`), keyed by the bytes of their faces
_GRIDS: dict[bytes, tuple] = {}
_GRIDS_LOCK = threading.Lock()
#: how many `_GRIDS` keeps (a fit or a sweep reuses one grid; a grid study a few)
GRID_CACHE_SIZE = 8


def _reduced_grid(faces_full: np.ndarray) -> tuple:
    """(n_max, faces, h, d, xc, inv_geo) of the reduced grid of a problem grid with these faces
    (nm): its n_max cells (`reduced_cell_count`), their faces, widths, the node distances d
    (d[0]: first centre - 0), the cell centres and `EK.inverse_geometry(h, d)`. Kept for
    recent grids, by content (a few microseconds against some 40 to build them); the kernels
    only read these arrays (never write)."""
    key = faces_full.tobytes()
    hit = _GRIDS.get(key)
    if hit is not None:
        return hit
    n_max = reduced_cell_count(faces_full)
    faces = np.ascontiguousarray(faces_full[: n_max + 1])
    h = np.diff(faces)
    xc = cell_centers_nm(faces)
    d = np.concatenate([[xc[0] - faces[0]], np.diff(xc)])
    out = (n_max, faces, h, d, xc, EK.inverse_geometry(h, d))
    with _GRIDS_LOCK:  # the fits solve in threads
        while len(_GRIDS) >= GRID_CACHE_SIZE:
            _GRIDS.pop(next(iter(_GRIDS)))  # the oldest
        _GRIDS[key] = out
    return out


def _native_table(mobility: object) -> tuple:
    """(kind, d_const, u0, du, logd, slope, n_lo) in nm^2/s for the kernels."""
    t = mobility.kernel_table()
    if t.kind == 0:
        return 0, t.D_const * 1.0e14, 0.0, 1.0, np.zeros(2), np.zeros(2), 1.0
    logd, slope = _scaled_table(t)
    return 1, 0.0, float(t.u0), float(t.du), logd, slope, float(t.n_lo)


@functools.lru_cache(maxsize=8)
def _scaled_table(t: object) -> tuple[np.ndarray, np.ndarray]:
    """(ln D in nm^2/s, slope) of a kind-1 kernel table, contiguous; kept for recent tables
    (one object per model, cached by `sed`); the kernels only read them (never write)."""
    logd = np.ascontiguousarray(np.asarray(t.logD, dtype=float) + LN_CM2_TO_NM2)
    slope = np.ascontiguousarray(np.asarray(t.slope, dtype=float))
    return logd, slope


def check_sensitivities(problem: Problem, sensitivities: Sequence[tuple[Problem, float]]) -> None:
    """Raise ValueError (one line) unless `solve(problem, sensitivities=sensitivities)` can
    integrate these forward sensitivities (`ES.sensitivity_arrays`; a problem outside the
    reduced model: the ValueError of `solve`). Solves nothing."""
    i_n, i_f = _check_problem(problem)
    ES.sensitivity_arrays(
        problem, i_n, i_f, sensitivities, _native_table, _control_scale(problem, i_n)
    )


def _control_scale(problem: Problem, i_n: int) -> list[float]:
    """Per stage, the factor from its control values (V or A/cm^2) to the kernels' units
    (thermal units; the current v / a_mob in fraction nm/s)."""
    vt = K_B_EV_K * problem.temperature_K
    flux_to_a = E_CHARGE_C * problem.n_bulk_cm3 / NM_PER_CM
    a_mob = 1.0 - float(problem.species[i_n].immobile_fraction)
    return [
        1.0 / vt if st.control == "potential" else 1.0 / (flux_to_a * a_mob)
        for st in problem.stages
    ]


def solve(
    problem: Problem,
    initial: np.ndarray | None = None,
    progress: Callable[[float, float], None] | None = None,
    steps_per_call: int | None = None,
    history: np.ndarray | None = None,
    sensitivities: Sequence[tuple[Problem, float]] = (),
) -> Solution:
    """Integrate `problem` through all its stages with the electroneutral reduced model.

    initial: optional foreign fraction per cell of the problem grid (as `Solution.state`);
    default: pristine. progress(t_s, t_end_s) is called at every output time. steps_per_call:
    accepted steps per call of the compiled loop (default: sized to about
    `solvers.interrupt.WALL_SLICE_S` of wall time); the results do not depend on it. history:
    optional (k + 1, n_cells) foreign fractions at t = -j problem.dt_initial_s, j = 0..k
    (newest first, history[0] = initial), from which the first stage starts at order k (for
    verification of the fixed-order convergence, as `solvers.npp.solve`).
    sensitivities: forward sensitivities to compute along (`solvers.electroneutral_sensitivity`):
    for each parameter, the problem with that parameter changed by delta, and delta (the
    parameter's unit); the problems may differ from `problem` only in the foreign species'
    constant D, the native species' D(c) and the stages' control values
    (`ES.sensitivity_arrays`). Solution.sensitivities then holds d fractions / d p.
    Returns a Solution with method "electroneutral" and the same fields and units as
    `solvers.npp.solve` (fractions on the problem's cell centres, bulk cells pristine);
    `state` is the final foreign fraction per cell. Raises ValueError when the problem is
    outside the reduced model (see `_check_problem`); if the run fails, `completed` is False
    and the Solution holds every snapshot computed up to the failure.
    """
    t_start = _time.perf_counter()
    i_n, i_f = _check_problem(problem)
    faces_full = np.asarray(problem.x_faces_nm, dtype=float)
    xc_full = cell_centers_nm(faces_full)
    n_full = len(xc_full)
    n_max, faces, h, d, xc, inv_geo = _reduced_grid(faces_full)
    thickness = float(problem.thickness_nm)
    mob = _native_table(problem.species[i_n].mobility)
    d_f = problem.species[i_f].mobility.kernel_table().D_const * 1.0e14
    d_n1 = EK.mobility(1.0, *mob)[0]
    # the immobile native fraction: the kernels work in c / a_mob and v / a_mob (docstring)
    a_mob = 1.0 - float(problem.species[i_n].immobile_fraction)
    vt = K_B_EV_K * problem.temperature_K
    flux_to_a = E_CHARGE_C * problem.n_bulk_cm3 / NM_PER_CM

    c = np.zeros(n_max)
    if initial is not None:
        init = np.asarray(initial, dtype=float)
        if init.shape != (n_full,):
            raise ValueError(f"initial state must have {n_full} cells, got shape {init.shape}")
        if np.any(init[n_max:] > EK.WINDOW_TOL_REL * problem.atol):
            raise ValueError("initial state reaches beyond the reduced grid: use method 'npp'")
        c[:] = np.clip(init[:n_max] / a_mob, 0.0, 1.0)
    dd, dsc, fs, ist = EK.new_state(c, problem.dt_initial_s, 0.0)
    c = dd[0]  # the current fractions (a view: the history's first row)
    if history is not None:
        hist = np.asarray(history, dtype=float)
        if hist.ndim != 2 or hist.shape[1] != n_full:
            raise ValueError(f"history must have {n_full} cells per state, got {hist.shape}")
        k = set_history(dd, np.clip(hist[:, :n_max] / a_mob, 0.0, 1.0))
        if k > problem.max_order:
            raise ValueError(f"history: order {k} above max_order {problem.max_order}")
        ist[EK.IS_NHIST] = k + 1
        ist[EK.IS_ORDER] = k
    # the first window covers every non-zero cell of the initial state (and the margin)
    nonzero = (
        np.flatnonzero(np.any(dd != 0.0, axis=0))
        if initial is not None or history is not None
        else ()
    )
    ist[EK.IS_NACT] = min(n_max, (nonzero[-1] + 1 if len(nonzero) else 0) + 2 * EK.WINDOW_MARGIN)
    # forward sensitivities: the perturbed kernel arrays, their histories and scratch
    sens = ES.sensitivity_arrays(
        problem, i_n, i_f, sensitivities, _native_table, _control_scale(problem, i_n)
    )
    n_sens = len(sensitivities)
    sd = np.zeros((n_sens, EK.N_DIFF, n_max))
    sv = np.zeros(n_sens)
    s_work = ES.work_arrays(n_sens, n_max)
    records = StepRecords(("t", "v", "psi", "q"), RECORD_BUFFER)
    t_end = sum(st.duration_s for st in problem.stages)
    geo = (h, d, faces, thickness, d_n1)
    work = EK.work_arrays(n_max)

    def psi_front_of(cc: np.ndarray, v: float, front_open: bool, c_src: float) -> float:
        psi = np.zeros(n_max)
        return float(
            EK.potential_profile(cc, v, front_open, d_f, c_src, *geo, *mob, xc, psi, a_mob)
        )

    def stage_current(stage, t_rel: float, cc: np.ndarray) -> tuple[float, float]:
        """(v, psi_front) at t_rel from the stage start for profile cc (v, cc scaled)."""
        front_open = stage.source is not None
        c_src = float(stage.surface_fraction) / a_mob
        if stage.control == "potential":
            psi = stage.value_at(t_rel) / vt
            v = 0.0
            if front_open:
                v = EK.front_current(
                    cc, int(ist[EK.IS_NACT]), psi, d_f, c_src, *geo, *mob, a_mob
                )  # fmt: skip
            return float(v), psi
        v = stage.value_at(t_rel) / flux_to_a / a_mob if front_open else 0.0
        return v, psi_front_of(cc, v, front_open, c_src)

    v0, psi0 = stage_current(problem.stages[0], 0.0, c)
    # the snapshots: their times, and their states in blocks of consecutive snapshots (views of
    # the compiled loop's snapshot arrays, one pair per stage, written once each: `_Block`)
    snapshots_t = [0.0]
    blocks = [_Block(c.copy()[None], np.array([v0]), np.zeros((1, n_sens, n_max)), None,
                     problem.stages[0])]  # fmt: skip
    records.start(0.0, v0, psi0, 0.0)
    stage_end_index: list[int] = []
    completed = True
    message = ""
    compile_s = 0.0
    t_stage0 = 0.0
    interrupted = False
    sigint = DeferredInterrupt()
    budget = StepBudget(RECORD_BUFFER, steps_per_call)
    k_stage, stage = 1, problem.stages[0]
    try:
        for k_stage, stage in enumerate(problem.stages, start=1):
            front_open = stage.source is not None
            c_src = float(stage.surface_fraction) / a_mob
            if stage.control == "potential":
                control = 0
                tab_v = np.asarray(stage.table_value, dtype=float) / vt
            else:
                control = 1
                tab_v = np.asarray(stage.table_value, dtype=float) / flux_to_a / a_mob
            tab_t = np.asarray(stage.table_t_s, dtype=float) + t_stage0
            # a new stage restarts the multistep history (the control jumps), unless the
            # caller gave the history of the first stage's start
            if not (k_stage == 1 and history is not None):
                EK.restart_history(dd, dsc, ist, False, sd)
                fs[EK.FS_DT] = problem.dt_initial_s
            fs[EK.FS_T] = t_stage0
            fs[EK.FS_DT_WANT] = 0.0
            fs[EK.FS_KAPPA] = 0.0
            # (the first stage starts from the state of v0)
            dsc[0, EK.SC_V] = v0 if k_stage == 1 else stage_current(stage, 0.0, c)[0]
            t_stops, flags, out_times = stop_arrays(*stage_stops(problem, stage, t_stage0))
            # a snapshot: the n_max fractions and v (the last column), then the sensitivities
            snaps = np.empty((len(out_times), 1 + n_sens, n_max + 1))
            snap_psi = np.empty((len(out_times), n_max))
            ps_tabv = sens.tab_v[k_stage - 1]
            ist[EK.IS_NSTOP] = 0
            ist[EK.IS_NSNAP] = 0
            n_taken = 0
            # with a progress callback, one call per output time (the callback may stop the
            # run there: KeyboardInterrupt); without, one call for the stage
            out_pos = np.flatnonzero(flags & 1)
            steps_at_stage_start = int(ist[EK.IS_STEPS])
            # one call for the stage, sliced by the step budget (see solvers.npp.solve)
            while True:
                tc = _time.perf_counter()
                n_call = budget.next()
                last = len(t_stops)
                if progress is not None and n_taken < len(out_pos):
                    last = int(out_pos[n_taken]) + 1
                status = EK.advance(
                    t_stops[:last], flags[:last], snaps, dd, dsc, fs, ist, h, d, faces, thickness,
                    d_f, c_src, front_open, d_n1, *mob, control, tab_t, tab_v, problem.rtol,
                    problem.atol, problem.max_steps - (int(ist[EK.IS_STEPS]) -
                    steps_at_stage_start), problem.max_order, int(problem.error_control),
                    *(b[:n_call] for b in records.buffers), work, inv_geo, sd, sv, sens.kind,
                    sens.scale, sens.d_f, sens.d_n1, sens.d_const, sens.u0, sens.du, sens.logd,
                    sens.slope, sens.n_lo, ps_tabv, sens.inv_delta, *s_work, xc, snap_psi, a_mob,
                )  # fmt: skip
                if compile_s == 0.0:
                    compile_s = _time.perf_counter() - tc
                budget.done(int(ist[EK.IS_NREC]))
                records.collect(ist, EK.IS_NREC)
                # the snapshots of this call, all kept before the progress callbacks
                new = range(n_taken, int(ist[EK.IS_NSNAP]))
                n_taken = int(ist[EK.IS_NSNAP])
                if new:
                    j0, j1 = new.start, new.stop
                    snapshots_t.extend(out_times[j0:j1])
                    v_new = snaps[j0:j1, 0, n_max] if front_open else np.zeros(j1 - j0)
                    s_new = snaps[j0:j1, 1:, :n_max]
                    blocks.append(
                        _Block(snaps[j0:j1, 0, :n_max], v_new, s_new, snap_psi[j0:j1], stage)
                    )
                if progress is not None:
                    for j in new:
                        progress(out_times[j], t_end)
                sigint.raise_if_requested()  # Ctrl-C: here, with every record collected
                if status == EK.STATUS_BUFFER_FULL:
                    continue
                if status != EK.STATUS_OK or ist[EK.IS_NSTOP] >= len(t_stops):
                    break
            if status != EK.STATUS_OK:
                completed = False
                where = f"t = {fs[EK.FS_T]:.6g} s (stage {k_stage}, step size {fs[EK.FS_DT]:.3g} s)"
                if status == EK.STATUS_GRID_END:
                    message = (
                        f"solver stopped at {where}: the foreign profile reached the end of "
                        f"the reduced grid at {faces[-1]:.6g} nm (fraction "
                        f"{c[-1] * a_mob:.3g} > "
                        f"{EK.TAIL_FAIL:g} in its last cell); increase grid.fine_depth_nm"
                    )
                else:
                    reason = STATUS_TEXT.get(status, f"status {status}")
                    message = f"solver stopped at {where}: {reason}"
                if fs[EK.FS_T] > snapshots_t[-1]:
                    snapshots_t.append(float(fs[EK.FS_T]))
                    blocks.append(_state_block(c, dsc, sd, front_open, stage))
            if not completed:
                break
            stage_end_index.append(len(snapshots_t) - 1)
            t_stage0 += stage.duration_s
    except KeyboardInterrupt as exc:
        # Ctrl-C between two calls of the compiled loop: c is a consistent accepted state
        interrupted = True
        completed = False
        records.collect(ist, EK.IS_NREC)  # steps of the last call not yet collected
        message = (
            f"interrupted by {stopped_by(exc)} at t = {fs[EK.FS_T]:.6g} s (stage {k_stage} of "
            f"{len(problem.stages)})"
        )
        if fs[EK.FS_T] > snapshots_t[-1]:
            snapshots_t.append(float(fs[EK.FS_T]))
            blocks.append(_state_block(c, dsc, sd, stage.source is not None, stage))
    finally:
        sigint.restore()

    n_times = len(snapshots_t)
    fractions = np.empty((n_times, 2, n_full))
    potential = np.empty((n_times, n_full))
    snapshots_v = np.empty(n_times)
    foreign = fractions[:, i_f]
    j = 0
    for blk in blocks:
        rows = slice(j, j + len(blk.c))
        if a_mob != 1.0:
            np.multiply(blk.c, a_mob, out=foreign[rows, :n_max])
        else:
            foreign[rows, :n_max] = blk.c
        snapshots_v[rows] = blk.v
        if blk.psi is not None:
            # computed by the compiled loop (thermal units): in V
            np.multiply(blk.psi, vt, out=potential[rows, :n_max])
        else:
            for i, cc in enumerate(blk.c):
                EK.potential_profile(
                    cc, float(blk.v[i]), blk.stage.source is not None, d_f,
                    float(blk.stage.surface_fraction) / a_mob, *geo, *mob, xc, potential[j + i],
                    a_mob,
                )  # fmt: skip
                potential[j + i, :n_max] *= vt
        j = rows.stop
    foreign[:, n_max:] = 0.0
    np.subtract(1.0, foreign, out=fractions[:, i_n])  # no temporary
    # the bulk beyond the reduced grid: the ohmic drop of the pristine glass
    bulk = np.multiply.outer(snapshots_v, thickness - xc_full[n_max:]) / d_n1
    np.multiply(bulk, vt, out=potential[:, n_max:])
    sens_out = None
    if n_sens:
        # d (foreign fraction) / dp = a_mob d c / dp; the native fraction is 1 - foreign
        sens_out = np.zeros((n_times, n_sens, 2, n_full))
        sens_out[:, :, i_f, :n_max] = np.concatenate([blk.s for blk in blocks]) * a_mob
        sens_out[:, :, i_n] = -sens_out[:, :, i_f]
    state = np.zeros(n_full)
    state[:n_max] = c * a_mob if a_mob != 1.0 else c
    solve_s = _time.perf_counter() - t_start
    diagnostics = {
        "steps": int(ist[EK.IS_STEPS]),
        "rejected_steps": int(ist[EK.IS_REJECT]),
        "newton_iterations": int(ist[EK.IS_NEWTON]),
        "newton_failures": int(ist[EK.IS_NEWTON_FAIL]),
        "cell_iterations": int(ist[EK.IS_CELL_ITER]),
        # accepted steps of each BDF order 1..5
        "steps_per_order": [int(v) for v in ist[EK.IS_ORDER_STEPS + 1 : EK.IS_ORDER_STEPS + 6]],
        "n_cells": int(ist[EK.IS_NACT]),
        "n_cells_reduced_grid": n_max,
        "interrupted": interrupted,
        "reduced_grid_depth_nm": float(faces[-1]),
        "first_call_s": compile_s,
        "solve_s": solve_s,
        # wall time inside the calls of the compiled loop, and their number
        "loop_s": budget.loop_s,
        "loop_cpu_s": budget.loop_cpu_s,
        "loop_calls": budget.calls,
        "debye_length_nm": debye_length_nm(problem),
        "rtol": problem.rtol,
        "atol": problem.atol,
    }
    log.info(
        "electroneutral: %d of %d cells active, %d steps, %d Newton iterations",
        *(diagnostics[k] for k in ("n_cells", "n_cells_reduced_grid", "steps")),
        diagnostics["newton_iterations"],
    )
    rec = records.arrays()
    # the kernels' current and charge are scaled by 1 / a_mob (the physical ones: times a_mob)
    rec = {k: (val * a_mob if k in ("v", "q") and a_mob != 1.0 else val) for k, val in rec.items()}
    return Solution(
        x_faces_nm=faces_full,
        x_centers_nm=xc_full,
        species_names=tuple(sp.name for sp in problem.species),
        times_s=np.array(snapshots_t),
        fractions=fractions,
        potential_V=potential,
        stage_end_index=stage_end_index,
        front_time_s=rec["t"],
        front_current_A_cm2=rec["v"] * flux_to_a,
        front_potential_V=rec["psi"] * vt,
        front_charge_C_cm2=rec["q"] * flux_to_a,
        # electroneutral: no displacement current, the total current is the current v itself
        front_total_current_A_cm2=rec["v"] * flux_to_a,
        front_total_charge_C_cm2=rec["q"] * flux_to_a,
        method="electroneutral",
        diagnostics=diagnostics,
        completed=completed,
        message=message,
        state=state,
        sensitivities=sens_out,
    )
