"""Knots, parameter layout, regularisation and lambda choice of the D(n) inversion.

See `fitting.invert` for the method. Here: where the knots go (`default_knots`, `check_knots`,
`lowest_fraction`) and where the parameters start (`start_theta`),
how the parameter vector theta maps to log10 D at the knots of every case (`KnotLayout`, with
its second-difference regularisation matrix), the GCV score of lambda on the linearised problem
(`gcv_curve`, `gcv_choice`), and the helpers of the band (`curve_gradient`, `bootstrap_draws`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.ndimage import median_filter
from scipy.optimize import lsq_linear
from scipy.special import ndtr, ndtri

from fitting.forward import ForwardModel
from nppsim.errors import InputError
from sed import GaussianSED, SEDMobility

__all__ = [
    "KnotLayout",
    "active_mask",
    "bootstrap_draws",
    "check_knots",
    "curve_gradient",
    "default_knots",
    "gcv_choice",
    "gcv_curve",
    "linearised_step",
    "lowest_fraction",
    "start_theta",
]

#: the first default knot is the lowest native fraction the data show, but not below this:
#: below 1 % of n_ref a profile hardly depends on D (the ions there no longer move)
KNOT_FLOOR = 0.01
#: ... nor above this (a case with a high plateau still gets knots over most of the range)
KNOT_CEILING = 0.5
#: median filter (points) applied to a measured native profile before taking its minimum
KNOT_SMOOTH_POINTS = 5
#: starting curve of a native species with a constant D: a Gaussian SED of this FWHM (eV)
START_FWHM_EV = 0.25
#: upper bound of one increment of log10 D between neighbouring knots (decades)
INCREMENT_MAX_DECADES = 10.0
#: an increment below this (decades) counts as held at its bound 0 (an active constraint)
AT_ZERO = 1.0e-6
#: draws of the bootstrap fallback of the band, and its seed
BOOTSTRAP_DRAWS = 200
#: step (decades) of the curve-gradient finite differences (the curve is cheap, PCHIP smooth)
CURVE_STEP = 1.0e-5


def default_knots(n: int, lowest: float, vacancy_fraction: float = 0.10) -> np.ndarray:
    """n knots (fractions of n_ref) from `lowest` up to, not including, 1 (the pinned n_ref),
    uniform in the Gaussian quantile z = Phi^-1((1 - v) f) of the site filling.

    A Gaussian SED of any width makes log10 D linear in z (E_F = E0 + sigma z), so on these
    knots it has zero second differences: the smoothness term then prefers Gaussian landscapes
    where the data are silent, and the knots crowd where a real D(n) bends most (low f).
    """
    p_ref = 1.0 - vacancy_fraction
    z = np.linspace(float(ndtri(lowest * p_ref)), float(ndtri(p_ref)), n + 1)[:-1]
    knots = ndtr(z) / p_ref
    knots[0] = lowest
    return knots


def check_knots(knots: int | Sequence[float]) -> int | np.ndarray:
    """A validated knot count (>= 2) or array of knot fractions (in (0, 1], increasing; a knot
    at 1 is the pinned n_ref and is dropped; at least 2 remain). InputError otherwise."""
    if isinstance(knots, bool):
        raise InputError(f"--knots: expected a number of knots or fractions, got {knots!r}")
    if isinstance(knots, int | np.integer):
        if knots < 2:
            raise InputError(f"--knots: at least 2 knots are needed, got {knots}")
        return int(knots)
    x = np.asarray(list(knots), dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise InputError("--knots: the knot fractions must be finite numbers")
    if np.any(x <= 0.0) or np.any(x > 1.0):
        raise InputError(f"--knots: fractions must lie in (0, 1], got {x.tolist()}")
    x = x[x < 1.0]  # 1 is the pinned n_ref
    if np.any(np.diff(x) <= 0.0):
        raise InputError("--knots: fractions must increase strictly")
    if x.size < 2:
        raise InputError(f"--knots: at least 2 knots below 1 are needed, got {x.size}")
    return x


class KnotLayout:
    """How theta maps to the curves: theta = [shared increments (knots >= F), per-case
    increments (knots < F) case by case, internal coordinates of the freed keys]; increments
    in decades, in knot order. knots: (K,) fractions; n_cases; split_below: F or None;
    n_free: number of freed case keys."""

    def __init__(self, knots: np.ndarray, n_cases: int, split_below: float | None, n_free: int):
        self.knots = knots
        self.K = knots.size
        self.n_cases = n_cases
        self.ks = 0 if split_below is None else int(np.sum(knots < split_below))
        self.n_shared = self.K - self.ks
        self.n_inc = self.n_shared + (self.ks * n_cases)
        self.n_free = n_free
        self.size = self.n_inc + n_free
        # P[c]: (K, size) maps theta to the increments of case c
        self.P = []
        for c in range(n_cases):
            P = np.zeros((self.K, self.size))
            for k in range(self.K):
                if k >= self.ks:
                    P[k, k - self.ks] = 1.0
                else:
                    P[k, self.n_shared + c * self.ks + k] = 1.0
            self.P.append(P)
        upper = np.triu(np.ones((self.K, self.K)))  # y_k = y_ref - sum_{j >= k} a_j
        self.T = [upper @ P for P in self.P]
        self.M = self._regulariser()

    def y(self, theta: np.ndarray, c: int, y_ref: float) -> np.ndarray:
        """log10 D (cm^2/s) at the K knots of case c; y_ref = log10 D_ref."""
        return y_ref - self.T[c] @ theta

    def _regulariser(self) -> np.ndarray:
        """M with reg = M theta: second differences of log10 D over the nodes (f_1..f_K, 1) of
        every curve, each stencil once (stencils of shared knots from the first case only)."""
        rows = []
        for c in range(self.n_cases):
            for r in range(self.K - 1):
                if c > 0 and r >= self.ks:
                    continue
                w = np.zeros(self.K + 1)
                w[r : r + 3] = [1.0, -2.0, 1.0]
                # y_nodes = [y_ref - T theta; y_ref]; second differences annihilate constants
                rows.append(-(w[: self.K] @ self.T[c]))
        return np.array(rows) if rows else np.zeros((0, self.size))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of theta: increments in [0, INCREMENT_MAX_DECADES], internal coordinates of
        the freed keys in [0, 1]."""
        lo = np.zeros(self.size)
        hi = np.ones(self.size)
        hi[: self.n_inc] = INCREMENT_MAX_DECADES
        return lo, hi


def gcv_curve(
    J: np.ndarray, r: np.ndarray, M: np.ndarray, theta: np.ndarray, free: np.ndarray,
    lambdas: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """GCV score of every lambda on the Gauss-Newton linearisation at theta.

    J: (N, p) Jacobian of the data residuals; r: (N,) data residuals at theta; M: (q, p)
    regularisation matrix (rows sqrt(lambda) M theta); free: (p,) mask of the parameters not
    held at a bound; lambdas: trial values. For each lambda the linearised step delta
    minimises |r + J delta|^2 + lambda |M (theta + delta)|^2; the score is
    N |r + J delta|^2 / (N - tr H)^2 with the influence matrix H = J (J^T J + lambda M^T M)^-1 J^T.
    """
    Jf, Mf = J[:, free], M[:, free]
    N = J.shape[0]
    reg0 = M @ theta
    JtJ, MtM = Jf.T @ Jf, Mf.T @ Mf
    out = np.empty(len(lambdas))
    for i, lam in enumerate(lambdas):
        Ainv = np.linalg.pinv(JtJ + lam * MtM)
        delta = -Ainv @ (Jf.T @ r + lam * (Mf.T @ reg0))
        r_lin = r + Jf @ delta
        tr = float(np.trace(Ainv @ JtJ))
        out[i] = N * float(r_lin @ r_lin) / max(N - tr, 1.0) ** 2
    return out


def linearised_step(
    J: np.ndarray, r: np.ndarray, M: np.ndarray, theta: np.ndarray, free: np.ndarray,
    lam: float,
) -> np.ndarray:  # fmt: skip
    """The Gauss-Newton step delta (zero for the parameters held at a bound) that minimises
    |r + J delta|^2 + lam |M (theta + delta)|^2 (arguments as in `gcv_curve`)."""
    Jf, Mf = J[:, free], M[:, free]
    delta = np.zeros(theta.size)
    A = Jf.T @ Jf + lam * (Mf.T @ Mf)
    delta[free] = -np.linalg.pinv(A) @ (Jf.T @ r + lam * (Mf.T @ (M @ theta)))
    return delta


def gcv_choice(lambdas: np.ndarray, gcv: np.ndarray, n_points: int) -> float:
    """The largest lambda whose GCV score is within one standard error of the minimum.

    The one-standard-error rule of cross-validation (Hastie, Tibshirani, Friedman, The
    Elements of Statistical Learning, 7.10): the smoothest curve the data cannot tell from the
    best one. The standard error of a GCV score (a mean of squared normalised residuals) is
    taken as sqrt(2 / n_points) of it, that of chi^2 / N with N degrees of freedom. Where the
    data do not constrain D(n) the score is flat and the rule picks strong smoothing, which
    keeps the choice stable between refits.
    """
    ok = np.isfinite(gcv)
    if not np.any(ok):
        return float(lambdas[len(lambdas) // 2])
    best = float(np.min(gcv[ok]))
    within = ok & (gcv <= best * (1.0 + math.sqrt(2.0 / max(n_points, 1))))
    return float(np.max(lambdas[within]))


def curve_gradient(fn: Callable[[np.ndarray], np.ndarray], theta: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian d fn / d theta, (m, p)."""
    base = np.asarray(fn(theta), dtype=float)
    G = np.zeros((base.size, theta.size))
    for j in range(theta.size):
        h = CURVE_STEP
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] = max(tm[j] - h, 0.0)
        G[:, j] = (np.asarray(fn(tp)) - np.asarray(fn(tm))) / (tp[j] - tm[j])
    return G


def bootstrap_draws(
    J: np.ndarray,
    r: np.ndarray,
    layout: KnotLayout,
    theta: np.ndarray,
    lam: float,
    red: float,
    seed: int,
) -> np.ndarray:
    """(BOOTSTRAP_DRAWS, p) parameter draws of the linearised, bounded problem with resampled
    Gaussian noise of variance `red` (the reduced chi^2) on the data residuals `r`; J: data
    Jacobian at theta; lam: lambda; seed: of the generator."""
    rng = np.random.default_rng(seed)
    lo, hi = layout.bounds()
    A = np.vstack([J, math.sqrt(lam) * layout.M])
    reg0 = math.sqrt(lam) * (layout.M @ theta)
    out = []
    for _ in range(BOOTSTRAP_DRAWS):
        e = rng.standard_normal(r.size) * math.sqrt(max(red, 1e-300))
        b = -np.concatenate([r + e, reg0])
        sol = lsq_linear(A, b, bounds=(lo - theta, hi - theta + 1e-15), method="trf")
        out.append(theta + sol.x)
    return np.array(out)


def active_mask(theta: np.ndarray, layout: KnotLayout) -> np.ndarray:
    """Mask of the parameters held at a bound (not free in the linearised problem)."""
    lo, hi = layout.bounds()
    span = hi - lo
    return (theta - lo <= AT_ZERO * span) | (hi - theta <= AT_ZERO * span)


def lowest_fraction(model: ForwardModel, native: str, n_refs: Sequence[float]) -> float:
    """The lowest native fraction (of n_ref) the data blocks show (median-filtered; 1 minus the
    other species where the native one is not measured), clipped to [KNOT_FLOOR,
    KNOT_CEILING]: where the default knots start."""
    lows = []
    for b in model.blocks:
        prof = b.profile
        if native in prof.species:
            vals = np.asarray(prof.values[native], dtype=float)
        else:
            vals = 1.0 - sum(np.asarray(prof.values[s], dtype=float) for s in prof.species)
        if vals.size:
            size = min(KNOT_SMOOTH_POINTS, vals.size)
            lows.append(float(np.min(median_filter(vals, size=size, mode="nearest"))))
            lows[-1] /= n_refs[b.case_index]
    low = min(lows) if lows else KNOT_FLOOR
    return float(min(max(low, KNOT_FLOOR), KNOT_CEILING))


def start_theta(
    cases: Sequence, species: str, layout: KnotLayout, params: Sequence, y_ref: float,
    n_refs: Sequence[float],
) -> np.ndarray:  # fmt: skip
    """The starting theta: the increments of the species' own D(n) at the knots (its SED or
    table; a START_FWHM_EV Gaussian SED for a constant D), the freed keys at their case values."""
    from nppsim.simulate import mobility_for

    theta = np.zeros(layout.size)
    for c, case in enumerate(cases):
        sp = next(s for s in case.species if s.name == species)
        if sp.sed is not None or sp.D_table is not None:
            mob = mobility_for(case, sp)
        else:
            mob = SEDMobility(
                GaussianSED(START_FWHM_EV), sp.D_cm2_s, sp.initial_fraction,
                case.sample.temperature_K,
            )  # fmt: skip
        d = np.asarray(mob.D(layout.knots * n_refs[c]), dtype=float)
        y = np.log10(np.maximum(d, 1e-300))
        inc = np.diff(np.append(y, y_ref))
        inc = np.clip(inc, 0.0, INCREMENT_MAX_DECADES)
        for k in range(layout.K):
            if k >= layout.ks:
                if c == 0:
                    theta[k - layout.ks] = inc[k]
            else:
                theta[layout.n_shared + c * layout.ks + k] = inc[k]
    for i, p in enumerate(params):
        theta[layout.n_inc + i] = p.to_internal(p.initial)
    return theta
