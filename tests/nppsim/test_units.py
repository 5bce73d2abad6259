"""The constants written out in nppsim.units and sed.fermi agree with scipy.constants."""

from __future__ import annotations

import scipy.constants as sc

from nppsim import units
from sed import fermi


def test_constants_match_scipy():
    assert units.E_CHARGE_C == sc.e
    assert units.K_B_J_K == sc.k
    assert units.EPS0_F_M == sc.epsilon_0
    assert units.AVOGADRO_PER_MOL == sc.N_A
    assert units.K_B_EV_K == sc.k / sc.e
    assert fermi.K_B_EV_PER_K == sc.k / sc.e
