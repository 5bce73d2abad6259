"""``nppsim invert`` on the command line: bad input is one line with exit status 2 (checked
before any simulation, nothing written); a small inversion writes the JSON of the contract,
which ``nppsim plot`` draws; ``nppsim info`` prints the PSED FWHM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nppsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
RB = str(ROOT / "cases" / "synthetic" / "lbo_rb_inv.toml")
K = str(ROOT / "cases" / "synthetic" / "lbo_k_inv.toml")


def _one_error_line(err: str, needle: str) -> None:
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nppsim: error: ")
    assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--knots", "1"], "at least 2"),
        (["--knots", "0"], "at least 2"),
        (["--knots", "0.2,1.5"], "(0, 1]"),
        (["--knots=-0.1,0.5"], "(0, 1]"),
        (["--knots", "x"], "--knots"),
        (["--species", "Rb"], "not a native species"),
        (["--species", "Na"], "no such species"),
        (["--split-below", "0"], "--split-below"),
        (["--free", "species.Li.sed.fwhm_eV"], "inverted curve"),
        (["--free", "species.Rb.nope"], "species.Rb.nope"),
        (["--lambda=-1"], "--lambda"),
    ],
)
def test_bad_input_exit_2(args, needle, tmp_path, capsys):
    out = tmp_path / "inv.json"
    assert main(["invert", RB, *args, "-o", str(out)]) == 2
    _one_error_line(capsys.readouterr().err, needle)
    assert not out.exists()


def test_case_without_data_exit_2(tmp_path, capsys):
    out = tmp_path / "inv.json"
    assert main(["invert", str(ROOT / "cases" / "lbo_k.toml"), "-o", str(out)]) == 2
    _one_error_line(capsys.readouterr().err, "no [[data]] block")


def test_output_must_be_json(tmp_path, capsys):
    assert main(["invert", RB, "-o", str(tmp_path / "inv.h5")]) == 2
    _one_error_line(capsys.readouterr().err, "JSON")


def test_small_inversion_writes_the_contract_and_plots(tmp_path, capsys):
    out = tmp_path / "inv.json"
    fig = tmp_path / "inv.png"
    args = ["invert", RB, "--knots", "2", "--free", "species.Rb.D_cm2_s", "--lambda", "10"]
    assert main([*args, "-o", str(out), "--quiet"]) == 0
    d = json.loads(out.read_text())
    for key in ("fraction", "D_cm2_s", "D_low_cm2_s", "D_high_cm2_s", "valid_range", "wall_s"):
        assert key in d
    assert [p["key"] for p in d["parameters"]] == ["species.Rb.D_cm2_s"]
    assert set(d["parameters"][0]) >= {"key", "case", "value", "stderr", "low", "high", "at_bound"}
    assert d["sed"]["fwhm_eV"] > 0 and len(d["sed"]["energy_eV"]) == len(d["fraction"])
    assert main(["plot", str(out), "-o", str(fig)]) == 0
    assert fig.read_bytes()[:4] == b"\x89PNG"


def test_info_prints_the_psed_fwhm(capsys):
    assert main(["info", str(ROOT / "cases" / "lbo_k.toml")]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("PSED of Li"))
    assert "Gaussian FWHM 0.2500 eV" in line  # the case's 250 meV Gaussian SED, exactly
