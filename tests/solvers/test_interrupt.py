"""Signals in the time loops: slicing a run into short calls of the compiled loop changes
nothing, and the deferral helpers act on SIGINT and SIGTERM at the right moment."""

from __future__ import annotations

import signal

import numpy as np
import pytest

import nppsim
from nppsim.simulate import problem_from_case
from solvers import electroneutral, npp
from solvers.interrupt import (
    DeferredInterrupt,
    StepBudget,
    Terminated,
    clear_received,
    deferred_signals,
    handle_stop_signals,
    signals_received,
)


def _problem(n_output: int):
    case = nppsim.case.default_case().with_values(
        {"stage.1.duration_s": 2000.0, "solver.n_output": n_output}
    )
    return problem_from_case(case)


def _same(a, b) -> None:
    """Bit-identical solutions: every array equal element by element (NaN-free)."""
    for name in ("times_s", "fractions", "potential_V", "front_time_s", "front_current_A_cm2",
                 "front_potential_V", "front_charge_C_cm2"):  # fmt: skip
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        assert np.array_equal(x, y), name
    assert a.diagnostics["steps"] == b.diagnostics["steps"]
    assert a.diagnostics["rejected_steps"] == b.diagnostics["rejected_steps"]


@pytest.mark.parametrize("solver", [npp, electroneutral])
def test_calls_of_any_length_give_bit_identical_results(solver):
    """The compiled loop resumes exactly where it stopped: one step per call, 7 per call and
    the wall-time budget give the same steps and the same profiles, bit for bit (a single
    output time: without the budget the loop would run uninterrupted to the end)."""
    pr = _problem(n_output=1)
    ref = solver.solve(pr)
    assert ref.completed and ref.diagnostics["steps"] > 20
    for per_call in (1, 7):
        _same(solver.solve(pr, steps_per_call=per_call), ref)
    _same(solver.solve(pr), solver.solve(pr, steps_per_call=None))


def test_step_budget_aims_at_the_wall_slice(monkeypatch):
    """The budget of a call is WALL_SLICE_S over the last call's time per step, in [1, limit]."""
    import solvers.interrupt as itr

    clock = iter([0.0, 1.0, 1.0, 1.5, 1.5, 2.0])
    monkeypatch.setattr(itr.time, "perf_counter", lambda: next(clock))
    b = StepBudget(limit=4096)
    assert b.next() == itr.FIRST_CALL_STEPS  # t = 0
    b.done(10)  # 10 steps in 1 s: 0.1 s per step
    assert b.next() == int(itr.WALL_SLICE_S / 0.1)  # t = 1
    b.done(1000)  # 1000 steps in 0.5 s
    assert b.next() == 500  # t = 1.5, budget 0.25 / 5e-4
    assert StepBudget(limit=3, fixed=10).next() == 3


def test_deferred_signals_deliver_after_the_block():
    """Inside the block SIGINT is only held; it raises KeyboardInterrupt once the block ends."""
    events = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_signals():
            signal.raise_signal(signal.SIGINT)
            events.append("still running")
    assert events == ["still running"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_raises_terminated_and_is_recorded():
    """Under handle_stop_signals SIGTERM raises Terminated (a KeyboardInterrupt) and is
    recorded; the handlers in place before are restored afterwards."""
    before = signal.getsignal(signal.SIGTERM)
    clear_received()
    with pytest.raises(Terminated), handle_stop_signals():
        signal.raise_signal(signal.SIGTERM)
    assert signal.SIGTERM in signals_received()
    assert signal.getsignal(signal.SIGTERM) is before
    clear_received()


def test_deferred_interrupt_holds_sigterm_until_the_safe_point():
    with handle_stop_signals():
        guard = DeferredInterrupt()
        try:
            signal.raise_signal(signal.SIGTERM)
            assert guard.requested == signal.SIGTERM
            with pytest.raises(Terminated):
                guard.raise_if_requested()
        finally:
            guard.restore()
    clear_received()


def test_sigterm_mid_run_keeps_the_partial_solution():
    """SIGTERM arriving during a run (here from the progress callback) stops it like Ctrl-C:
    the solution up to the next return of the compiled loop is kept, not completed, and the
    message names SIGTERM."""
    pr = _problem(n_output=10)

    def progress(t_s, t_end_s):
        if t_s >= 600.0:
            signal.raise_signal(signal.SIGTERM)

    with handle_stop_signals():
        sol = npp.solve(pr, progress=progress, steps_per_call=4)
    clear_received()
    assert not sol.completed and sol.diagnostics["interrupted"]
    assert "interrupted by SIGTERM at t = " in sol.message
    # acted on at the next safe point: after the next call of the compiled loop (4 steps on)
    assert 600.0 <= sol.times_s[-1] < 2000.0
    assert sol.front_time_s[-1] == sol.times_s[-1]
    assert np.count_nonzero(sol.front_time_s > 600.0) <= 8


def test_a_signal_started_ignored_stays_ignored():
    """A background job of a shell script starts with SIGINT ignored: nppsim leaves it so."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with handle_stop_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)  # nothing happens
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
