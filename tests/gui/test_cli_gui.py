"""``nppsim gui`` on the command line, and the rule that nothing else imports Panel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nppsim.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_without_panel_gui_exits_2_with_a_one_line_hint(monkeypatch, capsys):
    import nppsim.cli.gui as gui_cli

    monkeypatch.setattr(gui_cli.importlib.util, "find_spec", lambda name: None)
    assert main(["gui", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err == 'nppsim: error: the browser app needs Panel: pip install "nppsim[gui]"\n'


@pytest.mark.parametrize("port", ["0", "70000"])
def test_gui_rejects_a_port_out_of_range(port, capsys):
    pytest.importorskip("panel")
    assert main(["gui", "--port", port, "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nppsim: error: --port: must be 1..65535") and err.count("\n") == 1


def test_gui_help_names_the_flags(capsys):
    with pytest.raises(SystemExit):
        main(["gui", "--help"])
    out = capsys.readouterr().out
    for flag in ("--port", "--host", "--no-browser", "--allow-origin"):
        assert flag in out


def test_websocket_origins():
    pytest.importorskip("panel")
    from nppsim.gui.server import websocket_origins

    assert websocket_origins("127.0.0.1", 8765) == ["127.0.0.1:8765", "localhost:8765"]
    assert websocket_origins("lab.example.org", 80, ["alias.example.org"]) == [
        "lab.example.org:80",
        "alias.example.org:80",
    ]
    every = websocket_origins("0.0.0.0", 8765)
    import socket

    assert f"{socket.gethostname()}:8765" in every and "localhost:8765" in every


def test_core_does_not_import_panel():
    code = (
        "import sys, nppsim, nppsim.cli, nppsim.plot, nppsim.demo, fitting.fit; "
        "print(any(m == 'panel' or m.startswith(('panel.', 'bokeh')) for m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out.strip() == "False"
