"""Tests of sed.shapes: normalisation, cdf/inverse consistency, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import ndtr
from sed_strategies import strict_fp  # noqa: F401

from sed import (
    BoxSED,
    ExponentialTailSED,
    GaussianMixtureSED,
    GaussianSED,
    SiteEnergyDistribution,
    TabulatedSED,
    fwhm_to_sigma,
)


def _tabulated() -> TabulatedSED:
    # an asymmetric, unnormalised g(E) that vanishes at both grid ends and has a zero-mass gap
    E = np.array([-0.5, -0.3, -0.1, 0.0, 0.05, 0.1, 0.2, 0.35])
    g = np.array([0.0, 2.0, 7.0, 5.0, 0.0, 0.0, 3.0, 0.0])
    return TabulatedSED(E, g)


SHAPES = {
    "gaussian": GaussianSED(0.25, center_eV=0.1),
    "mixture": GaussianMixtureSED([(2.0, -0.1, 0.2), (1.0, 0.25, 0.08)]),
    "box": BoxSED(0.3, center_eV=-0.05),
    "exponential": ExponentialTailSED(0.04, top_eV=0.2),
    "tabulated": _tabulated(),
}


@pytest.fixture(params=list(SHAPES), ids=list(SHAPES))
def shape(request: pytest.FixtureRequest) -> SiteEnergyDistribution:
    return SHAPES[request.param]


def _integrate(shape: SiteEnergyDistribution, a: float, b: float) -> float:
    # the support ends are where a box or a tail jumps to zero
    points = [p for p in (*shape.breakpoints_eV(), *shape.support_eV()) if a < p < b]
    value, _ = quad(shape.density, a, b, points=points or None, limit=400, epsabs=1e-15)
    return value


def test_is_protocol(shape: SiteEnergyDistribution) -> None:
    assert isinstance(shape, SiteEnergyDistribution)


def test_density_integrates_to_one(shape: SiteEnergyDistribution) -> None:
    # the support leaves out < 1e-20 of the mass by construction
    lo, hi = shape.support_eV()
    np.testing.assert_allclose(_integrate(shape, lo, hi), 1.0, rtol=1e-11, atol=0)


def test_cdf_is_integral_of_density(shape: SiteEnergyDistribution) -> None:
    rng = np.random.default_rng(1)
    lo, hi = shape.energy_range_eV()
    a, b = np.sort(rng.uniform(lo, hi, size=(2, 8)), axis=0)
    for ai, bi in zip(a, b, strict=True):
        expected = _integrate(shape, ai, bi)
        got = shape.cdf(bi) - shape.cdf(ai)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_inv_cdf_roundtrip(shape: SiteEnergyDistribution) -> None:
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.uniform(1e-6, 1 - 1e-6, 200), [1e-12, 1e-9, 0.5, 1 - 1e-9]])
    E = np.asarray(shape.inv_cdf(p))
    np.testing.assert_allclose(shape.cdf(E), p, rtol=1e-10, atol=1e-15)
    # and in the other direction, on energies that carry sites (g > 0)
    E0 = rng.uniform(*shape.energy_range_eV(), 400)
    E0 = E0[(np.asarray(shape.density(E0)) > 1e-3) & (np.asarray(shape.cdf(E0)) < 1 - 1e-9)]
    assert E0.size > 50
    np.testing.assert_allclose(shape.inv_cdf(shape.cdf(E0)), E0, rtol=0, atol=1e-10)


def test_scalar_in_float_out(shape: SiteEnergyDistribution) -> None:
    for value in (shape.density(0.0), shape.cdf(0.0), shape.inv_cdf(0.3)):
        assert isinstance(value, float)
    assert np.shape(shape.density(np.zeros((2, 3)))) == (2, 3)
    assert np.shape(shape.inv_cdf(np.full((4, 1), 0.5))) == (4, 1)


def test_energy_range_covers_sites(shape: SiteEnergyDistribution) -> None:
    lo, hi = shape.energy_range_eV()
    assert lo < hi
    assert shape.cdf(lo) < 1e-6
    assert 1.0 - shape.cdf(hi) < 1e-6


def test_cdf_monotone_and_bounded(shape: SiteEnergyDistribution) -> None:
    lo, hi = shape.energy_range_eV()
    E = np.linspace(lo - 1.0, hi + 1.0, 5001)
    G = np.asarray(shape.cdf(E))
    assert np.all(np.diff(G) >= 0.0)
    assert G.min() >= 0.0
    assert G.max() <= 1.0


def test_gaussian_fwhm_convention() -> None:
    s = GaussianSED(0.25, center_eV=0.3)
    np.testing.assert_allclose(s.sigma_eV, 0.25 / (2 * math.sqrt(2 * math.log(2))), rtol=1e-15)
    np.testing.assert_allclose(fwhm_to_sigma(0.25), s.sigma_eV, rtol=1e-15)
    peak = s.density(0.3)
    np.testing.assert_allclose(s.density([0.3 - 0.125, 0.3 + 0.125]), 0.5 * peak, rtol=1e-13)
    np.testing.assert_allclose(peak, 1 / (s.sigma_eV * math.sqrt(2 * math.pi)), rtol=1e-14)


def test_mixture_single_component_equals_gaussian() -> None:
    mix = GaussianMixtureSED([(3.0, 0.1, 0.2)])
    g = GaussianSED(0.2, center_eV=0.1)
    p = np.array([1e-300, 1e-12, 0.01, 0.5, 0.99, 1 - 1e-12])
    np.testing.assert_allclose(mix.inv_cdf(p), g.inv_cdf(p), rtol=0, atol=1e-12)
    assert mix.components == ((1.0, 0.1, 0.2),)


def test_mixture_weights_normalised() -> None:
    mix = GaussianMixtureSED([(2.0, -0.1, 0.2), (6.0, 0.3, 0.1)])
    np.testing.assert_allclose([c[0] for c in mix.components], [0.25, 0.75], rtol=1e-15)
    expected = 0.25 * ndtr(0.4 / fwhm_to_sigma(0.2)) + 0.75 * 0.5
    np.testing.assert_allclose(mix.cdf(0.3), expected, rtol=1e-14)


def test_exponential_tail_closed_forms() -> None:
    s = ExponentialTailSED(0.05, top_eV=0.1)
    np.testing.assert_allclose(s.inv_cdf(math.exp(-2.0)), 0.0, atol=1e-15)
    assert s.density(0.2) == 0.0
    assert s.cdf(0.2) == 1.0
    np.testing.assert_allclose(s.density(0.1 - 1e-12), 20.0, rtol=1e-9)


def test_box_closed_forms() -> None:
    s = BoxSED(0.4, center_eV=0.1)
    np.testing.assert_allclose(s.inv_cdf([0.25, 0.75]), [0.0, 0.2], atol=1e-15)
    np.testing.assert_allclose(s.density([-0.2, 0.0, 0.4]), [0.0, 2.5, 0.0], rtol=1e-15)


def test_tabulated_normalises_and_interpolates() -> None:
    s = TabulatedSED([0.0, 1.0, 2.0], [2.0, 2.0, 0.0])  # trapezoid area 3
    np.testing.assert_allclose(s.density([0.5, 1.5]), [2 / 3, 1 / 3], rtol=1e-14)
    np.testing.assert_allclose(s.cdf([1.0, 1.5]), [2 / 3, 2 / 3 + 0.25], rtol=1e-14)
    np.testing.assert_allclose(s.inv_cdf(2 / 3 + 0.25), 1.5, rtol=1e-13)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: GaussianSED(-0.1), "fwhm_eV"),
        (lambda: GaussianSED(float("nan")), "fwhm_eV"),
        (lambda: BoxSED(0.0), "width_eV"),
        (lambda: ExponentialTailSED(0.05, top_eV=float("inf")), "top_eV"),
        (lambda: GaussianMixtureSED([]), "at least one"),
        (lambda: GaussianMixtureSED([(1.0, 0.0)]), "weight, center_eV, fwhm_eV"),
        (lambda: GaussianMixtureSED([(-1.0, 0.0, 0.1)]), "weight"),
        (lambda: TabulatedSED([0.0, 1.0, 1.0], [1.0, 1.0, 1.0]), "strictly increasing"),
        (lambda: TabulatedSED([0.0, 1.0], [1.0, -1.0]), ">= 0"),
        (lambda: TabulatedSED([0.0, 1.0], [0.0, 0.0]), "positive integral"),
        (lambda: TabulatedSED([0.0], [1.0]), "at least 2"),
        (lambda: TabulatedSED([0.0, 1.0], [1.0]), "same length"),
    ],
)
def test_validation(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]
