"""The full Nernst-Planck-Poisson solver: drives the compiled time loop of `solvers.kernels`.

Python runs only at output times: it hands the compiled loop a stop time, stores a snapshot
and reports progress. Scaled variables (see `solvers.kernels`) are converted here.
"""

from __future__ import annotations

import functools
import logging
import math
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from solvers import kernels as K
from solvers.bdf import set_history
from solvers.grid import cell_centers_nm
from solvers.interrupt import DeferredInterrupt, StepBudget, stopped_by
from solvers.npp_sensitivity import (  # noqa: F401  (re-exported)
    SENSITIVE_FIELDS,
    SensitivityArrays,
    sensitivity_arrays,
)
from solvers.problem import (
    BACK_CODES,
    Problem,
    Solution,
    StepRecords,
    stage_stops,
    stop_arrays,
)

log = logging.getLogger(__name__)

E_CHARGE_C = 1.602176634e-19  # exact (SI 2019)
K_B_EV_K = 8.617333262e-5  # k_B / e (eV/K), CODATA 2018
EPS0_F_NM = 8.8541878128e-12 * 1.0e-9  # vacuum permittivity (F/nm)
NM_PER_CM = 1.0e7
#: ln(nm^2/cm^2): the sed tables are in cm^2/s, the kernels work in nm^2/s
LN_CM2_TO_NM2 = math.log(1.0e14)
#: the largest fraction of a species without a site-energy distribution when the case has no
#: site density (no SED species): twice the pristine mobile-ion density, which no dilute
#: (site-exclusion-free) model describes
FRACTION_LIMIT_NO_SITES = 2.0
#: records of accepted steps kept per call of the compiled loop before Python collects them
RECORD_BUFFER = 4096

STATUS_TEXT = {
    K.STATUS_DT_UNDERFLOW: "the time step fell below round-off (Newton failed repeatedly)",
    K.STATUS_MAX_STEPS: "the maximum number of steps was reached",
}


def _overfull_message(problem: Problem, ka: KernelArrays, fs: np.ndarray, ist: np.ndarray) -> str:
    """One line on a fraction above its site density (STATUS_OVERFULL)."""
    i = int(ist[K.IS_OVER_SPECIES])
    k = int(ist[K.IS_OVER_CELL])
    x = cell_centers_nm(np.asarray(problem.x_faces_nm, dtype=float))[k]
    return (
        f"the {problem.species[i].name} fraction reached {fs[K.FS_OVER_C]:.4g} at depth "
        f"{x:.4g} nm in the step to t = {fs[K.FS_OVER_T]:.6g} s, above the site density "
        f"N_sites/n_bulk = {ka.c_limit[i]:.4g}: the dilute Nernst-Planck model (no site "
        "exclusion) is outside its validity (an accumulation layer at a blocking surface?)"
    )


@dataclass
class KernelArrays:
    """Problem data in the scaled units of the kernels."""

    h: np.ndarray
    d: np.ndarray
    lam2: float
    z: np.ndarray
    cfix: float
    back_kind: np.ndarray
    back_c: np.ndarray
    kind: np.ndarray
    d_const: np.ndarray
    u0: np.ndarray
    du: np.ndarray
    logd: np.ndarray
    slope: np.ndarray
    n_lo: np.ndarray
    thermal_voltage_V: float
    flux_to_A_cm2: float
    c_limit: np.ndarray
    #: per species the immobile fraction (MODEL.md section 10)
    c_imm: np.ndarray


def debye_length_nm(problem: Problem) -> float:
    """Debye length (nm) of the pristine mobile-ion density of `problem`."""
    kt_j = K_B_EV_K * E_CHARGE_C * problem.temperature_K
    n_nm3 = problem.n_bulk_cm3 * 1.0e-21
    return math.sqrt(EPS0_F_NM * problem.eps_r * kt_j / (E_CHARGE_C**2 * n_nm3))


def kernel_arrays(problem: Problem) -> KernelArrays:
    """Translate `problem` into the scaled arrays the compiled kernels take."""
    faces = np.asarray(problem.x_faces_nm, dtype=float)
    h = np.diff(faces)
    xc = cell_centers_nm(faces)
    d = np.empty(len(h) + 1)
    d[0] = xc[0] - faces[0]
    d[1:-1] = np.diff(xc)
    d[-1] = faces[-1] - xc[-1]
    species = problem.species
    n_species = len(species)
    tables = tuple(sp.mobility.kernel_table() for sp in species)
    u0 = np.zeros(n_species)
    du = np.ones(n_species)
    n_lo = np.ones(n_species)
    for i, (sp, t) in enumerate(zip(species, tables, strict=True)):
        if sp.mobility_reference == "stage_start" and t.kind != 1:
            raise ValueError(f"species {sp.name}: a stage_start reference needs a tabulated D(c)")
        if t.kind == 1:
            u0[i], du[i], n_lo[i] = t.u0, t.du, t.n_lo
    # keyed by the tabulated ones only (a constant D's table is a new object every time)
    logd, slope = _scaled_tables(tuple(t if t.kind == 1 else None for t in tables))
    z = np.array([float(sp.charge) for sp in species])
    c0 = np.array([sp.initial_fraction for sp in species])
    vt = K_B_EV_K * problem.temperature_K
    return KernelArrays(
        h=h,
        d=d,
        lam2=debye_length_nm(problem) ** 2,
        z=z,
        cfix=float(np.dot(z, c0)),
        back_kind=np.array([BACK_CODES[sp.back] for sp in species], dtype=np.int64),
        back_c=np.array([sp.back_fraction for sp in species]),
        kind=np.array(
            [
                K.KIND_CELL_REFERENCE if sp.mobility_reference == "stage_start" else t.kind
                for sp, t in zip(species, tables, strict=True)
            ],
            dtype=np.int64,
        ),
        d_const=np.array([t.D_const * 1.0e14 for t in tables]),
        u0=u0,
        du=du,
        logd=logd,
        slope=slope,
        n_lo=n_lo,
        thermal_voltage_V=vt,
        flux_to_A_cm2=E_CHARGE_C * problem.n_bulk_cm3 / NM_PER_CM,
        c_limit=fraction_limits(problem),
        c_imm=np.array([float(sp.immobile_fraction) for sp in species]),
    )


@functools.lru_cache(maxsize=8)
def _scaled_tables(tables: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(logd, slope), (n_species, m): the tables' ln D in nm^2/s and slopes, one row per
    species (zeros for a constant D: None), as the kernels take them.

    Kept for recent table sets (a kernel table is one object per model, cached by `sed`, and
    a fit reuses it): the kernels only read these arrays, which must never be written.
    """
    m = max(2, *(2 if t is None else len(t.logD) for t in tables))
    logd = np.zeros((len(tables), m))
    slope = np.zeros((len(tables), m))
    for i, t in enumerate(tables):
        if t is not None:
            if len(t.logD) != m:
                raise ValueError("all SED tables must have the same length")
            logd[i] = np.asarray(t.logD) + LN_CM2_TO_NM2
            slope[i] = t.slope
    return logd, slope


def _site_fraction(mobility: object) -> float | None:
    """N_sites / n_bulk of a site-energy-distribution mobility (n_ref / (1 - v)), else None."""
    n_ref = getattr(mobility, "n_ref", None)
    v = getattr(mobility, "vacancy_fraction", None)
    if n_ref is None or v is None:
        return None
    return float(n_ref) / (1.0 - float(v))


def fraction_limits(problem: Problem) -> np.ndarray:
    """Largest fraction of n_bulk each species may reach before the run stops (STATUS_OVERFULL).

    A species with a site-energy distribution: its site density N_s / n_bulk = n_ref / (1 - v)
    (1.11 for v = 0.1). More ions than sites is outside the model: its D(n) ends there (beyond
    it the sed tables continue with an artificial overfull tail, up to 1e30 D, meant only for
    Newton iterates, in which the storage term of the step vanishes below round-off and mass is
    no longer conserved). Other species: the site density of the glass (the largest N_s of its
    SED species: one ion species alone cannot fill more sites than there are), or
    FRACTION_LIMIT_NO_SITES without one. An ordinary run stays far below: the space-charge
    excess where a foreign ion enters is ~1e-3.
    """
    sites = [_site_fraction(sp.mobility) for sp in problem.species]
    known = [s for s in sites if s is not None]
    glass = max(known) if known else FRACTION_LIMIT_NO_SITES
    return np.array([glass if s is None else s for s in sites])


def _bulk_conductance(ka: KernelArrays, c0: np.ndarray) -> float:
    """sum z^2 m D of the pristine state (fraction nm^2/s, m the mobile part of c): flux per
    unit -dpsi/dx."""
    total = 0.0
    for i in range(len(c0)):
        dv, _ = K.mobility(
            c0[i], ka.kind[i], ka.d_const[i], ka.u0[i], ka.du[i], ka.logd[i], ka.slope[i],
            ka.n_lo[i],
        )  # fmt: skip
        total += ka.z[i] ** 2 * max(c0[i] - ka.c_imm[i], 0.0) * dv
    return total


def _front_potential_estimate(problem: Problem, ka: KernelArrays, y: np.ndarray) -> float:
    """Front potential (thermal units) extrapolated linearly from the first two cells."""
    nb = len(problem.species) + 1
    xc = cell_centers_nm(np.asarray(problem.x_faces_nm, dtype=float))
    p0, p1 = y[nb - 1], y[2 * nb - 1]
    return float(p0 - xc[0] * (p1 - p0) / (xc[1] - xc[0]))


def initial_state(problem: Problem, ka: KernelArrays) -> np.ndarray:
    """Pristine uniform composition with the potential linear between the electrodes."""
    n_species = len(problem.species)
    n_cells = len(ka.h)
    nb = n_species + 1
    y = np.zeros(n_cells * nb)
    c0 = np.array([sp.initial_fraction for sp in problem.species])
    for i in range(n_species):
        y[i::nb] = c0[i]
    stage = problem.stages[0]
    if stage.control == "potential":
        psi_front = stage.value_at(0.0) / ka.thermal_voltage_V
    else:
        flux = stage.value_at(0.0) / ka.flux_to_A_cm2
        psi_front = flux * problem.thickness_nm / max(_bulk_conductance(ka, c0), 1e-300)
    xc = cell_centers_nm(np.asarray(problem.x_faces_nm, dtype=float))
    y[n_species::nb] = psi_front * (1.0 - xc / problem.thickness_nm)
    return y


def window_arrays(problem: Problem, ka: KernelArrays) -> tuple[np.ndarray, np.ndarray] | None:
    """(c_bulk, window_tol) of the active window of `solvers.kernels.advance`: per species the
    pristine bulk fraction (that of its back condition) and the distance from it (fraction of
    n_bulk) within which a cell counts as pristine (WINDOW_TOL_REL of the error weight atol +
    rtol c_bulk); None where the bulk beyond a profile is not pristine glass: a blocking back
    (its layer is not bulk), or back fractions that are not neutral against the fixed charge."""
    if np.any(ka.back_kind == BACK_CODES["blocking"]):
        return None
    c_bulk = np.where(ka.back_kind == BACK_CODES["reservoir"], ka.back_c, 0.0)
    if abs(float(np.dot(ka.z, c_bulk)) - ka.cfix) > 1.0e-12 * max(1.0, abs(ka.cfix)):
        return None
    return c_bulk, K.WINDOW_TOL_REL * (problem.atol + problem.rtol * np.abs(c_bulk))


def initial_window(
    y: np.ndarray, n_species: int, c_bulk: np.ndarray, window_tol: np.ndarray
) -> int:
    """Cells of the active window for the state y (interleaved scaled unknowns) at a stage
    start: 2 WINDOW_MARGIN beyond its last non-pristine cell (see `window_arrays`), at most all
    cells (`solvers.kernels_window.initial_window`; within a stage the window only grows)."""
    return int(K.initial_window(y, n_species, c_bulk, window_tol))


def solve(
    problem: Problem,
    initial: np.ndarray | None = None,
    progress: Callable[[float, float], None] | None = None,
    initial_front_potential_V: float | None = None,
    steps_per_call: int | None = None,
    history: np.ndarray | None = None,
    sensitivities: Sequence[tuple[Problem, float]] = (),
    active_window: bool = True,
) -> Solution:
    """Integrate `problem` through all its stages with the fully coupled implicit NPP scheme.

    initial: optional starting state (interleaved scaled unknowns, as `Solution.state`);
    default: pristine. initial_front_potential_V: the front potential (V) that went with
    `initial` (the last `front_potential_V` of the run it comes from); without it, it is
    extrapolated from the first two cell potentials. A first stage at another potential starts
    from the fixed-charge response to the step, as a later stage does (see the stage loop), and
    the charge on the front electrode is counted from the initial state's own front field.
    progress(t_s, t_end_s) is called at every output time. steps_per_call: accepted steps per
    call of the compiled loop (default: sized to about `solvers.interrupt.WALL_SLICE_S` of wall
    time, so that Ctrl-C and SIGTERM are acted on promptly); the results do not depend on it.
    history: optional (k + 1, n) states at t = -j problem.dt_initial_s, j = 0..k (newest first,
    history[0] = initial), from which the first stage starts at order k instead of restarting
    (for verification of the fixed-order convergence; with problem.error_control False).
    sensitivities: forward sensitivities to compute along (`solvers.kernels_sensitivity`): for
    each parameter, the problem with that parameter changed by delta, and delta (the
    parameter's unit); the problems may differ from `problem` only in the species' mobilities
    and immobile fractions and in the control values of the stages (potential or current;
    `sensitivity_arrays`). Solution.sensitivities then holds d fractions / d p.
    active_window: the steps solve only the cells the profiles have reached (plus a margin),
    the pristine bulk beyond them in closed form (see `solvers.kernels.advance`; where
    `window_arrays` allows one, and not with `history`); False: every cell at every step.
    Returns a Solution; if the run fails, `completed` is False and the Solution holds every
    snapshot computed up to the failure plus one at the time reached.
    """
    t_start = _time.perf_counter()
    ka = kernel_arrays(problem)
    n_species = len(problem.species)
    n_cells = len(ka.h)
    nb = n_species + 1
    y0 = initial_state(problem, ka) if initial is None else np.array(initial, dtype=float)
    xc = cell_centers_nm(np.asarray(problem.x_faces_nm, dtype=float))
    # per-cell reference fractions of species whose D(c) is referenced to the stage start
    cref = np.ones((n_species, n_cells))
    for i in range(n_species):
        if ka.kind[i] == K.KIND_CELL_REFERENCE:
            cref[i] = np.where(y0[i::nb] < K.CREF_ABSENT, 0.0, y0[i::nb])
    records = StepRecords(("t", "flux", "psi", "q", "total", "qtot"), RECORD_BUFFER)
    t_end = sum(st.duration_s for st in problem.stages)

    snapshots_t = [0.0]
    snapshots_y = [y0.copy()]
    snapshots_s = [np.zeros((len(sensitivities), y0.size))]
    stage_end_index: list[int] = []
    completed = True
    message = ""

    stage0 = problem.stages[0]
    if initial is not None:
        # the front potential of the initial state (a restart): given, or extrapolated
        if initial_front_potential_V is not None:
            psi0 = float(initial_front_potential_V) / ka.thermal_voltage_V
        else:
            p0, p1 = y0[n_species], y0[n_species + nb] if n_cells > 1 else y0[n_species]
            slope = (p1 - p0) / (xc[1] - xc[0]) if n_cells > 1 else 0.0
            psi0 = float(p0 - slope * xc[0])
    elif stage0.control == "potential":
        psi0 = stage0.value_at(0.0) / ka.thermal_voltage_V
    else:
        psi0 = _front_potential_estimate(problem, ka, y0)
    # the front potential carries over between stages (dsc[0, SC_U]); a galvanostatic stage
    # starts from it. The front field of the initial state: history of the displacement
    # current, and the reference from which the charge on the front electrode is counted
    dd, dsc, fs, ist = K.new_state(y0, problem.dt_initial_s, psi0, (psi0 - y0[n_species]) / ka.d[0])
    sens = sensitivity_arrays(problem, ka, sensitivities)
    # one column more than the state: the front field's sensitivity (kernels_sensitivity)
    sd = np.zeros((len(sensitivities), K.N_DIFF, y0.size + 1))
    if initial is None:
        # the pristine start depends on a parameter through its front field (a galvanostatic
        # start: the potential of the bulk's ohmic drop; a potentiostatic one: U), the
        # reference of the first step's displacement current
        for q, (pq, delta) in enumerate(sensitivities):
            kq = kernel_arrays(pq)
            yq = initial_state(pq, kq)
            st = pq.stages[0]
            if st.control == "potential":
                psi_q = st.value_at(0.0) / kq.thermal_voltage_V
            else:
                psi_q = _front_potential_estimate(pq, kq, yq)
            sd[q, 0, -1] = ((psi_q - yq[n_species]) / kq.d[0] - fs[K.FS_G0]) / delta
    y = dd[0]  # the current accepted state (a view: the history's first row)
    window = window_arrays(problem, ka) if active_window and history is None else None
    if window is None:
        c_bulk, window_tol = np.zeros(n_species), np.zeros(n_species)
    else:
        c_bulk, window_tol = window
    tail = float(problem.x_faces_nm[-1]) - xc  # L - x_j (nm)
    ist[K.IS_NACT] = n_cells if window is None else 0
    if history is not None:
        k = set_history(dd, history)
        if k > problem.max_order:
            raise ValueError(f"history: order {k} above max_order {problem.max_order}")
        ist[K.IS_NHIST] = k + 1
        ist[K.IS_ORDER] = k
    src0 = -1 if stage0.source is None else stage0.source
    flux0 = K.front_flux(
        y, psi0, ka.d, ka.z, src0, stage0.surface_fraction, ka.kind, ka.d_const, ka.u0,
        ka.du, ka.logd, ka.slope, ka.n_lo, cref, ka.c_imm,
    )  # fmt: skip
    # at t = 0 no displacement current is defined: the total current starts at the ionic one
    records.start(0.0, flux0, psi0, 0.0, flux0, 0.0)
    compile_s = 0.0
    t_stage0 = 0.0
    interrupted = False
    sigint = DeferredInterrupt()
    budget = StepBudget(RECORD_BUFFER, steps_per_call)
    try:
        for k_stage, stage in enumerate(problem.stages):
            src = -1 if stage.source is None else int(stage.source)
            if stage.control == "potential":
                control = 0
                tab_v = np.asarray(stage.table_value, dtype=float) / ka.thermal_voltage_V
            else:
                control = 1
                tab_v = np.asarray(stage.table_value, dtype=float) / ka.flux_to_A_cm2
            tab_t = np.asarray(stage.table_t_s, dtype=float) + t_stage0
            for i in range(n_species):
                if ka.kind[i] == K.KIND_CELL_REFERENCE:
                    cref[i] = np.where(y[i::nb] < K.CREF_ABSENT, 0.0, y[i::nb])
            # a new stage restarts the multistep history (the control jumps), unless the
            # caller gave the history of the first stage's start
            if not (k_stage == 0 and history is not None):
                K.restart_history(dd, dsc, ist, False, sd)
                fs[K.FS_DT] = problem.dt_initial_s
            fs[K.FS_T] = t_stage0
            fs[K.FS_DT_WANT] = 0.0
            # Newton's convergence constant is observed afresh: the control may change the problem
            fs[K.FS_KAPPA] = 0.0
            if control == 0:
                jump = tab_v[0] - dsc[0, K.SC_U]
                if jump != 0.0:
                    # the front potential steps at the stage start: the response of the
                    # state at fixed charges (the dt -> 0 limit of the first step) is the
                    # Laplace solution, a ramp from the jump at x = 0 to 0 at the grounded
                    # back. Starting Newton from it keeps the first step as easy as the first
                    # step of a run (which starts from the ramp U (1 - x / L)); without it, a
                    # step of 8.5 V after a galvanostatic stage needed > 280 thermal units
                    # of damped updates and the step size fell below round-off. The potential
                    # is not a differential unknown, so the BDF history is unaffected; the
                    # front field history dsc[:, SC_G] is kept, so the jump's displacement
                    # current is counted in the first step.
                    y[n_species::nb] += jump * (1.0 - xc / problem.thickness_nm)
                dsc[0, K.SC_U] = tab_v[0]
            if window is not None:
                # from the state alone at every stage start, so that a stage run as a restart
                # from a result takes the steps it takes within a run
                ist[K.IS_NACT] = initial_window(y, n_species, c_bulk, window_tol)
            t_stops, flags, out_times = stop_arrays(*stage_stops(problem, stage, t_stage0))
            snaps = np.empty((len(out_times), 1 + sd.shape[0], y.size))
            ps_tabv = sens.tab_v[k_stage]
            ist[K.IS_NSTOP] = 0
            ist[K.IS_NSNAP] = 0
            n_taken = 0
            # with a progress callback, one call per output time (the callback may stop the
            # run there: KeyboardInterrupt); without, one call for the stage
            out_pos = np.flatnonzero(flags & 1)
            steps_at_stage_start = int(ist[K.IS_STEPS])
            # the steps land on output times, kinks and the stage end (keeping their order);
            # the calls are sliced by the step budget
            while True:
                tc = _time.perf_counter()
                n_call = budget.next()
                last = len(t_stops)
                if progress is not None and n_taken < len(out_pos):
                    last = int(out_pos[n_taken]) + 1
                status = K.advance(
                    t_stops[:last], flags[:last], snaps, dd, dsc, sd, fs, ist, ka.h, ka.d, ka.lam2,
                    ka.z, ka.cfix, src, stage.surface_fraction, ka.back_kind, ka.back_c, ka.kind,
                    ka.d_const, ka.u0, ka.du, ka.logd, ka.slope, ka.n_lo, cref, ka.c_imm,
                    ka.c_limit, control, tab_t, tab_v, problem.rtol, problem.atol, problem.max_steps
                    - (int(ist[K.IS_STEPS]) - steps_at_stage_start), problem.max_order,
                    int(problem.error_control), *(b[:n_call] for b in records.buffers), sens.kind,
                    sens.species, sens.scale, sens.d_const, sens.u0, sens.du, sens.logd, sens.slope,
                    sens.n_lo, sens.c_imm, ps_tabv, sens.inv_delta, tail, c_bulk, window_tol,
                )  # fmt: skip
                if compile_s == 0.0:
                    compile_s = _time.perf_counter() - tc
                budget.done(int(ist[K.IS_NREC]))
                records.collect(ist, K.IS_NREC)
                # the snapshots of this call, all kept before the progress callbacks (which
                # may raise KeyboardInterrupt)
                new = range(n_taken, int(ist[K.IS_NSNAP]))
                n_taken = int(ist[K.IS_NSNAP])
                for j in new:
                    snapshots_t.append(out_times[j])
                    snapshots_y.append(snaps[j, 0].copy())
                    snapshots_s.append(snaps[j, 1:].copy())
                if progress is not None:
                    for j in new:
                        progress(out_times[j], t_end)
                sigint.raise_if_requested()  # Ctrl-C: here, with every record collected
                if status == K.STATUS_BUFFER_FULL:
                    continue
                if status != K.STATUS_OK or ist[K.IS_NSTOP] >= len(t_stops):
                    break
            if status != K.STATUS_OK:
                completed = False
                reason = (
                    _overfull_message(problem, ka, fs, ist)
                    if status == K.STATUS_OVERFULL
                    else STATUS_TEXT.get(status, f"status {status}")
                )
                message = (
                    f"solver stopped at t = {fs[K.FS_T]:.6g} s (stage "
                    f"{problem.stages.index(stage) + 1}, step size {fs[K.FS_DT]:.3g} s): "
                    f"{reason}"
                )
                if fs[K.FS_T] > snapshots_t[-1]:
                    snapshots_t.append(float(fs[K.FS_T]))
                    snapshots_y.append(y.copy())
                    snapshots_s.append(sd[:, 0, :-1].copy())
            if not completed:
                break
            stage_end_index.append(len(snapshots_t) - 1)
            t_stage0 += stage.duration_s
    except KeyboardInterrupt as exc:
        # Ctrl-C arrives between two calls of the compiled loop (Python sees the signal only
        # there), so y is a consistent accepted state: keep it and stop cleanly
        interrupted = True
        completed = False
        records.collect(ist, K.IS_NREC)  # steps of the last call not yet collected
        message = (
            f"interrupted by {stopped_by(exc)} at t = {fs[K.FS_T]:.6g} s (stage "
            f"{len(stage_end_index) + 1} of {len(problem.stages)})"
        )
        if fs[K.FS_T] > snapshots_t[-1]:
            snapshots_t.append(float(fs[K.FS_T]))
            snapshots_y.append(y.copy())
            snapshots_s.append(sd[:, 0, :-1].copy())
    finally:
        sigint.restore()

    ys = np.array(snapshots_y)
    sens_out = None
    if sensitivities:
        ss = np.array(snapshots_s)  # (n_times, m, n)
        sens_out = np.stack([ss[:, :, i::nb] for i in range(n_species)], axis=2)
    fractions = np.stack([ys[:, i::nb] for i in range(n_species)], axis=1)
    potential = ys[:, n_species::nb] * ka.thermal_voltage_V
    solve_s = _time.perf_counter() - t_start
    rec = records.arrays()
    ft = rec["t"]
    diagnostics = {
        "steps": int(ist[K.IS_STEPS]),
        "rejected_steps": int(ist[K.IS_REJECT]),
        "newton_iterations": int(ist[K.IS_NEWTON]),
        "newton_failures": int(ist[K.IS_NEWTON_FAIL]),
        # iterations solved by the banded LU instead of the block elimination (two or three species)
        "banded_iterations": int(ist[K.IS_BANDED]),
        # accepted steps of each BDF order 1..5
        "steps_per_order": [int(v) for v in ist[K.IS_ORDER_STEPS + 1 : K.IS_ORDER_STEPS + 6]],
        "n_cells": n_cells,
        # cells of the active window at the end, and on average over the Newton iterations
        "active_cells": int(ist[K.IS_NACT]),
        "mean_active_cells": float(ist[K.IS_CELL_ITER]) / max(int(ist[K.IS_NEWTON]), 1),
        "first_call_s": compile_s,
        "solve_s": solve_s,
        # wall time inside the calls of the compiled loop, and their number
        "loop_s": budget.loop_s,
        "loop_cpu_s": budget.loop_cpu_s,
        "loop_calls": budget.calls,
        "debye_length_nm": math.sqrt(ka.lam2),
        "rtol": problem.rtol,
        "atol": problem.atol,
        "interrupted": interrupted,
    }
    log.info(
        "npp: %d cells (%d active at the end), %d steps, %d Newton iterations",
        n_cells,
        *(diagnostics[k] for k in ("active_cells", "steps", "newton_iterations")),
    )
    return Solution(
        x_faces_nm=np.asarray(problem.x_faces_nm, dtype=float),
        x_centers_nm=cell_centers_nm(np.asarray(problem.x_faces_nm, dtype=float)),
        species_names=tuple(sp.name for sp in problem.species),
        times_s=np.array(snapshots_t),
        fractions=fractions,
        potential_V=potential,
        stage_end_index=stage_end_index,
        front_time_s=ft,
        front_current_A_cm2=rec["flux"] * ka.flux_to_A_cm2,
        front_potential_V=rec["psi"] * ka.thermal_voltage_V,
        front_charge_C_cm2=rec["q"] * ka.flux_to_A_cm2,
        front_total_current_A_cm2=rec["total"] * ka.flux_to_A_cm2,
        front_total_charge_C_cm2=rec["qtot"] * ka.flux_to_A_cm2,
        method="npp",
        diagnostics=diagnostics,
        completed=completed,
        message=message,
        state=y.copy(),
        sensitivities=sens_out,
    )
