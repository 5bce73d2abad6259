"""nppsim: Nernst-Planck-Poisson simulation of charge attachment induced transport (CAIT).

Public API::

    case = nppsim.load_case("cases/lbo_k.toml")
    res = nppsim.simulate(case.with_values({"species.Li.sed.fwhm_eV": 0.30}))
    res.depth_nm, res.times_s, res.fraction("Li")
    res.save("out.h5"); same = nppsim.load_result("out.h5")
"""

from __future__ import annotations

from .case import Case, default_case, load_case, loads_case
from .errors import CaseError, DataFileError, InputError, SimulationError
from .result import Result, load_result
from .simulate import simulate

__all__ = [
    "Case",
    "CaseError",
    "DataFileError",
    "InputError",
    "Result",
    "SimulationError",
    "default_case",
    "load_case",
    "load_result",
    "loads_case",
    "simulate",
]
