"""SIMS depth-resolution functions and the forward blur of simulated depth profiles.

A SIMS depth profile is not the composition c(x) itself but its convolution with a depth-resolution
function g: I(z) = integral g(z - x) c(x) dx, where z is the sputtered (measured) depth and x the
true depth, both in nm. Two resolution models are offered (MODEL.md section 9):

* ``GaussianResolution(sigma_nm)``: g is a centred Gaussian of standard deviation sigma_nm.
* ``MRIResolution(mixing_nm, roughness_nm, information_nm)``: Hofmann's mixing-roughness-information
  depth model, g = g_w * g_sigma * g_lambda (convolution) with

  - atomic mixing       g_w(u) = exp(-(u + w)/w) / w      for u >= -w, else 0,
  - roughness           g_sigma(u) = Gaussian of standard deviation sigma, centred at 0,
  - information depth   g_lambda(u) = exp(u/lambda) / lambda   for u <= 0, else 0,

  where u = z - x (measured minus true depth). The signs follow the analytical MRI delta-layer
  response of S. Hofmann, Y. Liu, J.Y. Wang, J. Kovac, Appl. Surf. Sci. 314 (2014) 942: a delta
  layer at x0 appears from z = x0 - w on, peaks there (mixing moves the leading edge toward the
  surface by w) and decays with length w into depth; the information depth makes it appear,
  growing with length lambda, before the sputter front reaches it. Here g is the exact convolution
  of the three factors, a mixture of two exponentially modified Gaussians (EMG) with weights
  w/(w + lambda) and lambda/(w + lambda); the analytical delta-layer formula of that paper weights
  the same two terms by 1 - exp(-w/lambda) and exp(-w/lambda) instead.

Surface: the sample occupies x >= 0; the integral runs over the sample only and is divided by the
kernel mass inside it (see ``measured_profile``).

Algorithms, exact for the piecewise-linear c between cell centres:

* Gaussian: with slope changes ds_j at the nodes x_j, c(x) = c[0] + sum_j ds_j (x - x_j)_+ and a
  blurred ramp is the ramp itself plus a local, even excess sigma e(|z - x_j|/sigma), so
  I(z) Phi(z/sigma) = c[0] Phi(z/sigma) + c(z) - c[0] + sigma sum_j ds_j e(|z - x_j|/sigma). e is
  tabulated once (cubic Hermite, 512 steps per sigma, error < 2e-14) and summed over the nodes
  within 8 sigma: O(depths x nodes within +-8 sigma), no special function per call.
* MRI: every segment [x_j, x_j+1] contributes c_j dG0 + s_j dK exactly, with s_j its slope, G0 the
  distribution function of g, G1 its partial first moment (both in closed form), dG0 the increment
  of G0 over the segment and dK = u_j dG0 - dG1. Segments within 8 sigma plus 30 decay lengths of
  the exponential factors are summed.

Every length is in nm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import erfcx, ndtr

__all__ = [
    "GaussianResolution",
    "MRIResolution",
    "ResolutionModel",
    "measured_profile",
    "moments",
    "response",
]

# Lengths (nm) below this are treated as exactly zero (the factor becomes a Dirac delta): 1e-6 nm is
# far below any physical depth resolution, and dividing depths by a smaller width could overflow.
MIN_LENGTH_NM = 1.0e-6
# Upper bound (nm) on every resolution length: a resolution wider than 1 mm is not a SIMS
# measurement, and the bound keeps squares of lengths and of scaled depths finite.
MAX_LENGTH_NM = 1.0e6
# Upper bound (nm) on simulated depths (1 m): larger values are unit errors, and the bound keeps
# (depth / MIN_LENGTH_NM)**2 far from overflow.
MAX_DEPTH_NM = 1.0e9
# Half-width of the Gaussian factor's support in standard deviations: the mass outside +-8 sigma is
# 1.2e-15, below double-precision round-off of the sums.
GAUSS_TAIL = 8.0
# Extent of an exponential factor's tail in decay lengths: exp(-30) = 9.4e-14 of the mass, far
# below the 1e-6 accuracy target (and relative: the sums are divided by the mass they cover).
EXP_TAIL = 30.0

_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

FloatArray = NDArray[np.float64]


def _check_length(owner: str, name: str, value: object) -> float:
    """Return value as a float after checking 0 <= value <= MAX_LENGTH_NM."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be a number (got {value!r})") from None
    if not (math.isfinite(v) and 0.0 <= v <= MAX_LENGTH_NM):
        raise ValueError(
            f"{owner}.{name} must be finite and in [0, {MAX_LENGTH_NM:g}] nm (got {value!r})"
        )
    return v


@dataclass(frozen=True)
class GaussianResolution:
    """Gaussian depth resolution.

    sigma_nm: standard deviation of the Gaussian depth-resolution function (nm); 0 means no blur
        (the measured profile is the simulated one, linearly interpolated). The full width at half
        maximum is 2 sqrt(2 ln 2) sigma_nm = 2.355 sigma_nm.
    """

    sigma_nm: float

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(
                self, f.name, _check_length(type(self).__name__, f.name, getattr(self, f.name))
            )


@dataclass(frozen=True)
class MRIResolution:
    """Hofmann's mixing-roughness-information (MRI) depth resolution.

    mixing_nm: atomic mixing length w (nm). On its own it turns a step c = 1 for x < a (0 beyond)
        into I(z) = 1 for z <= a - w and exp(-(z - a + w)/w) beyond: the signal starts to fall
        already at a - w, the apparent interface (50 % point) moves toward the surface by
        w (1 - ln 2) = 0.307 w, and an exponential tail of decay length w reaches into depth.
    roughness_nm: standard deviation sigma of the Gaussian roughness factor (nm); symmetric blur.
    information_nm: information depth lambda (nm). On its own it turns the same step into
        I(z) = 1 - exp((z - a)/lambda) for z < a and 0 beyond: a tail toward the surface, the 50 %
        point at a - lambda ln 2, and a sharp end at a.

    The response has mean -lambda (the mixing factor starts at -w but has mean 0) and variance
    w**2 + sigma**2 + lambda**2 (see ``moments``). Any length may be 0 (that factor is a delta);
    all three 0 means no blur.
    """

    mixing_nm: float
    roughness_nm: float
    information_nm: float

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(
                self, f.name, _check_length(type(self).__name__, f.name, getattr(self, f.name))
            )


ResolutionModel = GaussianResolution | MRIResolution


def _lengths(model: ResolutionModel) -> tuple[float, float, float]:
    """(sigma, w, lambda) in nm, each set to 0 below MIN_LENGTH_NM."""
    if isinstance(model, GaussianResolution):
        raw = (model.sigma_nm, 0.0, 0.0)
    elif isinstance(model, MRIResolution):
        raw = (model.roughness_nm, model.mixing_nm, model.information_nm)
    else:
        raise TypeError(
            f"model must be GaussianResolution or MRIResolution (got {type(model).__name__})"
        )
    s, w, lam = (v if v >= MIN_LENGTH_NM else 0.0 for v in raw)
    return s, w, lam


def moments(model: ResolutionModel) -> tuple[float, float]:
    """Mean and standard deviation of the depth-resolution function g(u), u = z - x (nm).

    Gaussian: (0, sigma). MRI: g is the distribution of U = -w + E_w + N_sigma - E_lambda with
    E_w, E_lambda exponential of means w, lambda and N_sigma centred normal, all independent, so
    mean = -w + w + 0 - lambda = -lambda and variance = w**2 + sigma**2 + lambda**2. A negative mean
    means the measured profile is shifted toward the surface.

    Returns (mean_shift_nm, std_nm).
    """
    if isinstance(model, GaussianResolution):
        return 0.0, float(model.sigma_nm)
    if isinstance(model, MRIResolution):
        w, s, lam = model.mixing_nm, model.roughness_nm, model.information_nm
        return -float(lam), math.sqrt(w * w + s * s + lam * lam)
    raise TypeError(
        f"model must be GaussianResolution or MRIResolution (got {type(model).__name__})"
    )


# ---- exponentially modified Gaussian N(0, s^2) + Exp(mean tau), evaluated without overflow ----


def _emg_scaled_pdf(t: FloatArray, a: float, phi: FloatArray) -> FloatArray:
    """tau times the EMG density, exp(a^2/2 - a t) Phi(t - a), at t = y/s with a = s/tau > 0 and
    phi = phi(t) the standard normal density."""
    # Two algebraically equal forms: the erfcx form cannot overflow for t < a, the direct form has
    # a non-positive exponent for t >= a; each is evaluated only where it is safe.
    out = np.empty_like(t)
    low = t < a
    tl = t[low]
    out[low] = math.sqrt(0.5 * math.pi) * phi[low] * erfcx((a - tl) * _SQRT1_2)
    th = t[~low]
    out[~low] = np.exp(a * (0.5 * a - th)) * ndtr(th - a)
    return out


def _emg_pdf(y: FloatArray, s: float, tau: float) -> FloatArray:
    """Density of N(0, s^2) + Exp(tau) at y (1/nm); s, tau >= 0, not both 0."""
    if tau == 0.0:
        t = y / s
        return np.exp(-0.5 * t * t) * (_INV_SQRT_2PI / s)
    if s == 0.0:
        return np.where(y >= 0.0, np.exp(-np.maximum(y, 0.0) / tau), 0.0) / tau
    t = y / s
    return _emg_scaled_pdf(t, s / tau, np.exp(-0.5 * t * t) * _INV_SQRT_2PI) / tau


def _emg_partial(y: FloatArray, s: float, tau: float, upper: bool) -> tuple[FloatArray, FloatArray]:
    """Partial mass and first moment of Y = N(0, s^2) + Exp(tau) (s, tau >= 0, nm): (P(Y <= y),
    integral_{-inf}^y t f dt) if not upper, else (P(Y > y), integral_y^inf t f dt), each computed
    without cancellation."""
    if s == 0.0 and tau == 0.0:
        mass = (y > 0.0) if upper else (y >= 0.0)
        return mass.astype(np.float64), np.zeros_like(y)
    if s == 0.0:
        yp = np.maximum(y, 0.0)
        tail = np.exp(-yp / tau)  # P(Y > y)
        ytf = np.where(y >= 0.0, y * tail, 0.0)  # tau y f(y)
        if upper:
            return tail, ytf + tau * tail
        cdf = -np.expm1(-yp / tau)
        return cdf, tau * cdf - ytf
    t = y / s
    sphi = np.exp(-0.5 * t * t) * _INV_SQRT_2PI
    tf = np.zeros_like(y) if tau == 0.0 else _emg_scaled_pdf(t, s / tau, sphi)  # tau f(y)
    sphi *= s  # s^2 times the N(0, s^2) density
    # From tau f' = phi_s - f: integral_{-inf}^y t f dt = tau F(y) - s^2 phi_s(y) - tau y f(y).
    if upper:
        sf = ndtr(-t) + tf
        return sf, sphi + y * tf + tau * sf
    cdf = ndtr(t) - tf
    return cdf, tau * cdf - sphi - y * tf


def _mixture(w: float, lam: float) -> tuple[float, float]:
    """Weights (p, q) of the right-tailed (mixing) and left-tailed (information) components."""
    if w == 0.0 and lam == 0.0:
        return 1.0, 0.0
    return w / (w + lam), lam / (w + lam)


def _kernel_cdf_m1(y: FloatArray, s: float, w: float, lam: float) -> tuple[FloatArray, FloatArray]:
    """G0 and G1 (partial first moment) of the kernel in the shifted variable y = u + w.

    The mixing and information factors combine to w' - l' (exponential variables of means w and
    lambda), which is Exp(w) with probability p = w/(w + lambda) and -Exp(lambda) otherwise; adding
    the roughness gives a mixture of a right-tailed and a mirrored, left-tailed EMG.
    """
    p, q = _mixture(w, lam)
    if q == 0.0:
        return _emg_partial(y, s, w, upper=False)
    # The left-tailed component N - Exp(lambda) is the mirror image of N + Exp(lambda).
    sf, upper = _emg_partial(-y, s, lam, upper=True)
    if p == 0.0:
        return sf, -upper
    cdf, lower = _emg_partial(y, s, w, upper=False)
    return p * cdf + q * sf, p * lower - q * upper


def response(model: ResolutionModel, z_nm: ArrayLike) -> FloatArray:
    """The depth-resolution function g(z) (1/nm), normalised to unit area over z.

    z_nm: measured minus true depth (nm), any shape; a layer at true depth x0 contributes
        g(z - x0) to the signal measured at depth z.

    Raises ValueError when all lengths of the model are zero (g is then a Dirac delta).
    """
    s, w, lam = _lengths(model)
    if s == 0.0 and w == 0.0 and lam == 0.0:
        raise ValueError("a resolution model with all lengths 0 has no density (Dirac delta)")
    y = np.asarray(z_nm, dtype=np.float64) + w
    p, q = _mixture(w, lam)
    g = np.zeros_like(y)
    if p > 0.0:
        g += p * _emg_pdf(y, s, w)
    if q > 0.0:
        g += q * _emg_pdf(-y, s, lam)
    return g


def _ramp_excess_table(steps_per_sigma: int) -> tuple[FloatArray, ...]:
    """Cubic Hermite coefficients of e(t) = phi(t) - t Phi(-t) on [0, GAUSS_TAIL] (t in sigma).

    A ramp (x - x_j)_+ blurred by a unit Gaussian is (v)_+ + e(|v|), v = z - x_j: e is the only
    non-local part of a blurred piecewise-linear profile; it is smooth in |v| and below 1e-16
    beyond GAUSS_TAIL. Interval i covers [i, i + 1] / steps_per_sigma and is evaluated at the
    fraction f in [0, 1) as a0 + f (a1 + f (a2 + f a3)); a last all-zero interval takes every
    argument beyond the table. The interpolation error is below max|e^(4)| h^4 / 384 = 1e-3 h^4.
    """
    t = np.arange(int(GAUSS_TAIL) * steps_per_sigma + 1) / steps_per_sigma
    e = np.exp(-0.5 * t * t) * _INV_SQRT_2PI - t * ndtr(-t)
    de = -ndtr(-t) / steps_per_sigma  # de/dt = -Phi(-t), times the step
    e0, e1, d0, d1 = e[:-1], e[1:], de[:-1], de[1:]
    coef = (e0, d0, 3.0 * (e1 - e0) - 2.0 * d0 - d1, 2.0 * (e0 - e1) + d0 + d1)
    return tuple(np.append(a, 0.0) for a in coef)


# Table resolution: 512 steps per sigma bound the interpolation error by 1e-3 / 512**4 = 1.5e-14
# (256 steps gave 5e-9 on a 0/1-alternating profile at 500 cells per sigma; 512 cost no more time).
_E_STEPS_PER_SIGMA = 512
_E_COEF = _ramp_excess_table(_E_STEPS_PER_SIGMA)
# Work-array size (elements) per block of depths: 8192 doubles = 64 kB stay in the cache and below
# the allocator's 128 kB fresh-mapping threshold; blocks of 128 kB and more measured 2-5x slower.
_BLOCK_ELEMENTS = 8192


def _as_profile(x_nm: ArrayLike, c: ArrayLike, depths_nm: ArrayLike) -> tuple[FloatArray, ...]:
    x = np.asarray(x_nm, dtype=np.float64)
    cc = np.asarray(c, dtype=np.float64)
    z = np.asarray(depths_nm, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x_nm must be a non-empty 1-D array (got shape {x.shape})")
    if cc.shape != x.shape:
        raise ValueError(f"c must have the shape of x_nm {x.shape} (got {cc.shape})")
    if z.ndim != 1:
        raise ValueError(f"depths_nm must be a 1-D array (got shape {z.shape})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(cc)) and np.all(np.isfinite(z))):
        raise ValueError("x_nm, c and depths_nm must be finite")
    if x[0] <= 0.0 or x[-1] > MAX_DEPTH_NM or np.any(np.diff(x) <= 0.0):
        raise ValueError(
            f"x_nm must be strictly increasing cell centres in (0, {MAX_DEPTH_NM:g}] nm"
        )
    if z.size and (z.min() < 0.0 or z.max() > MAX_DEPTH_NM):
        raise ValueError(
            f"depths_nm must lie in [0, {MAX_DEPTH_NM:g}] nm (got [{z.min():g}, {z.max():g}])"
        )
    if z.size and z.max() > x[-1]:
        # a measured point between the last cell centre and the back of the sample: c is
        # constant beyond x_nm[-1], so a node there with the same value changes nothing
        x = np.append(x, z.max())
        cc = np.append(cc, cc[-1])
    return x, cc, z


def measured_profile(
    x_nm: ArrayLike, c: ArrayLike, depths_nm: ArrayLike, model: ResolutionModel
) -> FloatArray:
    """The SIMS signal I(z) = integral g(z - x) c(x) dx of a simulated profile at measured depths.

    x_nm: (n,) strictly increasing cell-centre depths of the simulated profile (nm), x_nm[0] > 0;
        the sample occupies x >= 0.
    c: (n,) simulated values at x_nm (any unit, typically a fraction of n_bulk); c is taken as
        piecewise linear between centres, constant c[0] on [0, x_nm[0]] and constant c[-1] beyond
        x_nm[-1].
    depths_nm: (m,) measured depths (nm), any order, each >= 0 (beyond x_nm[-1], c[-1]).
    model: GaussianResolution or MRIResolution.

    Surface convention: the integral runs over the sample (x >= 0) only and is divided by the
    kernel mass inside the sample, integral_{x>=0} g(z - x) dx. This is what normalising a SIMS
    signal to the matrix signal does, and it keeps a constant profile constant up to the surface;
    every output is a weighted mean of c with non-negative weights, so it lies in [min c, max c].

    The integral is exact for the piecewise-linear c, whatever the width: closed forms in
    erf/erfcx and exponentials for MRI; for the Gaussian an error below 2e-14 sigma sum_j |ds_j|
    (ds_j the slope changes of c, so about 1e-11 even for a 0/1-alternating c at 500 cells per
    sigma). With all lengths 0 (or below MIN_LENGTH_NM) the result is the linear interpolation of
    c at depths_nm.

    Returns (m,) the measured signal in the unit of c.
    """
    x, cc, z = _as_profile(x_nm, c, depths_nm)
    s, w, lam = _lengths(model)
    if z.size == 0:
        return np.zeros(0)
    if s == 0.0 and w == 0.0 and lam == 0.0:
        return np.interp(z, x, cc)

    if w == 0.0 and lam == 0.0:
        return _gaussian_profile(x, cc, z, s)
    return _segment_profile(x, cc, z, s, w, lam)


def _gaussian_profile(x: FloatArray, c: FloatArray, z: FloatArray, s: float) -> FloatArray:
    """Gaussian blur of the piecewise-linear c at depths z, s > 0 (nm).

    With slope changes ds_j at the nodes, c(x) = c[0] + sum_j ds_j (x - x_j)_+ for x >= 0, so
    integral_{x>=0} g(z - x) c(x) dx = c[0] Phi(z/s) + c(z) - c[0] + s sum_j ds_j e(|z - x_j|/s):
    the exact linear interpolant plus the tabulated, local ramp excess e. Dividing by the
    in-sample mass Phi(z/s) gives the measured signal.
    """
    n = x.size
    # Slope changes at the nodes: c is flat on [0, x[0]] and beyond x[-1].
    slope = np.zeros(n + 1)
    slope[1:n] = np.diff(c) / np.diff(x)
    dslope = np.diff(slope)
    reach = GAUSS_TAIL * s
    lo = np.searchsorted(x, z - reach, side="left")
    hi = np.searchsorted(x, z + reach, side="right")
    excess = np.zeros(z.size)
    kmax = int(np.max(hi - lo))
    if kmax > 0:
        # Windows that run past the last node read padding nodes without slope change.
        scale = _E_STEPS_PER_SIGMA / s
        xp = np.concatenate([x, np.full(kmax, x[-1])]) * scale
        dp = np.concatenate([dslope, np.zeros(kmax)])
        zs = z * scale
        # Depths in increasing order, in blocks whose work arrays stay small (cache-resident,
        # no fresh pages per temporary); each block spans only the nodes its depths need.
        order = np.argsort(z, kind="stable")
        rows = max(1, _BLOCK_ELEMENTS // kmax)
        for start in range(0, z.size, rows):
            sel = order[start : start + rows]
            k = int(np.max(hi[sel] - lo[sel]))
            if k > 0:
                excess[sel] = _ramp_excess(zs[sel], lo[sel], k, xp, dp)
        excess *= s
    mass = ndtr(z / s)
    return c[0] + (np.interp(z, x, c) - c[0] + excess) / mass


def _ramp_excess(
    u0: FloatArray, lo: NDArray[np.intp], k: int, xp: FloatArray, dp: FloatArray
) -> FloatArray:
    """sum_j dp_j e(|u0 - xp_j| / _E_STEPS_PER_SIGMA) over the k nodes j = lo, ..., lo + k - 1,
    with u0 and xp in table steps."""
    idx = lo[:, None] + np.arange(k)
    u = np.abs(u0[:, None] - xp.take(idx))
    # Nodes beyond the table (further than GAUSS_TAIL sigma) land in its all-zero last interval.
    i = np.minimum(u, _E_COEF[0].size - 1).astype(np.intp)
    f = u - i
    a0, a1, a2, a3 = _E_COEF
    e = a3.take(i)
    e *= f
    e += a2.take(i)
    e *= f
    e += a1.take(i)
    e *= f
    e += a0.take(i)
    e *= dp.take(idx)
    return e.sum(axis=1)


def _segment_profile(
    x: FloatArray, c: FloatArray, z: FloatArray, s: float, w: float, lam: float
) -> FloatArray:
    """Blur by exact integration of every segment of c against the MRI kernel (nm)."""
    # Support of the kernel in y = z - x + w, beyond which its mass is below round-off.
    y_lo = -(GAUSS_TAIL * s + EXP_TAIL * lam)
    y_hi = GAUSS_TAIL * s + EXP_TAIL * w
    # Nodes of c: the surface, the cell centres and a far node closing the constant tail.
    n = x.size
    X = np.empty(n + 2)
    X[0] = 0.0
    X[1:-1] = x
    X[-1] = x[-1] + (w - y_lo) + 1.0
    C = np.empty(n + 2)
    C[0] = c[0]
    C[1:-1] = c
    C[-1] = c[-1]
    S = np.zeros(n + 2)  # slope of the segment starting at each node (last entry is padding)
    S[1:n] = np.diff(c) / np.diff(x)

    shift = z + w
    lo = np.clip(np.searchsorted(X, shift - y_hi, side="right") - 1, 0, n + 1)
    hi = np.clip(np.searchsorted(X, shift - y_lo, side="left"), 0, n + 1)
    out = np.empty(z.size)
    # Blocks of depths in increasing order, as in _gaussian_profile.
    order = np.argsort(z, kind="stable")
    rows = max(1, _BLOCK_ELEMENTS // (int(np.max(hi - lo)) + 1))
    for start in range(0, z.size, rows):
        sel = order[start : start + rows]
        k = int(np.max(hi[sel] - lo[sel])) + 1
        # Nodes past hi repeat node hi: their segments have zero width and contribute nothing.
        idx = np.minimum(lo[sel, None] + np.arange(k), hi[sel, None])
        y = shift[sel, None] - X.take(idx)
        G0, G1 = _kernel_cdf_m1(y, s, w, lam)
        dG0 = G0[:, :-1] - G0[:, 1:]
        dK = y[:, :-1] * dG0 - (G1[:, :-1] - G1[:, 1:])
        seg = idx[:, :-1]
        out[sel] = np.sum(C.take(seg) * dG0 + S.take(seg) * dK, axis=1) / np.sum(dG0, axis=1)
    return out
