"""The independent reference profiles of ../shared/data/reference (MODEL.md section 8, item 8).

The reference solver uses the same spatial scheme (SG fluxes, arithmetic-mean face D, 0.25 nm
cells) with backward Euler steps growing 1.5x from 1 ms and capped at 12.5 s. Replaying exactly
those steps with our kernels reproduces it to ~1e-6, which proves that the discretisations
agree. Our adaptive variable-order BDF run is more accurate in time: between 0.1 and 2 s (the
fast initial transient) the reference's first-order time error reaches 3 % of the current, so
the 1 % current comparison starts at 2 s.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import nppsim
from nppsim import units
from nppsim.simulate import problem_from_case
from solvers import npp

REF = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference"
pytestmark = pytest.mark.skipif(not REF.is_dir(), reason="shared reference data not present")


def _reference():
    profile = np.loadtxt(REF / "lbo_k_potentiostatic_profile.csv", delimiter=",", skiprows=2)
    current = np.loadtxt(REF / "lbo_k_potentiostatic_current.csv", delimiter=",", skiprows=2)
    case = nppsim.load_case(REF / "lbo_k_potentiostatic.toml")
    return case, profile, current


def _profile_error(depth, fractions, species, profile):
    errs = []
    for k, name in enumerate(("Li", "K")):
        ours = np.interp(profile[:, 0], depth, fractions[species.index(name)])
        errs.append(np.max(np.abs(ours - profile[:, k + 1])))
    return max(errs)


@pytest.fixture(scope="module")
def reference_grid_run():
    case, profile, current = _reference()
    res = nppsim.simulate(case.with_values({"grid.fine_spacing_nm": 0.25}))
    return res, profile, current


def test_profile_on_default_grid_within_5e_3():
    case, profile, _ = _reference()
    res = nppsim.simulate(case)
    err = _profile_error(res.depth_nm, res.fractions[-1], res.species, profile)
    assert err < 5e-3
    # measured: 4.6e-4 (0.5 nm cells, rtol 1e-4)
    assert err < 1e-3


def test_profile_and_current_on_reference_grid(reference_grid_run):
    res, profile, current = reference_grid_run
    assert _profile_error(res.depth_nm, res.fractions[-1], res.species, profile) < 1e-3
    late = current[:, 0] >= 2.0
    ours = np.interp(current[late, 0], res.front.time_s, res.front.current_A_cm2)
    np.testing.assert_allclose(ours, current[late, 1], rtol=1e-2)
    # after the transient (t > 100 s) the two agree to 1e-3
    later = current[:, 0] > 100.0
    ours = np.interp(current[later, 0], res.front.time_s, res.front.current_A_cm2)
    np.testing.assert_allclose(ours, current[later, 1], rtol=1e-3)


def test_charge_balance_potentiostatic(reference_grid_run):
    """Foreign ions in the sample = charge passed through the front / e, to 1e-9."""
    res, _, _ = reference_grid_run
    h = np.diff(res.x_faces_nm) * 1e-7  # cm
    n_bulk = 1.4e22
    k_amount = np.sum(h * res.fraction("K")[-1]) * n_bulk
    passed = res.front.charge_C_cm2[-1] / units.E_CHARGE_C
    np.testing.assert_allclose(k_amount, passed, rtol=1e-9)


def _replay_problem(t_end_s):
    case, _, current = _reference()
    pr = problem_from_case(case.with_values({"grid.fine_spacing_nm": 0.25}))
    times = current[current[:, 0] <= t_end_s, 0]
    stage = dataclasses.replace(pr.stages[0], duration_s=float(times[-1]))
    return dataclasses.replace(
        pr,
        stages=(stage,),
        max_order=1,
        error_control=False,
        output_times_s=tuple(times),
        dt_initial_s=times[0],
    ), current[: len(times)]


def test_backward_euler_replay_reproduces_reference_current():
    """With the reference's own step sequence (backward Euler) the currents agree to 1e-5
    at every step, including the initial transient."""
    pr, current = _replay_problem(20.0)
    sol = npp.solve(pr)
    ours = np.interp(current[:, 0], sol.front_time_s, sol.front_current_A_cm2)
    np.testing.assert_allclose(ours, current[:, 1], rtol=1e-5)


@pytest.mark.slow
def test_backward_euler_replay_reproduces_reference_profile():
    """Full replay of the reference's 3222 backward-Euler steps: profile to 1e-5."""
    _, profile, _ = _reference()
    pr, current = _replay_problem(4.0e4)
    sol = npp.solve(pr)
    err = _profile_error(sol.x_centers_nm, sol.fractions[-1], list(sol.species_names), profile)
    assert err < 1e-5
    ours = np.interp(current[:, 0], sol.front_time_s, sol.front_current_A_cm2)
    np.testing.assert_allclose(ours, current[:, 1], rtol=1e-5)
