"""The README's quickstart runs as written (shell commands and the Python block)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import nppsim

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_has_the_two_setup_commands():
    setup = _blocks("bash")[0]
    assert 'pip install -e ".[test]" && nppsim run' in setup
    assert "python -m pytest" in setup


def _nppsim_commands() -> list[str]:
    """The `nppsim ...` lines of every bash block after the set-up block, in order."""
    return [
        line.split("#")[0].strip()
        for block in _blocks("bash")[1:]
        for line in block.splitlines()
        if line.strip().startswith("nppsim ")
    ]


def test_readme_shell_commands(workdir):
    """Every `nppsim` command line of the README (quickstart, sweeps) runs with exit status 0
    and writes what the README says it writes."""
    commands = _nppsim_commands()
    assert len(commands) >= 6
    assert any(cmd.startswith("nppsim sweep") for cmd in commands)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    for cmd in commands:
        args = cmd.split()[1:]
        proc = subprocess.run(
            [sys.executable, "-m", "nppsim", *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert proc.returncode == 0, f"{cmd}: {proc.stderr}"
    assert (workdir / "lbo_k.h5").is_file() and (workdir / "lbo_k.png").is_file()
    header = (workdir / "lbo_k.csv").read_text().splitlines()[0]
    assert header == "depth_nm,Li,K"
    for name in ("sweep.h5", "d_sweep.h5", "sweep.png", "inv_rb.json", "inv_rb.png"):
        assert (workdir / name).is_file(), name


def test_readme_python_blocks(workdir):
    """Every Python block runs as written, each in a fresh namespace, in order."""
    for block in _blocks("python"):
        exec(compile(block, "README.md", "exec"), {})
    for name in ("short.h5", "rb_stage.h5", "fwhm_sweep.h5", "fwhm_sweep.png",
                 "sed_width_wide.png", "joint_fit.json", "inv_rb_api.json"):  # fmt: skip
        assert (workdir / name).is_file(), name


def test_readme_toml_blocks_are_the_shipped_cases():
    """The TOML excerpt of the README with stages is the stage list of
    cases/lbo_cs_at_rb.toml; the species excerpts (new keys of the case file) are valid species
    tables: put into cases/lbo_k.toml, the case loads."""
    blocks = [tomllib.loads(b) for b in _blocks("toml")]
    staged = [b for b in blocks if "stage" in b]
    assert staged
    shipped = tomllib.loads((ROOT / "cases" / "lbo_cs_at_rb.toml").read_text(encoding="utf-8"))
    assert staged[0]["stage"] == shipped["stage"]
    base = nppsim.load_case(ROOT / "cases" / "lbo_k.toml")
    for block in blocks:
        for name, table in block.get("species", {}).items():
            values = {f"species.{name}.{k}": v for k, v in table.items() if k != "sed"}
            assert base.with_values(values).species_names


def test_readme_gallery_figures_exist():
    """Every figure the README links exists, and every shipped case has one."""
    linked = re.findall(r"\((cases/figures/[^)]+\.png)\)", README)
    assert linked
    for rel in linked:
        assert (ROOT / rel).is_file(), rel
    for case in (ROOT / "cases").glob("*.toml"):
        assert f"cases/figures/{case.stem}.png" in linked, case.name
