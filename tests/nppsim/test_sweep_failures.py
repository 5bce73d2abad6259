"""A sweep keeps what it computed whatever goes wrong: a worker killed (out-of-memory killer),
an executor that stops taking points, an output that cannot be written. Each point ends "ok",
"failed" (with why) or "not run" (with why)."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import signal
import sys

import pytest

import nppsim
from nppsim.errors import InputError
from nppsim.sweep import STATUS_NOT_RUN, STATUS_OK, WORKER_DIED, load_sweep

FAST = {"solver.method": "electroneutral", "stage.1.duration_s": 4.0e3, "solver.n_output": 2}
TEMPERATURES_K = [330.0, 340.0, 350.0, 360.0]


@pytest.fixture(scope="module")
def case():
    c = nppsim.default_case().with_values(FAST)
    nppsim.simulate(c)  # compile here, so that forked workers inherit the kernels
    return c


def _kill_worker_at(monkeypatch, temperature_K: float, marker) -> None:
    """The worker simulating `temperature_K` kills itself with SIGKILL (as the out-of-memory
    killer would), once if `marker` is a path (created on the first kill), always if None."""
    simulate_module = sys.modules["nppsim.simulate"]
    real = simulate_module.simulate

    def killer(case_i, *, method=None, progress=False):
        if case_i.sample.temperature_K == temperature_K:
            if marker is None or not marker.exists():
                if marker is not None:
                    marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return real(case_i, method=method, progress=progress)

    monkeypatch.setattr(simulate_module, "simulate", killer)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_killed_worker_points_run_again_on_a_fresh_pool(case, monkeypatch, tmp_path, caplog):
    """One worker killed once: the points it took down run again; every point ends ok."""
    _kill_worker_at(monkeypatch, 340.0, tmp_path / "killed-once")
    with caplog.at_level(logging.WARNING, logger="nppsim.sweep"):
        sw = nppsim.sweep(case, {"sample.temperature_K": TEMPERATURES_K}, workers=2)
    assert (tmp_path / "killed-once").exists()
    assert sw.status == (STATUS_OK,) * 4, sw.messages
    assert "worker process died" in caplog.text


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_worker_killed_every_time_marks_its_points_not_run(case, monkeypatch, tmp_path):
    """A point that kills its worker on every try ends "not run" with the reason, never
    "failed" with BrokenProcessPool; the file records it."""
    _kill_worker_at(monkeypatch, 340.0, None)
    out = tmp_path / "sweep.h5"
    sw = nppsim.sweep(case, {"sample.temperature_K": TEMPERATURES_K}, workers=1, output=out)
    assert sw.status[1] == STATUS_NOT_RUN
    assert sw.messages[1].startswith(WORKER_DIED)
    assert "failed" not in sw.status
    saved = load_sweep(out)
    assert saved.status == sw.status and saved.messages == sw.messages


class _RefusingExecutor(cf.ThreadPoolExecutor):
    """Takes `accept` points, then submit() raises (a cluster that goes away)."""

    def __init__(self, accept: int) -> None:
        super().__init__(1)
        self.accept = accept

    def submit(self, *args, **kwargs):
        if self.accept == 0:
            raise RuntimeError("scheduler connection lost")
        self.accept -= 1
        return super().submit(*args, **kwargs)


def test_submit_raising_part_way_keeps_the_finished_points_and_writes_the_file(case, tmp_path):
    out = tmp_path / "sweep.h5"
    with _RefusingExecutor(accept=2) as pool:
        sw = nppsim.sweep(case, {"sample.temperature_K": TEMPERATURES_K}, executor=pool, output=out)
    assert sw.status == (STATUS_OK, STATUS_OK, STATUS_NOT_RUN, STATUS_NOT_RUN)
    assert "could not be submitted (RuntimeError: scheduler connection lost)" in sw.messages[2]
    saved = load_sweep(out)
    assert saved.status == sw.status and saved.n_ok == 2


class _CountingExecutor(cf.ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return super().submit(*args, **kwargs)


def test_output_that_cannot_be_written_is_refused_before_any_point_runs(case, tmp_path):
    with _CountingExecutor() as pool:
        for bad in (tmp_path, tmp_path / "missing" / "s.h5"):
            with pytest.raises(InputError, match="cannot write the sweep file"):
                nppsim.sweep(case, {"sample.temperature_K": [330.0]}, executor=pool, output=bad)
    assert pool.submitted == 0


def test_sweep_parameters_are_read_only(case):
    with cf.ThreadPoolExecutor(1) as pool:
        sw = nppsim.sweep(case, {"sample.temperature_K": [330.0]}, executor=pool)
    with pytest.raises(ValueError, match="read-only"):
        sw.values("sample.temperature_K")[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        sw.results[0].final_fraction("K")[:] = 0.0
