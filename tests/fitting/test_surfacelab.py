"""A SurfaceLab-style export with every real effect (cases/synthetic/lbo_k_surfacelab.*) is
fitted to its known truth; data-side keys that are freed vary the model; what cannot be fitted
is refused with exit status 2 and advice."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import nppsim
from fitting.fit import fit
from fitting.forward import ForwardModel
from nppsim.cli import main
from nppsim.profiles import profile_from_spec

HERE = Path(__file__).resolve().parents[2] / "cases" / "synthetic"
CASE = HERE / "lbo_k_surfacelab.toml"
#: the truth behind the file (cases/synthetic/make_surfacelab.py and README.md there)
TRUE_FWHM_EV = 0.22
TRUE_D_K = 3.0e-16
TRUE_DEPTH_SCALE = 1.0 / 1.06
TRUE_RATE_NM_S = 0.125
FREE = ["species.Li.sed.fwhm_eV", "species.K.D_cm2_s", "data.1.depth_scale=0.8:1.2"]


@pytest.fixture(scope="module")
def case() -> nppsim.Case:
    return nppsim.load_case(CASE)


@pytest.fixture(scope="module")
def result(case):
    return fit(case, FREE, check=False)


def test_the_export_reads_as_written(case):
    p = profile_from_spec(case.data[0], case.native.name)
    info = p.info
    assert info["preamble_lines"] == 6 and info["header_line"] == 8 and info["units_row"]
    assert info["normalize"] == "matrix" and info["matrix_column"] == "11B+"
    assert info["excluded"] == ["8 rows above 15 nm (fit_range_nm)"]
    # the nominal rate is 6 % high: file depths run 6 % deeper than the true ones
    assert info["file_depth_range_nm"][1] == pytest.approx(
        1.06 * TRUE_RATE_NM_S * 3233.0
    )  # last time 3233 s
    # matrix-normalised Li reaches 1 in the bulk and K + Li = 1 within counting noise
    assert np.mean(p.values["Li"][-20:]) == pytest.approx(1.0, abs=2e-3)
    total = p.values["Li"] + p.values["K"]
    assert np.sqrt(np.mean(((total - 1.0) / np.hypot(p.sigma["Li"], p.sigma["K"])) ** 2)) < 2.0


def test_fit_recovers_the_truth(result):
    """Acceptance of issue 16: FWHM within 0.01 eV, D within x1.2, depth scale within 0.02."""
    assert result.success
    fwhm = result["species.Li.sed.fwhm_eV"].value
    d_k = result["species.K.D_cm2_s"].value
    scale = result["data.1.depth_scale"].value
    assert abs(fwhm - TRUE_FWHM_EV) < 0.01
    assert 1.0 / 1.2 < d_k / TRUE_D_K < 1.2
    assert abs(scale - TRUE_DEPTH_SCALE) < 0.02
    assert 0.5 < result.reduced_chi2 < 2.0  # Poisson uncertainties describe the noise
    for p in result.parameters:
        assert math.isfinite(p.stderr) and p.stderr > 0.0


def test_report_states_blocks_uncertainties_and_correlations(result, tmp_path):
    text = result.report()
    assert "[[Data blocks]]" in text and "chi-square" in text
    assert "normalize = matrix (matrix column '11B+')" in text
    assert "Poisson counts" in text and "bulk level" in text
    # D_K and the depth scale are nearly degenerate: the warning names the calibration to fix
    warning = [w for w in result.warnings if w.startswith("C(species.K.D_cm2_s, data.1.depth")]
    assert warning and "fix data.1.depth_scale" in warning[0]
    d = json.loads(Path(result.save(tmp_path / "fit.json")).read_text())
    block = d["blocks"][0]
    assert block["n_points"] == 2 * len(d["profiles"][0]["depth_nm"])
    assert block["chi2"] == pytest.approx(sum(block["chi2_species"].values()))
    assert block["chi2"] == pytest.approx(d["chi2"], rel=1e-9)
    q = block["quantification"]
    assert q["bulk_level"] > 0 and set(q["factors"]) == {"Li", "K"}
    assert q["uncertainty_floor"] == 1e-4 and q["points_used"] == 195
    again = nppsim.load_fit(tmp_path / "fit.json")
    assert again.profiles[0].info["normalize"] == "matrix"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("data.1.sputter_rate_nm_s", 0.125),
        ("data.1.depth_scale", 0.95),
        ("data.1.depth_offset_nm", 3.0),
        ("data.1.background.K", 40.0),
    ],
)
def test_every_freed_data_key_varies_the_model(case, key, value):
    model = ForwardModel([case])
    base = model.residuals([{}])
    moved = model.residuals([{key: value}])
    assert base.shape == moved.shape
    assert np.max(np.abs(moved - base)) > 1.0
    assert model.n_simulations == 1  # the data side costs no simulation


def test_sputter_rate_is_fitted(case):
    truth = case.with_values(
        {"species.Li.sed.fwhm_eV": TRUE_FWHM_EV, "species.K.D_cm2_s": TRUE_D_K}
    )
    r = fit(truth, ["data.1.sputter_rate_nm_s=0.1:0.16"], check=False)
    assert r["data.1.sputter_rate_nm_s"].value == pytest.approx(TRUE_RATE_NM_S, rel=0.01)


def test_discrete_data_keys_cannot_be_freed(case):
    with pytest.raises(nppsim.InputError, match=r"data\.1\.after_stage: a whole number"):
        fit(case, ["data.1.after_stage"], check=False)


# ---- the command line -------------------------------------------------------------------------


def _copy(tmp_path: Path) -> Path:
    for suffix in (".toml", ".txt"):
        shutil.copy(HERE / f"lbo_k_surfacelab{suffix}", tmp_path)
    return tmp_path / "lbo_k_surfacelab.toml"


def test_counts_without_normalize_are_refused(tmp_path, capsys):
    toml = _copy(tmp_path).read_text(encoding="utf-8")
    kept = [
        line
        for line in toml.splitlines()
        if not line.startswith(("normalize", "matrix_column", "background"))
    ]
    path = tmp_path / "nonorm.toml"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    assert main(["fit", str(path), "--free", "species.K.D_cm2_s", "--quiet"]) == 2
    msg = capsys.readouterr().err
    assert "lbo_k_surfacelab.txt" in msg and 'set normalize = "bulk" or "matrix"' in msg
    assert msg.count("\n") == 1
    assert main(["data", str(path)]) == 2
    # run --plot would draw the counts on the fraction axis: refused before simulating
    h5 = tmp_path / "run.h5"
    assert main(["run", str(path), "--plot", str(tmp_path / "r.png"), "-o", str(h5)]) == 2
    assert not h5.exists()


def test_profile_cut_before_the_bulk_is_refused(tmp_path, capsys):
    _copy(tmp_path)
    lines = (tmp_path / "lbo_k_surfacelab.txt").read_bytes().split(b"\r\n")
    (tmp_path / "cut.txt").write_bytes(b"\r\n".join(lines[:109]) + b"\r\n")  # to 212 nm
    toml = (tmp_path / "lbo_k_surfacelab.toml").read_text(encoding="utf-8")
    toml = toml.replace('"lbo_k_surfacelab.txt"', '"cut.txt"')
    toml = toml.replace('normalize = "matrix"', 'normalize = "bulk"')
    toml = "\n".join(x for x in toml.splitlines() if not x.startswith("matrix_column")) + "\n"
    path = tmp_path / "cut.toml"
    path.write_text(toml, encoding="utf-8")
    assert main(["fit", str(path), "--free", "species.K.D_cm2_s", "--quiet"]) == 2
    msg = capsys.readouterr().err
    assert "cut.txt: the profile does not reach the bulk" in msg
    assert "give bulk_level" in msg and "or a longer profile" in msg


def test_fit_output_suffix(tmp_path, capsys):
    path = _copy(tmp_path)
    args = ["fit", str(path), "--free", "data.1.depth_scale", "--no-check", "--quiet"]
    assert main([*args, "-o", str(tmp_path / "fit.txt")]) == 2
    assert "cannot write a fit as '.txt'" in capsys.readouterr().err
    assert not (tmp_path / "fit.txt").exists()
    out = tmp_path / "fit.csv"
    assert main([*args, "-o", str(out)]) == 0
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) == {
        "case",
        "data_block",
        "species",
        "depth_nm",
        "measured",
        "sigma",
        "model",
    }
    assert len(rows) == 2 * 195 and {r["species"] for r in rows} == {"Li", "K"}
    assert all(float(r["sigma"]) > 0 for r in rows)


def test_data_command_and_plot(tmp_path, capsys):
    path = _copy(tmp_path)
    fig = tmp_path / "data.png"
    assert main(["data", str(path), "--plot", str(fig)]) == 0
    text = capsys.readouterr().out
    assert "header on line 8 after 6 preamble lines; units row under it; 203 rows" in text
    assert "normalize = matrix, matrix column '11B+'" in text and "bulk level" in text
    assert "factor K:" in text and "uncertainty: Poisson counts" in text
    assert "excluded: 8 rows above 15 nm (fit_range_nm)" in text
    assert fig.stat().st_size > 0


def test_run_plot_overlays_the_data(case):
    from nppsim.plot import plot_result

    res = nppsim.simulate(case)
    prof = profile_from_spec(case.data[0], case.native.name)
    fig = plot_result(res, data=[prof])
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "Li, data.1 (lbo_k_surfacelab.txt)" in labels
    assert "K, data.1 (lbo_k_surfacelab.txt)" in labels


def test_correlation_warnings_name_the_parameter_to_fix():
    from fitting.result import FittedParameter, correlation_warnings

    def par(key, value, stderr, low, high, log=False):
        return FittedParameter(key, None, value, stderr, low, high, False, log, value)

    fwhm = par("species.Li.sed.fwhm_eV", 0.22, 0.01, 0.05, 0.8)
    d_k = par("species.K.D_cm2_s", 3e-16, 3e-17, 1e-18, 1e-14, log=True)
    scale = par("data.1.depth_scale", 0.94, 0.001, 0.8, 1.2)
    corr = np.array([[1.0, 0.2, 0.1], [0.2, 1.0, 0.99], [0.1, 0.99, 1.0]])
    (w,) = correlation_warnings([fwhm, d_k, scale], corr)
    assert w.startswith("C(species.K.D_cm2_s, data.1.depth_scale) = +0.990")
    assert "fix data.1.depth_scale (a depth calibration" in w
    # two physical parameters: the one with the larger relative error is named
    corr = np.array([[1.0, -0.97, 0.0], [-0.97, 1.0, 0.0], [0.0, 0.0, 1.0]])
    (w,) = correlation_warnings([fwhm, d_k, scale], corr)
    assert "fix species.K.D_cm2_s (the less determined" in w
    assert correlation_warnings([fwhm, d_k, scale], np.eye(3)) == []
