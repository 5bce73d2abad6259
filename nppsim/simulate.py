"""From a validated case to a Result: builds the solver problem and runs the chosen solver."""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

import sed
from solvers.grid import graded_faces_nm
from solvers.problem import Problem, SpeciesSpec, StageSpec

from .errors import CaseError, SimulationError
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

    An SED species takes its pristine fraction as the reference density n_ref, so that
    D(n_ref) = species.D_cm2_s (MODEL.md section 3).
    """
    if species.sed is not None:
        if species.initial_fraction <= 0:
            raise CaseError(
                f"{case.path or '<case>'}: species.{species.name}.initial_fraction: an SED "
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
    """Cell faces (nm) of the graded grid of `case`."""
    g = case.grid
    return graded_faces_nm(
        case.sample.thickness_um * 1.0e3, g.fine_depth_nm, g.fine_spacing_nm, g.growth
    )


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


def _progress_bar(total_s: float):
    from tqdm import tqdm

    bar = tqdm(total=total_s, unit="s", desc="simulating", file=sys.stderr, leave=False)

    def update(t_s: float, t_end_s: float) -> None:
        bar.update(t_s - bar.n)
        if t_s >= t_end_s:
            bar.close()

    return update


def simulate(case: Case, *, method: str | None = None, progress: bool = False) -> Result:
    """Run the case and return its Result.

    method: "npp" (full Nernst-Planck-Poisson) or "electroneutral"; default: case.solver.method.
    progress: show a progress bar on stderr.
    Raises SimulationError (with `.partial`, the Result up to the failure) when the solver
    cannot finish; CaseError for an invalid method.
    """
    method = method or case.solver.method
    t0 = time.perf_counter()
    problem = problem_from_case(case)
    callback = _progress_bar(sum(st.duration_s for st in case.stages)) if progress else None
    if method == "npp":
        from solvers.npp import solve

        solution = solve(problem, progress=callback)
    elif method == "electroneutral":
        from solvers.electroneutral import solve

        try:
            solution = solve(problem, progress=callback)
        except ValueError as exc:  # the reduction does not hold for this case
            label = case.path or case.meta.name
            raise CaseError(f"{label}: solver.method: electroneutral: {exc}") from None
    else:
        raise CaseError(f"solver.method: unknown method {method!r} (use 'npp' or 'electroneutral')")
    result = Result.from_solution(
        solution, case.to_toml(), case.meta.name, time.perf_counter() - t0
    )
    if not solution.completed:
        raise SimulationError(solution.message, partial=result)
    return result
