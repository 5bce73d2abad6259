"""Tests of fitting.resolution: exact blurred profiles, the surface convention, MRI moments.

Exact solutions used below (x true depth, z measured depth, all in nm):

- A step c = 1 for x < a, 0 beyond, blurred by a Gaussian of standard deviation sigma, is
  I(z) = erfc((z - a) / (sqrt(2) sigma)) / 2 wherever the kernel does not reach the surface. The
  step is given to the code exactly as a piecewise-linear profile: two nodes at a -+ 1e-5 nm, whose
  ramp differs from the ideal step by about 1e-11 after a Gaussian blur (second order in the ramp
  width; first order, 1e-6, only at kinks of the MRI step response, which the tests avoid).
- A Gaussian bump exp(-(x - x0)^2 / (2 s0^2)) blurred by a Gaussian is again a bump, of variance
  s0^2 + sigma^2 and height s0 / sqrt(s0^2 + sigma^2); sampling the bump on cell centres (piecewise
  linear) is second-order accurate, so the error must converge at order 2 in the cell size.
- Any kernel of mean mu maps a linear profile to itself shifted by mu, I(z) = c(z - mu): unchanged
  by the symmetric Gaussian, shifted toward the surface by lambda for MRI.
- A constant profile stays constant up to and including the surface, because the integral over the
  sample is divided by the kernel mass inside the sample.
- MRI, mixing alone: the step becomes 1 for z <= a - w and exp(-(z - a + w)/w) beyond (50 % point at
  a - w (1 - ln 2)); information depth alone: 1 - exp((z - a)/lambda) below a, 0 beyond (50 % point
  at a - lambda ln 2). With all three factors the step becomes 1 - G(z - a), G the distribution
  function of g, taken here from a direct numerical convolution of the three factors.
- g has unit area, mean -lambda and variance w^2 + sigma^2 + lambda^2 (sum of independent
  variables -w + Exp(w), N(0, sigma^2) and -Exp(lambda)).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.signal import fftconvolve
from scipy.special import erfc, ndtr

from fitting import resolution as res
from fitting.resolution import (
    MAX_DEPTH_NM,
    GaussianResolution,
    MRIResolution,
    measured_profile,
    moments,
    response,
)
from solvers.grid import cell_centers_nm, graded_faces_nm

# No example database: the suite must not write files into the work tree.
SETTINGS = settings(deadline=None, database=None, max_examples=60)

STEP_HALF_WIDTH_NM = 1.0e-5


def graded_centres(fine_depth_nm=100.0, spacing_nm=0.5, growth=1.05, thickness_nm=5000.0):
    """Cell centres of the solver's graded grid: uniform cells, then geometric growth."""
    return cell_centers_nm(graded_faces_nm(thickness_nm, fine_depth_nm, spacing_nm, growth))


def step_profile(a_nm, **grid):
    """Graded-grid centres plus nodes at a -+ STEP_HALF_WIDTH_NM; c = 1 for x < a, 0 beyond."""
    x = np.union1d(graded_centres(**grid), [a_nm - STEP_HALF_WIDTH_NM, a_nm + STEP_HALF_WIDTH_NM])
    return x, (x < a_nm).astype(float)


MRI_CASES = [
    MRIResolution(2.0, 1.0, 1.0),
    MRIResolution(3.0, 0.0, 0.0),
    MRIResolution(0.0, 0.0, 2.0),
    MRIResolution(1.5, 0.0, 0.7),
    MRIResolution(0.0, 1.2, 0.8),
    MRIResolution(1.0, 0.5, 0.0),
]
MODELS = [GaussianResolution(0.7), GaussianResolution(4.0), *MRI_CASES]


# ---- Gaussian: exact solutions ------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 2.0, 6.0])
def test_gaussian_step_is_erfc(sigma):
    a = 120.3  # in the growing part of the grid: cells of 1.5 nm, each 5 % larger than the last
    x, c = step_profile(a)
    z = np.linspace(a - 10 * sigma, a + 10 * sigma, 301)
    expected = 0.5 * erfc((z - a) / (math.sqrt(2.0) * sigma))
    np.testing.assert_allclose(
        measured_profile(x, c, z, GaussianResolution(sigma)), expected, rtol=0, atol=1e-9
    )


def test_gaussian_bump_converges_at_order_two():
    x0, s0, sigma = 40.0, 3.0, 2.0
    z = np.linspace(15.0, 65.0, 101)
    s2 = s0 * s0 + sigma * sigma
    exact = s0 / math.sqrt(s2) * np.exp(-((z - x0) ** 2) / (2.0 * s2))
    spacings = np.array([1.0, 0.5, 0.25, 0.125])
    errors = []
    for h in spacings:
        x = graded_centres(fine_depth_nm=200.0, spacing_nm=h, growth=1.05)
        c = np.exp(-((x - x0) ** 2) / (2.0 * s0 * s0))
        errors.append(np.max(np.abs(measured_profile(x, c, z, GaussianResolution(sigma)) - exact)))
    order = np.polyfit(np.log(spacings), np.log(errors), 1)[0]
    assert abs(order - 2.0) < 0.1, (order, errors)


def test_linear_profile_unchanged_by_gaussian():
    x = graded_centres(thickness_nm=3000.0)
    c = 0.1 + 2.5e-4 * x
    sigma = 5.0
    z = np.linspace(8 * sigma, x[-1] - 8 * sigma, 200)
    np.testing.assert_allclose(
        measured_profile(x, c, z, GaussianResolution(sigma)), 0.1 + 2.5e-4 * z, rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_linear_profile_shifted_by_mean(model):
    x = graded_centres(thickness_nm=3000.0)
    c = 0.1 + 2.5e-4 * x
    z = np.linspace(200.0, 2000.0, 50)
    mean, _ = moments(model)
    np.testing.assert_allclose(
        measured_profile(x, c, z, model), 0.1 + 2.5e-4 * (z - mean), rtol=0, atol=1e-11
    )


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_constant_profile_stays_constant_up_to_the_surface(model):
    x = graded_centres()
    z = np.concatenate([[0.0, 1e-3, 0.25], np.linspace(0.5, 4000.0, 300)])
    out = measured_profile(x, np.full(x.size, 0.37), z, model)
    np.testing.assert_allclose(out, 0.37, rtol=0, atol=1e-14)


@pytest.mark.parametrize("model", [*MODELS, GaussianResolution(0.2)], ids=repr)
def test_surface_convention_against_quadrature(model):
    # I(z) = integral_{x>=0} g(z - x) c(x) dx / integral_{x>=0} g(z - x) dx, by adaptive quadrature
    # of the piecewise-linear c (flat on [0, x[0]]) near the surface.
    x = graded_centres()
    c = np.exp(-x / 6.0) + 0.2
    z = np.array([0.0, 0.1, 0.5, 1.3, 4.0])
    mean, std = moments(model)
    expected = []
    for zi in z:
        hi = zi - mean + 40.0 * std + 1.0
        kinks = [p for p in x if p < hi][:80]
        if isinstance(model, MRIResolution):
            kinks.append(zi + model.mixing_nm)
        num = quad(
            lambda t, zi=zi: response(model, zi - t) * np.interp(t, x, c),
            0.0,
            hi,
            points=kinks,
            limit=500,
            epsabs=1e-13,
        )[0]
        den = quad(
            lambda t, zi=zi: response(model, zi - t), 0.0, hi, points=kinks, limit=500, epsabs=1e-13
        )[0]
        expected.append(num / den)
    np.testing.assert_allclose(measured_profile(x, c, z, model), expected, rtol=0, atol=1e-9)


def test_gaussian_table_agrees_with_exact_segment_integration():
    # The Gaussian path (tabulated ramp excess) against the closed-form segment integration that
    # the MRI path uses, on a rough random profile.
    rng = np.random.default_rng(7)
    x = graded_centres(thickness_nm=2000.0)
    c = rng.uniform(0.0, 1.0, x.size)
    z = rng.uniform(0.0, 600.0, 200)
    for sigma in (0.3, 1.0, 4.0):
        fast = measured_profile(x, c, z, GaussianResolution(sigma))
        exact = res._segment_profile(x, c, z, sigma, 0.0, 0.0)
        np.testing.assert_allclose(fast, exact, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "model",
    [
        GaussianResolution(0.0),
        GaussianResolution(1e-7),
        MRIResolution(0.0, 0.0, 0.0),
        MRIResolution(1e-7, 5e-7, 0.0),
    ],
    ids=repr,
)
def test_zero_width_is_linear_interpolation(model):
    rng = np.random.default_rng(3)
    x = graded_centres()
    c = rng.uniform(0.0, 1.0, x.size)
    z = rng.uniform(0.0, x[-1], 100)
    np.testing.assert_array_equal(measured_profile(x, c, z, model), np.interp(z, x, c))


def test_small_width_approaches_linear_interpolation():
    x = graded_centres()
    c = np.exp(-x / 50.0)
    z = np.linspace(0.0, 500.0, 301)
    out = measured_profile(x, c, z, GaussianResolution(1e-3))
    np.testing.assert_allclose(out, np.interp(z, x, c), rtol=0, atol=1e-8)


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_linear_in_c(model):
    rng = np.random.default_rng(11)
    x = graded_centres()
    c1, c2 = rng.uniform(0.0, 1.0, (2, x.size))
    z = rng.uniform(0.0, 300.0, 80)
    combined = measured_profile(x, 0.3 * c1 - 1.7 * c2, z, model)
    separate = 0.3 * measured_profile(x, c1, z, model) - 1.7 * measured_profile(x, c2, z, model)
    np.testing.assert_allclose(combined, separate, rtol=0, atol=1e-12)


# ---- MRI response -------------------------------------------------------------------------------


def _integrate(model, f, n_per_piece=24):
    """integral f(u) g(u) du by Gauss-Legendre on pieces graded geometrically around u = -w, the
    only place where g has a kink or a jump or varies on the scale of the smallest length."""
    w, s, lam = model.mixing_nm, model.roughness_nm, model.information_nm
    left = 10.0 * s + 40.0 * lam + 1.0
    right = 10.0 * s + 40.0 * w + 1.0
    offsets = np.geomspace(1e-4, 1.0, 120)
    edges = np.unique(np.concatenate([-w - left * offsets, [-w], -w + right * offsets]))
    t, wt = np.polynomial.legendre.leggauss(n_per_piece)
    mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * np.diff(edges)
    u = (mid[:, None] + half[:, None] * t).ravel()
    weights = (half[:, None] * wt).ravel()
    return np.sum(weights * f(u) * response(model, u))


@pytest.mark.parametrize(
    "lengths",
    [
        (2.0, 3.0, 1.0),
        (5.0, 0.0, 0.0),
        (0.0, 0.0, 4.0),
        (3.0, 0.0, 2.0),
        (0.0, 2.0, 0.0),
        (0.1, 100.0, 0.1),
        (100.0, 0.1, 100.0),
        (0.1, 0.1, 100.0),
        (100.0, 100.0, 100.0),
        (0.1, 0.1, 0.1),
        (100.0, 0.0, 0.1),
    ],
)
def test_mri_response_unit_area_and_moments(lengths):
    model = MRIResolution(*lengths)
    mean, std = moments(model)
    assert mean == -lengths[2]
    assert std == pytest.approx(math.sqrt(sum(v * v for v in lengths)), rel=1e-15)
    area = _integrate(model, np.ones_like)
    first = _integrate(model, lambda u: u)
    second = _integrate(model, lambda u: (u - mean) ** 2)
    assert abs(area - 1.0) < 1e-9
    assert abs(first - mean) < 1e-9 * std
    assert abs(math.sqrt(second) - std) < 1e-9 * std


def test_mri_response_is_finite_and_non_negative_over_the_parameter_range():
    u = np.linspace(-3000.0, 3000.0, 20001)
    for lengths in [
        (0.1, 0.1, 0.1),
        (100.0, 0.1, 0.1),
        (0.1, 100.0, 0.1),
        (0.1, 0.1, 100.0),
        (100.0, 100.0, 100.0),
        (0.1, 0.0, 100.0),
    ]:
        g = response(MRIResolution(*lengths), u)
        assert np.all(np.isfinite(g)) and np.all(g >= 0.0)


def test_mri_without_mixing_and_information_is_gaussian():
    u = np.linspace(-20.0, 20.0, 401)
    np.testing.assert_array_equal(
        response(MRIResolution(0.0, 2.5, 0.0), u), response(GaussianResolution(2.5), u)
    )
    np.testing.assert_allclose(
        response(GaussianResolution(2.5), u),
        np.exp(-0.5 * (u / 2.5) ** 2) / (2.5 * math.sqrt(2 * math.pi)),
        rtol=1e-14,
        atol=0,
    )
    x = graded_centres()
    c = np.exp(-x / 30.0)
    z = np.linspace(0.0, 200.0, 101)
    np.testing.assert_array_equal(
        measured_profile(x, c, z, MRIResolution(0.0, 2.5, 0.0)),
        measured_profile(x, c, z, GaussianResolution(2.5)),
    )
    # Vanishing mixing and information lengths approach the Gaussian continuously.
    near = measured_profile(x, c, z, MRIResolution(1e-4, 2.5, 1e-4))
    np.testing.assert_allclose(
        near, measured_profile(x, c, z, GaussianResolution(2.5)), rtol=0, atol=1e-5
    )


def test_mri_mixing_alone_on_a_step():
    w, a = 3.0, 150.3
    x, c = step_profile(a)
    # 300 depths keep clear (>= 0.02 nm) of the kink at a - w, which the 2e-5 nm ramp rounds off.
    z = np.linspace(a - 3 * w, a + 12 * w, 300)
    expected = np.where(z <= a - w, 1.0, np.exp(-(z - a + w) / w))
    out = measured_profile(x, c, z, MRIResolution(w, 0.0, 0.0))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)


def test_mri_information_alone_on_a_step():
    lam, a = 2.0, 150.3
    x, c = step_profile(a)
    # 300 depths keep clear (>= 0.01 nm) of the kink at a, which the 2e-5 nm ramp rounds off.
    z = np.linspace(a - 12 * lam, a + 3 * lam, 300)
    expected = np.where(z < a, -np.expm1((z - a) / lam), 0.0)
    out = measured_profile(x, c, z, MRIResolution(0.0, 0.0, lam))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)


def _numerical_cdf(model, du=1e-3):
    """Lattice u and G(u) of g = g_w * g_sigma * g_lambda by direct discrete convolution of the
    three factors' cell masses (each mass at its cell's midpoint, so the lattices line up)."""
    w, s, lam = model.mixing_nm, model.roughness_nm, model.information_nm
    pieces = []
    if w > 0:
        k = np.arange(int(40 * w / du))
        pieces.append(np.exp(-k * du / w) * -np.expm1(-du / w))  # mass at (k + 1/2) du - w
    if s > 0:
        k = np.arange(-int(10 * s / du), int(10 * s / du) + 1)
        pieces.append(ndtr((k + 0.5) * du / s) - ndtr((k - 0.5) * du / s))  # at k du
    if lam > 0:
        k = np.arange(int(40 * lam / du))[::-1]
        pieces.append(np.exp(-k * du / lam) * -np.expm1(-du / lam))  # at -(k + 1/2) du
    mass = pieces[0]
    for p in pieces[1:]:
        mass = fftconvolve(mass, p)
    # Lattice of the sum: the first entries of each factor sit at 1/2 du - w, -10 sigma and
    # -(K - 1/2) du; mass i of the convolution sits at the sum of first positions + i du.
    start = 0.0
    if w > 0:
        start += 0.5 * du - w
    if s > 0:
        start += -int(10 * s / du) * du
    if lam > 0:
        start += -(int(40 * lam / du) - 0.5) * du
    u = start + du * np.arange(mass.size)
    # Spread every mass uniformly over its cell: G is piecewise linear through the cell edges.
    return u + 0.5 * du, np.cumsum(mass)


@pytest.mark.parametrize("model", MRI_CASES, ids=repr)
def test_mri_step_half_point_against_numerical_convolution(model):
    a = 150.3
    x, c = step_profile(a, fine_depth_nm=300.0)
    u, G = _numerical_cdf(model)
    median = np.interp(0.5, G, u)
    half = brentq(
        lambda z: measured_profile(x, c, [z], model)[0] - 0.5, a - 30.0, a + 30.0, xtol=1e-12
    )
    assert half - a == pytest.approx(median, abs=1e-6)
    w, s, lam = model.mixing_nm, model.roughness_nm, model.information_nm
    if s == 0.0 and lam == 0.0:
        assert half - a == pytest.approx(-w * (1.0 - math.log(2.0)), abs=1e-9)
    if s == 0.0 and w == 0.0:
        assert half - a == pytest.approx(-lam * math.log(2.0), abs=1e-9)
    # The whole step response is 1 - G(z - a) (32 depths keep clear of the kinks at a - w and a).
    z = a + np.linspace(-8.0, 8.0, 32)
    expected = 1.0 - np.interp(z - a, u, G, left=0.0, right=1.0)
    np.testing.assert_allclose(measured_profile(x, c, z, model), expected, rtol=0, atol=1e-6)


def test_mri_mixing_moves_the_half_point_toward_the_surface():
    a = 150.3
    x, c = step_profile(a)
    halves = [
        brentq(
            lambda z, w=w: measured_profile(x, c, [z], MRIResolution(w, 1.0, 0.5))[0] - 0.5,
            a - 40.0,
            a + 40.0,
            xtol=1e-10,
        )
        for w in (0.0, 1.0, 2.0, 4.0)
    ]
    assert np.all(np.diff(halves) < 0.0)


# ---- properties ---------------------------------------------------------------------------------


@st.composite
def graded_profiles(draw, monotone=False):
    """(x, c, depths): a random graded grid of 2-150 cells (first cell 0.1-2 nm, growth 1-1.1),
    fractions in [0, 1] (non-increasing if monotone) and 1-40 depths in [0, x[-1]]."""
    n = draw(st.integers(2, 150))
    h0 = draw(st.floats(0.1, 2.0))
    growth = draw(st.floats(1.0, 1.1))
    n_fine = draw(st.integers(0, n))
    h = h0 * growth ** np.maximum(np.arange(n) - n_fine, 0)
    x = np.cumsum(h) - 0.5 * h
    c = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 1.0)))
    if monotone:
        c = np.sort(c)[::-1]
    frac = draw(hnp.arrays(np.float64, draw(st.integers(1, 40)), elements=st.floats(0.0, 1.0)))
    return x, c, np.minimum(frac * x[-1], x[-1])


lengths_nm = st.floats(0.0, 20.0)
gaussians = st.builds(GaussianResolution, st.floats(0.0, 50.0))
mris = st.builds(MRIResolution, lengths_nm, lengths_nm, lengths_nm)


@SETTINGS
@given(profile=graded_profiles(), model=st.one_of(gaussians, mris))
def test_output_within_range_of_c(profile, model):
    x, c, z = profile
    out = measured_profile(x, c, z, model)
    assert np.all(out >= c.min() - 1e-12) and np.all(out <= c.max() + 1e-12)


@SETTINGS
@given(profile=graded_profiles(monotone=True), sigma=st.floats(0.0, 50.0))
def test_non_increasing_profile_gives_non_increasing_signal(profile, sigma):
    x, c, z = profile
    z = np.sort(z)
    out = measured_profile(x, c, z, GaussianResolution(sigma))
    assert np.all(np.diff(out) <= 1e-12)


@SETTINGS
@given(profile=graded_profiles(monotone=True), model=mris)
def test_non_increasing_profile_gives_non_increasing_signal_mri(profile, model):
    # The MRI kernel is log-concave (a convolution of log-concave factors), so it preserves
    # monotonicity as the Gaussian does.
    x, c, z = profile
    z = np.sort(z)
    out = measured_profile(x, c, z, model)
    assert np.all(np.diff(out) <= 1e-12)


# ---- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, 2e6, "wide", None])
def test_invalid_lengths_raise(bad):
    with pytest.raises(ValueError, match="sigma_nm"):
        GaussianResolution(bad)
    with pytest.raises(ValueError, match="mixing_nm"):
        MRIResolution(bad, 1.0, 1.0)
    with pytest.raises(ValueError, match="roughness_nm"):
        MRIResolution(1.0, bad, 1.0)
    with pytest.raises(ValueError, match="information_nm"):
        MRIResolution(1.0, 1.0, bad)


def test_lengths_are_stored_as_floats():
    model = MRIResolution(1, np.float32(2.5), 0)
    assert (model.mixing_nm, model.roughness_nm, model.information_nm) == (1.0, 2.5, 0.0)
    assert all(type(v) is float for v in (model.mixing_nm, model.roughness_nm))


def test_invalid_profiles_raise():
    x = graded_centres()
    c = np.ones(x.size)
    model = GaussianResolution(1.0)
    with pytest.raises(ValueError, match="depths_nm"):
        measured_profile(x, c, [2.0 * MAX_DEPTH_NM], model)
    with pytest.raises(ValueError, match="depths_nm"):
        measured_profile(x, c, [-0.1], model)
    with pytest.raises(ValueError, match="shape"):
        measured_profile(x, c[:-1], [1.0], model)
    with pytest.raises(ValueError, match="strictly increasing"):
        measured_profile(x[::-1], c, [1.0], model)
    with pytest.raises(ValueError, match="strictly increasing"):
        measured_profile(np.concatenate([[0.0], x[1:]]), c, [1.0], model)
    with pytest.raises(ValueError, match="finite"):
        measured_profile(x, np.full(x.size, np.nan), [1.0], model)
    with pytest.raises(ValueError, match="1-D"):
        measured_profile(x, c, [[1.0]], model)
    with pytest.raises(ValueError, match="Dirac"):
        response(GaussianResolution(0.0), [0.0])
    with pytest.raises(TypeError, match="model"):
        measured_profile(x, c, [1.0], "gaussian")
    with pytest.raises(TypeError, match="model"):
        moments(1.0)


def test_depth_order_and_empty_depths():
    x = graded_centres()
    c = np.exp(-x / 20.0)
    z = np.array([30.0, 0.0, 12.5, 30.0, 7.0])
    for model in (GaussianResolution(2.0), MRIResolution(1.0, 1.0, 1.0)):
        out = measured_profile(x, c, z, model)
        order = np.argsort(z)
        np.testing.assert_array_equal(measured_profile(x, c, z[order], model), out[order])
        assert measured_profile(x, c, [], model).shape == (0,)


@pytest.mark.parametrize("model", [GaussianResolution(3.0), MRIResolution(2.0, 1.0, 0.5)])
def test_depths_beyond_the_last_centre_see_the_constant_continuation(model):
    """A measured point between the last cell centre and the back of the sample (a point at
    1950 nm of a 2000 nm sample whose last centre is at 1900 nm) is no error: c continues as
    c[-1] there, so the signal equals that of the profile with an explicit node at the point,
    and a profile that is constant near the back gives that constant."""
    x = np.linspace(5.0, 1900.0, 380)
    c = np.exp(-x / 300.0)
    z = np.array([100.0, 1899.0, 1950.0])
    extended = measured_profile(np.append(x, 1950.0), np.append(c, c[-1]), z, model)
    np.testing.assert_allclose(measured_profile(x, c, z, model), extended, rtol=1e-13, atol=0)
    flat = np.full(x.size, 0.25)
    np.testing.assert_allclose(measured_profile(x, flat, [1950.0], model), [0.25], rtol=1e-12)
