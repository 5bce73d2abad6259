"""Forward sensitivities of the electroneutral reduced solver (solvers.electroneutral_sensitivity):
agreement with central finite differences of whole electroneutral simulations for every kind of
parameter (the foreign D; the native reference D and SED width: perturbed D(u) tables; the front
potential and the current: the control table alone), under potentiostatic and galvanostatic
control, across a stage restart, and with an immobile native fraction (the scaled unknowns)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import nppsim
import sed
from nppsim.case import case_from_dict
from nppsim.case.writer import _canonical_doc
from nppsim.errors import CaseError
from nppsim.simulate import problem_from_case, sensitivity_support
from solvers import electroneutral as en
from solvers import electroneutral_kernels as EK
from solvers import electroneutral_numpy as EN
from solvers import electroneutral_sensitivity as ES
from tests.solvers.test_sensitivity import PARAMETERS, VALUES  # the full solver's short run

METHOD = "electroneutral"


def _central_error(case, sensitivities, key, value, rel):
    """max |sensitivity - central difference| over the snapshots after t = 0, relative to the
    largest central difference (which must be > 0)."""
    h = value * rel
    up = nppsim.simulate(case.with_values({key: value + h}), method=METHOD).fractions
    dn = nppsim.simulate(case.with_values({key: value - h}), method=METHOD).fractions
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
    return nppsim.simulate(case, method=METHOD, sensitivities=keys)


@pytest.mark.parametrize(("key", "value", "rel"), PARAMETERS)
def test_sensitivity_agrees_with_central_differences(case, with_sensitivities, key, value, rel):
    """Potentiostatic: d fractions / d value at both snapshots within 2e-5 of the largest
    derivative from central differences of whole simulations (measured 1.0e-6 to 3.3e-6 at
    rtol 1e-7; at the shipped rtol 1e-4 9e-5 to 4.9e-4, where the differences carry the
    time-integration error of two runs over a 2e-3 relative step)."""
    err = _central_error(case, with_sensitivities.sensitivities, key, value, rel)
    assert err < 2e-5, err


def test_whole_lbo_k_run_agrees_with_central_differences():
    """The shipped lbo_k case over its whole 4e4 s (the front ~100 nm deep, the window grown to
    hundreds of cells) at rtol 1e-7: every parameter within 2e-4 of the largest central
    difference at four snapshots (measured 8.7e-6 FWHM, 1.4e-5 D_K and D_Li, 5.0e-5 U, where
    the differences of two runs over a 2e-3 step carry ~1e-7 / 2e-3 of time-integration
    error)."""
    lbo = nppsim.load_case("cases/lbo_k.toml").with_values(
        {"solver.rtol": 1e-7, "solver.atol": 1e-11, "solver.n_output": 4}
    )
    res = nppsim.simulate(lbo, method=METHOD, sensitivities=[k for k, _, _ in PARAMETERS])
    for key, value, rel in PARAMETERS:
        err = _central_error(lbo, res.sensitivities, key, value, rel)
        assert err < 2e-4, (key, err)


def test_native_sensitivity_is_minus_the_foreign_one(with_sensitivities):
    """Electroneutrality: the native fraction is 1 - foreign, so are their derivatives."""
    for se in with_sensitivities.sensitivities.values():
        np.testing.assert_array_equal(se[:, 0], -se[:, 1])


def test_sensitivities_leave_the_solution_unchanged(case, with_sensitivities):
    """Integrating sensitivities changes nothing in the solution itself (bit for bit)."""
    plain = nppsim.simulate(case, method=METHOD)
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
    assert sensitivity_support(galv, [k for k, _, _ in params], METHOD) is None
    res = nppsim.simulate(galv, method=METHOD, sensitivities=[k for k, _, _ in params])
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
    res = nppsim.simulate(two, method=METHOD, sensitivities=[k for k, _, _ in params])
    for key, value, rel in params:
        err = _central_error(two, res.sensitivities, key, value, rel)
        assert err < 5e-5, (key, err)
    # the first stage does not depend on the second stage's potential
    first_end = res.stage_end_index[0]
    np.testing.assert_array_equal(res.sensitivities["stage.2.potential_V"][: first_end + 1], 0.0)


def test_sensitivities_through_a_mixed_protocol(case):
    """Current control, then potential control, then a potential table with a kink (a
    restart of the histories inside the stage) at another surface fraction: every kind of
    parameter within 2e-4 of the central differences (measured 1.2e-6 D_K, 9.5e-6 FWHM,
    3.2e-5 the current of stage 1, 2.9e-6 the potential of stage 2)."""
    mixed = _with_stages(
        case,
        [{"duration_s": 500.0, "source": "K", "surface_fraction": 1.0,
          "current_density_A_cm2": 2e-9},
         {"duration_s": 500.0, "source": "K", "surface_fraction": 1.0, "potential_V": 2.0},
         {"duration_s": 300.0, "source": "K", "surface_fraction": 0.5,
          "potential_table_V": [[0.0, 2.0], [150.0, 3.0], [300.0, 3.0]]}],
    )  # fmt: skip
    params = [
        ("species.K.D_cm2_s", 2e-16, 1e-3),
        ("species.Li.sed.fwhm_eV", 0.25, 1e-3),
        ("stage.1.current_density_A_cm2", 2e-9, 1e-3),
        ("stage.2.potential_V", 2.0, 1e-3),
    ]
    res = nppsim.simulate(mixed, method=METHOD, sensitivities=[k for k, _, _ in params])
    for key, value, rel in params:
        err = _central_error(mixed, res.sensitivities, key, value, rel)
        assert err < 2e-4, (key, err)


def test_immobile_fraction_key_is_refused_but_other_keys_work():
    """With an immobile native fraction the kernels solve for the scaled fraction
    c / (1 - f): the key f itself is refused (as by the npp solver), the foreign D is
    integrated and agrees with central differences within 5e-5 (lbo2024_rb, 1000 s; measured
    2.2e-6; the native SED width 1.9e-5, its D 6.5e-6)."""
    rb = nppsim.load_case("cases/lbo2024_rb.toml").with_values(VALUES)
    why = sensitivity_support(rb, ["species.Li.immobile_fraction"], METHOD)
    assert "immobile" in why
    key, value = "species.Rb.D_cm2_s", rb.get_value("species.Rb.D_cm2_s")
    assert sensitivity_support(rb, [key], METHOD) is None
    res = nppsim.simulate(rb, method=METHOD, sensitivities=[key])
    assert _central_error(rb, res.sensitivities, key, value, 1e-3) < 5e-5


def test_unsupported_parameters_are_refused(case):
    """A key that changes the grid, the temperature or a stage's duration: a one-line reason,
    and simulate refuses the key with a CaseError naming the sensitivities."""
    for key in ("grid.fine_spacing_nm", "sample.temperature_K", "stage.1.duration_s"):
        why = sensitivity_support(case, [key], METHOD)
        assert why is not None and "changes" in why and "\n" not in why
    assert sensitivity_support(case, ["species.K.D_cm2_s"], METHOD) is None
    with pytest.raises(CaseError, match="sensitivities"):
        nppsim.simulate(case, method=METHOD, sensitivities=["sample.temperature_K"])


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


# ---------------------------------------------------------------------------------------------
# the analytic face derivatives against finite differences of the numpy twin
# ---------------------------------------------------------------------------------------------
def _random_state(seed, sed_native):
    """A random physical state of the reduced model: fractions in [0, 1), random cells, an SED
    (or constant) native D, a current of either sign, open or blocking front, an active
    window of n of the n_max cells."""
    rng = np.random.default_rng(seed)
    n_max = int(rng.integers(2, 40))
    n = int(rng.integers(1, n_max + 1))
    h = rng.uniform(0.1, 3.0, n_max)
    faces = np.concatenate([[0.0], np.cumsum(h)])
    xc = 0.5 * (faces[1:] + faces[:-1])
    d = np.concatenate([[xc[0]], np.diff(xc)])
    c = rng.uniform(0.0, 0.99, n_max)
    c[rng.random(n_max) < 0.1] = 0.0
    if sed_native:
        t = sed.SEDMobility(
            sed.GaussianSED(rng.uniform(0.05, 0.5)), 1e-12, 1.0, rng.uniform(250, 800),
            vacancy_fraction=rng.uniform(0.02, 0.4),
        ).kernel_table(m=512)  # fmt: skip
        mob = (1, 0.0, t.u0, t.du, np.asarray(t.logD) + np.log(1e14), np.asarray(t.slope), t.n_lo)
    else:
        mob = (0, 10 ** rng.uniform(0, 3), 0.0, 1.0, np.zeros(2), np.zeros(2), 1.0)
    return dict(
        c=c, n=n, hist=rng.normal(0.0, 1.0, n_max), a0=rng.uniform(1.0, 1.7),
        dt=10 ** rng.uniform(-3, 2), v=rng.normal(0.0, 1.0) * 10 ** rng.uniform(-3, 0),
        front_open=bool(rng.integers(0, 2)), d_f=10 ** rng.uniform(-1, 2),
        c_src=rng.uniform(0.05, 1.0), h=h, d=d, faces=faces,
        thickness=faces[-1] + rng.uniform(0.0, 1e5), d_n1=EK.mobility(1.0, *mob)[0], mob=mob,
    )  # fmt: skip


def _numpy_terms(a, **change):
    """(residual, front potential) of the numpy twin `assemble` with some arguments changed."""
    a = dict(a, **change)
    head = [a[k] for k in ("c", "n", "hist", "a0", "dt", "v", "front_open", "d_f", "c_src")]
    out = EN.assemble(*head, a["h"], a["d"], a["faces"], a["thickness"], a["d_n1"], *a["mob"])
    return out[0], out[6]


def _analytic(a):
    """`parameter_derivatives` at the state: (dR/dD_F, dR/dD_N (every face alike),
    dpsi_front/dD_F, dpsi_front/dD_N (every face alike), dpsi_front/dD_N(1))."""
    n, n_max = a["n"], a["c"].size
    uf, dn, dn_u, f_dn, f_df, p_dn = (np.zeros(n_max + 1) for _ in range(6))
    EK.native_mobilities(a["c"], n, *a["mob"], uf, dn, dn_u, 1.0)
    psi_df, psi_dn1 = ES.parameter_derivatives(
        a["c"], n, a["v"], a["front_open"], a["d_f"], a["d_n1"], a["h"], a["d"], a["faces"],
        a["thickness"], uf, dn, f_dn, f_df, p_dn,
    )  # fmt: skip
    w = a["dt"] / a["h"][:n]

    def rows(face):  # dt/h_k (F'_{k+1/2} - F'_{k-1/2}); the front face carries v
        return w * np.diff(np.concatenate([[0.0], face[:n]]))

    return rows(f_df), rows(f_dn), psi_df, float(p_dn[:n].sum()), psi_dn1


def _central(fun, x, rel=1e-4):
    """Central differences of fun's outputs at x: the step 1e-4 x keeps the round-off of the
    front potential (which includes the bulk's large ohmic drop) below the truncation, ~1e-8."""
    step = rel * x
    up, dn = fun(x + step), fun(x - step)
    return tuple((u - d) / (2.0 * step) for u, d in zip(up, dn, strict=True))


@pytest.mark.parametrize("seed", range(25))
def test_parameter_derivatives_match_finite_differences_of_the_numpy_twin(seed):
    """dR/dD_F, dpsi_front/dD_F (with an SED or a constant native D) and dR/dD_N,
    dpsi_front/dD_N, dpsi_front/dD_N(1) (a constant native D, so that every face's D_N moves
    with it) against central differences of `solvers.electroneutral_numpy.assemble`: within
    1e-6 of the largest entry (measured over these seeds: 1.6e-8, 1.9e-7, 1.8e-8, 1.1e-8,
    1.0e-8, the differences' own error)."""
    for sed_native in (True, False):
        a = _random_state(seed, sed_native)
        r_df, r_dn, psi_df, psi_dn, psi_dn1 = _analytic(a)
        fd_r, fd_psi = _central(lambda x, a=a: _numpy_terms(a, d_f=x), a["d_f"])
        scale = np.abs(fd_r).max() + 1e-300
        np.testing.assert_allclose(r_df, fd_r, rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(psi_df, fd_psi, rtol=1e-6, atol=1e-12)
        if sed_native:
            continue
        mob = a["mob"]
        fd_r, fd_psi = _central(
            lambda x, a=a, mob=mob: _numpy_terms(a, mob=(0, x, *mob[2:])), mob[1]
        )
        scale = np.abs(fd_r).max() + 1e-300
        np.testing.assert_allclose(r_dn, fd_r, rtol=0, atol=1e-6 * scale)
        np.testing.assert_allclose(psi_dn, fd_psi, rtol=1e-6, atol=1e-12)
        fd_psi1 = _central(lambda x, a=a: _numpy_terms(a, d_n1=x), a["d_n1"])[1]
        np.testing.assert_allclose(psi_dn1, fd_psi1, rtol=1e-6, atol=1e-300)


def test_the_runs_solver_settings_are_no_parameter_change(case, with_sensitivities):
    """A fit simulates with its own snapshot count (the case's solver section replaced), while
    the perturbed problems come from the case values: only their physics is compared, and the
    sensitivities at the stage end are those of the case as it stands."""
    run = dataclasses.replace(case, solver=dataclasses.replace(case.solver, n_output=1))
    key = "species.K.D_cm2_s"
    assert sensitivity_support(run, [key], METHOD) is None
    res = nppsim.simulate(run, method=METHOD, sensitivities=[key])
    assert res.times_s.size == 2
    np.testing.assert_allclose(
        res.sensitivities[key][-1], with_sensitivities.sensitivities[key][-1], rtol=1e-6,
        atol=1e-6 * np.abs(with_sensitivities.sensitivities[key][-1]).max(),
    )  # fmt: skip
