"""Hostile use beyond the bad-file catalogue (issue 17): API misuse gets the command line's
one-line errors, outputs are checked before the work, a fit survives any failing trial point."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nppsim
from nppsim import fit
from nppsim.cli import main
from nppsim.errors import CaseError, InputError

BAD = Path(__file__).resolve().parent / "bad_inputs"
VALID_CASE = BAD / "valid_case.toml"
FIT_CASE = BAD / "valid_fit_case.toml"


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.isprintable(), text
    return text


# ---------------------------------------------------------------------- the Python API


def test_simulate_accepts_a_case_path():
    by_path = nppsim.simulate(str(VALID_CASE))
    by_case = nppsim.simulate(nppsim.load_case(VALID_CASE))
    assert by_path.completed
    np.testing.assert_array_equal(by_path.fractions, by_case.fractions)


def test_simulate_of_something_else_is_one_line():
    with pytest.raises(InputError, match="expected a Case") as info:
        nppsim.simulate({"sample": {}})
    _one_line(info.value)


def test_case_altered_with_dataclasses_replace_is_validated_again():
    """A NaN thickness slipped in with dataclasses.replace: the CaseError of the command line
    (file and key), not a bare ValueError from deep inside the grid."""
    case = nppsim.load_case(VALID_CASE)
    bad = dataclasses.replace(case, sample=dataclasses.replace(case.sample, thickness_um=np.nan))
    with pytest.raises(CaseError, match=r"valid_case\.toml: sample\.thickness_um: must be finite"):
        nppsim.simulate(bad)


def test_fit_takes_one_key_as_a_string():
    """free="KEY" is one key, not the characters of the key."""
    case = nppsim.load_case(FIT_CASE)
    res = fit(case, "species.K.D_cm2_s", check=False, max_nfev=3)
    assert [p.key for p in res.parameters] == ["species.K.D_cm2_s"]
    # the fitted profiles are as read-only as a Result's arrays: changing one in place would
    # change what the report, the plot and the saved fit show
    prof = res.profiles[0]
    for table in (prof.measured, prof.sigma, prof.model, prof.sim):
        for values in table.values():
            with pytest.raises(ValueError, match="read-only"):
                values *= 2.0
    assert not prof.depth_nm.flags.writeable and not prof.sim_depth_nm.flags.writeable


@pytest.mark.parametrize("starts", [2.5, "2", True, 0])
def test_fit_starts_must_be_a_whole_number(starts):
    case = nppsim.load_case(FIT_CASE)
    with pytest.raises(InputError, match="starts must be a whole number >= 1") as info:
        fit(case, ["species.K.D_cm2_s"], starts=starts)
    _one_line(info.value)


def test_a_trial_point_raising_anything_is_penalised_not_fatal(monkeypatch, caplog):
    """A ZeroDivisionError (or any exception) at an extreme trial value costs that point the
    failed-residual penalty; the fit goes on and ends with a result."""
    import fitting.forward as forward

    real = forward.simulate

    def fragile(case, *, method=None, **kwargs):
        if case.get_value("species.K.D_cm2_s") > 1e-13:
            raise ZeroDivisionError("float division by zero")
        return real(case, method=method, **kwargs)

    monkeypatch.setattr(forward, "simulate", fragile)
    case = nppsim.load_case(FIT_CASE)
    res = fit(case, ["species.K.D_cm2_s=1e-16:1e-11"], check=False, max_nfev=12)
    assert res.n_simulations >= 2
    assert np.isfinite(res.chi2)
    assert res["species.K.D_cm2_s"].value <= 1e-11


def test_data_deeper_than_the_last_cell_centre(tmp_path, capsys):
    """A measured point at 1950 nm of a 2000 nm sample (beyond the last cell centre of the
    graded grid) fits like any other point: exit 0, no ValueError from the resolution model."""
    case = tmp_path / "case.toml"
    shutil.copyfile(FIT_CASE, case)
    (tmp_path / "profiles").mkdir()
    rows = (BAD / "profiles" / "good.csv").read_text() + "1950,1.00,0.00\n"
    (tmp_path / "profiles" / "good.csv").write_text(rows)
    last_centre = nppsim.simulate(nppsim.load_case(case)).depth_nm[-1]
    assert last_centre < 1950.0
    out = tmp_path / "fit.json"
    argv = ["fit", str(case), "--free", "species.K.D_cm2_s", "-o", str(out), "--quiet"]
    code = main([*argv, "--no-check"])
    err = capsys.readouterr().err
    assert code in (0, 1), err  # 1 only if the optimiser does not converge
    assert "Traceback" not in err and out.exists()


# ---------------------------------------------------------------------- outputs, up front


@contextlib.contextmanager
def _unwritable(folder: Path):
    """`folder` refusing new files even to root (chattr +i), else by its permission bits."""
    immutable = shutil.which("chattr") is not None and (
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    )
    if not immutable:
        folder.chmod(0o555)
        probe = folder / "probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            folder.chmod(0o755)
            pytest.skip("cannot make a folder unwritable here (root without chattr)")
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_read_only_output_folder_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    """Exit 2 at once, the message naming the output (not a hidden temporary file), and the
    simulation never started."""
    simulate_module = sys.modules["nppsim.simulate"]  # nppsim.simulate is the function
    calls = []
    monkeypatch.setattr(simulate_module, "simulate", lambda *a, **k: calls.append(a))
    folder = tmp_path / "ro"
    folder.mkdir()
    with _unwritable(folder):
        code = main(["run", str(VALID_CASE), "-o", str(folder / "x.h5"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"nppsim: error: {folder / 'x.h5'}: cannot write the result: folder")
    assert ".tmp-" not in err and calls == []


@pytest.mark.skipif(shutil.which("xelatex") is not None, reason="xelatex draws .pgf figures")
def test_pgf_figure_without_latex_is_refused_up_front(tmp_path, capsys):
    out = tmp_path / "r.h5"
    code = main(["run", str(VALID_CASE), "-o", str(out), "--plot", str(tmp_path / "f.pgf")])
    err = capsys.readouterr().err
    assert code == 2 and "a .pgf figure needs xelatex (LaTeX)" in err
    assert not out.exists()


def test_python_m_nppsim_refuses_output_equal_to_input(tmp_path):
    """The same check in a real process (relative paths from the working folder)."""
    shutil.copyfile(VALID_CASE, tmp_path / "case.toml")
    before = (tmp_path / "case.toml").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "nppsim", "run", "case.toml", "-o", "./case.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(BAD.parents[2])},
    )
    assert proc.returncode == 2, proc.stderr
    assert "would overwrite the case file" in proc.stderr
    assert (tmp_path / "case.toml").read_bytes() == before
