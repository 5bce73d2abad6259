"""Tests of sed.monotone: the knot curve the inversion fits, and its solver table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sed_strategies import SETTINGS, strict_fp  # noqa: F401

from sed import GaussianSED, MonotoneLogDCurve, SEDMobility, evaluate_table
from sed.monotone import TABLE_LN_D_ACCURACY

increments = st.lists(st.floats(0.0, 3.0), min_size=2, max_size=9)


def _curve(inc, D_ref=1e-12, n_ref=1.0):
    K = len(inc)
    knots = np.linspace(0.02, 1.0, K + 1)[:-1]
    y = math.log10(D_ref) - np.cumsum(np.asarray(inc)[::-1])[::-1]
    return MonotoneLogDCurve(knots, y, D_ref, n_ref)


@SETTINGS
@given(inc=increments)
def test_curve_is_monotone_pinned_and_interpolating(inc):
    """Non-negative increments give a non-decreasing D(n) through the knots, D(n_ref) = D_ref,
    D = D_ref above n_ref, D = 0 at n <= 0, positive below the first knot."""
    c = _curve(inc)
    f = np.linspace(1e-4, 1.2, 3001)
    D = c.D(f)
    assert np.all(np.diff(D) >= -1e-12 * D[1:])
    assert c.D(1.0) == pytest.approx(1e-12, rel=1e-12)
    assert c.D(1.1) == pytest.approx(1e-12, rel=1e-12)
    np.testing.assert_allclose(np.log10(c.D(c.knots)), c.log10_D_cm2_s, atol=1e-12)
    assert c.D(0.0) == 0.0 and c.D(-1.0) == 0.0
    assert np.all(D > 0.0)
    assert np.all(c.dD_dn(f) >= 0.0)


@SETTINGS
@given(inc=increments, n_ref=st.floats(0.3, 1.0))
def test_table_reproduces_curve(inc, n_ref):
    """The D_table rows (and the solver's kernel table) reproduce the PCHIP curve."""
    c = _curve(inc, n_ref=n_ref)
    n = np.linspace(1e-3, 1.0, 2001) * n_ref
    ln_curve = np.log(c.D(n))
    assert np.max(np.abs(np.log(c.tabulated().D(n)) - ln_curve)) < TABLE_LN_D_ACCURACY
    kt = c.kernel_table()
    assert np.max(np.abs(np.log(evaluate_table(kt, n)[0]) - ln_curve)) < TABLE_LN_D_ACCURACY


def test_derivative_matches_finite_differences():
    c = _curve([0.5, 1.0, 2.0, 0.3])
    f = np.linspace(0.05, 0.95, 37)
    h = 1e-6
    fd = (c.D(f + h) - c.D(f - h)) / (2 * h)
    np.testing.assert_allclose(c.dD_dn(f), fd, rtol=1e-5)


def test_gaussian_knots_approximate_the_sed():
    """Knots taken from a 250 meV SED reproduce it to 0.05 decades at 0.2..0.95."""
    mob = SEDMobility(GaussianSED(0.25), 1e-12, 1.0, 350.0)
    knots = np.linspace(0.05, 1.0, 12)[:-1]
    c = MonotoneLogDCurve(knots, np.log10(mob.D(knots)), 1e-12)
    f = np.linspace(0.2, 0.95, 50)
    assert np.max(np.abs(np.log10(c.D(f)) - np.log10(mob.D(f)))) < 0.05


@pytest.mark.parametrize(
    ("knots", "y"),
    [
        ([0.5, 0.3], [-14.0, -13.0]),  # not increasing
        ([0.0, 0.5], [-14.0, -13.0]),  # knot at 0
        ([0.5, 1.0], [-14.0, -13.0]),  # knot at n_ref (pinned)
        ([0.3, 0.5], [-13.0, -14.0]),  # decreasing D
        ([0.3, 0.5], [-13.0, -11.0]),  # above D_ref
        ([0.3, 0.5], [-13.0, math.nan]),
    ],
)
def test_invalid_curves(knots, y):
    with pytest.raises(ValueError):
        MonotoneLogDCurve(np.array(knots), np.array(y), 1e-12)
