"""The populated site-energy distribution (PSED) read from any D(n) (MODEL.md section 10).

Eq. 2 of Gunawan, Schäfer, Weitzel (PCCP 26 (2024) 14430) read backwards: a D(n) that follows
from a moving Fermi level gives

    E_F(n) - E_F(n_ref) = k_B T ln(D(n) / D_ref),

so every D(n) (an SED model, a table, a curve inverted from profiles) defines the Fermi level
as a function of the density. Step filling (deepest sites first) makes the populated density of
sites at E = E_F(n) equal to dn/dE_F = N_s g(E_F): the PSED. A Gaussian SED with
n / N_s = Phi((E_F - E0) / sigma) (N_s = n_ref / (1 - v), v the vacancy fraction) is fitted to
the (E_F, n) curve by least squares in n / N_s; its FWHM = 2 sqrt(2 ln 2) sigma. For a Gaussian
SED the fit is exact (it returns the input FWHM to round-off).

Units: energies in eV (relative to E_F(n_ref), the pristine Fermi level), densities n in the
unit of the model's n_ref (fractions of n_bulk in nppsim), D in cm^2/s, temperatures in K.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr, ndtri

from .fermi import thermal_energy_eV

__all__ = [
    "DEFAULT_PSED_FRACTIONS",
    "FWHM_PER_SIGMA",
    "PopulatedSED",
    "fermi_shift_eV",
    "fit_gaussian_filling",
    "populated_density_per_eV",
    "populated_sed",
]

FloatArray = NDArray[np.float64]

#: FWHM / sigma of a Gaussian
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: default fractions of n_ref at which the PSED is evaluated and fitted: from 1 % (below, the
#: Fermi level of a real glass is set by few sites and D by few ions) to the pristine density
DEFAULT_PSED_FRACTIONS = np.linspace(0.01, 1.0, 199)
#: the Gaussian fit stops when the relative change of (E0, ln sigma) is below this
FIT_XTOL = 1.0e-14


def fermi_shift_eV(D: Callable[[FloatArray], ArrayLike], n: ArrayLike, D_ref_cm2_s: float,
                   temperature_K: float) -> FloatArray:  # fmt: skip
    """E_F(n) - E_F(n_ref) = k_B T ln(D(n) / D_ref) (eV) at densities n > 0.

    D: callable, diffusivity (cm^2/s) at densities n (unit of n_ref); D_ref_cm2_s: D at the
    pristine density (cm^2/s); temperature_K: temperature (K).
    """
    d = np.asarray(D(np.asarray(n, dtype=float)), dtype=float)
    return thermal_energy_eV(temperature_K) * (np.log(d) - math.log(D_ref_cm2_s))


def populated_density_per_eV(mobility: object, n: ArrayLike, temperature_K: float) -> FloatArray:
    """Populated density of sites dn/dE_F at E = E_F(n) (unit of n per eV).

    mobility: any object with ``D(n)`` and ``dD_dn(n)`` (cm^2/s, cm^2/s per unit of n), e.g. a
    `sed.SEDMobility`, `sed.TabulatedMobility` or `sed.MonotoneLogDCurve`; n: densities > 0
    (unit of n_ref); temperature_K (K). dn/dE_F = D / (k_B T dD/dn); NaN where D does not
    change with n (a flat table segment: the Fermi level is not defined there).
    """
    n = np.asarray(n, dtype=float)
    d = np.asarray(mobility.D(n), dtype=float)  # type: ignore[attr-defined]
    dd = np.asarray(mobility.dD_dn(n), dtype=float)  # type: ignore[attr-defined]
    kT = thermal_energy_eV(temperature_K)
    out = np.full(n.shape, np.nan)
    ok = dd > 0.0
    out[ok] = d[ok] / (kT * dd[ok])
    return out


def fit_gaussian_filling(
    energy_eV: ArrayLike, n: ArrayLike, n_sites: float
) -> tuple[float, float, float]:
    """Least-squares Gaussian step filling n / N_s = Phi((E - E0) / sigma) to a (E_F, n) curve.

    energy_eV: Fermi levels (eV) at the densities n (unit of N_s), 0 < n < N_s; n_sites: the
    density of sites N_s. Returns (E0_eV, sigma_eV, rms) with rms the root-mean-square residual
    in n / N_s. Starts from the exact linear relation E = E0 + sigma Phi^-1(n / N_s) (a
    straight-line fit), then minimises sum (n / N_s - Phi((E - E0) / sigma))^2 (scipy
    least_squares over E0 and ln sigma). Raises ValueError for fewer than 2 usable points.
    """
    from scipy.optimize import least_squares  # deferred: costs ~0.25 s to import

    E = np.asarray(energy_eV, dtype=float)
    p = np.asarray(n, dtype=float) / float(n_sites)
    ok = np.isfinite(E) & (p > 0.0) & (p < 1.0)
    E, p = E[ok], p[ok]
    if E.size < 2 or np.ptp(E) <= 0.0:
        raise ValueError("a Gaussian fit needs at least two distinct Fermi levels")
    z = ndtri(p)
    slope, intercept = np.polyfit(z, E, 1)
    sigma0 = abs(float(slope)) if slope != 0.0 else float(np.ptp(E))
    x0 = np.array([float(intercept), math.log(sigma0)])

    def residual(x: FloatArray) -> FloatArray:
        return ndtr((E - x[0]) / math.exp(x[1])) - p

    res = least_squares(residual, x0, method="lm", xtol=FIT_XTOL, ftol=FIT_XTOL, gtol=FIT_XTOL)
    r = residual(res.x)
    return float(res.x[0]), float(math.exp(res.x[1])), float(np.sqrt(np.mean(r * r)))


@dataclass(frozen=True)
class PopulatedSED:
    """The PSED of a D(n) and the Gaussian fitted to it.

    fraction: (m,) densities as fractions of n_ref; energy_eV: (m,) E_F(n) - E_F(n_ref) (eV);
    density_per_eV: (m,) dn/dE_F (unit of n per eV; = N_s g(E) for step filling; NaN where D is
    flat); n_sites: N_s = n_ref / (1 - v) (unit of n); vacancy_fraction: v; fwhm_eV, sigma_eV:
    width of the fitted Gaussian (eV); center_eV: its centre E0 - E_F(n_ref) (eV); rms: rms
    residual of the fit in n / N_s; temperature_K (K).
    """

    fraction: FloatArray
    energy_eV: FloatArray
    density_per_eV: FloatArray
    n_sites: float
    vacancy_fraction: float
    fwhm_eV: float
    sigma_eV: float
    center_eV: float
    rms: float
    temperature_K: float

    def gaussian_density_per_eV(self, energy_eV: ArrayLike) -> FloatArray:
        """The fitted Gaussian SED N_s g(E) (unit of n per eV) at energies E (eV, relative to
        E_F(n_ref))."""
        E = np.asarray(energy_eV, dtype=float)
        s = self.sigma_eV
        return (
            self.n_sites
            * np.exp(-0.5 * ((E - self.center_eV) / s) ** 2)
            / (s * math.sqrt(2.0 * math.pi))
        )


def populated_sed(
    mobility: object,
    *,
    D_ref_cm2_s: float,
    temperature_K: float,
    n_ref: float = 1.0,
    vacancy_fraction: float = 0.10,
    fractions: ArrayLike | None = None,
) -> PopulatedSED:
    """The PSED of any D(n) model and the FWHM of the Gaussian SED fitted to it.

    mobility: object with ``D(n)`` (cm^2/s; n in the unit of n_ref) and, for an analytic PSED
    density, ``dD_dn(n)`` (else finite differences over `fractions`);
    D_ref_cm2_s: D at n_ref (cm^2/s); temperature_K: temperature (K); n_ref: pristine density
    (unit of n); vacancy_fraction: v, the fraction of sites empty in the pristine glass
    (N_s = n_ref / (1 - v); an inverted D(n) does not determine it: take the model's, default
    0.10 as in MODEL.md); fractions: densities as fractions of n_ref, in (0, 1], where the PSED
    is evaluated and the Gaussian fitted (default `DEFAULT_PSED_FRACTIONS`, 0.01 to 1).
    Raises ValueError for invalid arguments.
    """
    if not (math.isfinite(D_ref_cm2_s) and D_ref_cm2_s > 0.0):
        raise ValueError(f"D_ref_cm2_s must be positive, got {D_ref_cm2_s!r}")
    if not (math.isfinite(n_ref) and n_ref > 0.0):
        raise ValueError(f"n_ref must be positive, got {n_ref!r}")
    if not (0.0 <= vacancy_fraction < 1.0):
        raise ValueError(f"vacancy_fraction must lie in [0, 1), got {vacancy_fraction!r}")
    f = DEFAULT_PSED_FRACTIONS if fractions is None else np.asarray(fractions, dtype=float)
    if f.ndim != 1 or f.size < 2 or np.any(f <= 0.0) or np.any(f > 1.0):
        raise ValueError("fractions must be at least two values in (0, 1]")
    n = f * n_ref
    E = fermi_shift_eV(mobility.D, n, D_ref_cm2_s, temperature_K)  # type: ignore[attr-defined]
    if hasattr(mobility, "dD_dn"):
        dens = populated_density_per_eV(mobility, n, temperature_K)
    else:  # a model with D(n) only: dn/dE_F from finite differences on the given fractions
        with np.errstate(divide="ignore", invalid="ignore"):
            dE = np.gradient(E, n)
            dens = np.where(dE > 0.0, 1.0 / dE, np.nan)
    n_sites = n_ref / (1.0 - vacancy_fraction)
    E0, sigma, rms = fit_gaussian_filling(E, n, n_sites)
    return PopulatedSED(
        fraction=f,
        energy_eV=E,
        density_per_eV=dens,
        n_sites=n_sites,
        vacancy_fraction=float(vacancy_fraction),
        fwhm_eV=FWHM_PER_SIGMA * sigma,
        sigma_eV=sigma,
        center_eV=E0,
        rms=rms,
        temperature_K=float(temperature_K),
    )
