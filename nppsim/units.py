"""Physical constants (SI 2019 exact values; CODATA 2022 eps0), unit conversions, derived scales.

Units live in names: ``_cm3`` is per cubic centimetre, ``_nm`` nanometres, ``_eV`` electronvolts.
"""

from __future__ import annotations

import math

# The values of scipy.constants 1.17, written out: importing scipy.constants costs ~0.19 s of
# every `nppsim` start (tests/nppsim/test_units.py checks they agree).
#: elementary charge (C), exact in the SI since 2019
E_CHARGE_C: float = 1.602176634e-19
#: Boltzmann constant (J/K), exact in the SI since 2019
K_B_J_K: float = 1.380649e-23
#: Boltzmann constant (eV/K)
K_B_EV_K: float = K_B_J_K / E_CHARGE_C
#: vacuum permittivity (F/m), CODATA 2022
EPS0_F_M: float = 8.8541878188e-12
#: vacuum permittivity (F/cm)
EPS0_F_CM: float = EPS0_F_M / 100.0
#: Avogadro constant (1/mol), exact in the SI since 2019
AVOGADRO_PER_MOL: float = 6.02214076e23

NM_PER_CM: float = 1.0e7
NM_PER_UM: float = 1.0e3
CM2_S_TO_NM2_S: float = 1.0e14


def thermal_voltage_V(temperature_K: float) -> float:
    """k_B T / e (V) at temperature_K (K)."""
    return K_B_EV_K * temperature_K


def debye_length_nm(n_bulk_cm3: float, eps_r: float, temperature_K: float) -> float:
    """Debye length sqrt(eps0 eps_r k_B T / (e^2 n)) (nm) of a monovalent density n_bulk_cm3.

    n_bulk_cm3: carrier density (cm^-3); eps_r: relative permittivity; temperature_K (K).
    """
    lam_cm = math.sqrt(EPS0_F_CM * eps_r * K_B_J_K * temperature_K / (E_CHARGE_C**2 * n_bulk_cm3))
    return lam_cm * NM_PER_CM


def conductivity_S_cm(n_cm3: float, D_cm2_s: float, temperature_K: float, charge: int = 1) -> float:
    """Nernst-Einstein conductivity sigma = z^2 e^2 n D / (k_B T) (S/cm).

    n_cm3: carrier density (cm^-3); D_cm2_s: diffusion coefficient D_sigma (cm^2/s).
    """
    return charge**2 * E_CHARGE_C**2 * n_cm3 * D_cm2_s / (K_B_J_K * temperature_K)


def diffusion_from_conductivity_cm2_s(
    sigma_S_cm: float, n_cm3: float, temperature_K: float, charge: int = 1
) -> float:
    """Inverse Nernst-Einstein: D_sigma = sigma k_B T / (z^2 e^2 n) (cm^2/s)."""
    return sigma_S_cm * K_B_J_K * temperature_K / (charge**2 * E_CHARGE_C**2 * n_cm3)


def current_density_A_cm2(flux_nm_s: float, n_bulk_cm3: float, charge: int = 1) -> float:
    """Current density (A/cm^2) of a scaled flux (fraction of n_bulk times nm/s)."""
    return charge * E_CHARGE_C * n_bulk_cm3 * flux_nm_s / NM_PER_CM
