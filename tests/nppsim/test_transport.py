"""Transport utilities: Nernst-Einstein, Haven ratio, carrier density and piecewise Arrhenius fits.

Published numbers: 14 Na per 1096.37 A^3 is 1.277e22 cm^-3, and 6.6 mS/cm at 298.15 K with that
density gives D_sigma = 8.29e-8 cm^2/s; NaCl (a = 5.6402 A, Z = 4, rho = 2.165 g/cm^3,
M = 58.443 g/mol) has 2.23e22 Na per cm^3 by either route. Arrhenius fits are checked on synthetic
ln(sigma T) lines with a kink, exactly without noise and statistically with seeded noise.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import constants

from nppsim.transport import (
    HAVEN_RATIO_LI3B7O12,
    MIN_POINTS_PER_SEGMENT,
    ArrheniusFit,
    D_sigma_from_conductivity,
    D_sigma_from_D_tracer,
    D_tracer_from_D_sigma,
    carrier_density_from_cell,
    carrier_density_from_density,
    conductivity_from_D_sigma,
    conductivity_from_resistance,
    fit_arrhenius,
    haven_ratio,
)
from nppsim.units import K_B_EV_K
from tests import strategies as hs

# No example database: the suite must not write files into the work tree.
HYPOTHESIS = settings(deadline=None, database=None, max_examples=60)

N_NA_CM3 = 14 / 1096.37e-24


def piecewise_sigma(
    T_K: np.ndarray, kinks_K: list[float], E_eV: list[float], ln_A_hot: float, jumps: list[float]
) -> np.ndarray:
    """sigma (S/cm) of ln(sigma T) = ln A_k - E_k / (k_B T), segment k between kinks (cold to hot).

    The hottest segment has ln A = ln_A_hot; going colder, each ln A_k is set so that the lines
    meet at the kink, plus jumps[k] (0 for a continuous kink).
    """
    ln_A = [0.0] * len(E_eV)
    ln_A[-1] = ln_A_hot
    for k in range(len(E_eV) - 2, -1, -1):
        x_kink = 1.0 / (K_B_EV_K * kinks_K[k])
        ln_A[k] = ln_A[k + 1] + (E_eV[k] - E_eV[k + 1]) * x_kink + jumps[k]
    seg = np.searchsorted(kinks_K, T_K, side="right")
    lnA = np.asarray(ln_A)[seg]
    E = np.asarray(E_eV)[seg]
    return np.exp(lnA - E / (K_B_EV_K * T_K)) / T_K


# ---- Nernst-Einstein, Haven ratio, carrier density ----------------------------------------------


def test_carrier_density_from_cell_published():
    assert carrier_density_from_cell(14, 1096.37) == pytest.approx(1.277e22, rel=1e-3)


def test_D_sigma_published_number():
    # 6.6e-3 S/cm * 1.380649e-23 J/K * 298.15 K / (1.27694e22 cm^-3 * (1.602177e-19 C)^2)
    # = 8.2884e-8 cm^2/s
    n = carrier_density_from_cell(14, 1096.37)
    D = D_sigma_from_conductivity(6.6e-3, n, 298.15)
    by_hand = 6.6e-3 * constants.k * 298.15 / (N_NA_CM3 * constants.e**2)
    assert isinstance(D, float)
    assert D == pytest.approx(8.29e-8, rel=2e-3)
    assert D == pytest.approx(by_hand, rel=1e-12)
    assert conductivity_from_D_sigma(D, n, 298.15) == pytest.approx(6.6e-3, rel=1e-12)


def test_charge_enters_squared():
    D1 = D_sigma_from_conductivity(1e-3, 1e22, 500.0)
    assert D_sigma_from_conductivity(1e-3, 1e22, 500.0, charge=2) == pytest.approx(D1 / 4, 1e-14)
    assert D_sigma_from_conductivity(1e-3, 1e22, 500.0, charge=-1) == pytest.approx(D1, 1e-14)


def test_nernst_einstein_broadcasts_arrays():
    sigma = np.array([1e-6, 1e-4, 1e-2])
    T = np.array([300.0, 400.0, 500.0])
    D = D_sigma_from_conductivity(sigma, 1e22, T)
    assert isinstance(D, np.ndarray)
    assert D.shape == (3,)
    expected = [D_sigma_from_conductivity(s, 1e22, t) for s, t in zip(sigma, T, strict=True)]
    np.testing.assert_allclose(D, expected, rtol=1e-14, atol=0.0)
    np.testing.assert_allclose(conductivity_from_D_sigma(D, 1e22, T), sigma, rtol=1e-12, atol=0)


def test_carrier_density_from_density_nacl():
    a_A, Z, rho, M = 5.6402, 4, 2.165, 58.443
    from_cell = carrier_density_from_cell(Z, a_A**3)
    from_rho = carrier_density_from_density(rho, M, 1)
    assert from_rho == pytest.approx(constants.N_A * 2.165 / 58.443, rel=1e-14)
    assert from_rho == pytest.approx(2.231e22, rel=1e-3)
    assert from_cell == pytest.approx(from_rho, rel=2e-3)
    # the X-ray density of the cell gives back exactly the cell's ion density
    rho_xray = Z * M / (constants.N_A * a_A**3 * 1e-24)
    assert carrier_density_from_density(rho_xray, M, 1) == pytest.approx(from_cell, rel=1e-12)
    assert carrier_density_from_density(rho, M, 3) == pytest.approx(3 * from_rho, rel=1e-14)


def test_conductivity_from_resistance():
    # 1 kOhm across a 1 mm plate with 0.5 cm^2 electrodes: 0.1 / (1000 * 0.5) = 2e-4 S/cm
    assert conductivity_from_resistance(1.0e3, 0.1, 0.5) == pytest.approx(2.0e-4, rel=1e-14)


def test_haven_ratio_default_is_li3b7o12():
    assert HAVEN_RATIO_LI3B7O12 == 0.5
    assert D_tracer_from_D_sigma(2.0e-8) == pytest.approx(1.0e-8, rel=1e-15)
    assert D_sigma_from_D_tracer(1.0e-8) == pytest.approx(2.0e-8, rel=1e-15)
    assert haven_ratio(1.0e-8, 2.0e-8) == pytest.approx(0.5, rel=1e-15)
    assert D_tracer_from_D_sigma(2.0e-8, haven_ratio=0.3) == pytest.approx(6.0e-9, rel=1e-15)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: D_sigma_from_conductivity(-1e-3, 1e22, 300.0), "sigma_S_cm"),
        (lambda: D_sigma_from_conductivity(1e-3, 0.0, 300.0), "n_cm3"),
        (lambda: D_sigma_from_conductivity(1e-3, 1e22, -5.0), "T_K"),
        (lambda: D_sigma_from_conductivity(1e-3, 1e22, math.nan), "T_K"),
        (lambda: D_sigma_from_conductivity(1e-3, 1e22, 300.0, charge=0), "charge"),
        (lambda: conductivity_from_D_sigma(math.inf, 1e22, 300.0), "D_cm2_s"),
        (lambda: haven_ratio(0.0, 1e-8), "D_tracer"),
        (lambda: D_tracer_from_D_sigma(1e-8, haven_ratio=0.0), "haven_ratio"),
        (lambda: D_sigma_from_D_tracer(1e-8, haven_ratio=-0.5), "haven_ratio"),
        (lambda: carrier_density_from_cell(14, 0.0), "cell_volume_A3"),
        (lambda: carrier_density_from_density(2.0, -1.0, 1), "molar_mass"),
        (lambda: conductivity_from_resistance(0.0, 0.1, 1.0), "R_ohm"),
    ],
)
def test_bad_inputs_raise_one_line(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


# ---- Arrhenius fits ------------------------------------------------------------------------------

KINK_K = 400.0
E_COLD_EV, E_HOT_EV = 0.8, 0.5
LN_A_HOT = 10.0


def kink_data(n: int = 31, T_min: float = 300.0, T_max: float = 550.0):
    T = np.linspace(T_min, T_max, n)
    return T, piecewise_sigma(T, [KINK_K], [E_COLD_EV, E_HOT_EV], LN_A_HOT, [0.0])


def test_single_line_exact():
    T = np.linspace(300.0, 600.0, 7)
    sigma = np.exp(12.0 - 0.65 / (K_B_EV_K * T)) / T
    fit = fit_arrhenius(T[::-1], sigma[::-1])  # order does not matter
    assert fit.n_segments == 1
    assert fit.breaks_K == ()
    assert fit.T_ranges_K == ((300.0, 600.0),)
    assert fit.n_points == (7,)
    np.testing.assert_allclose(fit.activation_energies_eV, [0.65], rtol=1e-9, atol=0)
    np.testing.assert_allclose(fit.ln_prefactors, [12.0], rtol=1e-9, atol=0)
    np.testing.assert_allclose(fit.prefactors_S_K_cm, [math.exp(12.0)], rtol=1e-9, atol=0)
    assert fit.activation_energies_stderr_eV[0] < 1e-12
    assert fit_arrhenius(T, sigma, n_segments=1) == fit


def test_kink_exact_with_given_break():
    T, sigma = kink_data()
    fit = fit_arrhenius(T, sigma, breaks_K=KINK_K)
    assert fit.breaks_K == (KINK_K,)
    np.testing.assert_allclose(fit.activation_energies_eV, [E_COLD_EV, E_HOT_EV], rtol=1e-9)
    ln_A_cold = LN_A_HOT + (E_COLD_EV - E_HOT_EV) / (K_B_EV_K * KINK_K)
    np.testing.assert_allclose(fit.ln_prefactors, [ln_A_cold, LN_A_HOT], rtol=1e-9)
    # T = 400 K exactly is a data point: it belongs to the hotter segment
    assert fit.T_ranges_K[1][0] == KINK_K
    assert sum(fit.n_points) == T.size
    np.testing.assert_allclose(fit.sigma_S_cm(T), sigma, rtol=1e-9, atol=0)


def test_kink_found_automatically():
    # no data point at the kink: the break is reported where the two fitted lines cross
    T, sigma = kink_data(n=26, T_min=302.0, T_max=552.0)
    assert not np.any(T == KINK_K)
    fit = fit_arrhenius(T, sigma, n_segments=2)
    assert fit.breaks_K[0] == pytest.approx(KINK_K, rel=1e-9)
    np.testing.assert_allclose(fit.activation_energies_eV, [E_COLD_EV, E_HOT_EV], rtol=1e-9)
    assert fit.T_ranges_K[0][1] < KINK_K < fit.T_ranges_K[1][0]


def test_two_kinks_found_automatically():
    kinks = [350.0, 480.0]
    E = [0.9, 0.6, 0.35]
    T = np.linspace(292.0, 602.0, 32)  # 10 K steps that miss both kinks
    sigma = piecewise_sigma(T, kinks, E, 8.0, [0.0, 0.0])
    fit = fit_arrhenius(T, sigma, n_segments=3)
    np.testing.assert_allclose(fit.breaks_K, kinks, rtol=1e-9)
    np.testing.assert_allclose(fit.activation_energies_eV, E, rtol=1e-9)


def test_break_at_gap_midpoint_when_lines_do_not_cross_there():
    # a jump of ln(sigma T) by 2 at the kink: the lines cross far from the gap 395-405 K
    T = np.array([300.0, 330.0, 360.0, 395.0, 405.0, 450.0, 500.0, 550.0])
    sigma = piecewise_sigma(T, [KINK_K], [E_COLD_EV, E_HOT_EV], LN_A_HOT, [2.0])
    fit = fit_arrhenius(T, sigma, n_segments=2)
    assert fit.breaks_K == (400.0,)
    np.testing.assert_allclose(fit.sigma_S_cm(T), sigma, rtol=1e-9, atol=0)


def test_noisy_kink_within_three_standard_errors():
    rng = np.random.default_rng(20240814)
    T, sigma = kink_data(n=41)
    noisy = sigma * np.exp(rng.normal(0.0, 0.03, T.size))
    fit = fit_arrhenius(T, noisy, breaks_K=[KINK_K])
    ln_A_cold = LN_A_HOT + (E_COLD_EV - E_HOT_EV) / (K_B_EV_K * KINK_K)
    for got, se, true in zip(
        fit.activation_energies_eV + fit.ln_prefactors,
        fit.activation_energies_stderr_eV + fit.ln_prefactors_stderr,
        (E_COLD_EV, E_HOT_EV, ln_A_cold, LN_A_HOT),
        strict=True,
    ):
        assert 0.0 < se
        assert abs(got - true) < 3.0 * se
    auto = fit_arrhenius(T, noisy, n_segments=2)
    assert abs(auto.breaks_K[0] - KINK_K) < 15.0
    for got, se, true in zip(
        auto.activation_energies_eV,
        auto.activation_energies_stderr_eV,
        (E_COLD_EV, E_HOT_EV),
        strict=True,
    ):
        assert abs(got - true) < 3.0 * se


def test_standard_errors_match_scatter_of_repeated_fits():
    # 400 noisy realisations: the spread of the fitted E_a and ln A and their correlation must
    # match the reported standard errors (relative sampling error of a std from 400 fits ~ 4 %)
    rng = np.random.default_rng(7)
    T = np.linspace(300.0, 500.0, 12)
    sigma = np.exp(11.0 - 0.7 / (K_B_EV_K * T)) / T
    fits = [fit_arrhenius(T, sigma * np.exp(rng.normal(0.0, 0.05, T.size))) for _ in range(400)]
    E = np.array([f.activation_energies_eV[0] for f in fits])
    ln_A = np.array([f.ln_prefactors[0] for f in fits])
    E_se = np.mean([f.activation_energies_stderr_eV[0] for f in fits])
    ln_A_se = np.mean([f.ln_prefactors_stderr[0] for f in fits])
    assert np.std(E, ddof=1) == pytest.approx(E_se, rel=0.15)
    assert np.std(ln_A, ddof=1) == pytest.approx(ln_A_se, rel=0.15)
    assert np.corrcoef(E, ln_A)[0, 1] == pytest.approx(fits[0].correlations[0], abs=0.01)
    assert abs(np.mean(E) - 0.7) < 4.0 * E_se / math.sqrt(len(fits))


def test_evaluation_outside_data_extrapolates_nearest_segment():
    T, sigma = kink_data()
    fit = fit_arrhenius(T, sigma, breaks_K=[KINK_K])
    for T_eval, k in ((150.0, 0), (399.0, 0), (400.0, 1), (1500.0, 1)):
        A = fit.prefactors_S_K_cm[k]
        expected = A / T_eval * math.exp(-fit.activation_energies_eV[k] / (K_B_EV_K * T_eval))
        got = fit.sigma_S_cm(T_eval)
        assert isinstance(got, float)
        assert got == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(fit.segment_index([150.0, 399.0, 400.0, 1500.0]), [0, 0, 1, 1])


def test_D_sigma_from_fit():
    T, sigma = kink_data()
    fit = fit_arrhenius(T, sigma, breaks_K=[KINK_K])
    T_eval = np.array([320.0, 450.0])
    D = fit.D_sigma_cm2_s(T_eval, N_NA_CM3)
    expected = D_sigma_from_conductivity(fit.sigma_S_cm(T_eval), N_NA_CM3, T_eval)
    np.testing.assert_allclose(D, expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(
        fit.D_sigma_cm2_s(T_eval, N_NA_CM3, charge=2), np.asarray(expected) / 4, rtol=1e-14
    )


def test_fit_is_frozen_and_reports():
    T, sigma = kink_data()
    fit = fit_arrhenius(T, sigma, breaks_K=[KINK_K])
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.breaks_K = (300.0,)  # type: ignore[misc]
    text = fit.report()
    assert "2 segment(s)" in text
    assert "E_a = 0.8" in text
    assert len(text.splitlines()) == 4
    with pytest.raises(ValueError, match="breaks_K"):
        dataclasses.replace(fit, breaks_K=())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"T_K": [300.0, -1.0, 400.0], "sigma_S_cm": [1e-3] * 3}, "T_K"),
        ({"T_K": [300.0, 350.0, 400.0], "sigma_S_cm": [1e-3, 0.0, 1e-3]}, "sigma_S_cm"),
        ({"T_K": [300.0, 350.0, math.nan], "sigma_S_cm": [1e-3] * 3}, "T_K"),
        ({"T_K": [300.0, 350.0, 400.0], "sigma_S_cm": [1e-3] * 4}, "3 values"),
        ({"T_K": [300.0, 350.0], "sigma_S_cm": [1e-3] * 2}, "need >= 3 points"),
        ({"T_K": [300.0, 300.0, 300.0], "sigma_S_cm": [1e-3] * 3}, "2 distinct"),
        ({"T_K": np.linspace(300, 500, 9), "sigma_S_cm": [1e-3] * 9, "breaks_K": [450, 350]},
         "increase strictly"),
        ({"T_K": np.linspace(300, 500, 9), "sigma_S_cm": [1e-3] * 9, "breaks_K": [-350]},
         "breaks_K"),
        ({"T_K": np.linspace(300, 500, 9), "sigma_S_cm": [1e-3] * 9, "breaks_K": [330]},
         "segment 0"),
        ({"T_K": np.linspace(300, 500, 9), "sigma_S_cm": [1e-3] * 9, "breaks_K": [600]},
         "segment 1"),
        ({"T_K": np.linspace(300, 500, 9), "sigma_S_cm": [1e-3] * 9, "breaks_K": [400],
          "n_segments": 2}, "not both"),
        ({"T_K": np.linspace(300, 500, 9), "sigma_S_cm": [1e-3] * 9, "n_segments": 0}, ">= 1"),
        ({"T_K": np.linspace(300, 500, 8), "sigma_S_cm": [1e-3] * 8, "n_segments": 3},
         "cannot split"),
        ({"T_K": [[300.0, 350.0, 400.0]], "sigma_S_cm": [[1e-3] * 3]}, "1-D"),
    ],
)  # fmt: skip
def test_fit_arrhenius_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        fit_arrhenius(**kwargs)
    assert "\n" not in str(info.value)


def test_minimum_segment_size_is_three():
    assert MIN_POINTS_PER_SEGMENT == 3
    T = np.array([300.0, 320.0, 340.0, 420.0, 440.0, 460.0])
    sigma = piecewise_sigma(T, [KINK_K], [E_COLD_EV, E_HOT_EV], LN_A_HOT, [0.0])
    assert fit_arrhenius(T, sigma, n_segments=2).n_points == (3, 3)
    with pytest.raises(ValueError, match="cannot split"):
        fit_arrhenius(T[1:], sigma[1:], n_segments=2)


def test_equal_temperatures_stay_in_one_segment():
    # two measurements at 360 K, one on the cold line and one on the hot line (a jump of 1 in
    # ln(sigma T)): splitting between them would fit exactly, but equal temperatures are never split
    T = np.array([300.0, 320.0, 340.0, 360.0, 360.0, 380.0, 400.0, 420.0])
    sigma = piecewise_sigma(T, [360.0], [E_COLD_EV, E_HOT_EV], LN_A_HOT, [1.0])
    x = 1.0 / (K_B_EV_K * 360.0)
    ln_A_cold = LN_A_HOT + (E_COLD_EV - E_HOT_EV) * x + 1.0
    sigma[3] = math.exp(ln_A_cold - E_COLD_EV * x) / 360.0
    # split between the two 360 K points would be exact
    assert fit_arrhenius(T[:4], sigma[:4]).ssr[0] < 1e-20
    fit = fit_arrhenius(T, sigma, n_segments=2)
    assert fit.T_ranges_K[0][1] < fit.T_ranges_K[1][0]
    assert fit.n_points in ((3, 5), (5, 3))
    assert sum(fit.ssr) > 1e-3


# ---- properties ----------------------------------------------------------------------------------

conductivities = hs.log_floats(1e-15, 1e2)
haven_ratios = hs.bounded_floats(0.05, 1.5)
charges = st.sampled_from((1, 2, 3, -1, -2))


@HYPOTHESIS
@given(
    sigma=conductivities,
    n=hs.densities_cm3(),
    T=hs.temperatures_K(),
    factor=hs.log_floats(1e-3, 1e3),
    z=charges,
)
def test_nernst_einstein_linear_in_sigma_inverse_in_n(sigma, n, T, factor, z):
    D = D_sigma_from_conductivity(sigma, n, T, z)
    assert D_sigma_from_conductivity(factor * sigma, n, T, z) == pytest.approx(factor * D, 1e-13)
    assert D_sigma_from_conductivity(sigma, factor * n, T, z) == pytest.approx(D / factor, 1e-13)
    assert D_sigma_from_conductivity(sigma, n, factor * T, z) == pytest.approx(factor * D, 1e-13)


@HYPOTHESIS
@given(
    sigma=conductivities,
    D=hs.diffusivities_cm2_s(),
    n=hs.densities_cm3(),
    T=hs.temperatures_K(),
    z=charges,
)
def test_nernst_einstein_round_trips(sigma, D, n, T, z):
    D_from_sigma = D_sigma_from_conductivity(sigma, n, T, z)
    assert conductivity_from_D_sigma(D_from_sigma, n, T, z) == pytest.approx(sigma, rel=1e-12)
    sigma_from_D = conductivity_from_D_sigma(D, n, T, z)
    assert D_sigma_from_conductivity(sigma_from_D, n, T, z) == pytest.approx(D, rel=1e-12)


@HYPOTHESIS
@given(D=hs.diffusivities_cm2_s(), h=haven_ratios)
def test_haven_round_trips(D, h):
    D_tracer = D_tracer_from_D_sigma(D, haven_ratio=h)
    assert D_sigma_from_D_tracer(D_tracer, haven_ratio=h) == pytest.approx(D, rel=1e-12)
    assert haven_ratio(D_tracer, D) == pytest.approx(h, rel=1e-12)
    assert D_tracer_from_D_sigma(D_sigma_from_D_tracer(D, h), h) == pytest.approx(D, rel=1e-12)


@st.composite
def piecewise_datasets(draw: st.DrawFn):
    """Noise-free piecewise Arrhenius data: 1-3 segments of 3-8 points in 150-1600 K."""
    k = draw(st.integers(1, 3))
    E = [draw(hs.bounded_floats(0.05, 1.5)) for _ in range(k)]
    edges = [draw(hs.bounded_floats(150.0, 300.0))]
    for _ in range(k):
        edges.append(edges[-1] * draw(hs.bounded_floats(1.1, 1.6)))
    jumps = [draw(hs.bounded_floats(-1.0, 1.0)) if draw(st.booleans()) else 0.0 for _ in E[1:]]
    # each segment's points in [edge_k, edge_k+1); the last one also includes its upper edge
    T = np.concatenate(
        [
            np.linspace(lo, hi, draw(st.integers(3, 8)), endpoint=(i == k - 1))
            for i, (lo, hi) in enumerate(itertools.pairwise(edges))
        ]
    )
    kinks = edges[1:-1]
    sigma = piecewise_sigma(T, kinks, E, draw(hs.bounded_floats(0.0, 20.0)), jumps)
    return T, sigma, kinks, E


@HYPOTHESIS
@given(data=piecewise_datasets())
def test_fit_reproduces_noise_free_piecewise_data(data):
    T, sigma, kinks, E = data
    fit = fit_arrhenius(T, sigma, breaks_K=kinks)
    np.testing.assert_allclose(fit.sigma_S_cm(T), sigma, rtol=1e-9, atol=0)
    np.testing.assert_allclose(fit.activation_energies_eV, E, rtol=1e-8, atol=1e-10)
    auto = fit_arrhenius(T, sigma, n_segments=len(E))
    np.testing.assert_allclose(auto.sigma_S_cm(T), sigma, rtol=1e-9, atol=0)
    assert isinstance(auto, ArrheniusFit)
