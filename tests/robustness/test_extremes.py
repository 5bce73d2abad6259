"""Extreme but valid physics: the simulation completes with a physical result, or fails with
a SimulationError whose message names the simulated time (never NaN, never a traceback).

Every run is the default case (nppsim.case.default_case(): K+ into a Li3B7O12-like glass,
1.5 V, 350 K, 500 um, 1421 cells) with a few values changed and a short duration. A completed
run must have finite arrays, fractions in [0, 1 + FRACTION_EPS], and its charge balance: the
source species' inventory equals the charge passed through the front / (z e) to 1e-6
relative. The slow cases (1 kV with the full solver, 1e5 cells) are marked slow.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import numpy as np
import pytest

import nppsim
from nppsim import units
from nppsim.case import Case, default_case
from nppsim.errors import SimulationError
from nppsim.result import Result

#: fractions may exceed 1 by this (space charge where the K front enters)
FRACTION_EPS = 1.0e-3
#: relative tolerance of the charge balance
BALANCE_RTOL = 1.0e-6
SHORT = {"stage.1.duration_s": 10.0}
RB = {"role": "foreign", "D_cm2_s": 1.0e-16}


def check_physics(case: Case, result: Result) -> dict[str, float]:
    """Finite arrays, fractions in [0, 1 + eps], charge balance; returns what was measured."""
    assert result.completed, result.message
    for name, a in (
        ("fractions", result.fractions),
        ("potential_V", result.potential_V),
        ("front current", result.front.current_A_cm2),
        ("front charge", result.front.charge_C_cm2),
    ):
        assert np.all(np.isfinite(a)), f"{name} has non-finite values"
    low, high = float(result.fractions.min()), float(result.fractions.max())
    assert low >= -1e-9, low
    assert high <= 1.0 + FRACTION_EPS, high
    stage = case.stages[0]
    source = stage.source
    z = case.species_by_name(source).charge
    h_cm = np.diff(result.x_faces_nm) / units.NM_PER_CM
    gained = np.sum(h_cm * (result.fraction(source)[-1] - result.fraction(source)[0]))
    inventory = gained * case.sample.n_bulk_cm3
    passed = result.front.charge_C_cm2[-1] / (z * units.E_CHARGE_C)
    np.testing.assert_allclose(inventory, passed, rtol=BALANCE_RTOL)
    return {"min": low, "max": high, "balance": abs(inventory / passed - 1.0)}


def run(values: dict[str, Any]) -> tuple[Case, Result | SimulationError, float]:
    case = default_case().with_values(values)
    t0 = time.perf_counter()
    try:
        outcome: Result | SimulationError = nppsim.simulate(case)
    except SimulationError as exc:
        outcome = exc
    return case, outcome, time.perf_counter() - t0


def check_clean_failure(exc: SimulationError) -> None:
    """A failure names the simulated time and keeps a finite partial result."""
    message = str(exc)
    assert "\n" not in message and re.search(r"\bt = [0-9.e+-]+ s\b", message), message
    if exc.partial is not None:
        assert np.all(np.isfinite(exc.partial.fractions))
        assert np.all(np.isfinite(exc.partial.potential_V))


EXTREMES = {
    # foreign/native D ratio 1e-8: K barely moves, the current is carried by Li
    "D-ratio-1e-8": {**SHORT, "species.K.D_cm2_s": 1.0e-20},
    "D-ratio-1e-8-1000s": {"stage.1.duration_s": 1.0e3, "species.K.D_cm2_s": 1.0e-20},
    # broad site-energy distributions
    "sed-fwhm-0.45": {**SHORT, "species.Li.sed.fwhm_eV": 0.45},
    "sed-fwhm-0.6": {**SHORT, "species.Li.sed.fwhm_eV": 0.6},
    "sed-fwhm-0.6-1e4s": {"stage.1.duration_s": 1.0e4, "species.Li.sed.fwhm_eV": 0.6},
    "sed-fwhm-0.6-200K": {**SHORT, "species.Li.sed.fwhm_eV": 0.6, "sample.temperature_K": 200.0},
    # front potentials
    "potential-10V": {**SHORT, "stage.1.potential_V": 10.0},
    "potential-100V": {**SHORT, "stage.1.potential_V": 100.0},
    "potential-1kV-electroneutral": {
        **SHORT,
        "stage.1.potential_V": 1000.0,
        "solver.method": "electroneutral",
    },
    # three species
    "three-species-K-source": {**SHORT, "species.Rb": RB},
    "three-species-Rb-source": {**SHORT, "species.Rb": RB, "stage.1.source": "Rb"},
    # temperatures
    "T-200K": {**SHORT, "sample.temperature_K": 200.0},
    "T-900K": {**SHORT, "sample.temperature_K": 900.0},
    "T-900K-1e4s": {"stage.1.duration_s": 1.0e4, "sample.temperature_K": 900.0},
}
SLOW_EXTREMES = {
    # ~11 s: the Newton iteration at 1 kV takes many small steps
    "potential-1kV-npp": {**SHORT, "stage.1.potential_V": 1000.0},
    # 1e5 cells: 0.5 nm cells to 50 um (~14 s)
    "cells-1e5": {**SHORT, "grid.fine_spacing_nm": 0.5, "grid.fine_depth_nm": 5.0e4},
}


@pytest.mark.parametrize("name", list(EXTREMES))
def test_extreme_but_valid_case_completes_physically(name):
    case, outcome, _ = run(EXTREMES[name])
    if isinstance(outcome, SimulationError):
        check_clean_failure(outcome)
        pytest.fail(f"{name}: {outcome}")
    check_physics(case, outcome)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SLOW_EXTREMES))
def test_slow_extreme_case_completes_physically(name):
    case, outcome, _ = run(SLOW_EXTREMES[name])
    if isinstance(outcome, SimulationError):
        check_clean_failure(outcome)
        pytest.fail(f"{name}: {outcome}")
    check_physics(case, outcome)
    if name == "cells-1e5":
        assert outcome.n_cells >= 100_000


def test_cells_far_below_the_debye_length_fail_cleanly():
    """0.01 nm cells (the Debye length is 0.029 nm): the full solver's Newton iteration fails
    early (t ~ 0.08 s); it must do so with a SimulationError naming the time, not NaN."""
    _, outcome, _ = run({**SHORT, "grid.fine_spacing_nm": 0.01, "grid.fine_depth_nm": 100.0})
    if isinstance(outcome, SimulationError):
        check_clean_failure(outcome)
    else:
        assert np.all(np.isfinite(outcome.fractions))


@pytest.mark.xfail(
    strict=True,
    reason="solvers/npp: with 0.05 nm cells (near the 0.029 nm Debye length) the default case "
    "ends with 1.1e3 V inside the sample (front 1.5 V) and 2.5e4 n_bulk of Li in the first cell",
)
def test_cells_near_the_debye_length_give_a_physical_result():
    case, outcome, _ = run({**SHORT, "grid.fine_spacing_nm": 0.05, "grid.fine_depth_nm": 200.0})
    if isinstance(outcome, SimulationError):
        check_clean_failure(outcome)
        return
    check_physics(case, outcome)
    front = case.stages[0].potential_V
    assert float(np.max(np.abs(outcome.potential_V))) <= 1.1 * abs(front) + 0.5


def test_extremes_are_valid_cases():
    """Every input here passes the case validation (they are extreme, not malformed)."""
    for values in (*EXTREMES.values(), *SLOW_EXTREMES.values()):
        case = default_case().with_values(values)
        assert math.isfinite(case.sample.temperature_K)
