"""From a validated case to a Result: builds the solver problem and runs the chosen solver."""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

import sed
from solvers.grid import graded_faces_nm
from solvers.problem import Problem, SpeciesSpec, StageSpec

from .compiling import CompileTimer
from .errors import CaseError, InputError, SimulationError
from .result import Result

if TYPE_CHECKING:
    from .case import Case, SEDSpec, SpeciesConfig

log = logging.getLogger(__name__)

#: runs expected to take longer than this show a progress bar (when stderr is a terminal)
PROGRESS_MIN_S = 2.0


def sed_shape(spec: SEDSpec) -> object:
    """The `sed` shape object (normalised density of site energies) described by `spec`."""
    if spec.shape == "gaussian":
        return sed.GaussianSED(spec.fwhm_eV)
    if spec.shape == "gaussians":
        return sed.GaussianMixtureSED(spec.components)
    if spec.shape == "box":
        return sed.BoxSED(spec.width_eV)
    if spec.shape == "exponential":
        return sed.ExponentialTailSED(spec.tail_eV)
    if spec.shape == "table":
        return sed.TabulatedSED(spec.energies_eV, spec.density)
    raise CaseError(f"unknown SED shape {spec.shape!r}")


def mobility_for(case: Case, species: SpeciesConfig) -> object:
    """The mobility model D(c) of `species` (c = n / n_bulk) as a `sed` object.

    Raises CaseError (one line naming the case file and `species.<name>.sed` or `.D_table`) if
    the `sed` package rejects the parameters, for instance an SED too wide to fill at this
    temperature. See `_mobility_for` for the model.
    """
    try:
        return _mobility_for(case, species)
    except ValueError as exc:
        if isinstance(exc, CaseError):
            raise
        key = "sed" if species.sed is not None else "D_table"
        raise CaseError(f"{case.source_label}: species.{species.name}.{key}: {exc}") from None


def _mobility_for(case: Case, species: SpeciesConfig) -> object:
    """The mobility model D(c) of `species` (c = n / n_bulk) as a `sed` object.

    An SED species takes its pristine fraction as the reference density n_ref, so that
    D(n_ref) = species.D_cm2_s (MODEL.md section 3). With `sed.reference = "stage_start"` the
    model is returned for n_ref = 1 and the solver evaluates it at c / c_start(x), c_start the
    species' fraction in each cell at the start of the stage (the sites it occupies then form
    its SED: the Double-CAIT second stage, where the Rb+ brought in by stage 1 is displaced by
    Cs+); where c >= c_start (for instance everywhere in a stage that starts without the
    species) D = species.D_cm2_s.
    """
    if species.sed is not None and species.sed.reference == "stage_start":
        return sed.SEDMobility(
            sed_shape(species.sed),
            D_ref_cm2_s=species.D_cm2_s,
            n_ref=1.0,
            temperature_K=case.sample.temperature_K,
            vacancy_fraction=species.sed.vacancy_fraction,
            filling=species.sed.filling,
        )
    if species.sed is not None:
        if species.initial_fraction <= 0:
            raise CaseError(
                f"{case.source_label}: species.{species.name}.initial_fraction: an SED "
                "species needs a pristine fraction > 0 (its reference density)"
            )
        return sed.SEDMobility(
            sed_shape(species.sed),
            D_ref_cm2_s=species.D_cm2_s,
            n_ref=species.initial_fraction,
            temperature_K=case.sample.temperature_K,
            vacancy_fraction=species.sed.vacancy_fraction,
            filling=species.sed.filling,
        )
    if species.D_table is not None:
        n, d = zip(*species.D_table, strict=True)
        return sed.TabulatedMobility(np.array(n), np.array(d))
    return sed.ConstantMobility(species.D_cm2_s)


def grid_faces_nm(case: Case) -> np.ndarray:
    """Cell faces (nm) of the graded grid of `case` (a new array)."""
    g = case.grid
    return _faces(
        case.sample.thickness_um * 1.0e3, g.fine_depth_nm, g.fine_spacing_nm, g.growth
    ).copy()


@functools.lru_cache(maxsize=16)
def _faces(thickness_nm: float, fine_depth_nm: float, spacing_nm: float, growth: float):
    """`graded_faces_nm`, kept for the grids of recent cases (read-only; a fit builds the same
    grid hundreds of times)."""
    faces = graded_faces_nm(thickness_nm, fine_depth_nm, spacing_nm, growth)
    faces.setflags(write=False)
    return faces


def problem_from_case(case: Case) -> Problem:
    """Translate a validated case into the solvers' plain `Problem` (physical units)."""
    names = case.species_names
    species = tuple(
        SpeciesSpec(
            name=sp.name,
            charge=sp.charge,
            mobility=mobility_for(case, sp),
            initial_fraction=sp.initial_fraction,
            back=sp.back,
            back_fraction=sp.initial_fraction,
            mobility_reference="pristine" if sp.sed is None else sp.sed.reference,
            immobile_fraction=sp.immobile_fraction,
        )
        for sp in case.species
    )
    stages = []
    for st in case.stages:
        table = np.array(st.control_table, dtype=float)
        stages.append(
            StageSpec(
                duration_s=st.duration_s,
                source=None if st.source is None else names.index(st.source),
                surface_fraction=st.surface_fraction,
                control=st.control,
                table_t_s=table[:, 0],
                table_value=table[:, 1],
            )
        )
    s = case.solver
    return Problem(
        thickness_nm=case.sample.thickness_um * 1.0e3,
        temperature_K=case.sample.temperature_K,
        n_bulk_cm3=case.sample.n_bulk_cm3,
        eps_r=case.sample.eps_r,
        x_faces_nm=grid_faces_nm(case),
        species=species,
        stages=tuple(stages),
        rtol=s.rtol,
        atol=s.atol,
        n_output=s.n_output,
        dt_initial_s=s.dt_initial_s,
        max_steps=s.max_steps,
    )


#: remaining wall time is extrapolated from the rate (simulated s per wall s) of the last
#: output intervals, averaged with this weight on the newest: steps grow as the run proceeds, so
#: the rate of the whole run so far (which includes the compile and the initial transient)
#: would overstate what is left
PROGRESS_RATE_WEIGHT = 0.5


def _clock(seconds: float) -> str:
    """Wall time as m:ss (or h:mm:ss)."""
    s = round(max(seconds, 0.0))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class SimulationProgress:
    """Progress bar of one run on stderr, in units people read.

    The bar is the simulated time as a percentage of the protocol; the text gives the simulated
    time (s), the elapsed wall time and the remaining wall time, extrapolated from the recent
    rate of simulated time per wall time (not from the start, so the compile and the fast early
    steps do not distort it). Call it as ``progress(t_s, t_end_s)`` (the solvers' callback).
    """

    def __init__(self, total_s: float, *, file=None) -> None:
        from tqdm import tqdm

        self.total_s = float(total_s)
        self._t0 = time.perf_counter()
        self._last: tuple[float, float] | None = None
        self._rate: float | None = None
        self.bar = tqdm(
            total=100.0,
            file=file if file is not None else sys.stderr,
            leave=False,
            bar_format="simulating {percentage:3.0f}%|{bar}| {desc}",
        )
        self.bar.set_description_str(self._text(0.0, None), refresh=True)

    def _text(self, t_s: float, remaining: float | None) -> str:
        elapsed = _clock(time.perf_counter() - self._t0)
        left = "?" if remaining is None else _clock(remaining)
        return (
            f"t = {t_s:.3g} of {self.total_s:.3g} s simulated, elapsed {elapsed}, remaining ~{left}"
        )

    def remaining_s(self) -> float | None:
        """Estimated remaining wall time (s), None before two progress reports."""
        if self._rate is None or self._last is None or self._rate <= 0:
            return None
        return max(self.total_s - self._last[0], 0.0) / self._rate

    def __call__(self, t_s: float, t_end_s: float) -> None:
        now = time.perf_counter()
        if self._last is not None and now > self._last[1] and t_s > self._last[0]:
            rate = (t_s - self._last[0]) / (now - self._last[1])
            w = PROGRESS_RATE_WEIGHT
            self._rate = rate if self._rate is None else w * rate + (1.0 - w) * self._rate
        self._last = (t_s, now)
        frac = min(t_s / self.total_s, 1.0) if self.total_s > 0 else 1.0
        self.bar.n = 100.0 * frac
        self.bar.set_description_str(self._text(t_s, self.remaining_s()), refresh=True)
        if t_s >= self.total_s * (1.0 - 1e-12):
            self.close()

    def close(self) -> None:
        """Remove the bar from the terminal."""
        self.bar.close()


def _progress_bar(total_s: float):
    return SimulationProgress(total_s)


#: relative tolerance on the thickness and cell faces of a restart's result and the case
RESTART_GRID_RTOL = 1.0e-9
#: a species of the initial result that the case lacks must hold less than this fraction
RESTART_ABSENT_MAX = 1.0e-9
#: fractions of an initial result must lie in [-RESTART_NEGATIVE_TOL, RESTART_FRACTION_MAX]:
#: the solvers' round-off leaves tiny negative values, while a fraction beyond ten times the
#: pristine density exceeds the site density of any glass (a damaged or foreign file)
RESTART_NEGATIVE_TOL = 1.0e-6
RESTART_FRACTION_MAX = 10.0


def _initial_label(initial: Result | str | os.PathLike[str]) -> str:
    if isinstance(initial, Result):
        return f"initial result ({initial.case_name}, t = {initial.times_s[-1]:.6g} s)"
    return f"{os.fspath(initial)}"


def _check_initial_values(initial: Result, label: str) -> None:
    """CaseError naming `label` unless the last snapshot is a physical state to start from."""
    for i, name in enumerate(initial.species):
        c = initial.fractions[-1, i]
        bad = ~np.isfinite(c) | (c < -RESTART_NEGATIVE_TOL) | (c > RESTART_FRACTION_MAX)
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise CaseError(
                f"{label}: the last snapshot's {name} fraction is {c[k]:.6g} at depth "
                f"{initial.depth_nm[k]:.6g} nm: not a state to start from (fractions must be "
                f"finite, in [0, {RESTART_FRACTION_MAX:g}])"
            )
    u = initial.potential_V[-1]
    if not np.all(np.isfinite(u)):
        k = int(np.flatnonzero(~np.isfinite(u))[0])
        raise CaseError(
            f"{label}: the last snapshot's potential is {u[k]} at depth "
            f"{initial.depth_nm[k]:.6g} nm: not a state to start from"
        )
    front = initial.front.potential_V
    if front.size and not np.isfinite(front[-1]):
        raise CaseError(
            f"{label}: the last front potential is {front[-1]}: not a state to start from"
        )


def initial_profiles(case: Case, initial: Result) -> tuple[np.ndarray, np.ndarray]:
    """(fractions (n_species, n_cells), potential_V (n_cells,)) to restart `case` from.

    Takes the last snapshot of `initial` (a Result of the same sample): species by name
    (a case species the result lacks starts at its pristine fraction; a result species the case
    lacks must be absent, else CaseError), on the case's grid (identical faces: copied exactly;
    otherwise interpolated linearly at the case's cell centres, which conserves each inventory
    only to the interpolation error, logged as a warning).
    """
    label = _initial_label(initial)
    if initial.n_times == 0:
        raise CaseError(f"{label}: holds no snapshot to start from")
    _check_initial_values(initial, label)
    L_nm = case.sample.thickness_um * 1.0e3
    if abs(initial.thickness_nm - L_nm) > RESTART_GRID_RTOL * L_nm:
        raise CaseError(
            f"{label}: sample thickness {initial.thickness_nm / 1e3:.6g} um differs from the "
            f"case's sample.thickness_um = {case.sample.thickness_um:.6g}"
        )
    for name in initial.species:
        if name not in case.species_names and np.max(initial.final_fraction(name)) > (
            RESTART_ABSENT_MAX
        ):
            raise CaseError(
                f"{label}: species {name} is present in the result but not in the case "
                f"(species: {', '.join(case.species_names)})"
            )
    faces = grid_faces_nm(case)
    xc = 0.5 * (faces[:-1] + faces[1:])
    same_grid = initial.x_faces_nm.shape == faces.shape and np.allclose(
        initial.x_faces_nm, faces, rtol=RESTART_GRID_RTOL, atol=0.0
    )
    if not same_grid:
        log.warning(
            "%s: grid differs from the case's (%d vs %d cells): profiles interpolated",
            label,
            initial.n_cells,
            len(xc),
        )

    def on_grid(values: np.ndarray) -> np.ndarray:
        return values.copy() if same_grid else np.interp(xc, initial.depth_nm, values)

    fractions = np.empty((len(case.species), len(xc)))
    for i, sp in enumerate(case.species):
        if sp.name in initial.species:
            fractions[i] = on_grid(initial.final_fraction(sp.name))
        else:
            fractions[i] = sp.initial_fraction
    return fractions, on_grid(initial.potential_V[-1])


def _solver_initial_state(case: Case, problem: Problem, method: str, initial: Result) -> np.ndarray:
    """The `initial` argument of the chosen solver (see solvers.npp / solvers.electroneutral)."""
    fractions, potential_V = initial_profiles(case, initial)
    if method == "electroneutral":
        foreign = [i for i, sp in enumerate(problem.species) if sp.initial_fraction == 0.0]
        if len(foreign) != 1:
            raise CaseError(
                f"{_initial_label(initial)}: the electroneutral solver restarts from one foreign "
                "species: use method 'npp'"
            )
        return fractions[foreign[0]]
    from solvers.npp import K_B_EV_K

    nb = len(problem.species) + 1
    y = np.empty(fractions.shape[1] * nb)
    for i in range(len(problem.species)):
        y[i::nb] = fractions[i]
    y[nb - 1 :: nb] = potential_V / (K_B_EV_K * case.sample.temperature_K)
    return y


def checked_case(case: object) -> Case:
    """`case` ready to simulate: a Case, or a path of a case file (loaded).

    A Case built by hand or changed with ``dataclasses.replace`` skips the validation of
    `load_case`: its model (all but the [[data]] blocks) is validated again here, so that a NaN
    thickness gives the one-line CaseError of the command line, not a traceback. A Case the
    validating reader built (`load_case`, `Case.with_values`, ...: `case.reader.is_validated`)
    is returned as it is. Anything else is an InputError.
    """
    from .case import Case, load_case
    from .case.reader import is_validated

    if isinstance(case, (str, os.PathLike)):
        return load_case(case)
    if not isinstance(case, Case):
        raise InputError(
            f"simulate: expected a Case (nppsim.load_case) or the path of a case file, got "
            f"{type(case).__name__}"
        )
    if is_validated(case):  # built by load_case, with_values, ...: validated already
        return case
    from .case import case_from_dict
    from .case.writer import _canonical_doc

    doc = _canonical_doc(case)
    doc.pop("data", None)
    case_from_dict(doc, case.source_label, case.base_dir)
    return case


def simulate(
    case: Case | str | os.PathLike[str],
    *,
    method: str | None = None,
    progress: bool | Callable[[float, float], None] = False,
    initial: Result | str | os.PathLike[str] | None = None,
    sensitivities: Sequence[str] = (),
) -> Result:
    """Run the case (a Case, or the path of a case file) and return its Result.

    method: "npp" (full Nernst-Planck-Poisson) or "electroneutral"; default: case.solver.method.
    progress: True shows a progress bar on stderr; a callable is called as
    progress(t_s, t_end_s) at every stored time (simulated time reached and the end of the last
    stage, s). A KeyboardInterrupt raised by it stops the run like Ctrl-C: SimulationError with
    the partial result (``diagnostics["interrupted"]`` True); the browser app's cancel button.
    initial: start from the last snapshot of this Result (or result file, HDF5) instead of the
    pristine sample, e.g. the second CAIT of a sequential Double-CAIT run on the result of the
    first (see `initial_profiles`); times of the new result start at 0 again, and its
    diagnostics record the start ("initial").
    sensitivities: dotted keys whose forward sensitivities d fractions / d value are integrated
    along (keys of the species' mobilities or the stages' controls; `sensitivity_support`);
    in Result.sensitivities.
    Raises SimulationError (with `.partial`, the Result up to the failure) when the solver
    cannot finish; CaseError for an invalid method or an initial result that does not fit.
    """
    case = checked_case(case)
    method = method or case.solver.method
    t0 = time.perf_counter()
    problem = problem_from_case(case)
    start = None
    initial_label = ""
    if initial is not None:
        initial_label = _initial_label(initial)
        if not isinstance(initial, Result):
            from .result import load_result

            initial = load_result(initial)
            initial_label = f"{initial_label}: {_initial_label(initial)}"
        if initial.n_times:
            _check_initial_values(initial, initial_label)
        start = _solver_initial_state(case, problem, method, initial)
    bar = None
    if callable(progress):
        callback = progress
    elif progress:
        callback = bar = _progress_bar(sum(st.duration_s for st in case.stages))
    else:
        callback = None
    try:
        with CompileTimer() as compiling:
            solution = _solve(case, problem, method, start, initial, callback, sensitivities)
    finally:
        if bar is not None:
            bar.close()
    # the case text is written when first read (a fit reads none of its results' texts)
    result = Result.from_solution(
        solution,
        case.to_toml,
        case.meta.name,
        time.perf_counter() - t0,
        sensitivity_keys=tuple(sensitivities) if solution.sensitivities is not None else (),
    )
    result.diagnostics["compile_s"] = compiling.seconds
    if initial is not None:
        result.diagnostics["initial"] = initial_label
    if not solution.completed:
        raise SimulationError(solution.message, partial=result)
    return result


#: relative change of a value for the perturbed problem of its forward sensitivity: the
#: derivative of the face fluxes is formed from it (round-off ~1e-8 relative, truncation
#: ~1e-8); a value of 0 changes by SENSITIVITY_ABS_STEP.
SENSITIVITY_REL_STEP = 1.0e-8
SENSITIVITY_ABS_STEP = 1.0e-8


def _perturbed_problems(case: Case, keys: Sequence[str]) -> list[tuple[Problem, float]]:
    """For each key, the problem with its value changed by delta, and delta."""
    out = []
    for key in keys:
        value = case.get_value(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise CaseError(f"sensitivities: {key} is not a number")
        v = float(value)
        delta = SENSITIVITY_REL_STEP * abs(v) if v != 0.0 else SENSITIVITY_ABS_STEP
        out.append((problem_from_case(case.with_values({key: v + delta})), delta))
    return out


def sensitivity_support(case: Case, keys: Sequence[str], method: str = "npp") -> str | None:
    """None if `simulate(case, method=method, sensitivities=keys)` can integrate the forward
    sensitivities of these keys, else the reason (one line). npp: keys of the species'
    mobilities and of the stages' control values (potential or current); electroneutral: the
    foreign species' D, the native species' D(c) (its D, its SED) and the stages' control
    values (potential or current); neither: an immobile fraction (see
    `solvers.npp.sensitivity_arrays`)."""
    if method not in ("npp", "electroneutral"):
        return f"forward sensitivities: unknown solver {method!r}"
    try:
        problem = problem_from_case(case)
        perturbed = _perturbed_problems(case, keys)
        if method == "npp":
            from solvers.npp import kernel_arrays, sensitivity_arrays

            sensitivity_arrays(problem, kernel_arrays(problem), perturbed)
        else:
            from solvers.electroneutral import check_sensitivities

            check_sensitivities(problem, perturbed)
    except (ValueError, InputError) as exc:
        return str(exc)
    return None


def electroneutral_support(case: Case) -> str | None:
    """None if `simulate(case, method="electroneutral")` can run the case (the reduced model
    holds: `solvers.electroneutral.unsupported_reason`, and every D(c) refers to the pristine
    glass), else the reason (one line)."""
    from solvers.electroneutral import unsupported_reason

    try:
        problem = problem_from_case(checked_case(case))
    except (CaseError, ValueError) as exc:
        return str(exc)
    why = unsupported_reason(problem)
    if why is not None:
        return why
    for sp in problem.species:
        if sp.mobility_reference != "pristine":
            return f'species.{sp.name}.sed.reference: the electroneutral solver needs "pristine"'
    return None


def _solve(case, problem, method, start, initial, callback, sensitivities=()):
    """Run the solver `method` on `problem`; returns its Solution (see `simulate`)."""
    if method == "npp":
        from solvers.npp import solve

        u_front = None
        if initial is not None and initial.front.potential_V.size:
            u_front = float(initial.front.potential_V[-1])
        try:
            solution = solve(
                problem,
                initial=start,
                progress=callback,
                initial_front_potential_V=u_front,
                sensitivities=_perturbed_problems(case, sensitivities),
            )
        except ValueError as exc:
            if not sensitivities:
                raise
            raise CaseError(f"sensitivities: {exc}") from None
    elif method == "electroneutral":
        from solvers.electroneutral import solve

        label = case.path or case.meta.name
        for sp in problem.species:
            if sp.mobility_reference != "pristine":
                raise CaseError(
                    f"{label}: species.{sp.name}.sed.reference: the electroneutral solver needs "
                    "\"pristine\" (use method 'npp')"
                )
        from solvers.electroneutral_sensitivity import SensitivityError

        perturbed = _perturbed_problems(case, sensitivities)
        try:
            solution = solve(problem, initial=start, progress=callback, sensitivities=perturbed)
        except SensitivityError as exc:  # a key the sensitivities cannot follow
            raise CaseError(f"{label}: sensitivities: {exc}") from None
        except ValueError as exc:  # the reduction does not hold for this case
            raise CaseError(f"{label}: solver.method: electroneutral: {exc}") from None
    else:
        raise CaseError(f"solver.method: unknown method {method!r} (use 'npp' or 'electroneutral')")
    return solution
