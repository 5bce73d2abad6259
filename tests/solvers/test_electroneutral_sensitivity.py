"""Forward sensitivities of the electroneutral reduced solver (solvers.electroneutral_sensitivity):
agreement with central finite differences of whole electroneutral simulations for every kind of
parameter (the foreign D; the native reference D and SED width: perturbed D(u) tables; the front
potential and the current: the control table alone), under potentiostatic and galvanostatic
control, across a stage restart, and with an immobile native fraction (the scaled unknowns)."""

from __future__ import annotations

import numpy as np
import pytest

import nppsim
from nppsim.case import case_from_dict
from nppsim.case.writer import _canonical_doc
from nppsim.errors import CaseError
from nppsim.simulate import problem_from_case, sensitivity_support
from solvers import electroneutral as en

EN = "electroneutral"
#: a short, tight run of the shipped case: 1000 s of K+ CAIT on a coarse grid
VALUES = {
    "stage.1.duration_s": 1000.0,
    "grid.fine_spacing_nm": 1.0,
    "grid.fine_depth_nm": 200.0,
    "solver.rtol": 1e-7,
    "solver.atol": 1e-11,
    "solver.n_output": 2,
}
#: key, value of the case, central-difference step (relative)
PARAMETERS = [
    ("species.Li.sed.fwhm_eV", 0.25, 1e-3),
    ("species.K.D_cm2_s", 2e-16, 1e-3),
    ("species.Li.D_cm2_s", 1e-12, 1e-3),
    ("stage.1.potential_V", 1.5, 1e-3),
]


def _central_error(case, sensitivities, key, value, rel):
    """max |sensitivity - central difference| over the snapshots after t = 0, relative to the
    largest central difference (which must be > 0)."""
    h = value * rel
    up = nppsim.simulate(case.with_values({key: value + h}), method=EN).fractions
    dn = nppsim.simulate(case.with_values({key: value - h}), method=EN).fractions
    fd = (up - dn) / (2.0 * h)
    se = sensitivities[key]
    assert se.shape == fd.shape
    np.testing.assert_array_equal(se[0], 0.0)  # the pristine start does not depend on it
    scale = np.abs(fd[1:]).max()
    assert scale > 0.0
    return float(np.abs(se[1:] - fd[1:]).max() / scale)


def _with_stages(case, stages):
    """The case with its [[stage]] list replaced (validated)."""
    doc = _canonical_doc(case)
    doc.pop("data", None)
    doc["stage"] = stages
    return case_from_dict(doc, "sensitivity test", case.base_dir)


@pytest.fixture(scope="module")
def case():
    return nppsim.default_case().with_values(VALUES)


@pytest.fixture(scope="module")
def with_sensitivities(case):
    keys = [k for k, _, _ in PARAMETERS]
    return nppsim.simulate(case, method=EN, sensitivities=keys)


@pytest.mark.parametrize(("key", "value", "rel"), PARAMETERS)
def test_sensitivity_agrees_with_central_differences(case, with_sensitivities, key, value, rel):
    """Potentiostatic: d fractions / d value at both snapshots within 2e-5 of the largest
    derivative from central differences of whole simulations (measured 1.0e-6 to 3.3e-6 at
    rtol 1e-7; at the shipped rtol 1e-4 9e-5 to 4.9e-4, where the differences carry the
    time-integration error of two runs over a 2e-3 relative step)."""
    err = _central_error(case, with_sensitivities.sensitivities, key, value, rel)
    assert err < 2e-5, err


def test_native_sensitivity_is_minus_the_foreign_one(with_sensitivities):
    """Electroneutrality: the native fraction is 1 - foreign, so are their derivatives."""
    for se in with_sensitivities.sensitivities.values():
        np.testing.assert_array_equal(se[:, 0], -se[:, 1])


def test_sensitivities_leave_the_solution_unchanged(case, with_sensitivities):
    """Integrating sensitivities changes nothing in the solution itself (bit for bit)."""
    plain = nppsim.simulate(case, method=EN)
    np.testing.assert_array_equal(plain.fractions, with_sensitivities.fractions)
    np.testing.assert_array_equal(plain.front.current_A_cm2, with_sensitivities.front.current_A_cm2)
    assert plain.diagnostics["steps"] == with_sensitivities.diagnostics["steps"]


def test_galvanostatic_sensitivities(case):
    """Current control: the current is given, its derivative (the control table's) enters
    through dR/dv; the foreign D through the residual. Within 1e-3 of the largest central
    difference (measured 5e-5 for D_K, 5e-9 for the current)."""
    galv = _with_stages(
        case,
        [{"duration_s": 1000.0, "source": "K", "surface_fraction": 1.0,
          "current_density_A_cm2": 2e-9}],
    )  # fmt: skip
    params = [("species.K.D_cm2_s", 2e-16, 1e-3), ("stage.1.current_density_A_cm2", 2e-9, 1e-3)]
    assert sensitivity_support(galv, [k for k, _, _ in params], EN) is None
    res = nppsim.simulate(galv, method=EN, sensitivities=[k for k, _, _ in params])
    for key, value, rel in params:
        err = _central_error(galv, res.sensitivities, key, value, rel)
        assert err < 1e-3, (key, err)


def test_sensitivities_across_a_stage_restart(case):
    """Two potentiostatic stages (the history of state and sensitivities restarts at the
    second): d/dD_K and d/dU_2 within 5e-5 of the central differences (measured 1.1e-6 and
    3.7e-6)."""
    two = _with_stages(
        case,
        [{"duration_s": 500.0, "source": "K", "surface_fraction": 1.0, "potential_V": 1.5},
         {"duration_s": 500.0, "source": "K", "surface_fraction": 1.0, "potential_V": 2.5}],
    )  # fmt: skip
    params = [("species.K.D_cm2_s", 2e-16, 1e-3), ("stage.2.potential_V", 2.5, 1e-3)]
    res = nppsim.simulate(two, method=EN, sensitivities=[k for k, _, _ in params])
    for key, value, rel in params:
        err = _central_error(two, res.sensitivities, key, value, rel)
        assert err < 5e-5, (key, err)
    # the first stage does not depend on the second stage's potential
    first_end = res.stage_end_index[0]
    np.testing.assert_array_equal(res.sensitivities["stage.2.potential_V"][: first_end + 1], 0.0)


def test_immobile_fraction_key_is_refused_but_other_keys_work():
    """With an immobile native fraction the kernels solve for the scaled fraction
    c / (1 - f): the key f itself is refused (as by the npp solver), the foreign D is
    integrated and agrees with central differences within 5e-5 (lbo2024_rb, 1000 s; measured
    2.2e-6; the native SED width 1.9e-5, its D 6.5e-6)."""
    rb = nppsim.load_case("cases/lbo2024_rb.toml").with_values(VALUES)
    why = sensitivity_support(rb, ["species.Li.immobile_fraction"], EN)
    assert "immobile" in why
    key, value = "species.Rb.D_cm2_s", rb.get_value("species.Rb.D_cm2_s")
    assert sensitivity_support(rb, [key], EN) is None
    res = nppsim.simulate(rb, method=EN, sensitivities=[key])
    assert _central_error(rb, res.sensitivities, key, value, 1e-3) < 5e-5


def test_unsupported_parameters_are_refused(case):
    """A key that changes the grid, the temperature or a stage's duration: a one-line reason,
    and simulate refuses the key with a CaseError naming the sensitivities."""
    for key in ("grid.fine_spacing_nm", "sample.temperature_K", "stage.1.duration_s"):
        why = sensitivity_support(case, [key], EN)
        assert why is not None and "changes" in why and "\n" not in why
    assert sensitivity_support(case, ["species.K.D_cm2_s"], EN) is None
    with pytest.raises(CaseError, match="sensitivities"):
        nppsim.simulate(case, method=EN, sensitivities=["sample.temperature_K"])


def test_problem_level_api_matches_the_case_level_one(case, with_sensitivities):
    """solvers.electroneutral.solve with an explicit perturbed problem gives the same
    sensitivities as simulate."""
    key = "species.K.D_cm2_s"
    delta = 2e-16 * 1e-8
    pr = problem_from_case(case)
    perturbed = problem_from_case(case.with_values({key: 2e-16 + delta}))
    sol = en.solve(pr, sensitivities=[(perturbed, delta)])
    np.testing.assert_allclose(
        sol.sensitivities[:, 0], with_sensitivities.sensitivities[key], rtol=1e-9, atol=1e-30
    )
