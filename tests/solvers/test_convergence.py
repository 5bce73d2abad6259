"""Observed convergence orders (MODEL.md section 8, item 6), as scikit-fem does it: the slope of
log(error) against log(step) from np.polyfit, compared with the expected order.

Both tests use the realistic case (Li SED 250 meV: D_Li varies by 4 decades across the front),
so they also demonstrate the face-diffusivity choice (arithmetic mean of the nodal D).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import nppsim
from nppsim.simulate import problem_from_case
from solvers import electroneutral, npp


def _case(**values):
    return nppsim.default_case().with_values(values)


#: fixed-order runs: step counts over SPAN_S per order (errors between ~1e-4 and ~1e-8, above
#: the ~1e-10 of the tight reference and of the starting history)
ORDER_STEPS = {1: (20, 40, 80), 2: (10, 20, 40), 3: (8, 16, 32), 4: (8, 16, 32), 5: (8, 16, 32)}
SPAN_S = 200.0
T0_S = 150.0


@pytest.fixture(scope="module", params=["npp", "electroneutral"])
def smooth_run(request):
    """The realistic case on a coarse grid from t = 150 s (past the initial transient), for
    either solver: the solver, the problem, tight-tolerance states at the history times
    T0 - j dt of every fixed-order run (the solver's own state layout), and the tight reference
    at T0 + SPAN_S."""
    method = request.param
    solver = npp if method == "npp" else electroneutral
    pr = problem_from_case(
        _case(**{"grid.fine_spacing_nm": 1.0, "grid.fine_depth_nm": 200.0,
                 "stage.1.duration_s": T0_S + SPAN_S, "solver.rtol": 1e-10,
                 "solver.atol": 1e-14})
    )  # fmt: skip
    times = sorted(
        {T0_S - j * SPAN_S / n for steps in ORDER_STEPS.values() for n in steps for j in range(6)}
        | {T0_S + SPAN_S}
    )
    tight = solver.solve(dataclasses.replace(pr, output_times_s=tuple(times)))
    assert tight.completed, tight.message
    nb = tight.fractions.shape[1] + 1
    states = {}
    for k, t in enumerate(tight.times_s):
        if method == "electroneutral":
            y = tight.fractions[k, 1].copy()  # the foreign (K) fraction per cell
        else:
            y = np.empty(tight.fractions.shape[2] * nb)
            for i in range(nb - 1):
                y[i::nb] = tight.fractions[k, i]
            y[nb - 1 :: nb] = tight.potential_V[k] / npp.kernel_arrays(pr).thermal_voltage_V
        states[round(float(t), 9)] = y
    return solver, pr, states, tight.fractions[-1]


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_time_order_of_fixed_order_bdf(smooth_run, order):
    """Each order of the variable-order BDF at fixed steps, in both solvers, started from exact
    history at t = 150 s and run over 200 s: the error against a tight reference falls as
    dt^order (observed order >= order - 0.25; npp measured 0.99, 2.00, 3.06, 4.26, 5.70)."""
    solver, pr, states, reference = smooth_run

    def fixed(n_steps):
        dt = SPAN_S / n_steps
        stage = dataclasses.replace(pr.stages[0], duration_s=SPAN_S)
        p = dataclasses.replace(
            pr, stages=(stage,), dt_initial_s=dt, max_order=order, error_control=False,
            output_times_s=tuple(np.arange(1, n_steps + 1) * dt),
        )  # fmt: skip
        history = np.array([states[round(T0_S - j * dt, 9)] for j in range(order + 1)])
        sol = solver.solve(p, initial=history[0], history=history)
        assert sol.completed, sol.message
        assert sol.diagnostics["steps"] == n_steps
        assert sol.diagnostics["steps_per_order"][order - 1] == n_steps
        return sol.fractions[-1]

    steps = np.array(ORDER_STEPS[order])
    errors = [np.max(np.abs(fixed(n) - reference)) for n in steps]
    observed = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    print(f"order {order}: observed {observed:.3f}", errors)
    assert observed >= order - 0.25, (observed, errors)


def test_space_order_is_two_on_sed_front():
    """Nested uniform grids (4, 2, 1 nm) over the profile, tight time tolerance: the cell
    averages converge to those of a 0.25 nm run as h^2 (observed order >= 1.8)."""
    depth = 160.0

    def run(h):
        case = _case(**{"grid.fine_spacing_nm": h, "grid.fine_depth_nm": depth,
                        "stage.1.duration_s": 1000.0, "solver.rtol": 1e-6,
                        "solver.atol": 1e-10, "solver.n_output": 1})  # fmt: skip
        sol = npp.solve(problem_from_case(case))
        assert sol.completed, sol.message
        return sol.fractions[-1][:, : round(depth / h)]

    h_ref = 0.25
    reference = run(h_ref)
    spacings = np.array([4.0, 2.0, 1.0])
    errors = []
    for h in spacings:
        r = round(h / h_ref)
        averaged = reference.reshape(reference.shape[0], -1, r).mean(axis=2)
        errors.append(np.max(np.abs(run(h) - averaged)))
    order = np.polyfit(np.log(spacings), np.log(errors), 1)[0]
    print(f"space order {order:.3f}", errors)
    assert order >= 1.8, (order, errors)  # measured: 1.96
