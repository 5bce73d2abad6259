"""Fits with the full NPP solver (issue 19): the Jacobian from forward sensitivities against
finite differences, and the electroneutral prefit against a full-solver search from the start.

The synthetic K+ profile of cases/synthetic was made with the full solver (0.25 nm grid, rtol
1e-6, 2 nm blur, 3 % noise), so the three routes must land on the same full-solver optimum.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import nppsim
from fitting.fit import fit
from nppsim.simulate import electroneutral_support

ROOT = Path(__file__).resolve().parents[2]
FREE = ["species.Li.sed.fwhm_eV", "species.K.D_cm2_s"]


def _k_case() -> nppsim.Case:
    return nppsim.load_case(ROOT / "cases" / "synthetic" / "lbo_k_synthetic.toml")


@pytest.fixture(scope="module")
def npp_fits():
    """The single K fit with the full solver three ways: forward differences from the start,
    sensitivities from the start, sensitivities after the electroneutral prefit."""
    case = _k_case()
    return {
        "differences": fit(case, FREE, method="npp", jacobian="differences", prefit=False),
        "sensitivities": fit(case, FREE, method="npp", jacobian="auto", prefit=False),
        "prefit": fit(case, FREE, method="npp", jacobian="auto", prefit=True),
    }


def test_three_routes_reach_one_optimum(npp_fits):
    """Every route ends at the same full-solver optimum: values within a tenth of a standard
    error, standard errors within 3 % (Jacobians by sensitivities and by differences)."""
    ref = npp_fits["differences"]
    assert ref.success and ref.method == "npp"
    for name in ("sensitivities", "prefit"):
        res = npp_fits[name]
        assert res.success and res.method == "npp", name
        for p in ref.parameters:
            q = res[p.key]
            assert abs(q.value - p.value) < 0.1 * p.stderr, (name, p.key)
            assert q.stderr == pytest.approx(p.stderr, rel=0.03), (name, p.key)
        assert res.chi2 == pytest.approx(ref.chi2, rel=1e-4)


def test_sensitivities_replace_the_difference_simulations(npp_fits):
    """With the Jacobian from forward sensitivities a Jacobian costs no extra simulation: at
    most half the simulations of the difference Jacobian (measured 9 against 27)."""
    assert npp_fits["sensitivities"].n_simulations <= npp_fits["differences"].n_simulations / 2


def test_prefit_leaves_few_full_solver_simulations(npp_fits):
    """The prefit searches with the electroneutral solver at every start and refines with the
    full one: the start log says which solver ran each stage, the refinement takes a few
    evaluations only, and no electroneutral check is attached (the optimum is the full
    solver's)."""
    res = npp_fits["prefit"]
    solvers = [s["solver"] for s in res.starts]
    assert solvers == ["electroneutral", "npp"]
    assert res.starts[-1]["nfev"] <= 6
    assert res.starts[-1]["chi2"] == pytest.approx(res.chi2)
    assert not res.check
    # the refinement starts at the electroneutral optimum, which is close to the full one
    start = dict(zip([p.key for p in res.parameters], res.starts[-1]["initial"], strict=True))
    for p in res.parameters:
        assert abs(start[p.key] - p.value) < 2.0 * p.stderr


def test_prefit_needs_the_electroneutral_model(caplog):
    """electroneutral_support says why a case is outside the reduced model; a full-solver fit
    of such a case runs without prefit and logs why."""
    assert electroneutral_support(_k_case()) is None
    three = nppsim.load_case(ROOT / "cases" / "lbo_cs_at_rb.toml")
    why = electroneutral_support(three)
    assert why is not None and "two mobile species" in why
    from fitting import fit as fit_module

    with caplog.at_level(logging.INFO, logger="fitting.fit"):
        obj = fit_module._prefit_objective(
            [three], [], "npp", True, None, None, None, None
        )  # fmt: skip
    assert obj is None
    assert any("no electroneutral prefit" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("flags", "solvers"),
    [([], ["electroneutral", "npp"]), (["--no-prefit"], ["npp"]),
     (["--solver", "electroneutral"], ["electroneutral"])],
)  # fmt: skip
def test_cli_solver_and_prefit(tmp_path, capsys, flags, solvers):
    """`nppsim fit` fits with the full solver after the electroneutral prefit by default;
    --no-prefit searches with the full solver alone, --solver electroneutral with the reduced
    model alone (its optimum checked with the full solver); the JSON's starts say which."""
    import json

    from nppsim.cli import main

    out = tmp_path / "k.json"
    code = main(
        ["fit", str(ROOT / "cases" / "synthetic" / "lbo_k_synthetic.toml"), "--free", FREE[0],
         "--free", FREE[1], "-o", str(out), "--quiet", *flags]
    )  # fmt: skip
    assert code == 0
    d = json.loads(out.read_text())
    assert d["success"]
    assert d["method"] == solvers[-1]
    assert [s["solver"] for s in d["starts"]] == solvers
    assert bool(d["check"]) == (solvers == ["electroneutral"])
    assert abs(d["parameters"][0]["value"] - 0.25) < 0.01
