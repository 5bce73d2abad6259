"""Variable-order, variable-step BDF (orders 1 to 5) shared by the compiled time loops.

The method is that of scipy's `BDF` and of MATLAB's ode15s (Shampine & Reichelt, SIAM J. Sci.
Comput. 18 (1997) 1; Byrne & Hindmarsh, ACM TOMS 1 (1975) 71): the history is kept as the
modified divided differences of a quasi-constant step size h, the array D of shape
(N_DIFF, n) with D[0] = y_n and D[j] = nabla^j y_n (j-th backward difference on the grid
t_n, t_n - h, t_n - 2h, ...). A step of order k then solves

    ALPHA[k] (y - y_pred) + sum_{j=1..k} GAMMA[j] D[j] = h f(y),   y_pred = sum_{j=0..k} D[j],

which the kernels write as a0 y + hist = h f(y) with a0 = ALPHA[k] and
hist = sum_j GAMMA[j] D[j] - a0 y_pred (`predict`). Its local error is ERROR_CONST[k] (y - y_pred);
after an accepted step `update_differences` turns D into the differences at the new point, with
D[k+1] = y - y_pred = nabla^(k+1) y and D[k+2] = nabla^(k+2) y, from which the errors of the
neighbouring orders k-1 and k+1 are estimated (`order_error`). A change of the step size by a
factor rho interpolates the history onto the new grid (`rescale`, O(k^2 n)); it is done only
when the step size changes (rejections, order/step decisions after k+1 equal steps, landing on a
stop time), which is what makes the formula's coefficients fixed.

ALPHA = (1 - KAPPA) GAMMA with KAPPA = 0: plain BDF, the family DASSL and IDA use for DAEs like
this one (the Poisson equation is algebraic); the NDF variant of scipy/ode15s, KAPPA != 0, is
not used.

tests/solvers/test_bdf.py checks the coefficients and the rescaling against scipy's
`scipy.integrate._ivp.bdf` (its tables and `change_D`), and the predictor and the update on
polynomials.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: highest order
MAX_ORDER = 5
#: rows of the difference array: D[0..k] plus D[k+1], D[k+2] for the order decisions
N_DIFF = MAX_ORDER + 3
#: GAMMA[k] = sum_{j=1..k} 1/j
GAMMA = np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 2))))
#: leading coefficient of the order-k formula
ALPHA = GAMMA.copy()
#: local error of the order-k formula as a multiple of (y - y_pred): 1 / (k + 1)
ERROR_CONST = 1.0 / np.arange(1, MAX_ORDER + 3)
# ERROR_CONST[k] = 1 / (k + 1) for k = 0..MAX_ORDER+1 (index 0 unused)


def _abs_coefficient_sums() -> np.ndarray:
    """sum_m |c_m| of the constant-step order-k formula sum_m c_m y_{n+1-m} = h f (m = 0..k):
    the round-off scale of its history (4 for BDF2: 3/2 + 2 + 1/2)."""
    from math import comb

    out = np.zeros(MAX_ORDER + 1)
    for k in range(1, MAX_ORDER + 1):
        c = [sum((-1) ** m * comb(j, m) / j for j in range(max(m, 1), k + 1)) for m in range(k + 1)]
        out[k] = sum(abs(v) for v in c)
    return out


#: sum of the absolute coefficients of the order-k formula (index 0 unused)
BDF_ABS_SUM = _abs_coefficient_sums()


@njit(cache=True)
def _compute_r(order, factor, out):
    """out[:order+1, :order+1] = R(order, factor) of Shampine & Reichelt (the matrix that maps
    the differences of step h to those of step factor h, with `_compute_r(order, 1)` = U)."""
    for j in range(order + 1):
        out[0, j] = 1.0
    for i in range(1, order + 1):
        out[i, 0] = 0.0
        for j in range(1, order + 1):
            out[i, j] = out[i - 1, j] * (i - 1 - factor * j) / i


@njit(cache=True)
def rescale_matrix(order, factor):
    """RU = R(order, factor) U(order) of Shampine & Reichelt ((order + 1) square): `rescale`
    maps the history of step h to that of step factor h (dimensionless) as D <- RU^T D."""
    k = order
    r = np.empty((k + 1, k + 1))
    u = np.empty((k + 1, k + 1))
    _compute_r(k, factor, r)
    _compute_r(k, 1.0, u)
    ru = np.zeros((k + 1, k + 1))
    for i in range(k + 1):
        for j in range(k + 1):
            s = 0.0
            for m in range(k + 1):
                s += r[i, m] * u[m, j]
            ru[i, j] = s
    return ru


@njit(cache=True)
def rescale_columns(dd, order, ru, c0, c1):
    """D[:order+1] <- ru^T D[:order+1] in the columns c0..c1-1 of the history dd (ru from
    `rescale_matrix`): `rescale` of a range of columns."""
    k = order
    # row by row (vectorised streams over the columns); row 0 is unchanged (ru[:, 0] = e_0)
    new = np.zeros((k + 1, c1 - c0))
    for j in range(1, k + 1):
        for i in range(k + 1):
            w = ru[i, j]
            if w != 0.0:
                for c in range(c0, c1):
                    new[j, c - c0] += w * dd[i, c]
    for j in range(1, k + 1):
        for c in range(c0, c1):
            dd[j, c] = new[j, c - c0]


@njit(cache=True)
def rescale(dd, order, factor, m_cols):
    """Change the step size of the history `dd` (N_DIFF x m, rows 0..order, the first m_cols
    columns) by `factor` (dimensionless, new step / old step): D[:order+1] <- (R U)^T
    D[:order+1] (scipy's change_D). Rows above `order` are left as they are (they are rebuilt
    by the next update)."""
    if factor == 1.0:
        return
    rescale_columns(dd, order, rescale_matrix(order, factor), 0, m_cols)


@njit(cache=True)
def predict(dd, order, ypred, hist, m_cols):
    """The predictor ypred = sum_{j<=k} D[j] and the history term hist = sum_{j=1..k} GAMMA[j]
    D[j] - ALPHA[k] ypred of the order-k formula (see the module doc), for the first m_cols
    columns."""
    for c in range(m_cols):
        ypred[c] = dd[0, c]
        hist[c] = 0.0
    for j in range(1, order + 1):
        g = GAMMA[j]
        for c in range(m_cols):
            v = dd[j, c]
            ypred[c] += v
            hist[c] += g * v
    a = ALPHA[order]
    for c in range(m_cols):
        hist[c] -= a * ypred[c]


@njit(cache=True)
def update(dd, order, y_new, y_pred, m_cols):
    """After an accepted step of order k: D at the new point (first m_cols columns) from the
    accepted values y_new and their predictors y_pred (D[k+2] = d - D[k+1], D[k+1] = d,
    D[i] += D[i+1] for i = k..0, d = y_new - y_pred); D[0] is set to y_new exactly."""
    k = order
    if k + 2 < dd.shape[0]:
        for c in range(m_cols):
            dd[k + 2, c] = (y_new[c] - y_pred[c]) - dd[k + 1, c]
    for c in range(m_cols):
        dd[k + 1, c] = y_new[c] - y_pred[c]
    for i in range(k, 0, -1):
        for c in range(m_cols):
            dd[i, c] += dd[i + 1, c]
    for c in range(m_cols):
        dd[0, c] = y_new[c]


@njit(cache=True)
def restart(dd, keep_slope):
    """Restart the history at the current point D[0]: order 1 with the slope D[1] kept
    (keep_slope, at a kink of a control table: the predictor is then only a guess, and the
    local error estimate stays on) or with D[1] = 0 (a stage start: constant predictor)."""
    first = 2 if keep_slope else 1
    for j in range(first, dd.shape[0]):
        for c in range(dd.shape[1]):
            dd[j, c] = 0.0


def set_history(dd, states):
    """Fill the difference array dd (N_DIFF x m) from k + 1 states at equal steps h, newest
    first (states[j] at t - j h): D[j] = nabla^j y, so that the next step can be of order k.
    Returns k. Raises ValueError for fewer than 2 or more than MAX_ORDER + 1 states, or states
    of another length."""
    hist = np.asarray(states, dtype=float)
    k = hist.shape[0] - 1
    if hist.ndim != 2 or not 1 <= k <= MAX_ORDER or hist.shape[1] != dd.shape[1]:
        raise ValueError(
            f"history: need 2..{MAX_ORDER + 1} states of {dd.shape[1]} values, got shape "
            f"{hist.shape}"
        )
    diff = hist.copy()
    for j in range(k + 1):
        dd[j] = diff[0]
        diff = diff[:-1] - diff[1:]
    return k


@njit(cache=True)
def landing(t, dt, t_stop):
    """The next step (s) from t (s) with the wanted size dt (s): never past t_stop, on it
    exactly, and the last two steps split evenly instead of leaving a sliver."""
    if t + dt >= t_stop:
        return t_stop - t
    if t + 2.0 * dt > t_stop:
        return 0.5 * (t_stop - t)
    return dt


@njit(cache=True)
def choose_order(err_m, err, err_p, order):
    """The order (k-1, k or k+1) whose error estimate (scaled to the tolerance, max norm) allows
    the largest step, and that step's factor before the safety factor: max_q err_q^(-1/(q+1))
    (an estimate of 0 counts as 1e-10 of the tolerance; a negative one as unavailable)."""
    best = order
    best_f = max(err, 1.0e-10) ** (-1.0 / (order + 1))
    if err_m >= 0.0 and order > 1:
        f = max(err_m, 1.0e-10) ** (-1.0 / order)
        if f > best_f:
            best_f = f
            best = order - 1
    if err_p >= 0.0 and order < MAX_ORDER:
        f = max(err_p, 1.0e-10) ** (-1.0 / (order + 2))
        if f > best_f:
            best_f = f
            best = order + 1
    return best, best_f
