"""The variable-order BDF helpers (solvers.bdf): coefficients and the change of step size
against scipy's own BDF, the predictor and the update of the differences on polynomials, and
properties of the step-size rescaling and of the landing on stop times."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate._ivp import bdf as scipy_bdf

from solvers import bdf


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("factor", [0.3, 0.9, 1.7, 4.0])
def test_rescale_is_scipys_change_D(order, factor):
    rng = np.random.default_rng(order)
    dd = rng.normal(size=(bdf.N_DIFF, 7))
    ref = dd.copy()
    scipy_bdf.change_D(ref, order, factor)
    bdf.rescale(dd, order, factor, dd.shape[1])
    np.testing.assert_allclose(dd, ref, rtol=1e-12, atol=1e-12)


def test_coefficients_are_scipys():
    """GAMMA and the error constants of plain BDF (scipy's kappa = 0)."""
    gamma = np.hstack((0, np.cumsum(1 / np.arange(1, scipy_bdf.MAX_ORDER + 1))))
    np.testing.assert_allclose(bdf.GAMMA[: gamma.size], gamma)
    np.testing.assert_allclose(bdf.ALPHA[: gamma.size], gamma)
    np.testing.assert_allclose(bdf.ERROR_CONST[: gamma.size], 1.0 / np.arange(1, gamma.size + 1))
    assert bdf.BDF_ABS_SUM[2] == pytest.approx(4.0)  # 3/2 + 2 + 1/2


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_predict_update_reproduce_backward_differences(order):
    """With the differences of a polynomial of degree order, the predictor is exact, and
    after an update the array holds the differences at the new point."""
    h = 0.7
    ts = 1.0 - h * np.arange(order + 1)  # newest first
    coef = np.random.default_rng(3).normal(size=order + 1)
    y = np.polyval(coef, ts)[:, None]
    dd = np.zeros((bdf.N_DIFF, 1))
    diff = y.copy()
    for j in range(order + 1):
        dd[j] = diff[0]
        diff = diff[:-1] - diff[1:]
    pred = np.zeros(1)
    hist = np.zeros(1)
    bdf.predict(dd, order, pred, hist, 1)
    y_new = np.polyval(coef, 1.0 + h)
    assert pred[0] == pytest.approx(y_new, rel=1e-10)
    bdf.update(dd, order, np.array([y_new]), pred, 1)
    assert dd[0, 0] == y_new
    assert dd[1, 0] == pytest.approx(y_new - y[0, 0], rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    order=st.integers(min_value=1, max_value=5),
    factor=st.floats(min_value=0.05, max_value=20.0),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_rescale_round_trip_is_the_identity(order, factor, seed):
    """Rescaling the history to factor h and back to h re-expresses the same interpolating
    polynomial: the differences come back to round-off (what landing on an output time and
    restoring the chosen step relies on)."""
    dd = np.random.default_rng(seed).normal(size=(bdf.N_DIFF, 5))
    before = dd.copy()
    bdf.rescale(dd, order, factor, dd.shape[1])
    bdf.rescale(dd, order, 1.0 / factor, dd.shape[1])
    scale = max(1.0, factor**order, factor ** (-order))
    np.testing.assert_allclose(dd[: order + 1], before[: order + 1], atol=1e-11 * scale)


@settings(max_examples=100, deadline=None)
@given(
    t=st.floats(min_value=0.0, max_value=1e5),
    dt=st.floats(min_value=1e-12, max_value=1e5),
    gap=st.floats(min_value=1e-9, max_value=1e5),
)
def test_landing_never_passes_the_stop_and_leaves_no_sliver(t, dt, gap):
    """The step from t lands on t_stop exactly when it reaches it, splits the last two steps
    evenly instead of leaving a sliver, and otherwise keeps its size."""
    t_stop = t + gap
    step = bdf.landing(t, dt, t_stop)
    # (t_stop - t may exceed dt by the round-off of t + dt when that rounds up to t_stop)
    assert 0.0 < step <= dt + 4.0 * np.spacing(t_stop)
    assert t + step <= t_stop
    if t + dt >= t_stop:
        assert step == t_stop - t
    elif t + 2.0 * dt > t_stop:
        assert step == 0.5 * (t_stop - t)
        assert t_stop - (t + step) >= 0.5 * (t_stop - t) * (1 - 1e-12)
    else:
        assert step == dt
