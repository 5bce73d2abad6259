"""Normalised densities of site energies g(E) (1/eV, integrating to 1).

Every shape implements the :class:`SiteEnergyDistribution` protocol: a density ``g(E)`` in 1/eV,
its cumulative distribution ``G(E)`` (dimensionless), the inverse ``G^-1(p)`` (eV), a plotting
window, and three quadrature hints (support, breakpoints, smoothness scale) that
:mod:`sed.fermi` uses to integrate ``g`` against the Fermi-Dirac function to high relative accuracy.

Energies are site energies in eV on an arbitrary common scale (deep sites at low E). The step
(T = 0) filling of a model fills the deepest sites first, so the Fermi level at filled fraction
``p`` is ``inv_cdf(p)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

__all__ = [
    "BoxSED",
    "ExponentialTailSED",
    "GaussianMixtureSED",
    "GaussianSED",
    "SiteEnergyDistribution",
    "TabulatedSED",
    "fwhm_to_sigma",
]

FloatArray = NDArray[np.float64]

# FWHM of a Gaussian in units of its standard deviation: 2 sqrt(2 ln 2) = 2.3548...
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

# Tail mass left outside the plotting window on each side: 1e-6 of the sites is invisible on any
# linear plot, and the window stays a few sigma wide instead of being stretched by far tails.
PLOT_TAIL_MASS = 1e-6
# Relative padding added to each side of the plotting window, so the edges of a box or the top of an
# exponential tail are visibly inside the frame.
PLOT_PAD_REL = 0.1

# Half-width of the quadrature support of a Gaussian in sigma: the mass beyond 10 sigma is 7.6e-24,
# far below the 1e-12 smallest filled fraction the mobility models resolve (N_FLOOR_REL), so
# truncating there changes filled fractions by < 1e-11 relative.
GAUSS_SUPPORT_SIGMAS = 10.0
# Depth of the quadrature support of an exponential tail in tail energies: exp(-50) = 2e-22 of the
# mass lies deeper, again negligible against the 1e-12 smallest filled fraction.
EXP_SUPPORT_TAILS = 50.0

# Absolute part of the convergence test of the monotone inverse-cdf solves (eV), added to 4 ulp of
# |E|: the solve runs to round-off, so that quantiles of nearly equal p (e.g. n_ref recomputed
# from ln n) agree to ~1e-15 eV and D(n_ref) reproduces D_ref to ~1e-13 even when kT ~ 0.02 eV.
INV_CDF_XTOL_EV = 1e-15
# Iteration cap of the safeguarded Newton/bisection inverse: bisection alone halves a bracket of at
# most ~100 eV to round-off in ~60 steps, so 200 is never reached unless the input is broken.
INV_CDF_MAX_ITER = 200


def fwhm_to_sigma(fwhm_eV: float) -> float:
    """Standard deviation (eV) of a Gaussian with full width at half maximum ``fwhm_eV`` (eV)."""
    return float(fwhm_eV) / FWHM_PER_SIGMA


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


def _out(values: FloatArray, like: ArrayLike) -> FloatArray | float:
    """Return a Python float for scalar input, else the array."""
    if np.ndim(like) == 0:
        return float(values)
    return values


@runtime_checkable
class SiteEnergyDistribution(Protocol):
    """A normalised density of site energies.

    All methods are vectorised over their argument and return a float for scalar input.
    """

    def density(self, E_eV: ArrayLike) -> FloatArray | float:
        """Density of sites g(E) per eV (1/eV), integrating to 1 over all E."""
        ...

    def cdf(self, E_eV: ArrayLike) -> FloatArray | float:
        """Fraction of sites below E (dimensionless, in [0, 1]); E in eV."""
        ...

    def inv_cdf(self, p: ArrayLike) -> FloatArray | float:
        """Site energy (eV) below which the fraction p in (0, 1) of the sites lies."""
        ...

    def energy_range_eV(self) -> tuple[float, float]:
        """Plotting window (eV, eV) that contains essentially all sites."""
        ...

    def support_eV(self) -> tuple[float, float]:
        """Quadrature window (eV, eV) outside which the site mass is negligible (< 1e-20)."""
        ...

    def breakpoints_eV(self) -> tuple[float, ...]:
        """Energies (eV) inside the support where g(E) is not smooth (jumps, kinks)."""
        ...

    def smooth_scale_eV(self) -> float:
        """Energy scale (eV) over which g(E) varies smoothly between breakpoints."""
        ...


class _ShapeMixin:
    """Shared plotting window built from the inverse cdf, and the split of the inverse cdf into
    a part that does not depend on the shape's parameters and one that does."""

    def inv_cdf(self, p: ArrayLike) -> FloatArray | float:  # pragma: no cover - overridden
        raise NotImplementedError

    @staticmethod
    def quantile_basis(p: FloatArray) -> FloatArray:
        """The part of ``inv_cdf(p)`` common to every shape of this class (whatever its
        parameters), for fractions p (array): p itself unless a subclass has a cheaper split.

        ``inv_cdf_from_basis(quantile_basis(p))`` equals ``inv_cdf(p)`` bit for bit, so a
        kernel table can keep the basis of its nodes while a fit varies the width.
        """
        return p

    def inv_cdf_from_basis(self, basis: FloatArray) -> FloatArray:
        """``inv_cdf`` (eV) at the fractions whose `quantile_basis` is ``basis`` (array)."""
        return np.asarray(self.inv_cdf(basis), dtype=float)

    def energy_range_eV(self) -> tuple[float, float]:
        """Plotting window (eV, eV): the 1e-6 and 1 - 1e-6 quantiles padded by 10 % each side."""
        lo = float(self.inv_cdf(PLOT_TAIL_MASS))
        hi = float(self.inv_cdf(1.0 - PLOT_TAIL_MASS))
        pad = PLOT_PAD_REL * (hi - lo)
        return lo - pad, hi + pad


@dataclass(frozen=True)
class GaussianSED(_ShapeMixin):
    """Gaussian density of site energies (MODEL.md section 3).

    g(E) = exp(-(E - E0)^2 / (2 sigma^2)) / (sigma sqrt(2 pi)), sigma = FWHM / (2 sqrt(2 ln 2)).

    Parameters
    ----------
    fwhm_eV: full width at half maximum of the Gaussian (eV), > 0.
    center_eV: centre E0 of the Gaussian (eV).
    """

    fwhm_eV: float
    center_eV: float = 0.0

    def __post_init__(self) -> None:
        _check_positive("fwhm_eV", self.fwhm_eV)
        _check_finite("center_eV", self.center_eV)

    @property
    def sigma_eV(self) -> float:
        """Standard deviation of the Gaussian (eV)."""
        return fwhm_to_sigma(self.fwhm_eV)

    def density(self, E_eV: ArrayLike) -> FloatArray | float:
        """g(E) (1/eV) at site energies E (eV)."""
        x = (np.asarray(E_eV, dtype=float) - self.center_eV) / self.sigma_eV
        g = np.exp(-0.5 * x * x) / (self.sigma_eV * math.sqrt(2.0 * math.pi))
        return _out(g, E_eV)

    def cdf(self, E_eV: ArrayLike) -> FloatArray | float:
        """Fraction of sites below E (dimensionless); E in eV."""
        x = (np.asarray(E_eV, dtype=float) - self.center_eV) / self.sigma_eV
        return _out(ndtr(x), E_eV)

    def inv_cdf(self, p: ArrayLike) -> FloatArray | float:
        """Quantile (eV) of the fraction p in (0, 1), via scipy.special.ndtri."""
        E = self.center_eV + self.sigma_eV * ndtri(np.asarray(p, dtype=float))
        return _out(E, p)

    @staticmethod
    def quantile_basis(p: FloatArray) -> FloatArray:
        """Standard normal quantiles ndtri(p) of fractions p (array): the costly part of
        `inv_cdf`, the same for every width and centre."""
        return ndtri(np.asarray(p, dtype=float))

    def inv_cdf_from_basis(self, basis: FloatArray) -> FloatArray:
        """Quantile (eV) from standard normal quantiles: centre + sigma z (as `inv_cdf`)."""
        return self.center_eV + self.sigma_eV * basis

    def support_eV(self) -> tuple[float, float]:
        """Quadrature window (eV, eV): centre +- 10 sigma."""
        half = GAUSS_SUPPORT_SIGMAS * self.sigma_eV
        return self.center_eV - half, self.center_eV + half

    def breakpoints_eV(self) -> tuple[float, ...]:
        """No breakpoints: the Gaussian is smooth."""
        return ()

    def smooth_scale_eV(self) -> float:
        """Smoothness scale (eV): sigma."""
        return self.sigma_eV


def _monotone_inverse(
    cdf_lower: object,
    cdf_upper: object,
    density: object,
    p: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> FloatArray:
    """Vectorised safeguarded Newton/bisection solve of cdf(E) = p inside brackets [lo, hi].

    ``cdf_lower(E)`` returns G(E) and ``cdf_upper(E)`` returns 1 - G(E), both accurate in their
    small tails; for p <= 1/2 the solve uses G(E) - p, for p > 1/2 it uses (1 - p) - (1 - G(E)), so
    quantiles near 0 and near 1 are both found to full relative precision. Converges to
    round-off: ``INV_CDF_XTOL_EV`` (eV) plus 4 ulp of |E|.
    """
    lower = p <= 0.5
    q = np.where(lower, p, 1.0 - p)
    E = 0.5 * (lo + hi)
    lo = lo.copy()
    hi = hi.copy()
    active = np.ones(p.shape, dtype=bool)
    for _ in range(INV_CDF_MAX_ITER):
        if not active.any():
            break
        Ea = E[active]
        la = lower[active]
        Gl = np.asarray(cdf_lower(Ea))  # type: ignore[operator]
        Gu = np.asarray(cdf_upper(Ea))  # type: ignore[operator]
        # residual r(E) increasing in E in both branches
        r = np.where(la, Gl - q[active], q[active] - Gu)
        g = np.asarray(density(Ea))  # type: ignore[operator]
        lo_a = np.where(r < 0.0, Ea, lo[active])
        hi_a = np.where(r > 0.0, Ea, hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = Ea - r / g
        ok = np.isfinite(newton) & (newton > lo_a) & (newton < hi_a)
        E_new = np.where(ok, newton, 0.5 * (lo_a + hi_a))
        E_new = np.where(r == 0.0, Ea, E_new)
        step = np.abs(E_new - Ea)
        lo[active] = lo_a
        hi[active] = hi_a
        E[active] = E_new
        tol = INV_CDF_XTOL_EV + 4.0 * np.finfo(float).eps * np.abs(E_new)
        done = (step <= tol) | ((hi_a - lo_a) <= tol) | (r == 0.0)
        idx = np.flatnonzero(active)
        active[idx[done]] = False
    return E


@dataclass(frozen=True)
class GaussianMixtureSED(_ShapeMixin):
    """Weighted sum of Gaussian site-energy densities.

    Parameters
    ----------
    components: sequence of ``(weight, center_eV, fwhm_eV)``: relative weight (> 0, any scale;
        normalised to sum 1), centre (eV) and full width at half maximum (eV, > 0) of each Gaussian.

    The inverse cdf is a vectorised safeguarded Newton/bisection solve to round-off, bracketed by
    the smallest and largest component quantiles (the mixture quantile always lies between them).
    """

    components: tuple[tuple[float, float, float], ...]
    _w: FloatArray = field(init=False, repr=False, compare=False)
    _c: FloatArray = field(init=False, repr=False, compare=False)
    _s: FloatArray = field(init=False, repr=False, compare=False)

    def __init__(self, components: Sequence[Sequence[float]]) -> None:
        comps = tuple(tuple(float(x) for x in c) for c in components)
        if len(comps) == 0:
            raise ValueError("GaussianMixtureSED needs at least one component")
        for c in comps:
            if len(c) != 3:
                raise ValueError(f"each component must be (weight, center_eV, fwhm_eV), got {c!r}")
            _check_positive("component weight", c[0])
            _check_finite("component center_eV", c[1])
            _check_positive("component fwhm_eV", c[2])
        total = math.fsum(c[0] for c in comps)
        comps = tuple((c[0] / total, c[1], c[2]) for c in comps)
        object.__setattr__(self, "components", comps)
        object.__setattr__(self, "_w", np.array([c[0] for c in comps]))
        object.__setattr__(self, "_c", np.array([c[1] for c in comps]))
        object.__setattr__(self, "_s", np.array([fwhm_to_sigma(c[2]) for c in comps]))

    def _z(self, E: FloatArray) -> FloatArray:
        return (E[..., None] - self._c) / self._s

    def density(self, E_eV: ArrayLike) -> FloatArray | float:
        """g(E) (1/eV) at site energies E (eV)."""
        z = self._z(np.asarray(E_eV, dtype=float))
        g = np.sum(self._w * np.exp(-0.5 * z * z) / (self._s * math.sqrt(2.0 * math.pi)), axis=-1)
        return _out(g, E_eV)

    def cdf(self, E_eV: ArrayLike) -> FloatArray | float:
        """Fraction of sites below E (dimensionless); E in eV."""
        z = self._z(np.asarray(E_eV, dtype=float))
        return _out(np.sum(self._w * ndtr(z), axis=-1), E_eV)

    def _sf(self, E: FloatArray) -> FloatArray:
        return np.sum(self._w * ndtr(-self._z(E)), axis=-1)

    def inv_cdf(self, p: ArrayLike) -> FloatArray | float:
        """Quantile (eV) of the fraction p in (0, 1) (safeguarded Newton, to round-off)."""
        pa = np.asarray(p, dtype=float)
        flat = pa.reshape(-1)
        x = ndtri(flat)[:, None]
        quantiles = self._c + self._s * x
        lo = quantiles.min(axis=1)
        hi = quantiles.max(axis=1)
        E = np.full(flat.shape, np.nan)
        inside = (flat > 0.0) & (flat < 1.0)
        E[flat == 0.0] = -np.inf
        E[flat == 1.0] = np.inf
        if inside.any():
            E[inside] = _monotone_inverse(
                self.cdf, self._sf, self.density, flat[inside], lo[inside], hi[inside]
            )
        return _out(E.reshape(pa.shape), p)

    def support_eV(self) -> tuple[float, float]:
        """Quadrature window (eV, eV): all components' centre +- 10 sigma."""
        half = GAUSS_SUPPORT_SIGMAS * self._s
        return float(np.min(self._c - half)), float(np.max(self._c + half))

    def breakpoints_eV(self) -> tuple[float, ...]:
        """No breakpoints: a sum of Gaussians is smooth."""
        return ()

    def smooth_scale_eV(self) -> float:
        """Smoothness scale (eV): the narrowest component's sigma."""
        return float(np.min(self._s))


@dataclass(frozen=True)
class BoxSED(_ShapeMixin):
    """Uniform density of site energies on [center - width/2, center + width/2].

    Parameters
    ----------
    width_eV: width of the box (eV), > 0.
    center_eV: centre of the box (eV).
    """

    width_eV: float
    center_eV: float = 0.0

    def __post_init__(self) -> None:
        _check_positive("width_eV", self.width_eV)
        _check_finite("center_eV", self.center_eV)

    @property
    def lower_eV(self) -> float:
        """Lower edge of the box (eV)."""
        return self.center_eV - 0.5 * self.width_eV

    @property
    def upper_eV(self) -> float:
        """Upper edge of the box (eV)."""
        return self.center_eV + 0.5 * self.width_eV

    def density(self, E_eV: ArrayLike) -> FloatArray | float:
        """g(E) = 1/width inside the box, 0 outside (1/eV); E in eV."""
        E = np.asarray(E_eV, dtype=float)
        g = np.where((E >= self.lower_eV) & (E <= self.upper_eV), 1.0 / self.width_eV, 0.0)
        return _out(g, E_eV)

    def cdf(self, E_eV: ArrayLike) -> FloatArray | float:
        """Fraction of sites below E (dimensionless); E in eV."""
        E = np.asarray(E_eV, dtype=float)
        return _out(np.clip((E - self.lower_eV) / self.width_eV, 0.0, 1.0), E_eV)

    def inv_cdf(self, p: ArrayLike) -> FloatArray | float:
        """Quantile (eV) of the fraction p in (0, 1): lower + p width."""
        return _out(self.lower_eV + np.asarray(p, dtype=float) * self.width_eV, p)

    def support_eV(self) -> tuple[float, float]:
        """Quadrature window (eV, eV): the box edges."""
        return self.lower_eV, self.upper_eV

    def breakpoints_eV(self) -> tuple[float, ...]:
        """No interior breakpoints (the edges are the support ends)."""
        return ()

    def smooth_scale_eV(self) -> float:
        """Smoothness scale (eV): the width (g is constant inside)."""
        return self.width_eV


@dataclass(frozen=True)
class ExponentialTailSED(_ShapeMixin):
    """Exponential band tail: g(E) = exp((E - top)/tail) / tail for E <= top, 0 above.

    With step filling this gives the power law D = D_ref (n / n_ref)^(tail / k_B T).

    Parameters
    ----------
    tail_eV: decay energy of the tail (eV), > 0.
    top_eV: upper edge of the distribution (eV); the density is largest just below it.
    """

    tail_eV: float
    top_eV: float = 0.0

    def __post_init__(self) -> None:
        _check_positive("tail_eV", self.tail_eV)
        _check_finite("top_eV", self.top_eV)

    def density(self, E_eV: ArrayLike) -> FloatArray | float:
        """g(E) (1/eV) at site energies E (eV)."""
        x = (np.asarray(E_eV, dtype=float) - self.top_eV) / self.tail_eV
        # minimum() keeps exp() from overflowing above the top, where g is 0 anyway
        g = np.where(x <= 0.0, np.exp(np.minimum(x, 0.0)) / self.tail_eV, 0.0)
        return _out(g, E_eV)

    def cdf(self, E_eV: ArrayLike) -> FloatArray | float:
        """Fraction of sites below E (dimensionless); E in eV."""
        x = (np.asarray(E_eV, dtype=float) - self.top_eV) / self.tail_eV
        return _out(np.exp(np.minimum(x, 0.0)), E_eV)

    def inv_cdf(self, p: ArrayLike) -> FloatArray | float:
        """Quantile (eV) of the fraction p in (0, 1): top + tail ln p."""
        pa = np.asarray(p, dtype=float)
        with np.errstate(divide="ignore"):
            E = self.top_eV + self.tail_eV * np.log(pa)
        return _out(E, p)

    def support_eV(self) -> tuple[float, float]:
        """Quadrature window (eV, eV): [top - 50 tail, top]."""
        return self.top_eV - EXP_SUPPORT_TAILS * self.tail_eV, self.top_eV

    def breakpoints_eV(self) -> tuple[float, ...]:
        """No interior breakpoints (the top is the support end)."""
        return ()

    def smooth_scale_eV(self) -> float:
        """Smoothness scale (eV): the tail energy."""
        return self.tail_eV


@dataclass(frozen=True, eq=False)
class TabulatedSED(_ShapeMixin):
    """User density of site energies on a grid, linearly interpolated, zero outside the grid.

    Parameters
    ----------
    energies_eV: strictly increasing grid of site energies (eV), at least 2 points.
    density: g at the grid points (any positive scale, e.g. counts per eV); >= 0, finite, with a
        positive integral. It is normalised so that its piecewise-linear interpolant integrates
        to 1.

    The cdf is the exact integral of the piecewise-linear density (trapezoid rule at the nodes,
    quadratic in between), so ``cdf' == density`` exactly; the inverse solves the quadratic on the
    bracketing segment, so ``inv_cdf(cdf(E)) == E`` wherever g(E) > 0. Equality compares identity
    (the fields are arrays).
    """

    energies_eV: FloatArray
    density_values: FloatArray
    _C: FloatArray = field(init=False, repr=False)

    def __init__(self, energies_eV: ArrayLike, density: ArrayLike) -> None:
        E = np.array(energies_eV, dtype=float)
        g = np.array(density, dtype=float)
        if E.ndim != 1 or g.shape != E.shape:
            raise ValueError("energies_eV and density must be 1-D arrays of the same length")
        if E.size < 2:
            raise ValueError("TabulatedSED needs at least 2 grid points")
        if not (np.all(np.isfinite(E)) and np.all(np.isfinite(g))):
            raise ValueError("energies_eV and density must be finite")
        if np.any(np.diff(E) <= 0.0):
            raise ValueError("energies_eV must be strictly increasing")
        if np.any(g < 0.0):
            raise ValueError("density must be >= 0 everywhere")
        segment = 0.5 * (g[1:] + g[:-1]) * np.diff(E)
        total = float(np.sum(segment))
        if not total > 0.0:
            raise ValueError("density must have a positive integral")
        g = g / total
        C = np.concatenate(([0.0], np.cumsum(segment / total)))
        C[-1] = 1.0
        for arr in (E, g, C):
            arr.setflags(write=False)
        object.__setattr__(self, "energies_eV", E)
        object.__setattr__(self, "density_values", g)
        object.__setattr__(self, "_C", C)

    def density(self, E_eV: ArrayLike) -> FloatArray | float:
        """Normalised g(E) (1/eV), linear between grid points, 0 outside; E in eV."""
        E = np.asarray(E_eV, dtype=float)
        g = np.interp(E, self.energies_eV, self.density_values, left=0.0, right=0.0)
        return _out(g, E_eV)

    def cdf(self, E_eV: ArrayLike) -> FloatArray | float:
        """Fraction of sites below E (dimensionless): exact integral of the linear g; E in eV."""
        E = np.asarray(E_eV, dtype=float)
        x = self.energies_eV
        i = np.clip(np.searchsorted(x, E, side="right") - 1, 0, x.size - 2)
        h = x[i + 1] - x[i]
        d = np.clip(E - x[i], 0.0, h)
        g0 = self.density_values[i]
        g1 = self.density_values[i + 1]
        G = self._C[i] + g0 * d + 0.5 * (g1 - g0) / h * d * d
        G = np.where(E < x[0], 0.0, np.where(E >= x[-1], 1.0, G))
        return _out(np.clip(G, 0.0, 1.0), E_eV)

    def inv_cdf(self, p: ArrayLike) -> FloatArray | float:
        """Quantile (eV) of the fraction p in (0, 1): root of the quadratic on its segment."""
        pa = np.asarray(p, dtype=float)
        x = self.energies_eV
        C = self._C
        # side="left" puts p on the segment whose cumulative range (C[i], C[i+1]] contains it,
        # skipping zero-mass segments (where C is flat) automatically
        i = np.clip(np.searchsorted(C, pa, side="left") - 1, 0, x.size - 2)
        h = x[i + 1] - x[i]
        g0 = self.density_values[i]
        g1 = self.density_values[i + 1]
        a = 0.5 * (g1 - g0) / h
        r = np.maximum(pa - C[i], 0.0)
        disc = np.maximum(g0 * g0 + 4.0 * a * r, 0.0)
        denom = g0 + np.sqrt(disc)
        # stable root of a d^2 + g0 d - r = 0: d = 2 r / (g0 + sqrt(g0^2 + 4 a r))
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(denom > 0.0, 2.0 * r / denom, 0.0)
        E = x[i] + np.clip(d, 0.0, h)
        E = np.where(pa <= 0.0, x[0], np.where(pa >= 1.0, x[-1], E))
        return _out(E, p)

    def support_eV(self) -> tuple[float, float]:
        """Quadrature window (eV, eV): the grid ends."""
        return float(self.energies_eV[0]), float(self.energies_eV[-1])

    def breakpoints_eV(self) -> tuple[float, ...]:
        """Interior grid points (eV), where the linear interpolant has kinks."""
        return tuple(float(e) for e in self.energies_eV[1:-1])

    def smooth_scale_eV(self) -> float:
        """Smoothness scale (eV): the largest grid spacing (g is linear between grid points)."""
        return float(np.max(np.diff(self.energies_eV)))
