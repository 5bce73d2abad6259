"""The README's quickstart runs as written (shell commands and the Python block)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_readme_quickstart_shell_commands(workdir):
    commands = [
        line.split("#")[0].strip()
        for line in _blocks("bash")[1].splitlines()
        if line.strip().startswith("nppsim ")
    ]
    assert len(commands) >= 3
    for cmd in commands:
        args = cmd.split()[1:]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
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


def test_readme_python_block(workdir):
    for block in _blocks("python"):
        exec(compile(block, "README.md", "exec"), {})
    assert (workdir / "short.h5").is_file()
