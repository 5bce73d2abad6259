"""Builders of small solver problems shared by the solver tests."""

from __future__ import annotations

import numpy as np
import pytest

import sed
from solvers.grid import graded_faces_nm
from solvers.problem import Problem, SpeciesSpec, StageSpec


def stage(duration_s, source, *, potential_V=None, current_A_cm2=None, table=None,
          surface_fraction=1.0):  # fmt: skip
    """A StageSpec with a constant potential, a constant current or a (t, value) table."""
    if table is not None:
        control, tab = table
        tab = np.asarray(tab, dtype=float)
        return StageSpec(duration_s, source, surface_fraction, control, tab[:, 0], tab[:, 1])
    control = "potential" if potential_V is not None else "current"
    value = potential_V if potential_V is not None else current_A_cm2
    return StageSpec(
        duration_s, source, surface_fraction, control, np.array([0.0]), np.array([value])
    )


def species(name, D, *, initial=1.0, back="reservoir", mobility=None, charge=1):
    """A SpeciesSpec with constant D (cm^2/s) unless a mobility object is given."""
    mob = mobility if mobility is not None else sed.ConstantMobility(D)
    return SpeciesSpec(name, charge, mob, initial, back, initial)


def problem(species_list, stages, *, thickness_nm=1000.0, fine_depth_nm=None, spacing_nm=1.0,
            growth=1.05, temperature_K=350.0, n_bulk_cm3=1.4e22, eps_r=7.0, **solver):  # fmt: skip
    """A Problem on a graded grid (uniform when fine_depth_nm covers the sample)."""
    fine = thickness_nm if fine_depth_nm is None else fine_depth_nm
    faces = graded_faces_nm(thickness_nm, fine, spacing_nm, growth)
    return Problem(
        thickness_nm, temperature_K, n_bulk_cm3, eps_r, faces, tuple(species_list),
        tuple(stages), **solver,
    )  # fmt: skip


@pytest.fixture
def build():
    """The three builders as a namespace: build.problem, build.species, build.stage."""

    class _B:
        pass

    b = _B()
    b.problem, b.species, b.stage = problem, species, stage
    return b
