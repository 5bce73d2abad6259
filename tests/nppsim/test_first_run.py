"""The first run: the cold-compile message, the compile time, progress in readable units, global
flags after the subcommand, output names whose suffix the command cannot write."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from numba import njit

import nppsim
from nppsim import compiling
from nppsim.cli import main
from nppsim.compiling import CompileTimer, cold_compile_message, kernels_cached
from nppsim.simulate import SimulationProgress

ROOT = Path(__file__).resolve().parents[2]
SHORT = {"solver.method": "electroneutral", "stage.1.duration_s": 400.0, "solver.n_output": 2}


@pytest.fixture(scope="module")
def short_case_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("first") / "short.toml"
    path.write_text(nppsim.default_case().with_values(SHORT).to_toml())
    return path


def test_compile_timer_counts_compiling_only():
    """A new function compiled inside the block is timed; calling it again compiles nothing."""

    @njit(cache=False)
    def cube(x):
        return x * x * x

    with CompileTimer() as first:
        assert cube(3.0) == 27.0
    with CompileTimer() as second:
        assert cube(2.0) == 8.0
    assert first.seconds > 0.0
    assert second.seconds == 0.0


def test_kernels_cached_after_a_run_and_unknown_method(short_case_file):
    res = nppsim.simulate(nppsim.load_case(short_case_file))
    assert kernels_cached("electroneutral") is True
    assert kernels_cached("no such solver") is None
    assert isinstance(res.diagnostics["compile_s"], float) and res.diagnostics["compile_s"] >= 0


CACHE_CASES = [
    (False, False, True),
    (True, False, False),
    (None, False, False),
    (False, True, False),
]


@pytest.mark.parametrize("cached, quiet, shown", CACHE_CASES)
def test_cold_message_only_when_the_cache_is_cold(
    monkeypatch, tmp_path, capsys, short_case_file, cached, quiet, shown
):
    monkeypatch.setattr(compiling, "kernels_cached", lambda method: cached)
    argv = ["run", str(short_case_file), "-o", str(tmp_path / "r.h5")] + (["--quiet"] * quiet)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert (cold_compile_message("electroneutral") in err) is shown
    if shown:
        assert err.startswith("nppsim: compiling the numba kernels once, about ")


def test_verbose_flag_after_the_subcommand(tmp_path, capsys, short_case_file):
    assert main(["run", str(short_case_file), "-o", str(tmp_path / "r.h5"), "--quiet", "-v"]) == 0
    assert "nppsim: INFO:" in capsys.readouterr().err
    assert main(["-v", "run", str(short_case_file), "-o", str(tmp_path / "s.h5"), "--quiet"]) == 0
    assert "nppsim: INFO:" in capsys.readouterr().err
    assert main(["run", str(short_case_file), "-o", str(tmp_path / "t.h5"), "--quiet"]) == 0
    assert "INFO" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_an_output_suffix_the_command_cannot_write_is_refused(
    tmp_path, capsys, short_case_file, command
):
    argv = [command, str(short_case_file), "-o", str(tmp_path / "r.csv")]
    if command == "sweep":
        argv += ["--vary", "species.K.D_cm2_s=1e-16,2e-16"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "r.csv" in err and "HDF5" in err and "nppsim export" in err
    assert list(tmp_path.iterdir()) == []


def test_progress_shows_percent_elapsed_and_a_remaining_time_from_the_recent_rate(monkeypatch):
    """Simulated time as a percentage; the remaining wall time extrapolates the recent rate of
    simulated time per wall second, not the rate since the start (which includes compiling)."""
    clock = iter([0.0, 0.0, 30.0, 30.0, 31.0, 31.0, 32.0, 32.0, 32.0])
    fake_time = types.SimpleNamespace(perf_counter=lambda: next(clock))
    monkeypatch.setattr(importlib.import_module("nppsim.simulate"), "time", fake_time)
    stream = io.StringIO()
    bar = SimulationProgress(100.0, file=stream)
    bar(10.0, 100.0)  # after 30 s (compiling): no rate yet
    assert bar.remaining_s() is None
    bar(20.0, 100.0)  # 10 s of simulated time in 1 s of wall time
    assert bar.remaining_s() == pytest.approx(8.0)
    bar(30.0, 100.0)  # the same rate again
    assert bar.remaining_s() == pytest.approx(7.0)
    assert bar.bar.n == pytest.approx(30.0)
    text = bar.bar.desc
    assert "t = 30 of 100 s simulated" in text and "remaining ~0:07" in text
    bar.close()


@pytest.mark.slow
def test_cold_cache_first_run_says_it_compiles_and_reports_the_time(tmp_path, short_case_file):
    """A fresh process with an empty numba cache: the message comes first on stderr and the
    summary gives the compile time; a second process finds the cache warm and stays silent."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    out = str(tmp_path / "r.h5")
    cmd = [sys.executable, "-m", "nppsim", "run", str(short_case_file), "-o", out]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert first.stderr.startswith("nppsim: compiling the numba kernels once")
    assert "compiling the numba kernels (once" in first.stdout
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert "compiling" not in second.stderr and "compiling" not in second.stdout
