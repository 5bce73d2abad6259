"""The command line.

Two groups of tests:
- with fakes: `nppsim.case`, `nppsim.simulate` and `solvers.grid` replaced by small stand-ins in
  sys.modules, to check the command logic (outputs, exit statuses, messages) on its own;
- integration: the real case model, simulation, grid and SED modules on small case files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from nppsim import units
from nppsim.cli import DEFAULT_RUN_OUTPUT, INFO_FRACTIONS, main
from nppsim.errors import CaseError, SimulationError
from nppsim.result import Result, load_result
from solvers.problem import Solution

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_solution(n_cells: int = 60, n_times: int = 4, completed: bool = True) -> Solution:
    """A hand-made Solution: K enters as a tanh step centred at 10 nm (final time), Li = 1 - K."""
    faces = np.concatenate([[0.0], np.cumsum(0.5 * 1.05 ** np.arange(n_cells))])
    centres = 0.5 * (faces[1:] + faces[:-1])
    times = np.linspace(0.0, 10.0, n_times)
    k = 0.5 * (1.0 - np.tanh((centres[None, :] - 10.0 * np.sqrt(times / 10.0)[:, None]) / 1.5))
    k[0] = 0.0
    t_front = np.linspace(0.0, 10.0, 21)
    current = 1e-6 / np.sqrt(t_front + 0.01)
    return Solution(
        x_faces_nm=faces,
        x_centers_nm=centres,
        species_names=("Li", "K"),
        times_s=times,
        fractions=np.stack([1.0 - k, k], axis=1),
        potential_V=np.exp(-centres[None, :] / 3.0) * np.ones((n_times, 1)),
        stage_end_index=[n_times - 1],
        front_time_s=t_front,
        front_current_A_cm2=current,
        front_potential_V=np.ones_like(t_front),
        front_charge_C_cm2=np.cumsum(current) * 0.5,
        method="npp",
        diagnostics={"steps": 20, "rejected_steps": 1, "newton_iterations": 57},
        completed=completed,
        message="" if completed else "step size underflow",
    )


# ---------------------------------------------------------------------- fakes


@dataclass(frozen=True)
class FakeSED:
    shape: str = "gaussian"
    fwhm_eV: float = 0.25
    vacancy_fraction: float = 0.1
    filling: str = "step"


@dataclass(frozen=True)
class FakeSpecies:
    name: str
    role: str
    D_cm2_s: float
    charge: int = 1
    initial_fraction: float = 1.0
    back: str = "reservoir"
    sed: FakeSED | None = None


@dataclass
class FakeCase:
    name: str = "fake case"
    path: Path | None = None
    values: dict = field(default_factory=dict)

    def __post_init__(self):
        self.meta = types.SimpleNamespace(name=self.name)
        self.sample = types.SimpleNamespace(
            thickness_um=2.0, temperature_K=350.0, n_bulk_cm3=1.4e22, eps_r=7.0
        )
        self.species = (
            FakeSpecies("Li", "native", 1.0e-12, sed=FakeSED()),
            FakeSpecies("K", "foreign", 2.0e-16, initial_fraction=0.0, back="absorbing"),
        )
        self.stages = (types.SimpleNamespace(duration_s=10.0, source="K", potential_V=1.5),)
        self.grid = types.SimpleNamespace(fine_depth_nm=100.0, fine_spacing_nm=0.5, growth=1.1)
        self.solver = types.SimpleNamespace(method="npp", rtol=1e-4, atol=1e-8, n_output=3)

    def with_values(self, values):
        return FakeCase(self.name, self.path, {**self.values, **values})

    def to_toml(self):
        return (
            f'[meta]\nname = "{self.name}"\n[species.Li]\nrole = "native"\n'
            '[species.K]\nrole = "foreign"\n'
        )


class FakeMobility:
    """D = D_ref c^3: a stand-in with the SEDMobility method names."""

    def __init__(self, d_ref):
        self.d_ref = d_ref

    def D(self, c):
        return self.d_ref * np.asarray(c) ** 3

    def activation_shift_eV(self, c):
        return -3.0 * units.thermal_voltage_V(350.0) * np.log(np.asarray(c))

    def plateau_fraction(self, d_foreign):
        return (d_foreign / 10.0 / self.d_ref) ** (1.0 / 3.0)


class Fakes:
    """Installs the fake modules; records the calls to simulate."""

    def __init__(self, monkeypatch):
        self.calls: list[dict] = []
        self.raise_on_simulate: Exception | None = None
        self.solution_completed = True

        case_mod = types.ModuleType("nppsim.case")

        def load_case(path):
            p = Path(path)
            if not p.exists():
                raise CaseError(f"{p}: no such case file")
            text = p.read_text()
            if "bad" in text:
                raise CaseError(f"{p}: line 1: unknown key 'bad'\n(did you mean 'meta'?)")
            return FakeCase(name=p.stem, path=p)

        def parse_assignment(text):
            if "=" not in text:
                raise CaseError(f"--set {text}: expected KEY=VALUE")
            key, value = text.split("=", 1)
            return key, value

        case_mod.load_case = load_case
        case_mod.default_case = lambda: FakeCase(name="default")
        case_mod.parse_assignment = parse_assignment

        sim_mod = types.ModuleType("nppsim.simulate")

        def simulate(case, *, method=None, progress=False, initial=None):
            self.calls.append(
                {"case": case, "method": method, "progress": progress, "initial": initial}
            )
            sol = make_solution(completed=self.solution_completed)
            result = Result.from_solution(sol, case.to_toml(), case.meta.name, 0.5)
            if self.raise_on_simulate is not None:
                raise self.raise_on_simulate
            return result

        sim_mod.simulate = simulate
        sim_mod.mobility_for = lambda case, sp: FakeMobility(sp.D_cm2_s)

        grid_mod = types.ModuleType("solvers.grid")
        grid_mod.graded_faces_nm = lambda thickness_nm, fine_depth_nm, fine_spacing_nm, growth: (
            np.concatenate([np.arange(0.0, 100.0, 0.5), np.geomspace(100.0, thickness_nm, 30)])
        )

        monkeypatch.setitem(sys.modules, "nppsim.case", case_mod)
        monkeypatch.setitem(sys.modules, "nppsim.simulate", sim_mod)
        monkeypatch.setitem(sys.modules, "solvers.grid", grid_mod)


@pytest.fixture
def fakes(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    return Fakes(monkeypatch)


def _case_file(folder: Path, name: str = "lbo_k.toml", text: str = "[meta]\n") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _assert_one_error_line(err: str, *needles: str) -> None:
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nppsim: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


# ---------------------------------------------------------------------- run (fakes)


def test_run_case_writes_stem_h5_and_prints_summary(fakes, tmp_path, capsys):
    case = _case_file(tmp_path)
    assert main(["run", str(case)]) == 0
    out = capsys.readouterr().out
    result = load_result(tmp_path / "lbo_k.h5")
    assert result.case_name == "lbo_k"
    assert "60 cells" in out
    assert "20 accepted" in out and "Newton iterations: 57" in out
    assert "wall time" in out
    depth = result.front_depth_nm("K")
    assert f"front (K fraction = 0.5) at t = 10 s: {depth:.4g} nm" in out
    assert f"wrote {tmp_path / 'lbo_k.h5'}" in out
    assert fakes.calls[0]["method"] is None
    assert fakes.calls[0]["progress"] is False


def test_run_without_case_uses_default(fakes, tmp_path, capsys):
    assert main(["run", "--quiet"]) == 0
    assert fakes.calls[0]["case"].name == "default"
    assert load_result(tmp_path / DEFAULT_RUN_OUTPUT).case_name == "default"
    out = capsys.readouterr().out
    assert out.strip() == f"wrote {tmp_path / DEFAULT_RUN_OUTPUT}"


def test_run_set_solver_and_outputs(fakes, tmp_path, capsys):
    case = _case_file(tmp_path)
    args = ["run", str(case), "-o", "out/r.h5", "--csv", "out/p.csv", "--plot", "out/f.png"]
    (tmp_path / "out").mkdir()
    args += ["--set", "sample.temperature_K=400", "--set", "stage.1.potential_V=2"]
    assert main([*args, "--solver", "electroneutral"]) == 0
    call = fakes.calls[0]
    assert call["method"] == "electroneutral"
    assert call["case"].values == {"sample.temperature_K": "400", "stage.1.potential_V": "2"}
    assert load_result(tmp_path / "out/r.h5").n_cells == 60
    assert (tmp_path / "out/p.csv").read_text().splitlines()[0] == "depth_nm,Li,K"
    assert (tmp_path / "out/f.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "wrote out/p.csv" in out and "wrote out/f.png" in out


def test_run_progress_when_stderr_is_a_terminal(fakes, tmp_path, monkeypatch):
    terminal = types.SimpleNamespace(isatty=lambda: True, write=len, flush=lambda: None)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["run", str(_case_file(tmp_path)), "--quiet"]) == 0
    assert fakes.calls[-1]["progress"] is False
    assert main(["run", str(_case_file(tmp_path))]) == 0
    assert fakes.calls[-1]["progress"] is True


def test_run_case_error_is_one_line_exit_2(fakes, tmp_path, capsys):
    case = _case_file(tmp_path, "broken.toml", "bad = 1\n")
    assert main(["run", str(case)]) == 2
    captured = capsys.readouterr()
    _assert_one_error_line(captured.err, "broken.toml", "unknown key 'bad'", "did you mean")
    assert captured.out == ""
    assert not (tmp_path / "broken.h5").exists()


def test_run_missing_case_exit_2(fakes, capsys):
    assert main(["run", "nowhere.toml"]) == 2
    _assert_one_error_line(capsys.readouterr().err, "nowhere.toml")


def test_run_bad_set_exit_2(fakes, tmp_path, capsys):
    assert main(["run", str(_case_file(tmp_path)), "--set", "novalue"]) == 2
    _assert_one_error_line(capsys.readouterr().err, "novalue")
    assert fakes.calls == []


def test_run_missing_output_folder_exit_2_before_simulating(fakes, tmp_path, capsys):
    assert main(["run", str(_case_file(tmp_path)), "-o", "no/such/dir/r.h5"]) == 2
    _assert_one_error_line(capsys.readouterr().err, "no/such/dir")
    assert fakes.calls == []


def test_run_bad_figure_extension_exit_2_before_simulating(fakes, tmp_path, capsys):
    assert main(["run", str(_case_file(tmp_path)), "--plot", "fig.xyz"]) == 2
    _assert_one_error_line(capsys.readouterr().err, "fig.xyz")
    assert fakes.calls == []


def test_run_simulation_error_saves_partial(fakes, tmp_path, capsys):
    partial = Result.from_solution(make_solution(completed=False), "", "lbo_k", 0.1)
    fakes.raise_on_simulate = SimulationError("Newton failed at t = 3 s", partial=partial)
    assert main(["run", str(_case_file(tmp_path)), "-o", "r.h5"]) == 1
    err = capsys.readouterr().err
    assert "Newton failed at t = 3 s" in err
    assert "r.partial.h5" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r.h5").exists()
    assert load_result(tmp_path / "r.partial.h5").completed is False


def test_run_interrupted_saves_partial_exit_130(fakes, tmp_path, capsys):
    """Ctrl-C during the solve (the solver stops cleanly, diagnostics.interrupted): exit 130,
    the state reached saved to OUT.partial.h5, one line saying where it stopped."""
    partial = Result.from_solution(make_solution(completed=False), "", "lbo_k", 0.1)
    partial.diagnostics["interrupted"] = True
    message = "interrupted by the user at t = 42 s (stage 1 of 1)"
    fakes.raise_on_simulate = SimulationError(message, partial=partial)
    assert main(["run", str(_case_file(tmp_path)), "-o", "r.h5"]) == 130
    err = capsys.readouterr().err
    assert message in err and "r.partial.h5" in err and "Traceback" not in err
    assert not (tmp_path / "r.h5").exists()
    assert load_result(tmp_path / "r.partial.h5").diagnostics["interrupted"] is True


def test_run_simulation_error_without_partial(fakes, tmp_path, capsys):
    fakes.raise_on_simulate = SimulationError("diverged")
    assert main(["run", str(_case_file(tmp_path))]) == 1
    assert "diverged" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lbo_k.toml"]


def test_run_incomplete_result_is_a_failure(fakes, tmp_path, capsys):
    fakes.solution_completed = False
    assert main(["run", str(_case_file(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert "step size underflow" in err and "lbo_k.partial.h5" in err
    assert not (tmp_path / "lbo_k.h5").exists()


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        main(["run", "--solver", "fast"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


# ---------------------------------------------------------------------- info (fakes)


def test_info_prints_derived_quantities(fakes, tmp_path, capsys):
    assert main(["info", str(_case_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    debye = units.debye_length_nm(1.4e22, 7.0, 350.0)
    sigma = units.conductivity_S_cm(1.4e22, 1.0e-12, 350.0)
    assert "case: lbo_k" in out
    assert f"Debye length: {debye:.4g} nm" in out
    assert f"{sigma:.4g} S/cm" in out
    assert f"{units.EPS0_F_CM * 7.0 / sigma:.4g} s" in out
    assert f"{units.thermal_voltage_V(350.0) * 1e3:.4g} mV" in out
    assert "grid: 229 cells, smallest 0.5 nm" in out
    assert "D(n) of Li (gaussian SED, FWHM 0.25 eV" in out
    rows = [
        line.split()
        for line in out.splitlines()
        if line.startswith("  ") and "fraction" not in line
    ]
    assert len(rows) == len(INFO_FRACTIONS)
    # D = D_ref c^3 in the fake: log10 D/D_ref = 3 log10 c
    for row, c in zip(rows, INFO_FRACTIONS, strict=True):
        assert float(row[0]) == pytest.approx(c)
        assert float(row[2]) == pytest.approx(3 * np.log10(c), abs=1e-3)
    plateau = (2.0e-16 / 10.0 / 1.0e-12) ** (1 / 3)
    assert "plateau estimate with K" in out and f"{plateau:.4g} of n_bulk" in out


def test_info_missing_case_exit_2(fakes, capsys):
    assert main(["info", "missing.toml"]) == 2
    _assert_one_error_line(capsys.readouterr().err, "missing.toml")


# ---------------------------------------------------------------------- plot (no fakes needed)


def test_plot_saved_result_default_name(tmp_path, capsys):
    path = Result.from_solution(make_solution(), "", "saved", 1.0).save(tmp_path / "res.h5")
    assert main(["plot", str(path)]) == 0
    assert (tmp_path / "res.png").read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {tmp_path / 'res.png'}" in capsys.readouterr().out


def test_plot_saved_result_to_svg(tmp_path):
    path = Result.from_solution(make_solution(), "", "saved", 1.0).save(tmp_path / "res.h5")
    assert main(["plot", str(path), "-o", str(tmp_path / "fig.svg")]) == 0
    assert (tmp_path / "fig.svg").read_bytes().startswith(b"<?xml")


def test_plot_not_a_result_exit_2(tmp_path, capsys):
    path = tmp_path / "profile.csv"
    path.write_text("depth_nm,Li\n1,1\n")
    assert main(["plot", str(path)]) == 2
    err = capsys.readouterr().err
    _assert_one_error_line(err, "profile.csv", "a measured profile, not a result")
    assert "nppsim data CASE --plot FIG.png" in err
    assert not (tmp_path / "profile.png").exists()
    case = tmp_path / "case.toml"
    case.write_text("[meta]\n")
    assert main(["plot", str(case)]) == 2
    _assert_one_error_line(capsys.readouterr().err, "case.toml", "a case file, not a result")


def _run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "nppsim", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("nppsim ")


def test_python_m_nppsim_missing_result_exit_2(tmp_path):
    proc = _run_module("plot", "missing.h5", cwd=tmp_path)
    assert proc.returncode == 2
    _assert_one_error_line(proc.stderr, "missing.h5")


# ---------------------------------------------------------------------- integration (real modules)

SMALL_CASE = """\
[meta]
name = "small K on Li"

[sample]
thickness_um = 1.0
temperature_K = 350.0
n_bulk_cm3 = 1.4e22
eps_r = 7.0

[species.Li]
role = "native"
D_cm2_s = 1.0e-12

[species.Li.sed]
shape = "gaussian"
fwhm_eV = 0.25
vacancy_fraction = 0.10
filling = "step"

[species.K]
role = "foreign"
D_cm2_s = 2.0e-14

[[stage]]
duration_s = 10.0
source = "K"
surface_fraction = 1.0
potential_V = 0.5

[grid]
fine_depth_nm = 100.0
fine_spacing_nm = 1.0
growth = 1.2

[solver]
n_output = 4
"""


def test_integration_info_on_a_case(tmp_path, capsys):
    case = _case_file(tmp_path, "small.toml", SMALL_CASE)
    assert main(["info", str(case)]) == 0
    out = capsys.readouterr().out
    assert "case: small K on Li" in out
    assert f"Debye length: {units.debye_length_nm(1.4e22, 7.0, 350.0):.4g} nm" in out
    assert "grid:" in out and "cells" in out
    assert "D(n) of Li" in out
    assert "plateau estimate with K" in out


def test_integration_run_small_case(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    case = _case_file(tmp_path, "small.toml", SMALL_CASE)
    code = main(["run", str(case), "--csv", "p.csv", "--plot", "f.png", "--quiet"])
    assert code == 0, capsys.readouterr().err
    result = load_result(tmp_path / "small.h5")
    assert result.species == ("Li", "K") and result.completed
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "depth_nm,Li,K"
    assert (tmp_path / "f.png").exists()


def test_integration_malformed_case_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    case = _case_file(tmp_path, "typo.toml", SMALL_CASE.replace("eps_r", "epsr"))
    assert main(["run", str(case)]) == 2
    _assert_one_error_line(capsys.readouterr().err, "typo.toml", "epsr")


def test_integration_bad_set_value_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    case = _case_file(tmp_path, "small.toml", SMALL_CASE)
    assert main(["run", str(case), "--set", "sample.temperature_K=-5"]) == 2
    _assert_one_error_line(capsys.readouterr().err, "temperature_K")


def test_integration_subprocess_malformed_case_no_traceback(tmp_path):
    _case_file(tmp_path, "typo.toml", SMALL_CASE.replace("[grid]", "[grdi]"))
    proc = _run_module("run", "typo.toml", cwd=tmp_path)
    assert proc.returncode == 2
    _assert_one_error_line(proc.stderr, "typo.toml")


def test_electroneutral_on_three_species_is_a_one_line_input_error(tmp_path, capsys):
    """The reduction holds for two monovalent species only: asking for it on three species
    is an input error (exit 2, one line naming the case and the key), not a traceback."""
    from nppsim.case import default_case

    text = default_case().to_toml() + '\n[species.Rb]\nrole = "foreign"\nD_cm2_s = 1e-16\n'
    path = tmp_path / "three.toml"
    path.write_text(text, encoding="utf-8")
    code = main(["run", str(path), "--solver", "electroneutral", "-o", str(tmp_path / "o.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "solver.method: electroneutral" in err[0] and "three.toml" in err[0]
    assert not (tmp_path / "o.h5").exists()
