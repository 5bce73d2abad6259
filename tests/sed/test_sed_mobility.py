"""Tests of sed.mobility: SED figures, tails and derivatives; constant and tabulated D."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import ndtri
from sed_strategies import (
    N_POSITIVE_MIN,
    SETTINGS,
    D_ref_cm2_s,
    densities,
    fwhm_eV,
    strict_fp,  # noqa: F401
    temperature_K,
    vacancy,
)

from sed import (
    N_CAP_REL,
    N_FLOOR_REL,
    BoxSED,
    ConstantMobility,
    ExponentialTailSED,
    GaussianMixtureSED,
    GaussianSED,
    Mobility,
    SEDMobility,
    TabulatedMobility,
    TabulatedSED,
    thermal_energy_eV,
)

# A fixed density grid through every regime: n <= 0, the linear floor tail, the formula, the
# overfull tail, and far beyond.
GRID = np.concatenate(
    [[-1.0, -1e-3, 0.0], np.geomspace(1e-20, 0.5, 200), np.linspace(0.5, 2.0, 300), [1e3, 1e300]]
)
# Monotonicity is checked to within a few ulp: the two sides of a tail boundary are evaluated by
# different (equally correct) floating-point expressions.
MONO_RTOL = 1e-14


def li3b7o12(T: float = 350.0, filling: str = "step") -> SEDMobility:
    """Li in Li3B7O12 (Gunawan et al. 2024): one Gaussian SED of 250 meV FWHM, v = 0.1."""
    return SEDMobility(GaussianSED(0.25), 1e-12, 1.0, T, vacancy_fraction=0.1, filling=filling)


def check_d_properties(model: SEDMobility, n_extra: list[float]) -> None:
    """D >= 0, > 0 for n > 0 (above underflow), 0 for n <= 0, finite, monotone, D(n_ref) = D_ref."""
    n = np.sort(np.concatenate([GRID * model.n_ref, n_extra]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D = np.asarray(model.D(n))
        dD = np.asarray(model.dD_dn(n))
        E = np.asarray(model.fermi_level_eV(n))
    assert np.all(np.isfinite(D))
    assert np.all(np.isfinite(dD))
    assert np.all(dD >= 0.0)
    assert not np.any(np.isnan(E))
    assert np.all(D[n <= 0.0] == 0.0)
    # D > 0 wherever the exact linear tail D(n_floor) n / n_floor is a normal double (below,
    # the true value underflows: e.g. an exponential tail at 200 K has D(n_floor) ~ 1e-99)
    d_floor = float(model.D(model.n_floor))
    n_pos = max(N_POSITIVE_MIN, model.n_floor * np.finfo(float).tiny / d_floor)
    assert np.all(D[n > n_pos] > 0.0)
    assert np.all(D[1:] >= D[:-1] * (1.0 - MONO_RTOL))
    # D(n_ref) = D_ref up to the conditioning of E_F at n_ref: ln n carries an ulp, which
    # d ln D / d ln n = S amplifies (S ~ 1e7 where n_ref half-fills a gap between two narrow
    # Gaussians, density ~1e-6 / eV: there 1.8e-9, found by hypothesis)
    s_ref = float(model.dD_dn(model.n_ref)) * model.n_ref / model.D_ref_cm2_s
    cond = 16.0 * np.finfo(float).eps * s_ref * max(1.0, abs(math.log(model.n_ref)))
    np.testing.assert_allclose(model.D(model.n_ref), model.D_ref_cm2_s, rtol=1e-12 + cond, atol=0)


# --------------------------------------------------------------------------- MODEL.md figures
def test_model_md_sanity_figures() -> None:
    """Step filling, 250 meV FWHM, v = 0.10, T = 300 K (MODEL.md section 3)."""
    model = li3b7o12(T=300.0)
    decades = math.log10(model.D(0.2) / model.D_ref_cm2_s)
    dE = model.fermi_level_eV(1.0) - model.fermi_level_eV(0.1)
    # MODEL.md: ~10^-3.9 and ~0.278 eV
    assert abs(decades - (-3.9)) < 0.05
    assert abs(dE - 0.278) < 0.002
    # precisely, from the closed form sigma (Phi^-1(0.2 (1 - v)) - Phi^-1(1 - v)) / (kT ln 10)
    sigma = 0.25 / (2 * math.sqrt(2 * math.log(2)))
    kT = thermal_energy_eV(300.0)
    np.testing.assert_allclose(
        decades, sigma * (ndtri(0.18) - ndtri(0.9)) / (kT * math.log(10)), rtol=1e-12
    )
    np.testing.assert_allclose(decades, -3.91819, atol=5e-6)
    np.testing.assert_allclose(dE, 0.278398, atol=5e-7)


def test_plateau_li3b7o12() -> None:
    """Li3B7O12, 350 K, D_ref 1e-12, D_foreign 2e-16 cm^2/s: plateau at n = 0.0406 n_ref.

    The measured value (4.06 %) sits within the observed 3-15 % range (Cs..K) of MODEL.md.
    """
    model = li3b7o12()
    n_p = model.plateau_fraction(2e-16)
    np.testing.assert_allclose(model.D(n_p), 2e-17, rtol=1e-10)
    np.testing.assert_allclose(n_p, 0.040606, rtol=1e-4)


def test_plateau_in_floor_tail_and_errors() -> None:
    model = li3b7o12()
    D_tiny = 1e-3 * model.D(model.n_floor)
    n_p = model.plateau_fraction(10 * D_tiny)
    np.testing.assert_allclose(model.D(n_p), D_tiny, rtol=1e-12)
    assert n_p < model.n_floor
    np.testing.assert_allclose(model.plateau_fraction(10 * model.D_ref_cm2_s), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="no plateau"):
        model.plateau_fraction(1e-10)
    with pytest.raises(ValueError, match="D_foreign_cm2_s"):
        model.plateau_fraction(-1.0)


# --------------------------------------------------------------------------- properties
@settings(SETTINGS, max_examples=60)
@given(fwhm=fwhm_eV, v=vacancy, T=temperature_K, D_ref=D_ref_cm2_s, n=densities)
def test_gaussian_step_properties(
    fwhm: float, v: float, T: float, D_ref: float, n: list[float]
) -> None:
    check_d_properties(SEDMobility(GaussianSED(fwhm), D_ref, 1.0, T, vacancy_fraction=v), n)


# each Fermi-Dirac model tabulates its filling (~0.1-1 s), so fewer examples
@settings(SETTINGS, max_examples=8)
@given(fwhm=fwhm_eV, v=vacancy, T=temperature_K, n=densities)
def test_gaussian_fermi_dirac_properties(fwhm: float, v: float, T: float, n: list[float]) -> None:
    model = SEDMobility(GaussianSED(fwhm), 1e-12, 1.0, T, vacancy_fraction=v, filling="fermi-dirac")
    check_d_properties(model, n)


shape_strategy = st.one_of(
    st.builds(BoxSED, st.floats(0.02, 1.0), st.floats(-0.5, 0.5)),
    st.builds(ExponentialTailSED, st.floats(0.005, 0.2), st.floats(-0.5, 0.5)),
    st.builds(
        lambda a, b, w: GaussianMixtureSED([(w, -0.1, a), (1.0 - w, 0.2, b)]),
        fwhm_eV,
        fwhm_eV,
        st.floats(0.05, 0.95),
    ),
)


@SETTINGS
@given(shape=shape_strategy, v=vacancy, T=temperature_K, n=densities)
@example(  # n_ref half-fills the gap between two narrow Gaussians (E_F ill-conditioned there)
    shape=GaussianMixtureSED([(0.5, -0.1, 0.0625), (0.5, 0.2, 0.0625)]), v=0.5, T=200.0, n=[0.0]
)
def test_other_shapes_properties(shape: object, v: float, T: float, n: list[float]) -> None:
    check_d_properties(SEDMobility(shape, 1e-12, 2.5, T, vacancy_fraction=v), n)  # type: ignore[arg-type]


def test_fermi_dirac_other_shapes() -> None:
    for shape in (BoxSED(0.3), ExponentialTailSED(0.05), TabulatedSED([-0.4, 0, 0.3], [0, 1, 0])):
        check_d_properties(SEDMobility(shape, 1e-12, 1.0, 400.0, filling="fermi-dirac"), [])


@pytest.mark.parametrize("filling", ["step", "fermi-dirac"])
def test_tabulated_sed_with_empty_gap(filling: str) -> None:
    """A zero-density gap makes the step E_F jump across it: D stays finite and monotone."""
    shape = TabulatedSED([-0.5, -0.3, -0.1, 0.0, 0.05, 0.1, 0.2, 0.35], [0, 2, 7, 5, 0, 0, 3, 0])
    check_d_properties(SEDMobility(shape, 1e-12, 1.0, 300.0, filling=filling), [])


def test_tails_exactly() -> None:
    model = li3b7o12()
    lo, cap = model.n_floor, model.n_cap
    np.testing.assert_allclose(lo, N_FLOOR_REL * model.N_sites, rtol=1e-15)
    np.testing.assert_allclose(cap, N_CAP_REL * model.N_sites, rtol=1e-15)
    D_lo = model.D(lo)
    # linear to zero below n_floor, constant slope down to and through 0
    np.testing.assert_allclose(
        model.D([0.5 * lo, 1e-3 * lo]), [0.5 * D_lo, 1e-3 * D_lo], rtol=1e-14
    )
    assert model.D(0.0) == 0.0
    assert model.D(-3.0) == 0.0
    for x in (-3.0, 0.0, 0.5 * lo):
        np.testing.assert_allclose(model.dD_dn(x), D_lo / lo, rtol=1e-14)
    # overfull: ln D linear in ln n with the slope at the cap
    S = model.dD_dn(cap) * cap / model.D(cap)
    n = cap * np.exp([1e-4, 2e-3])
    np.testing.assert_allclose(np.log(model.D(n) / model.D(cap)), S * np.log(n / cap), rtol=1e-9)
    # E_F and E_act continue with D
    np.testing.assert_allclose(
        model.activation_shift_eV(n),
        -model.kT_eV * np.log(model.D(n) / model.D_ref_cm2_s),
        rtol=1e-12,
    )
    assert model.fermi_level_eV(0.0) == -np.inf
    assert model.activation_shift_eV(-1.0) == np.inf


def test_nan_propagates() -> None:
    model = li3b7o12()
    assert np.isnan(model.D(np.nan))
    assert np.isnan(model.dD_dn(np.nan))


def test_scalar_in_float_out() -> None:
    model = li3b7o12()
    for value in (
        model.D(0.5),
        model.dD_dn(0.5),
        model.fermi_level_eV(0.5),
        model.activation_shift_eV(0.5),
        model.sed_eV(0.0),
        model.psed_eV(0.0, 0.5),
    ):
        assert isinstance(value, float)
    assert np.shape(model.D(np.ones((3, 2)))) == (3, 2)


def test_exponential_tail_power_law() -> None:
    """g = exp((E - top)/tail)/tail, step filling: D = D_ref (n / n_ref)^(tail / kT)."""
    tail, T = 0.04, 320.0
    model = SEDMobility(ExponentialTailSED(tail, top_eV=0.1), 3e-11, 0.7, T, vacancy_fraction=0.2)
    n = np.geomspace(1e-8, 0.75, 50)
    expected = 3e-11 * (n / 0.7) ** (tail / thermal_energy_eV(T))
    np.testing.assert_allclose(model.D(n), expected, rtol=1e-11)
    np.testing.assert_allclose(
        model.dD_dn(n), expected * tail / thermal_energy_eV(T) / n, rtol=1e-10
    )


@pytest.mark.parametrize("filling", ["step", "fermi-dirac"])
def test_dD_dn_matches_finite_differences(filling: str) -> None:
    model = li3b7o12(filling=filling)
    rng = np.random.default_rng(11)
    n = np.concatenate([rng.uniform(1e-3, 1.1, 40), np.geomspace(1e-11, 1e-3, 10)])
    h = 1e-6 * n
    fd = (np.asarray(model.D(n + h)) - np.asarray(model.D(n - h))) / (2 * h)
    np.testing.assert_allclose(model.dD_dn(n), fd, rtol=1e-7, atol=0)


@pytest.mark.parametrize("filling", ["step", "fermi-dirac"])
def test_psed_and_sed_integrate(filling: str) -> None:
    """The SED holds N_s sites and the PSED exactly n ions; E_act shift is -(E_F - E_F,ref)."""
    model = li3b7o12(filling=filling)
    lo, hi = model.shape.energy_range_eV()
    total, _ = quad(model.sed_eV, lo - 1, hi + 1, points=[lo, hi], limit=200)
    np.testing.assert_allclose(total, model.N_sites, rtol=1e-9)
    for n in (0.05, 0.5, 1.0):
        Ef = model.fermi_level_eV(n)
        if filling == "step":
            filled, _ = quad(model.psed_eV, lo - 1, Ef, args=(n,), limit=200, epsrel=1e-12)
        else:
            filled, _ = quad(
                model.psed_eV, lo - 1, hi + 1, args=(n,), points=[Ef], limit=200, epsrel=1e-12
            )
        np.testing.assert_allclose(filled, n, rtol=1e-8)
        np.testing.assert_allclose(
            model.activation_shift_eV(n), model.fermi_level_ref_eV - Ef, rtol=0, atol=1e-15
        )
    assert model.psed_eV(Ef + 1.0, 0.0) == 0.0
    grid = model.psed_eV(np.linspace(lo, hi, 7)[:, None], np.array([0.1, 0.9]))
    assert np.shape(grid) == (7, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vacancy_fraction": 0.0}, "vacancy_fraction"),
        ({"vacancy_fraction": 1.0}, "vacancy_fraction"),
        ({"filling": "boltzmann"}, "filling"),
        ({"temperature_K": -1.0}, "temperature_K"),
        ({"D_ref_cm2_s": 0.0}, "D_ref_cm2_s"),
        ({"n_ref": float("nan")}, "n_ref"),
        ({"temperature_K": 1.0}, "float64"),
    ],
)
def test_sed_validation(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "shape": GaussianSED(0.25),
        "D_ref_cm2_s": 1e-12,
        "n_ref": 1.0,
        "temperature_K": 350.0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SEDMobility(**args)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SiteEnergyDistribution"):
        SEDMobility(object(), 1e-12, 1.0, 300.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- other models
def test_constant_mobility() -> None:
    model = ConstantMobility(2e-16)
    assert isinstance(model, Mobility)
    assert model.D(-1.0) == 2e-16
    np.testing.assert_array_equal(model.D(np.array([0.0, 0.5, 3.0])), np.full(3, 2e-16))
    np.testing.assert_array_equal(model.dD_dn(np.array([0.0, 0.5])), np.zeros(2))
    assert isinstance(model.D(0.3), float)
    with pytest.raises(ValueError, match="D_cm2_s"):
        ConstantMobility(-1.0)


def test_tabulated_mobility_interpolation() -> None:
    model = TabulatedMobility([0.1, 0.5, 1.0], [1e-16, 1e-14, 1e-12])
    assert isinstance(model, Mobility)
    # ln D linear in n: the midpoint is the geometric mean
    np.testing.assert_allclose(model.D([0.3, 0.75]), [1e-15, 1e-13], rtol=1e-12)
    # constant beyond the last point, linear to zero below the first, 0 at and below 0
    np.testing.assert_allclose(model.D([1.0, 1.5, 100.0]), [1e-12] * 3, rtol=1e-14)
    np.testing.assert_allclose(model.D([0.05, 0.01]), [0.5e-16, 0.1e-16], rtol=1e-14)
    assert model.D(0.0) == 0.0
    assert model.D(-1.0) == 0.0
    # derivative: right-hand, 0 beyond the last point
    np.testing.assert_allclose(model.dD_dn(0.3), 1e-15 * math.log(100) / 0.4, rtol=1e-12)
    np.testing.assert_allclose(model.dD_dn([-1.0, 0.05]), [1e-15, 1e-15], rtol=1e-14)
    assert model.dD_dn(1.2) == 0.0


def test_tabulated_mobility_from_zero() -> None:
    model = TabulatedMobility([0.0, 1.0], [1e-16, 1e-12])
    np.testing.assert_allclose(model.D([1e-9, 0.5]), [1e-16, 1e-14], rtol=1e-8)
    assert model.D(0.0) == 0.0
    assert model.n_lo == pytest.approx(1e-12)
    check_tabulated_monotone(model)


def check_tabulated_monotone(model: TabulatedMobility) -> None:
    n = np.sort(np.concatenate([GRID, [-5.0]]))
    D = np.asarray(model.D(n))
    assert np.all(np.isfinite(D)) and np.all(np.isfinite(np.asarray(model.dD_dn(n))))
    assert np.all(D[1:] >= D[:-1] * (1.0 - MONO_RTOL))


@pytest.mark.parametrize(
    ("n", "D", "message"),
    [
        ([0.1], [1e-12], "at least 2"),
        ([0.1, 0.1], [1e-12, 1e-12], "strictly increasing"),
        ([0.5, 0.1], [1e-12, 1e-12], "strictly increasing"),
        ([-0.1, 0.1], [1e-12, 1e-12], ">= 0"),
        ([0.1, 0.2], [1e-12, 0.0], "> 0"),
        ([0.1, np.inf], [1e-12, 1e-12], "finite"),
        ([0.1, 0.2], [1e-12], "same length"),
    ],
)
def test_tabulated_mobility_validation(n: list[float], D: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TabulatedMobility(n, D)
