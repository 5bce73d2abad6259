"""nppsim: Nernst-Planck-Poisson simulation of charge attachment induced transport (CAIT).

Public API::

    case = nppsim.load_case("cases/lbo_k.toml")
    res = nppsim.simulate(case.with_values({"species.Li.sed.fwhm_eV": 0.30}))
    res.depth_nm, res.times_s, res.fraction("Li")
    res.save("out.h5"); same = nppsim.load_result("out.h5")
    fit = nppsim.fit(case_with_data, free=["species.Li.sed.fwhm_eV", "species.K.D_cm2_s"])
    print(fit.report())
    prof = nppsim.read_profile("profile.csv", columns={"Li": "Li", "K": "K"})
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .case import Case, default_case, load_case, loads_case
from .errors import CaseError, DataFileError, InputError, SimulationError
from .profiles import MeasuredProfile, read_profile
from .result import Result, load_result
from .simulate import simulate

if TYPE_CHECKING:
    from fitting.result import FitResult


def fit(
    cases: Case | Sequence[Case], free: Sequence[str], shared: Sequence[str] = (), **options: Any
) -> FitResult:
    """Fit cases to their measured profiles; see `fitting.fit.fit` for every option.

    cases: a Case or a list of cases with ``[[data]]`` blocks; free: dotted keys (``*`` for any
    species), optionally ``KEY=LOW:HIGH``; shared: keys with one value across all cases.
    Returns a `fitting.result.FitResult` (``.report()``, ``.save("fit.json")``).
    """
    from fitting.fit import fit as _fit

    return _fit(cases, free, shared, **options)


def load_fit(path: str | os.PathLike[str]) -> FitResult:
    """Read a fit saved by ``FitResult.save`` (JSON or HDF5); see `fitting.result.load_fit`."""
    from fitting.result import load_fit as _load_fit

    return _load_fit(path)


__all__ = [
    "Case",
    "CaseError",
    "DataFileError",
    "InputError",
    "MeasuredProfile",
    "Result",
    "SimulationError",
    "default_case",
    "fit",
    "load_case",
    "load_fit",
    "load_result",
    "loads_case",
    "read_profile",
    "simulate",
]
