"""Tests of sed.fermi: Fermi-Dirac filling and its tabulated inverse."""

from __future__ import annotations

import numpy as np
import pytest
from sed_strategies import direct_fd_fermi_level, direct_fd_fraction, strict_fp  # noqa: F401

from sed import (
    K_B_EV_PER_K,
    BoxSED,
    ExponentialTailSED,
    FermiLevelTable,
    GaussianMixtureSED,
    GaussianSED,
    SEDMobility,
    SiteEnergyDistribution,
    fermi_dirac,
    filled_fraction,
    thermal_energy_eV,
)

# filled fractions spanning the SED formula's range [N_FLOOR_REL, N_CAP_REL]
FRACTIONS = np.array([1e-12, 1e-9, 1e-5, 0.01, 0.2, 0.5, 0.77, 0.9, 0.99, 0.9999])


def test_boltzmann_constant() -> None:
    # CODATA 2018: k_B = 8.617333262e-5 eV/K (exact since the 2019 SI)
    np.testing.assert_allclose(K_B_EV_PER_K, 8.617333262e-5, rtol=1e-10)
    np.testing.assert_allclose(thermal_energy_eV(300.0), 0.025852, rtol=1e-4)


def test_fermi_dirac_function() -> None:
    kT = 0.03
    assert fermi_dirac(0.1, 0.1, kT) == 0.5
    f = np.asarray(fermi_dirac([-100.0, 100.0, 0.1 + kT], 0.1, kT))
    np.testing.assert_allclose(f, [1.0, 0.0, 1 / (1 + np.e)], rtol=1e-15, atol=0)
    assert fermi_dirac(0.0, -np.inf, kT) == 0.0


@pytest.mark.parametrize(
    "shape",
    [GaussianSED(0.25), BoxSED(0.3), ExponentialTailSED(0.05)],
    ids=["gaussian", "box", "exponential"],
)
def test_filled_fraction_matches_adaptive_quadrature(shape: SiteEnergyDistribution) -> None:
    kT = thermal_energy_eV(350.0)
    Ef = np.array([-1.0, -0.3, 0.0, 0.1, 0.3])
    F, dF = filled_fraction(shape, Ef, kT)
    expected = [direct_fd_fraction(shape, e, kT) for e in Ef]
    np.testing.assert_allclose(F, expected, rtol=1e-10, atol=0)
    # dF/dE_F against a central difference of the quadrature itself
    h = 1e-5
    Fp, _ = filled_fraction(shape, Ef + h, kT)
    Fm, _ = filled_fraction(shape, Ef - h, kT)
    np.testing.assert_allclose(dF, (Fp - Fm) / (2 * h), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    ("shape", "temperature_K"),
    [
        (GaussianSED(0.25), 350.0),
        (GaussianSED(0.6), 200.0),
        (BoxSED(0.3), 300.0),
        (ExponentialTailSED(0.05), 300.0),
        (GaussianMixtureSED([(1.0, 0.0, 0.2), (0.5, 0.3, 0.1)]), 300.0),
    ],
    ids=["gauss250-350K", "gauss600-200K", "box", "exponential", "mixture"],
)
def test_fermi_level_table_accuracy(shape: SiteEnergyDistribution, temperature_K: float) -> None:
    """E_F from the table agrees with a direct brentq solve of the filling integral to 1e-9 eV."""
    kT = thermal_energy_eV(temperature_K)
    table = FermiLevelTable.build(shape, kT, 1e-12, 1 - 1e-4)
    Ef, _ = table(np.log(FRACTIONS))
    direct = [direct_fd_fermi_level(shape, p, kT) for p in FRACTIONS]
    np.testing.assert_allclose(Ef, direct, rtol=0, atol=1e-9)


def test_sed_mobility_fermi_level_accuracy() -> None:
    """SEDMobility(filling="fermi-dirac").fermi_level_eV vs a direct root solve, to 1e-9 eV."""
    shape = GaussianSED(0.25)
    model = SEDMobility(shape, 1e-12, 1.0, 350.0, vacancy_fraction=0.1, filling="fermi-dirac")
    rng = np.random.default_rng(7)
    n = np.concatenate([[1e-9, 0.01, 1.0, 1.1], rng.uniform(0.02, 1.05, 4)])
    direct = [direct_fd_fermi_level(shape, x / model.N_sites, model.kT_eV) for x in n]
    np.testing.assert_allclose(model.fermi_level_eV(n), direct, rtol=0, atol=1e-9)


def test_table_slope_is_derivative() -> None:
    shape = GaussianSED(0.25)
    kT = thermal_energy_eV(350.0)
    table = FermiLevelTable.build(shape, kT, 1e-12, 1 - 1e-4)
    y = np.log(np.array([1e-10, 1e-3, 0.3, 0.8, 0.99]))
    h = 1e-6
    _, dE = table(y)
    Ep, _ = table(y + h)
    Em, _ = table(y - h)
    np.testing.assert_allclose(dE, (Ep - Em) / (2 * h), rtol=1e-6, atol=0)


def test_fermi_dirac_tends_to_step_filling() -> None:
    """As kT / sigma -> 0 the FD Fermi level approaches the step one.

    Sommerfeld to leading order: E_F,FD - E_F,step = -(pi^2 / 6) (kT)^2 g'(E)/g(E)
    = (pi^2 / 6) (kT)^2 (E_step - E0) / sigma^2 for a Gaussian, so the gap falls ~4x per halving
    of T and matches the expansion once kT << sigma (kT / sigma = 0.12 at 150 K).
    """
    shape = GaussianSED(0.25)
    n = np.array([0.05, 0.3, 0.6, 0.85])
    E_step = np.asarray(SEDMobility(shape, 1e-12, 1.0, 300.0).fermi_level_eV(n))
    gaps = []
    for T in (1200.0, 600.0, 300.0, 150.0):
        fd = SEDMobility(shape, 1e-12, 1.0, T, filling="fermi-dirac")
        gaps.append(np.asarray(fd.fermi_level_eV(n)) - E_step)
    worst = np.max(np.abs(gaps), axis=1)
    assert np.all(np.diff(worst) < 0), worst
    assert worst[-2] / worst[-1] > 3.0, worst
    kT = thermal_energy_eV(150.0)
    sommerfeld = np.pi**2 / 6 * kT**2 * E_step / shape.sigma_eV**2
    np.testing.assert_allclose(gaps[-1], sommerfeld, rtol=0.1, atol=0)


def test_table_rejects_bad_range() -> None:
    with pytest.raises(ValueError, match="fraction_lo"):
        FermiLevelTable.build(GaussianSED(0.25), 0.03, 0.5, 0.4)
