"""Fits of simulated profiles to measured ones (MODEL.md section 9, issue 4 acceptance).

The synthetic profiles in cases/synthetic were made with the FULL NPP solver on a 0.25 nm grid
(rtol 1e-6), blurred with a 2 nm Gaussian and given 3 % noise (cases/synthetic/README.md); the
fits here use the electroneutral solver on the 0.5 nm grid, so data and model differ in solver,
grid and tolerance, as a measurement differs from any model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import nppsim
from fitting.fit import fit
from fitting.forward import FAILED_RESIDUAL, ForwardModel
from fitting.parameters import expand_parameters, parse_free
from fitting.resolution import MRIResolution, moments
from fitting.result import load_fit
from nppsim.cli import main
from nppsim.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SYNTH = ROOT / "cases" / "synthetic"
TRUTH = {
    "species.Li.sed.fwhm_eV": 0.25,
    "species.K.D_cm2_s": 2.0e-16,
    "species.Rb.D_cm2_s": 6.0e-17,
    "species.Cs.D_cm2_s": 2.0e-17,
}


def synthetic(ion: str) -> nppsim.Case:
    return nppsim.load_case(SYNTH / f"lbo_{ion}_synthetic.toml")


@pytest.fixture(scope="module")
def k_fit():
    return fit(
        synthetic("k"), ["species.Li.sed.fwhm_eV", "species.K.D_cm2_s"], method="electroneutral"
    )


def test_single_profile_recovers_truth(k_fit):
    """FWHM within 0.01 eV and D_K within 20 %, the truth inside 3 standard errors."""
    assert k_fit.success
    fwhm = k_fit["species.Li.sed.fwhm_eV"]
    dk = k_fit["species.K.D_cm2_s"]
    assert abs(fwhm.value - 0.25) < 0.01
    assert abs(dk.value / 2.0e-16 - 1.0) < 0.2
    assert abs(fwhm.value - 0.25) < 3.0 * fwhm.stderr
    assert abs(dk.value - 2.0e-16) < 3.0 * dk.stderr
    # 3 % noise with the uncertainties the data carry: reduced chi^2 near 1
    assert 0.7 < k_fit.reduced_chi2 < 1.3
    assert k_fit.n_points == 2 * len(k_fit.profiles[0].depth_nm)
    np.testing.assert_allclose(k_fit.aic, k_fit.chi2 + 4.0)
    np.testing.assert_allclose(k_fit.bic, k_fit.chi2 + 2.0 * math.log(k_fit.n_points))
    # the full-solver check ran and agrees with the fast solver well inside the noise
    assert k_fit.check["method"] == "npp"
    assert k_fit.check["max_abs_difference"] < 2e-3
    assert not k_fit.warnings


def test_correlation_matrix_is_a_correlation_matrix(k_fit):
    c = k_fit.correlation
    np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-12)
    np.testing.assert_allclose(c, c.T, atol=1e-12)
    assert np.all(np.abs(c) <= 1.0 + 1e-12)
    assert np.all(np.linalg.eigvalsh(c) > -1e-12)


def test_report_names_every_parameter(k_fit):
    text = k_fit.report()
    for key in ("species.Li.sed.fwhm_eV", "species.K.D_cm2_s", "reduced chi-square", "AIC"):
        assert key in text


def test_joint_fit_recovers_shared_fwhm():
    """K, Rb and Cs on one glass: one shared SED width, one D each; FWHM within 0.01 eV."""
    cases = [synthetic(i) for i in ("k", "rb", "cs")]
    res = fit(
        cases,
        ["species.Li.sed.fwhm_eV", "species.K.D_cm2_s", "species.Rb.D_cm2_s", "species.Cs.D_cm2_s"],
        shared=["species.Li.sed.fwhm_eV"],
        check=False,
    )
    assert res.success
    assert len(res.parameters) == 4
    shared = res["species.Li.sed.fwhm_eV"]
    assert shared.case is None
    assert abs(shared.value - 0.25) < 0.01
    for ion in ("K", "Rb", "Cs"):
        p = res[f"species.{ion}.D_cm2_s"]
        assert p.case is not None and ion in p.case
        assert abs(p.value / TRUTH[f"species.{ion}.D_cm2_s"] - 1.0) < 0.2
    # D_K > D_Rb > D_Cs, as the data were made
    assert (
        res["species.K.D_cm2_s"].value
        > res["species.Rb.D_cm2_s"].value
        > res["species.Cs.D_cm2_s"].value
    )


def test_wildcard_expands_to_every_species_with_a_value():
    case = synthetic("k")
    params = expand_parameters([case], ["species.*.D_cm2_s"])
    assert [p.key for p in params] == ["species.Li.D_cm2_s", "species.K.D_cm2_s"]
    assert all(p.log for p in params)
    three = [synthetic(i) for i in ("k", "rb", "cs")]
    params = expand_parameters(
        three, ["species.Li.sed.fwhm_eV=0.1:0.4"], ["species.Li.sed.fwhm_eV"]
    )
    assert len(params) == 1 and params[0].cases == (0, 1, 2)
    assert (params[0].low, params[0].high) == (0.1, 0.4)
    params = expand_parameters(three, ["species.Li.sed.fwhm_eV"])  # not shared: one per case
    assert [p.cases for p in params] == [(0,), (1,), (2,)]


@pytest.mark.parametrize(
    ("free", "match"),
    [
        (["species.X.D_cm2_s"], "species.X"),
        (["meta.name"], "not a number"),
        (["species.K.D_cm2_s=2:1"], "LOW < HIGH"),
        (["species.K.D_cm2_s=-1:1"], "LOW > 0"),
        (["species.K.D_cm2_s=a:b"], "numbers"),
        (["species.K.D_cm2_s", "species.K.D_cm2_s"], "twice"),
        ([], "no free parameter"),
    ],
)
def test_bad_parameters_are_one_line_input_errors(free, match):
    with pytest.raises(InputError, match=match) as err:
        expand_parameters([synthetic("k")], free)
    assert "\n" not in str(err.value)


def test_parse_free():
    assert parse_free("species.K.D_cm2_s") == ("species.K.D_cm2_s", None)
    assert parse_free("species.K.D_cm2_s=1e-18:1e-14") == ("species.K.D_cm2_s", (1e-18, 1e-14))
    assert parse_free(" a.b = 0,1 : 0,5 ") == ("a.b", (0.1, 0.5))


def test_internal_coordinates_round_trip():
    p_log, p_lin = expand_parameters(
        [synthetic("k")], ["species.K.D_cm2_s=1e-18:1e-14", "species.Li.sed.fwhm_eV=0.1:0.5"]
    )
    for p, v in ((p_log, 3.3e-16), (p_lin, 0.27)):
        u = p.to_internal(v)
        assert 0.0 < u < 1.0
        np.testing.assert_allclose(p.from_internal(u), v, rtol=1e-12)
        h = 1e-6
        fd = (p.from_internal(u + h) - p.from_internal(u - h)) / (2 * h)
        np.testing.assert_allclose(p.derivative(u), fd, rtol=1e-6)
    np.testing.assert_allclose(p_log.to_internal(1e-16), 0.5, rtol=1e-12)


def test_failed_simulation_gives_large_finite_residual():
    model = ForwardModel([synthetic("k")])
    r = model.residuals([{"species.K.D_cm2_s": -1.0}])
    assert np.all(r == FAILED_RESIDUAL)
    assert "species.K.D_cm2_s" in model.last_error
    assert model.n_simulations == 0  # rejected before simulating


def test_depth_resolution_change_reuses_the_simulation():
    model = ForwardModel([synthetic("k")])
    r1 = model.residuals([{}])
    r2 = model.residuals([{"data.1.depth_resolution_nm": 6.0}])
    assert model.n_simulations == 1
    assert np.all(np.isfinite(r2)) and not np.allclose(r1, r2)


def test_mri_resolution_override_changes_the_model():
    case = synthetic("k")
    gauss = ForwardModel([case]).profiles([case])[0]
    mri = ForwardModel(
        [case],
        resolution={(0, 1): MRIResolution(mixing_nm=3.0, roughness_nm=2.0, information_nm=1.0)},
    ).profiles([case])[0]
    # the MRI response (w = 3, sigma = 2, lambda = 1 nm) has its mean at -lambda = -1 nm (the
    # information depth shows a layer before the sputter front reaches it): the apparent K/Li
    # interface moves towards the surface, by about 1 nm
    shift, _ = moments(MRIResolution(mixing_nm=3.0, roughness_nm=2.0, information_nm=1.0))
    assert shift == pytest.approx(-1.0)

    def crossing(p):
        return float(np.interp(0.5, p.model["K"][::-1], p.depth_nm[::-1]))

    assert crossing(mri) - crossing(gauss) == pytest.approx(shift, abs=0.5)
    assert np.max(np.abs(mri.model["K"] - gauss.model["K"])) > 1e-2
    # the same model from the case file: mixing_nm and information_nm in the [[data]] block
    mri_case = case.with_values({"data.1.mixing_nm": 3.0, "data.1.information_nm": 1.0})
    from_case = ForwardModel([mri_case]).profiles([mri_case])[0]
    np.testing.assert_allclose(from_case.model["K"], mri.model["K"], rtol=0, atol=1e-14)
    assert nppsim.loads_case(mri_case.to_toml()) == mri_case


def test_parameter_at_bound_is_flagged():
    res = fit(
        synthetic("k"),
        ["species.Li.sed.fwhm_eV=0.1:0.2", "species.K.D_cm2_s"],
        check=False,
    )
    p = res["species.Li.sed.fwhm_eV"]
    assert p.at_bound and p.value == pytest.approx(0.2, abs=1e-3)
    assert any("upper bound" in w for w in res.warnings)


def _interrupted_fit(**options):
    """The single K fit stopped by Ctrl-C in its sixth progress call: (result, the best chi^2
    of each call, the last best point reported by on_best)."""
    calls = []
    best = {}

    def progress(n_sim: int, chi2: float) -> None:
        calls.append(chi2)
        if len(calls) == 6:
            raise KeyboardInterrupt

    res = fit(
        synthetic("k"),
        ["species.Li.sed.fwhm_eV", "species.K.D_cm2_s"],
        progress=progress,
        on_best=lambda values, chi2: best.update(values),
        **options,
    )
    assert not res.success
    assert "interrupted" in res.message
    return res, calls, best


def test_interrupt_keeps_the_best_point():
    res, calls, _ = _interrupted_fit(method="electroneutral")
    assert math.isfinite(res.chi2) and res.chi2 == pytest.approx(min(calls), rel=1e-9)
    assert all(math.isfinite(p.value) for p in res.parameters)


def test_interrupt_in_the_prefit_keeps_its_best_point():
    """A full-solver fit stopped during its electroneutral prefit returns the prefit's best
    point, evaluated with the full solver (whose chi^2 there is close to the prefit's)."""
    res, calls, best = _interrupted_fit()
    assert res.method == "npp"
    for p in res.parameters:
        assert p.value == pytest.approx(best[p.label], rel=1e-12)
    assert math.isfinite(res.chi2) and res.chi2 == pytest.approx(min(calls), rel=0.05)


def test_profile_likelihood_interval_brackets_the_value():
    """One free parameter: the profile-likelihood interval is value -/+ about one stderr."""
    res = fit(synthetic("cs"), ["species.Cs.D_cm2_s"], check=False, profile=["species.Cs.D_cm2_s"])
    p = res["species.Cs.D_cm2_s"]
    lo, hi = p.interval
    assert lo < p.value < hi
    half = 0.5 * (hi - lo)
    assert half == pytest.approx(p.stderr, rel=0.3)


def test_json_and_hdf5_round_trip(k_fit, tmp_path):
    path = k_fit.save(tmp_path / "fit.json")
    d = json.loads(path.read_text())
    for key in (
        "success", "message", "parameters", "correlation", "chi2", "reduced_chi2",
        "n_points", "n_simulations", "wall_s", "warnings",
    ):  # fmt: skip
        assert key in d
    for q in d["parameters"]:
        assert set(q) >= {"key", "case", "value", "stderr", "low", "high", "at_bound"}
    back = load_fit(path)
    assert back.parameters == k_fit.parameters
    np.testing.assert_allclose(back.correlation, k_fit.correlation)
    assert back.chi2 == k_fit.chi2
    np.testing.assert_array_equal(back.profiles[0].model["K"], k_fit.profiles[0].model["K"])
    h5 = k_fit.save(tmp_path / "fit.h5")
    assert load_fit(h5).parameters == k_fit.parameters
    assert not list(tmp_path.glob(".*tmp*"))


def test_load_fit_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json"):
        load_fit(bad)
    with pytest.raises(InputError, match=r"missing\.json"):
        load_fit(tmp_path / "missing.json")


def test_cli_fit_writes_json_and_plot(tmp_path, capsys):
    out = tmp_path / "k.json"
    code = main(
        [
            "fit", str(SYNTH / "lbo_k_synthetic.toml"),
            "--free", "species.Li.sed.fwhm_eV=0.1:0.4", "--free", "species.K.D_cm2_s",
            "-o", str(out), "--no-check", "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    d = json.loads(out.read_text())
    assert d["success"] and abs(d["parameters"][0]["value"] - 0.25) < 0.01
    fig = tmp_path / "k.png"
    assert main(["plot", str(out), "-o", str(fig)]) == 0
    assert fig.stat().st_size > 10_000


def test_cli_fit_bad_key_exits_2(tmp_path, capsys):
    code = main(
        ["fit", str(SYNTH / "lbo_k_synthetic.toml"), "--free", "species.Q.D_cm2_s",
         "-o", str(tmp_path / "x.json")]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "species.Q" in err
    assert not (tmp_path / "x.json").exists()


def test_case_without_data_is_an_input_error():
    with pytest.raises(InputError, match="no \\[\\[data\\]\\] block"):
        fit(nppsim.default_case(), ["species.K.D_cm2_s"])


def test_data_after_the_first_of_two_stages(tmp_path):
    """A profile measured after stage 1 of a two-stage protocol is compared with the stage-1 end:
    with data made from a one-stage run of stage 1 alone, the residuals vanish (same solver and
    grid, no blur, no noise) for after_stage = 1 and not for after_stage = 2 (K relaxes behind a
    blocking front in stage 2)."""
    one = nppsim.load_case(SYNTH / "lbo_k_synthetic.toml").with_values(
        {"stage.1.duration_s": 2.0e3, "data.1.depth_resolution_nm": 0.0}
    )
    res = nppsim.simulate(one.with_values({"solver.n_output": 1}))
    depth = np.arange(1.0, 120.0, 2.0)
    csv = tmp_path / "stage1.csv"
    lines = ["depth_nm,Li,K"] + [
        f"{z:.17g},{np.interp(z, res.depth_nm, res.final_fraction('Li')):.17g},"
        f"{np.interp(z, res.depth_nm, res.final_fraction('K')):.17g}"
        for z in depth
    ]
    csv.write_text("\n".join(lines) + "\n")
    text = (SYNTH / "lbo_k_synthetic.toml").read_text(encoding="utf-8")
    text = text.replace("duration_s = 4.0e4", "duration_s = 2.0e3")
    text = text.replace(
        "[grid]", "[[stage]]\nduration_s = 2.0e3\npotential_V = 0.0  # blocking front\n\n[grid]"
    )
    text = text[: text.index("[[data]]")] + (
        '[[data]]\nfile = "stage1.csv"\nafter_stage = 1\ndepth_column = "depth_nm"\n'
        'columns = { Li = "Li", K = "K" }\n'
    )
    two = nppsim.loads_case(text, base_dir=tmp_path)
    assert len(two.stages) == 2
    r1 = ForwardModel([two]).residuals([{"data.1.after_stage": 1}])
    r2 = ForwardModel([two]).residuals([{"data.1.after_stage": 2}])
    assert np.max(np.abs(r1)) < 1e-6
    assert np.max(np.abs(r2)) > 1e-2
