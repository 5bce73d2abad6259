"""Fermi-Dirac filling of a density of site energies.

The filled fraction of the sites at Fermi level E_F and thermal energy kT (eV) is

    F(E_F) = integral g(E) f(E - E_F) dE,   f(x) = 1 / (1 + exp(x / kT)),

with g normalised to 1 (:mod:`sed.shapes`). :func:`filled_fraction` evaluates F and
dF/dE_F = integral g f (1 - f) / kT dE by composite Gauss-Legendre quadrature on panels no wider
than kT and the shape's smoothness scale, split at the shape's breakpoints: f is analytic in a
strip of half-width pi kT around the real axis, so 8 nodes per panel of width kT converge to
~1e-13 relative, term by term positive, so F keeps its relative accuracy even at F ~ 1e-12.

:class:`FermiLevelTable` inverts F once per model: it evaluates ln F and its exact slope on a
uniform grid of Fermi levels and interpolates E_F(ln F) by cubic Hermite with the exact slopes
dE_F / d ln F = F / F'. The node spacing (kT / 48 or finer) keeps the interpolation error below
1e-9 eV, which the test suite checks against a direct root solve.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from .shapes import SiteEnergyDistribution

__all__ = [
    "K_B_EV_PER_K",
    "FermiLevelTable",
    "fermi_dirac",
    "filled_fraction",
    "thermal_energy_eV",
]

FloatArray = NDArray[np.float64]

# k_B / e with the exact SI 2019 values (as scipy.constants; importing it costs ~0.19 s)
K_B_EV_PER_K = 1.380649e-23 / 1.602176634e-19
"""Boltzmann constant in eV/K (CODATA via scipy.constants: k / e)."""

# Gauss-Legendre nodes per panel: with panels no wider than kT the nearest poles of the Fermi
# function (at +- i pi kT) give a convergence factor ~6.4 per node pair, so 8 nodes reach ~1e-13.
GL_NODES_PER_PANEL = 8
# Fermi-level grid spacing in units of min(kT, smoothness scale): the cubic Hermite error scales
# as h^4; measured against a direct root solve, 1/48 gives <= 1e-10 eV for Gaussian, box,
# exponential and mixture shapes (worst near the sites-full end), 10x inside the 1e-9 eV budget.
EF_NODES_PER_SCALE = 48
# Hard cap on the number of Fermi-level nodes, so an absurd shape (tiny kT against a very wide
# distribution) fails loudly instead of allocating without bound.
EF_NODES_MAX = 200_000
# Cap on the number of quadrature nodes, for the same reason.
QUAD_NODES_MAX = 200_000


def thermal_energy_eV(temperature_K: float) -> float:
    """Thermal energy k_B T (eV) at ``temperature_K`` (K)."""
    return K_B_EV_PER_K * float(temperature_K)


def fermi_dirac(E_eV: ArrayLike, fermi_level_eV: ArrayLike, kT_eV: float) -> FloatArray | float:
    """Fermi-Dirac occupation 1 / (1 + exp((E - E_F) / kT)) (dimensionless).

    E_eV, fermi_level_eV: site energy and Fermi level (eV), broadcast together;
    kT_eV: thermal energy (eV). Overflow-safe (scipy.special.expit); E_F = -inf gives 0.
    """
    E = np.asarray(E_eV, dtype=float)
    Ef = np.asarray(fermi_level_eV, dtype=float)
    f = expit(-(E - Ef) / kT_eV)
    if f.ndim == 0:
        return float(f)
    return f


@dataclass(frozen=True, eq=False)
class QuadratureRule:
    """Quadrature of a site-energy density: sum_k weight_g[k] h(E[k]) ~ integral g(E) h(E) dE.

    E_eV: nodes (eV); weight_g: Gauss-Legendre weight times g(E_k) (dimensionless);
    mass_below, mass_above: site mass outside the support (dimensionless), attached to its ends
    E_lo_eV, E_hi_eV (eV).
    """

    E_eV: FloatArray
    weight_g: FloatArray
    E_lo_eV: float
    E_hi_eV: float
    mass_below: float
    mass_above: float

    @classmethod
    def for_shape(cls, shape: SiteEnergyDistribution, kT_eV: float) -> QuadratureRule:
        """Panels no wider than min(kT, smoothness scale), split at the shape's breakpoints."""
        lo, hi = shape.support_eV()
        width = min(kT_eV, shape.smooth_scale_eV())
        edges = [lo, *[b for b in shape.breakpoints_eV() if lo < b < hi], hi]
        panels: list[FloatArray] = []
        for a, b in itertools.pairwise(edges):
            count = max(1, math.ceil((b - a) / width))
            panels.append(np.linspace(a, b, count + 1))
        panel_edges = np.unique(np.concatenate(panels))
        n_nodes = (panel_edges.size - 1) * GL_NODES_PER_PANEL
        if n_nodes > QUAD_NODES_MAX:
            raise ValueError(
                f"Fermi-Dirac quadrature would need {n_nodes} nodes (support {hi - lo:.3g} eV, "
                f"kT {kT_eV:.3g} eV); the shape is too wide for this temperature"
            )
        x, w = np.polynomial.legendre.leggauss(GL_NODES_PER_PANEL)
        a = panel_edges[:-1, None]
        half = 0.5 * np.diff(panel_edges)[:, None]
        E = (a + half * (x + 1.0)).ravel()
        weights = (half * w).ravel()
        g = np.asarray(shape.density(E), dtype=float)
        return cls(
            E_eV=E,
            weight_g=weights * g,
            E_lo_eV=float(lo),
            E_hi_eV=float(hi),
            mass_below=float(shape.cdf(lo)),
            mass_above=1.0 - float(shape.cdf(hi)),
        )

    def fractions(self, fermi_level_eV: FloatArray, kT_eV: float) -> tuple[FloatArray, ...]:
        """(F, 1 - F, dF/dE_F) at Fermi levels E_F (eV); F dimensionless, dF/dE_F in 1/eV.

        F and 1 - F are summed separately, so each keeps its relative accuracy when small.
        """
        Ef = np.asarray(fermi_level_eV, dtype=float).reshape(-1)
        out_F = np.empty(Ef.shape)
        out_Q = np.empty(Ef.shape)
        out_dF = np.empty(Ef.shape)
        # chunks keep the (nodes x levels) work arrays around 16 MB
        chunk = max(1, 2_000_000 // max(1, self.E_eV.size))
        for start in range(0, Ef.size, chunk):
            sl = slice(start, start + chunk)
            x = (self.E_eV[None, :] - Ef[sl, None]) / kT_eV
            f = expit(-x)
            q = expit(x)
            out_F[sl] = f @ self.weight_g
            out_Q[sl] = q @ self.weight_g
            out_dF[sl] = (f * q) @ self.weight_g / kT_eV
            # the negligible mass outside the support, lumped at its ends
            xl = (self.E_lo_eV - Ef[sl]) / kT_eV
            xh = (self.E_hi_eV - Ef[sl]) / kT_eV
            fl, ql = expit(-xl), expit(xl)
            fh, qh = expit(-xh), expit(xh)
            out_F[sl] += self.mass_below * fl + self.mass_above * fh
            out_Q[sl] += self.mass_below * ql + self.mass_above * qh
            out_dF[sl] += (self.mass_below * fl * ql + self.mass_above * fh * qh) / kT_eV
        return out_F, out_Q, out_dF


def filled_fraction(
    shape: SiteEnergyDistribution, fermi_level_eV: ArrayLike, kT_eV: float
) -> tuple[FloatArray, FloatArray]:
    """Fermi-Dirac filled fraction F(E_F) (dimensionless) and dF/dE_F (1/eV).

    shape: normalised density of site energies; fermi_level_eV: Fermi level(s) (eV);
    kT_eV: thermal energy (eV). Returns arrays shaped like ``fermi_level_eV``.
    """
    Ef = np.asarray(fermi_level_eV, dtype=float)
    rule = QuadratureRule.for_shape(shape, kT_eV)
    F, _, dF = rule.fractions(Ef, kT_eV)
    return F.reshape(Ef.shape), dF.reshape(Ef.shape)


@dataclass(frozen=True, eq=False)
class FermiLevelTable:
    """Inverse of the Fermi-Dirac filling: E_F (eV) as a function of ln F (F = filled fraction).

    lnF: strictly increasing ln(filled fraction) at the nodes (dimensionless);
    E_eV: Fermi level at the nodes (eV), uniformly spaced;
    dE_dlnF: exact slope dE_F / d ln F = F / F' at the nodes (eV).
    Cubic Hermite interpolation between nodes; valid for lnF in [lnF[0], lnF[-1]].
    """

    lnF: FloatArray
    E_eV: FloatArray
    dE_dlnF: FloatArray

    @classmethod
    def build(
        cls,
        shape: SiteEnergyDistribution,
        kT_eV: float,
        fraction_lo: float,
        fraction_hi: float,
    ) -> FermiLevelTable:
        """Tabulate E_F for filled fractions covering [fraction_lo, fraction_hi] (dimensionless).

        shape: density of site energies; kT_eV: thermal energy (eV); 0 < fraction_lo <
        fraction_hi < 1.
        """
        if not 0.0 < fraction_lo < fraction_hi < 1.0:
            raise ValueError("need 0 < fraction_lo < fraction_hi < 1")
        rule = QuadratureRule.for_shape(shape, kT_eV)
        scale = min(kT_eV, shape.smooth_scale_eV())

        def F_of(E: float) -> tuple[float, float]:
            F, Q, _ = rule.fractions(np.array([E]), kT_eV)
            return float(F[0]), float(Q[0])

        # Bracket the Fermi levels: start from the step (T = 0) levels and move outwards with
        # doubling steps until the filled fraction is beyond the requested range.
        E_lo = float(shape.inv_cdf(fraction_lo))
        step = scale
        while F_of(E_lo)[0] > 0.5 * fraction_lo:
            E_lo -= step
            step *= 2.0
        E_hi = float(shape.inv_cdf(fraction_hi))
        step = scale
        while F_of(E_hi)[1] > 0.5 * (1.0 - fraction_hi):
            E_hi += step
            step *= 2.0
        h = scale / EF_NODES_PER_SCALE
        count = math.ceil((E_hi - E_lo) / h) + 1
        if count > EF_NODES_MAX:
            raise ValueError(
                f"Fermi-level table would need {count} nodes ({E_hi - E_lo:.3g} eV at "
                f"{h:.3g} eV spacing); kT is too small for this shape"
            )
        E = np.linspace(E_lo, E_hi, count)
        F, Q, dF = rule.fractions(E, kT_eV)
        # ln F from whichever of F, 1 - F is small, for full relative accuracy at both ends
        small = F < 0.5
        lnF = np.empty_like(F)
        lnF[small] = np.log(np.maximum(F[small], np.finfo(float).tiny))
        lnF[~small] = np.log1p(-Q[~small])
        dE_dlnF = F / dF
        if not (np.all(np.diff(lnF) > 0.0) and np.all(np.isfinite(dE_dlnF))):
            raise ValueError("Fermi-Dirac filling is not resolvable at this temperature")
        for arr in (lnF, E, dE_dlnF):
            arr.setflags(write=False)
        return cls(lnF=lnF, E_eV=E, dE_dlnF=dE_dlnF)

    def __call__(self, lnF: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Fermi level (eV) and dE_F / d ln F (eV) at ln(filled fraction) ``lnF``.

        Values outside the node range are clipped to it (callers stay inside).
        """
        y = np.clip(np.asarray(lnF, dtype=float), self.lnF[0], self.lnF[-1])
        i = np.clip(np.searchsorted(self.lnF, y, side="right") - 1, 0, self.lnF.size - 2)
        x0 = self.lnF[i]
        h = self.lnF[i + 1] - x0
        t = (y - x0) / h
        p0, p1 = self.E_eV[i], self.E_eV[i + 1]
        m0, m1 = self.dE_dlnF[i] * h, self.dE_dlnF[i + 1] * h
        t2 = t * t
        t3 = t2 * t
        E = (
            (2 * t3 - 3 * t2 + 1) * p0
            + (t3 - 2 * t2 + t) * m0
            + (-2 * t3 + 3 * t2) * p1
            + (t3 - t2) * m1
        )
        dE = ((6 * t2 - 6 * t) * p0 + (3 * t2 - 4 * t + 1) * m0 + (-6 * t2 + 6 * t) * p1) + (
            3 * t2 - 2 * t
        ) * m1
        return E, dE / h
