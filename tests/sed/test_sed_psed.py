"""Tests of sed.psed: the populated SED read from D(n), and its Gaussian FWHM.

For a Gaussian SED with step filling, E_F(n) = E0 + sigma Phi^-1(n / N_s) exactly, so the PSED
read back from D(n) must be N_s g(E) and the fitted Gaussian must return the input FWHM.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from sed_strategies import SETTINGS, fwhm_eV, strict_fp, temperature_K, vacancy  # noqa: F401

from sed import (
    GaussianMixtureSED,
    GaussianSED,
    MonotoneLogDCurve,
    SEDMobility,
    TabulatedMobility,
    fermi_shift_eV,
    populated_sed,
    thermal_energy_eV,
)
from sed.psed import fit_gaussian_filling


def _gauss(fwhm, v, T, D_ref=1e-12):
    return SEDMobility(GaussianSED(fwhm), D_ref, 1.0, T, vacancy_fraction=v)


@SETTINGS
@given(fwhm=fwhm_eV, v=vacancy, T=temperature_K)
def test_gaussian_sed_returns_its_fwhm(fwhm, v, T):
    """The Gaussian fitted to the PSED of a Gaussian SED has the input FWHM (to 1e-6 eV), its
    centre is E0 - E_F(n_ref) = -sigma Phi^-1(1 - v), and the PSED is N_s g(E)."""
    try:
        mob = _gauss(fwhm, v, T)
    except ValueError:  # too wide for float64 at this temperature (SEDMobility's own limit)
        return
    p = populated_sed(mob, D_ref_cm2_s=1e-12, temperature_K=T, vacancy_fraction=v)
    assert abs(p.fwhm_eV - fwhm) < 1e-6
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    from scipy.special import ndtri

    assert abs(p.center_eV + sigma * ndtri(1.0 - v)) < 1e-6
    expected = mob.sed_eV(p.energy_eV + mob.fermi_level_ref_eV)
    np.testing.assert_allclose(p.density_per_eV, expected, rtol=1e-8)
    assert p.n_sites == pytest.approx(1.0 / (1.0 - v), rel=1e-12)


def test_fermi_shift_is_kT_ln_D_ratio():
    mob = _gauss(0.25, 0.1, 350.0)
    n = np.array([0.1, 0.5, 1.0])
    shift = fermi_shift_eV(mob.D, n, 1e-12, 350.0)
    np.testing.assert_allclose(shift, -np.asarray(mob.activation_shift_eV(n)), atol=1e-12)
    assert shift[-1] == 0.0
    # 250 meV, v = 0.1: E_F(n_ref) - E_F(0.1 n_ref) ~ 0.278 eV at 300 K (MODEL.md's figure)
    mob300 = _gauss(0.25, 0.1, 300.0)
    assert -fermi_shift_eV(mob300.D, 0.1, 1e-12, 300.0) == pytest.approx(0.278, abs=0.002)


def test_tabulated_and_curve_of_a_gaussian_give_its_fwhm():
    """Any mobility model works: a dense D table and a knot curve of the 250 meV SED give
    ~250 meV (up to their interpolation error)."""
    mob = _gauss(0.25, 0.1, 350.0)
    n = np.linspace(0.005, 1.0, 400)
    tab = TabulatedMobility(n, mob.D(n))
    p_tab = populated_sed(tab, D_ref_cm2_s=1e-12, temperature_K=350.0)
    assert p_tab.fwhm_eV == pytest.approx(0.25, abs=2e-3)
    knots = np.linspace(0.01, 1.0, 13)[:-1]
    curve = MonotoneLogDCurve(knots, np.log10(mob.D(knots)), 1e-12)
    p_curve = populated_sed(curve, D_ref_cm2_s=1e-12, temperature_K=350.0)
    assert p_curve.fwhm_eV == pytest.approx(0.25, abs=5e-3)


def test_two_gaussians_are_wider_than_one():
    """A non-Gaussian SED: the fitted width lies between the component widths and the span."""
    shape = GaussianMixtureSED([(0.5, -0.1, 0.15), (0.5, 0.1, 0.15)])
    mob = SEDMobility(shape, 1e-12, 1.0, 350.0)
    p = populated_sed(mob, D_ref_cm2_s=1e-12, temperature_K=350.0)
    assert 0.15 < p.fwhm_eV < 0.5
    assert p.rms > 1e-4  # not a Gaussian: the fit leaves residuals


def test_fit_gaussian_filling_recovers_parameters():
    from scipy.special import ndtr

    E = np.linspace(-0.4, 0.1, 50)
    n = 2.0 * ndtr((E + 0.05) / 0.12)
    E0, sigma, rms = fit_gaussian_filling(E, n, 2.0)
    assert (E0, sigma) == pytest.approx((-0.05, 0.12), abs=1e-9)
    assert rms < 1e-12
    with pytest.raises(ValueError):
        fit_gaussian_filling([0.0, 0.0], [0.5, 0.5], 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"D_ref_cm2_s": 0.0},
        {"vacancy_fraction": 1.0},
        {"fractions": [0.5]},
        {"fractions": [0.0, 0.5]},
        {"fractions": [0.5, 1.5]},
        {"n_ref": -1.0},
    ],
)
def test_invalid_arguments(kwargs):
    mob = _gauss(0.25, 0.1, 350.0)
    args = {"D_ref_cm2_s": 1e-12, "temperature_K": 350.0, **kwargs}
    with pytest.raises(ValueError):
        populated_sed(mob, **args)


def test_thermal_energy_consistency():
    assert thermal_energy_eV(350.0) == pytest.approx(0.030161, rel=1e-4)
