"""Plain descriptions of a transport problem and of its numerical solution.

The solvers know nothing about case files: `nppsim` translates a validated case into a `Problem`
(plain numbers and arrays, physical units in the names) and wraps the returned `Solution`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BACK_RESERVOIR = 0  #: fixed fraction at x = L
BACK_BLOCKING = 1  #: zero flux at x = L
BACK_ABSORBING = 2  #: fraction 0 at x = L
BACK_CODES = {"reservoir": BACK_RESERVOIR, "blocking": BACK_BLOCKING, "absorbing": BACK_ABSORBING}


@dataclass(frozen=True)
class SpeciesSpec:
    """One mobile species.

    name: label; charge: charge number z; mobility: an object of package `sed`
    (ConstantMobility, SEDMobility, TabulatedMobility) with D as a function of the fraction
    c = n / n_bulk; initial_fraction: pristine fraction of n_bulk; back: "reservoir" | "blocking"
    | "absorbing"; back_fraction: the fraction held at x = L for a reservoir;
    mobility_reference: "pristine" (the mobility is D(c) as it stands) or "stage_start" (the
    mobility is a table in c / c_start(x), c_start the species' fraction in each cell at the
    start of the stage, with D held at D(1) where c >= c_start: an SED referenced to the local
    density at the stage start; full NPP solver only); immobile_fraction: the fraction of
    n_bulk that sits in the deepest sites and never moves (MODEL.md section 10): only the
    mobile part max(c - immobile_fraction, 0) carries the flux, with D at the total c.
    """

    name: str
    charge: int
    mobility: object
    initial_fraction: float
    back: str
    back_fraction: float
    mobility_reference: str = "pristine"
    immobile_fraction: float = 0.0


@dataclass(frozen=True)
class StageSpec:
    """One stage of the protocol.

    duration_s: length (s); source: index of the species entering at x = 0 (None: blocking front);
    surface_fraction: source fraction held at x = 0; control: "potential" or "current";
    table_t_s / table_value: the control as a piecewise-linear table in time from the stage start
    (a constant control is a one-row table); values in V or A/cm^2.
    """

    duration_s: float
    source: int | None
    surface_fraction: float
    control: str
    table_t_s: np.ndarray
    table_value: np.ndarray

    def value_at(self, t_s: float) -> float:
        """Control value (V or A/cm^2) at time t_s (s) from the stage start."""
        return float(np.interp(t_s, self.table_t_s, self.table_value))


@dataclass(frozen=True)
class Problem:
    """A complete 1D transport problem in physical units.

    thickness_nm: sample thickness L (nm); temperature_K (K); n_bulk_cm3: pristine mobile-ion
    density = fixed background charge density / e (cm^-3); eps_r: relative permittivity;
    x_faces_nm: cell faces from 0 to L (nm); species, stages: see SpeciesSpec, StageSpec;
    rtol, atol: local error tolerances on fractions; n_output: snapshots per stage;
    dt_initial_s: first time step (s); max_steps: per stage, a safety limit; max_order: highest
    order (1..5) of the variable-order BDF; error_control: True (local error control, the
    default) or False (no error control: the step doubles after each step and lands on every
    output time, so the output times set the steps; the order rises to max_order as history
    accrues: for verification against references and of the convergence order);
    output_times_s: explicit snapshot times from each stage start (s) instead of n_output
    evenly spaced ones (the stage end is always included).
    """

    thickness_nm: float
    temperature_K: float
    n_bulk_cm3: float
    eps_r: float
    x_faces_nm: np.ndarray
    species: tuple[SpeciesSpec, ...]
    stages: tuple[StageSpec, ...]
    rtol: float = 1.0e-4
    atol: float = 1.0e-8
    n_output: int = 50
    dt_initial_s: float = 1.0e-9
    max_steps: int = 200_000
    max_order: int = 5
    error_control: bool = True
    output_times_s: tuple[float, ...] | None = None


@dataclass
class Solution:
    """What a solver returns (physical units).

    times_s: (n_times,) snapshot times from the start of stage 1; fractions: (n_times, S, n_cells)
    fractions of n_bulk at cell centres; potential_V: (n_times, n_cells); stage_end_index: index
    into times_s of each completed stage's end; front_*: one entry per accepted step (t = 0
    included): time (s), front current density (A/cm^2, ionic current entering at x = 0, positive
    for cations moving into the sample), front potential (V) and the charge passed (C/cm^2,
    integrated consistently with the time integrator); front_total_*: the total current density
    (A/cm^2: ionic plus displacement current eps0 eps_r dE/dt at x = 0, in 1D the current of
    the external circuit; at t = 0 the ionic value) and its integral (C/cm^2: the ionic charge
    plus eps0 eps_r (E(0, t) - E(0, 0)), the change of the charge on the front electrode), one
    entry per accepted step like front_time_s; None when a solver does not provide them
    (consumers then use the ionic values); diagnostics: counters and timings;
    completed: False if the run stopped early (message says why); state: the final state in
    the solver's own scaled variables (for restarts); sensitivities: with forward sensitivities
    requested, (n_times, m, S, n_cells) the derivatives of `fractions` with respect to each of
    the m parameters (fraction per parameter unit), else None.
    """

    x_faces_nm: np.ndarray
    x_centers_nm: np.ndarray
    species_names: tuple[str, ...]
    times_s: np.ndarray
    fractions: np.ndarray
    potential_V: np.ndarray
    stage_end_index: list[int]
    front_time_s: np.ndarray
    front_current_A_cm2: np.ndarray
    front_potential_V: np.ndarray
    front_charge_C_cm2: np.ndarray
    method: str
    diagnostics: dict = field(default_factory=dict)
    completed: bool = True
    message: str = ""
    #: final state in the solver's scaled, interleaved unknowns (for restarts); None if unknown
    state: np.ndarray | None = None
    front_total_current_A_cm2: np.ndarray | None = None
    front_total_charge_C_cm2: np.ndarray | None = None
    sensitivities: np.ndarray | None = None


class StepRecords:
    """Per-step records of a compiled time loop: fixed buffers it fills, collected in chunks.

    names: the records in the order the loop takes their buffers (`buffers`); size: buffer
    length. The loop writes entry r of every buffer for its r-th accepted step and counts them
    in ist[i_count]; `collect` copies those entries out and resets the count (safe to call
    again: nothing is collected twice). `start` stores the values at t = 0; `arrays` joins
    everything per record.
    """

    def __init__(self, names: tuple[str, ...], size: int) -> None:
        # the buffers are the rows of one block (each a contiguous 1-D array, as the loops
        # take them), so that a collection is one copy, not one per record
        self._block = np.zeros((len(names), size))
        self.buffers = tuple(self._block)
        self._names = names
        self._chunks: list[np.ndarray] = []

    def start(self, *values: float) -> None:
        """Store one entry per record (in `names` order): the state at t = 0."""
        if len(values) != len(self._names):
            raise ValueError(f"expected {len(self._names)} values, got {len(values)}")
        self._chunks.append(np.array(values, dtype=float).reshape(-1, 1))

    def collect(self, ist: np.ndarray, i_count: int) -> None:
        """Copy the ist[i_count] entries the loop wrote, then set the count to 0."""
        n = int(ist[i_count])
        if n:
            self._chunks.append(self._block[:, :n].copy())
            ist[i_count] = 0

    def arrays(self) -> dict[str, np.ndarray]:
        """Every record joined: name -> 1-D array (one entry per step, t = 0 first)."""
        if not self._chunks:
            return {n: np.zeros(0) for n in self._names}
        joined = np.concatenate(self._chunks, axis=1)
        return dict(zip(self._names, joined, strict=True))


def stage_stops(
    problem: Problem, stage: StageSpec, t_stage0_s: float
) -> tuple[list[float], set[float], set[float]]:
    """Times (s, absolute) at which a solver stops inside `stage`, which starts at t_stage0_s.

    Returns (stops, outputs, kinks): the sorted union of the snapshot times (n_output evenly
    spaced, or problem.output_times_s, always including the stage end) and the kinks of a
    tabulated control, where the multistep history must restart.
    """
    end = t_stage0_s + stage.duration_s
    if problem.output_times_s is not None:
        rel = np.asarray(problem.output_times_s, dtype=float)
        times = t_stage0_s + rel[(rel > 0) & (rel < stage.duration_s)]
        times = np.append(times, end)
    else:
        times = (
            t_stage0_s + stage.duration_s * np.arange(1, problem.n_output + 1) / problem.n_output
        )
    outputs = {float(t) for t in times}
    kinks = {
        float(t) + t_stage0_s for t in np.asarray(stage.table_t_s, dtype=float)[1:]
        if 0.0 < t < stage.duration_s
    }  # fmt: skip
    return sorted(outputs | kinks), outputs, kinks


def stop_arrays(
    stops: list[float], outputs: set[float], kinks: set[float]
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The stops of `stage_stops` as the compiled loops take them: (t_stops (s), flags (1: a
    snapshot, 2: a kink where the multistep history restarts, 3: both), the snapshot times)."""
    flags = np.array(
        [(1 if t in outputs else 0) | (2 if t in kinks else 0) for t in stops], dtype=np.int64
    )
    return np.array(stops, dtype=float), flags, [t for t in stops if t in outputs]
