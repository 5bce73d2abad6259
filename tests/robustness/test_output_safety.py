"""Output safety: a writer that dies or fails half-way leaves the target as it was.

Every writer (Result.save, Result.save_csv, FitResult.save as JSON and HDF5, figures via
nppsim.plot) goes through nppsim.fileio: it writes ``.NAME.tmp-XXXX`` beside the target and
renames it over the target when complete.

- killed: a child process runs the writer, blocks in the middle of it (a hook in h5py's
  dataset creation or in the temporary file's write) or just before the rename (the fsync
  hook), and is killed with SIGKILL. The target holds its old bytes, or does not exist. A
  killed process cannot clean up, so its temporary file stays (the documented
  ``.NAME.tmp-*``; nothing else), and the next save works and replaces the target.
- an exception half-way (monkeypatched, in this process): the old file is untouched and the
  temporary file is removed.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import nppsim
import nppsim.fileio
from fitting.result import FitResult, load_fit
from nppsim.plot import plot_result

REPO_ROOT = Path(__file__).resolve().parents[2]
VALID_CASE = Path(__file__).resolve().parent / "bad_inputs" / "valid_case.toml"
OLD = b"the old file: must survive a failed write\n"
#: seconds to wait for the child to reach the hook (imports included)
REACH_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL"), reason="SIGKILL (POSIX) is needed to kill the writer"
)

FIT_JSON = {
    "success": True,
    "message": "converged",
    "parameters": [
        {
            "key": "species.K.D_cm2_s",
            "case": None,
            "value": 2e-16,
            "stderr": 1e-17,
            "low": 1e-18,
            "high": 1e-14,
            "at_bound": False,
        }
    ],
    "correlation": [[1.0]],
    "chi2": 12.5,
    "reduced_chi2": 1.1,
    "n_points": 12,
    "n_simulations": 9,
    "wall_s": 1.0,
    "warnings": [],
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """A saved result and a saved fit, for the child processes to load and write again."""
    folder = tmp_path_factory.mktemp("sources")
    result = nppsim.simulate(nppsim.load_case(VALID_CASE))
    fit_path = folder / "fit.json"
    fit_path.write_text(json.dumps(FIT_JSON), encoding="utf-8")
    return {"result": result.save(folder / "result.h5"), "fit": fit_path}


#: writer -> (statement writing `target` from `source`, target file name)
WRITERS = {
    "result-h5": (
        "from nppsim.result import load_result; load_result(source).save(target)",
        "out.h5",
    ),
    "result-csv": (
        "from nppsim.result import load_result; load_result(source).save_csv(target)",
        "out.csv",
    ),
    "fit-json": ("from fitting.result import load_fit; load_fit(source).save(target)", "fit.json"),
    "fit-h5": ("from fitting.result import load_fit; load_fit(source).save(target)", "fit.h5"),
    "figure": (
        "import matplotlib; matplotlib.use('Agg')\n"
        "from nppsim.plot import plot_result; from nppsim.result import load_result\n"
        "plot_result(load_result(source), target)",
        "figure.png",
    ),
}
SOURCE_OF = {"result-h5": "result", "result-csv": "result", "figure": "result"}

# Hooks installed in the child before the writer runs. Each prints MIDWAY (flushed) where it
# blocks, then sleeps until it is killed.
HOOK_DATASET = """
import h5py, sys, time
_create = h5py.Group.create_dataset
_calls = [0]
def create_dataset(self, *args, **kwargs):
    out = _create(self, *args, **kwargs)
    _calls[0] += 1
    if _calls[0] == 3:
        self.file.flush()
        print("MIDWAY", flush=True)
        time.sleep(600)
    return out
h5py.Group.create_dataset = create_dataset
"""
HOOK_WRITE = """
import builtins, sys, time
import nppsim.fileio
class _Stall:
    def __init__(self, f):
        self._f = f
    def write(self, data):
        half = len(data) // 2
        self._f.write(data[:half])
        self._f.flush()
        print("MIDWAY", flush=True)
        time.sleep(600)
    def __getattr__(self, name):
        return getattr(self._f, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self._f.__exit__(*exc)
def _open(*args, **kwargs):
    return _Stall(builtins.open(*args, **kwargs))
nppsim.fileio.open = _open
"""
HOOK_RENAME = """
import time
import nppsim.fileio
_fsync = nppsim.fileio._fsync_path
def _fsync_then_stall(path):
    _fsync(path)
    print("MIDWAY", flush=True)
    time.sleep(600)
nppsim.fileio._fsync_path = _fsync_then_stall
"""

#: (writer, where it blocks, does the target exist before)
KILLS = [
    ("result-h5", "mid-write", True),
    ("result-h5", "before-rename", True),
    ("result-h5", "mid-write", False),
    ("result-csv", "mid-write", True),
    ("fit-json", "mid-write", True),
    ("fit-json", "before-rename", False),
    ("fit-h5", "mid-write", True),
    ("figure", "mid-write", True),
]


def _hook(writer: str, where: str) -> str:
    if where == "before-rename":
        return HOOK_RENAME
    return HOOK_DATASET if writer.endswith("h5") else HOOK_WRITE


def _leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != name)


def _wait_for_line(proc: subprocess.Popen, timeout_s: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not ready:
        return ""
    return proc.stdout.readline().decode().strip()


@pytest.mark.parametrize(("writer", "where", "existed"), KILLS)
def test_writer_killed_leaves_old_file_or_nothing(sources, tmp_path, writer, where, existed):
    statement, name = WRITERS[writer]
    source = sources[SOURCE_OF.get(writer, "fit")]
    target = tmp_path / name
    if existed:
        target.write_bytes(OLD)
    script = "\n".join(
        [
            _hook(writer, where),
            f"source = {str(source)!r}",
            f"target = {str(target)!r}",
            textwrap.dedent(statement),
            "print('FINISHED', flush=True)",
        ]
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        line = _wait_for_line(proc, REACH_TIMEOUT_S)
        if line != "MIDWAY":
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"the writer did not reach the hook ({line!r}): {err.decode()[-2000:]}")
        # the temporary file exists and holds part of the output
        temps = _leftovers(tmp_path, name)
        assert len(temps) == 1 and temps[0].startswith(f".{name}.tmp-"), temps
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    if existed:
        assert target.read_bytes() == OLD
    else:
        assert not target.exists()
    # the killed writer's temporary file stays (nobody can remove it), and nothing else
    stray = _leftovers(tmp_path, name)
    assert len(stray) == 1 and stray[0].startswith(f".{name}.tmp-"), stray

    # the next save works, replaces the target, and leaves the stray file alone
    _write_in_process(writer, source, target)
    _check_written(writer, target)
    assert _leftovers(tmp_path, name) == stray


def _write_in_process(writer: str, source: Path, target: Path) -> None:
    if writer == "result-h5":
        nppsim.load_result(source).save(target)
    elif writer == "result-csv":
        nppsim.load_result(source).save_csv(target)
    elif writer in ("fit-json", "fit-h5"):
        load_fit(source).save(target)
    else:
        plot_result(nppsim.load_result(source), target)


def _check_written(writer: str, target: Path) -> None:
    if writer == "result-h5":
        assert nppsim.load_result(target).completed
    elif writer == "result-csv":
        table = np.loadtxt(target, delimiter=",", skiprows=1)
        assert table.ndim == 2 and table.shape[1] == 3
    elif writer in ("fit-json", "fit-h5"):
        assert isinstance(load_fit(target), FitResult)
    else:
        assert target.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------- exceptions half-way


class Boom(Exception):
    """The failure injected into a writer."""


def _raise_on_third_dataset(monkeypatch) -> None:
    create = h5py.Group.create_dataset
    calls = [0]

    def create_dataset(self, *args, **kwargs):
        out = create(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == 3:
            raise Boom("injected in the middle of an HDF5 write")
        return out

    monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)


def _raise_on_write(monkeypatch) -> None:
    import builtins

    class Failing:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            self._f.write(data[: len(data) // 2])
            raise Boom("injected in the middle of a text or figure write")

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._f.__exit__(*exc)

    monkeypatch.setattr(
        nppsim.fileio, "open", lambda *a, **k: Failing(builtins.open(*a, **k)), raising=False
    )


def _raise_before_rename(monkeypatch) -> None:
    def fail(path):
        raise Boom("injected after the data, before the rename")

    monkeypatch.setattr(nppsim.fileio, "_fsync_path", fail)


@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("where", ["mid-write", "before-rename"])
def test_exception_half_way_keeps_old_file_and_removes_temp(
    sources, tmp_path, monkeypatch, writer, where
):
    _, name = WRITERS[writer]
    source = sources[SOURCE_OF.get(writer, "fit")]
    target = tmp_path / name
    target.write_bytes(OLD)
    if where == "before-rename":
        _raise_before_rename(monkeypatch)
    elif writer.endswith("h5"):
        _raise_on_third_dataset(monkeypatch)
    else:
        _raise_on_write(monkeypatch)
    with pytest.raises(Boom):
        _write_in_process(writer, source, target)
    assert target.read_bytes() == OLD
    assert _leftovers(tmp_path, name) == []
    monkeypatch.undo()
    _write_in_process(writer, source, target)
    _check_written(writer, target)
    assert _leftovers(tmp_path, name) == []
