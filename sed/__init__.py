"""Site-energy-distribution (SED) mobility models for nppsim (MODEL.md section 3).

A mobile ion species diffuses with a constant D, a tabulated D(n), or a D(n) that follows from a
density of site energies g(E) filled up to a Fermi level E_F(n):

    D(n) = D_ref exp((E_F(n) - E_F(n_ref)) / k_B T),

so D falls by decades as the native ions are replaced (the deep sites stay occupied).

Modules:

- :mod:`sed.shapes`: normalised densities of site energies (Gaussian, Gaussian mixture, box,
  exponential tail, tabulated), with cdf and inverse cdf.
- :mod:`sed.fermi`: Fermi-Dirac filling and its tabulated inverse E_F(n).
- :mod:`sed.mobility`: the D(n) models (constant, SED, tabulated) and the ``Mobility`` protocol.
- :mod:`sed.monotone`: the free-form monotone D(n) (log D at knots, PCHIP) that ``nppsim invert``
  fits.
- :mod:`sed.psed`: the populated SED (PSED) and its Gaussian FWHM from any D(n).
- :mod:`sed.table`: the ``KernelTable`` the compiled solver evaluates, and its numpy reference
  ``evaluate_table``.

Units: energies in eV, temperatures in K, diffusivities in cm^2/s, densities n in the unit of the
model's ``n_ref`` (the solver uses fractions of n_bulk).

Example::

    from sed import GaussianSED, SEDMobility

    li = SEDMobility(GaussianSED(fwhm_eV=0.25), D_ref_cm2_s=1e-12, n_ref=1.0, temperature_K=350.0)
    li.D(0.2)                     # cm^2/s at 20 % of the pristine density
    li.plateau_fraction(2e-16)    # native fraction where D_Li = D_foreign / 10
"""

from __future__ import annotations

from .fermi import K_B_EV_PER_K, FermiLevelTable, fermi_dirac, filled_fraction, thermal_energy_eV
from .mobility import (
    DEFAULT_TABLE_NODES,
    FILLINGS,
    N_CAP_REL,
    N_FLOOR_REL,
    ConstantMobility,
    Mobility,
    SEDMobility,
    TabulatedMobility,
)
from .monotone import MonotoneLogDCurve
from .psed import PopulatedSED, fermi_shift_eV, populated_density_per_eV, populated_sed
from .shapes import (
    BoxSED,
    ExponentialTailSED,
    GaussianMixtureSED,
    GaussianSED,
    SiteEnergyDistribution,
    TabulatedSED,
    fwhm_to_sigma,
)
from .table import (
    KIND_CONSTANT,
    KIND_LOG_TABLE,
    LN_OVERFULL_GAIN_MAX,
    KernelTable,
    build_log_table,
    evaluate_table,
)

__all__ = [
    "DEFAULT_TABLE_NODES",
    "FILLINGS",
    "KIND_CONSTANT",
    "KIND_LOG_TABLE",
    "K_B_EV_PER_K",
    "LN_OVERFULL_GAIN_MAX",
    "N_CAP_REL",
    "N_FLOOR_REL",
    "BoxSED",
    "ConstantMobility",
    "ExponentialTailSED",
    "FermiLevelTable",
    "GaussianMixtureSED",
    "GaussianSED",
    "KernelTable",
    "Mobility",
    "MonotoneLogDCurve",
    "PopulatedSED",
    "SEDMobility",
    "SiteEnergyDistribution",
    "TabulatedMobility",
    "TabulatedSED",
    "build_log_table",
    "evaluate_table",
    "fermi_dirac",
    "fermi_shift_eV",
    "filled_fraction",
    "fwhm_to_sigma",
    "populated_density_per_eV",
    "populated_sed",
    "thermal_energy_eV",
]
