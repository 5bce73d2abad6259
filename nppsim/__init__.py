"""nppsim: Nernst-Planck-Poisson simulation of charge attachment induced transport (CAIT).

Public API::

    case = nppsim.load_case("cases/lbo_k.toml")
    res = nppsim.simulate(case.with_values({"species.Li.sed.fwhm_eV": 0.30}))
    res.depth_nm, res.times_s, res.fraction("Li")
    res.save("out.h5"); same = nppsim.load_result("out.h5")
    fit = nppsim.fit(case_with_data, free=["species.Li.sed.fwhm_eV", "species.K.D_cm2_s"])
    inv = nppsim.invert([case_k, case_rb], "Li", free=["species.*.D_cm2_s"])  # D(n), PSED
    print(fit.report())
    prof = nppsim.read_profile("profile.csv", columns={"Li": "Li", "K": "K"})
    sw = nppsim.sweep(case, {"species.Li.sed.fwhm_eV": [0.15, 0.2, 0.25]})  # parallel
    sw.save("sweep.h5"); same = nppsim.load_sweep("sweep.h5")
    nppsim.haven_ratio(D_tracer_cm2_s, D_sigma_cm2_s)  # and the other transport utilities

The teaching demo (matplotlib sliders) is `nppsim.demo.sed_width_figure`.
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

# Like `simulate`, the function `sweep` replaces the submodule of the same name as attribute of
# the package; the module itself is importlib.import_module("nppsim.sweep").
from .sweep import SweepInterrupted, SweepResult, load_sweep, sweep
from .transport import (
    HAVEN_RATIO_LI3B7O12,
    ArrheniusFit,
    D_sigma_from_conductivity,
    D_sigma_from_D_tracer,
    D_tracer_from_D_sigma,
    carrier_density_from_cell,
    carrier_density_from_density,
    conductivity_from_D_sigma,
    conductivity_from_resistance,
    fit_arrhenius,
    haven_ratio,
)

if TYPE_CHECKING:
    from fitting.inversion_result import InversionResult
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


def invert(
    cases: Case | Sequence[Case],
    species: str = "Li",
    knots: int | Sequence[float] = 6,
    split_below: float | None = None,
    free: Sequence[str] = (),
    **options: Any,
) -> InversionResult:
    """Invert measured profiles for the native D(n); see `fitting.invert.invert`.

    cases: a Case or a list of cases with ``[[data]]`` blocks; species: the native species
    whose D(n) is inverted (D_ref = its D_cm2_s, pinned at its pristine fraction); knots: number
    of knots or their fractions of n_ref; split_below: fraction below which each case gets its
    own curve (None: one curve); free: freed case keys (e.g. ``species.K.D_cm2_s``). Returns a
    `fitting.inversion_result.InversionResult` (``.report()``, ``.save("inv.json")``).
    """
    from fitting.invert import invert as _invert

    return _invert(cases, species, knots, split_below, free, **options)


def load_fit(path: str | os.PathLike[str]) -> FitResult:
    """Read a fit saved by ``FitResult.save`` (JSON or HDF5); see `fitting.result.load_fit`."""
    from fitting.result import load_fit as _load_fit

    return _load_fit(path)


__all__ = [
    "HAVEN_RATIO_LI3B7O12",
    "ArrheniusFit",
    "Case",
    "CaseError",
    "D_sigma_from_D_tracer",
    "D_sigma_from_conductivity",
    "D_tracer_from_D_sigma",
    "DataFileError",
    "InputError",
    "MeasuredProfile",
    "Result",
    "SimulationError",
    "SweepInterrupted",
    "SweepResult",
    "carrier_density_from_cell",
    "carrier_density_from_density",
    "conductivity_from_D_sigma",
    "conductivity_from_resistance",
    "default_case",
    "fit",
    "fit_arrhenius",
    "haven_ratio",
    "invert",
    "load_case",
    "load_fit",
    "load_result",
    "load_sweep",
    "loads_case",
    "read_profile",
    "simulate",
    "sweep",
]
