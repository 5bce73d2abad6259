"""Shared Hypothesis strategies, fixtures and reference solvers for the sed tests.

Physically bounded floats only (no NaN/inf): widths 10-600 meV, temperatures 200-900 K,
vacancy fractions 1-50 %, densities in [-1, 2] n_ref.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import expit

from sed import SiteEnergyDistribution

# No example database: the suite must not write files into the work tree.
SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

fwhm_eV = st.floats(0.01, 0.6, allow_nan=False, allow_infinity=False)
vacancy = st.floats(0.01, 0.5, allow_nan=False, allow_infinity=False)
temperature_K = st.floats(200.0, 900.0, allow_nan=False, allow_infinity=False)
D_ref_cm2_s = st.floats(1e-18, 1e-6, allow_nan=False, allow_infinity=False)
density = st.floats(-1.0, 2.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)
densities = st.lists(density, min_size=1, max_size=30)

# Below this density D(n) = D(n_floor) n / n_floor may underflow to 0 in float64 for the widest,
# coldest Gaussian models drawn here (D(n_floor) ~ 1e-57 cm^2/s); the property test also raises
# it to where the tail of the model at hand underflows (steeper shapes reach 1e-99).
N_POSITIVE_MIN = 1e-250


@pytest.fixture(autouse=True)
def strict_fp() -> Iterator[None]:
    """Turn every floating-point problem except underflow into an exception."""
    with np.errstate(all="raise", under="ignore"):
        yield


def direct_fd_fraction(shape: SiteEnergyDistribution, fermi_level_eV: float, kT_eV: float) -> float:
    """Fermi-Dirac filled fraction by adaptive quadrature (scipy.integrate.quad)."""
    lo, hi = shape.support_eV()
    points = sorted({fermi_level_eV, *shape.breakpoints_eV()})
    points = [p for p in points if lo < p < hi]
    value, _ = quad(
        lambda E: shape.density(E) * expit(-(E - fermi_level_eV) / kT_eV),
        lo,
        hi,
        points=points or None,
        limit=500,
        epsabs=0.0,
        epsrel=1e-13,
    )
    return value


def direct_fd_fermi_level(shape: SiteEnergyDistribution, fraction: float, kT_eV: float) -> float:
    """Fermi level (eV) at a filled fraction by brentq on ln(quad filling) - ln(fraction)."""
    lo, hi = shape.support_eV()
    return brentq(
        lambda Ef: np.log(direct_fd_fraction(shape, Ef, kT_eV)) - np.log(fraction),
        lo - 60.0 * kT_eV,
        hi + 60.0 * kT_eV,
        xtol=1e-14,
        rtol=1e-15,
    )
