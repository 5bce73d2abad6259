"""Progress callbacks that a caller (the browser app) uses to follow and to stop long work.

`nppsim.simulate(progress=callable)` reports the simulated time at every stored time and stops
like Ctrl-C (partial result kept) when the callable raises KeyboardInterrupt; `nppsim.fit`
reports every improvement of the best point (values and chi-square) through `on_best`.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import nppsim
from nppsim.errors import SimulationError

ROOT = Path(__file__).resolve().parents[2]
SHORT = {"stage.1.duration_s": 2.0e3, "solver.n_output": 20}


@pytest.mark.parametrize("method", ["electroneutral", "npp"])
def test_progress_callable_sees_every_stored_time(method):
    case = nppsim.default_case().with_values(SHORT)
    seen: list[tuple[float, float]] = []
    res = nppsim.simulate(case, method=method, progress=lambda t, end: seen.append((t, end)))
    times = np.array([t for t, _ in seen])
    # one call per stored time after t = 0, in order, ending at the stage end
    np.testing.assert_allclose(times, res.times_s[1:], rtol=0.0, atol=0.0)
    assert all(end == pytest.approx(2.0e3) for _, end in seen)
    assert times[-1] == pytest.approx(2.0e3)


@pytest.mark.parametrize("method", ["electroneutral", "npp"])
def test_progress_callable_raising_keyboardinterrupt_stops_with_partial(method):
    case = nppsim.default_case().with_values(SHORT)
    calls = []

    def stop_at_fifth(t: float, end: float) -> None:
        calls.append(t)
        if len(calls) == 5:
            raise KeyboardInterrupt

    with pytest.raises(SimulationError, match="interrupted") as info:
        nppsim.simulate(case, method=method, progress=stop_at_fifth)
    partial = info.value.partial
    assert partial is not None and partial.diagnostics["interrupted"] is True
    assert not partial.completed
    # the state reached when the callback stopped the run: the fifth stored time
    assert partial.times_s[-1] == pytest.approx(calls[-1])
    assert partial.times_s[-1] < 2.0e3


def test_fit_on_best_reports_improving_points():
    case = nppsim.load_case(ROOT / "cases" / "synthetic" / "lbo_k_synthetic.toml")
    best: list[tuple[dict[str, float], float]] = []
    fit = nppsim.fit(
        case,
        free=["species.Li.sed.fwhm_eV", "species.K.D_cm2_s"],
        check=False,
        on_best=lambda values, chi2: best.append((values, chi2)),
    )
    chi2 = [c for _, c in best]
    assert len(best) >= 2
    assert all(b < a for a, b in itertools.pairwise(chi2))  # strictly improving
    last_values, last_chi2 = best[-1]
    assert set(last_values) == {"species.Li.sed.fwhm_eV", "species.K.D_cm2_s"}
    # the last improvement is the optimum the fit reports
    assert last_chi2 == pytest.approx(fit.chi2, rel=1e-9)
    for p in fit.parameters:
        assert last_values[p.key] == pytest.approx(p.value, rel=1e-9)


def test_fit_stopped_from_progress_keeps_best_point():
    case = nppsim.load_case(ROOT / "cases" / "synthetic" / "lbo_k_synthetic.toml")
    count = {"n": 0}

    def stop_once(n_sim: int, chi2: float) -> None:
        count["n"] += 1
        if count["n"] == 4:
            raise KeyboardInterrupt

    fit = nppsim.fit(
        case, free=["species.Li.sed.fwhm_eV", "species.K.D_cm2_s"], check=False, progress=stop_once
    )
    assert not fit.success
    assert "interrupted" in fit.message
    assert np.isfinite(fit.chi2)
