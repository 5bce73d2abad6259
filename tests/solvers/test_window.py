"""The active window of the full NPP solver (solvers.kernels.advance): the steps solve only the
cells the profiles have reached plus a margin, the pristine bulk beyond them in closed form (no
charge, a linear potential to the grounded back, drift in its uniform field). Checked against
the same runs on the whole grid (`solve(..., active_window=False)`): profiles, potentials,
front records and forward sensitivities; the potential beyond the window; where the window
must not be used; and its growth rule."""

from __future__ import annotations

import numpy as np
import pytest

import nppsim
from nppsim.simulate import _perturbed_problems, problem_from_case
from solvers import kernels as K
from solvers import npp

#: lbo_k for 2000 s at a tight tolerance (the front ~40 nm deep: a window of ~100 of 1421 cells)
SHORT = {"stage.1.duration_s": 2000.0, "solver.rtol": 1e-6, "solver.atol": 1e-10}


def _pair(case, **kw):
    problem = problem_from_case(case)
    return npp.solve(problem, **kw), npp.solve(problem, active_window=False, **kw)


def _assert_same_run(win, full, frac_atol, rel=1e-7):
    """The same stored profiles within frac_atol (fractions of n_bulk) and 10 frac_atol V; the
    same front current within `rel` of its largest value: the two runs solve different linear
    systems, so their Newton iterates differ within Newton's tolerance (1e-2 of the error
    weights), which may also move a step decision."""
    assert win.completed and full.completed
    np.testing.assert_array_equal(win.times_s, full.times_s)
    np.testing.assert_allclose(win.fractions, full.fractions, rtol=0, atol=frac_atol)
    np.testing.assert_allclose(win.potential_V, full.potential_V, rtol=0, atol=10.0 * frac_atol)
    cur_w = np.interp(full.front_time_s, win.front_time_s, win.front_current_A_cm2)
    cur = full.front_current_A_cm2
    np.testing.assert_allclose(cur_w, cur, rtol=0, atol=rel * np.abs(cur).max())


def test_window_reproduces_the_whole_grid_potentiostatic():
    """lbo_k, 2000 s: profiles within 1e-10 of n_bulk, potentials within 1e-9 V, front current
    within 1e-7 of its largest value, on a window of under 15 % of the cells; the same steps."""
    case = nppsim.default_case().with_values(SHORT)
    win, full = _pair(case)
    _assert_same_run(win, full, 1e-10)
    assert win.diagnostics["steps"] == full.diagnostics["steps"]
    dg = win.diagnostics
    assert full.diagnostics["active_cells"] == full.diagnostics["n_cells"]
    assert dg["active_cells"] < 0.15 * dg["n_cells"]
    assert dg["mean_active_cells"] < dg["active_cells"]


@pytest.mark.parametrize("stages", [1, 2])
def test_window_reproduces_the_whole_grid_galvanostatic_and_three_species(stages):
    """Under current control (the bordered Newton system) and with three species over two
    stages (lbo_cs_at_rb: Rb+ then Cs+, a stage-start D(c) reference): the same run as on the
    whole grid within the error control's reach, rtol 1e-6 (measured: 1e-14 potentiostatic
    with the same steps; 2.7e-7 for lbo_cs_at_rb, whose runs take 826 and 828 steps, a
    difference that scales with rtol: 4e-12 at 1e-4 with the same steps, 2e-9 at 1e-8)."""
    if stages == 1:
        case = nppsim.default_case().with_values(
            {**SHORT, "stage.1.potential_V": None, "stage.1.current_density_A_cm2": 1e-7}
        )
    else:
        case = nppsim.load_case("cases/lbo_cs_at_rb.toml").with_values(
            {"stage.1.duration_s": 500.0, "stage.2.duration_s": 500.0, "solver.rtol": 1e-6,
             "solver.atol": 1e-10}
        )  # fmt: skip
    win, full = _pair(case)
    # the front currents compared by interpolation between the step times (which differ)
    _assert_same_run(win, full, 1e-6, rel=1e-5)
    assert win.diagnostics["active_cells"] < win.diagnostics["n_cells"]


def test_sensitivities_on_the_window_equal_those_on_the_whole_grid():
    """Forward sensitivities (an SED width, a constant D, the front potential) integrated on
    the window equal those on the whole grid within 1e-7 of their largest value, and beyond the
    window the fractions' sensitivities are 0 (the pristine bulk does not depend on them)."""
    case = nppsim.default_case().with_values(SHORT)
    keys = ["species.Li.sed.fwhm_eV", "species.K.D_cm2_s", "stage.1.potential_V"]
    sens = _perturbed_problems(case, keys)
    win, full = _pair(case, sensitivities=sens)
    _assert_same_run(win, full, 1e-10)
    for q in range(len(keys)):
        a, b = win.sensitivities[:, q], full.sensitivities[:, q]
        scale = np.abs(b).max()
        assert scale > 0.0
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7 * scale)
    n_act = win.diagnostics["active_cells"]
    np.testing.assert_array_equal(win.sensitivities[-1, :, :, n_act:], 0.0)


def test_potential_beyond_the_window_is_the_bulk_ohmic_drop():
    """Beyond the window the stored potential falls linearly from the window's last cell to 0
    at the back, psi(x) = psi_last (L - x) / (L - x_last), at every stored time; the fractions
    there are the pristine ones."""
    case = nppsim.default_case().with_values(SHORT)
    sol = npp.solve(problem_from_case(case))
    n_act = sol.diagnostics["active_cells"]
    x = sol.x_centers_nm
    L = sol.x_faces_nm[-1]
    for j in range(1, len(sol.times_s)):
        pot = sol.potential_V[j]
        expect = pot[n_act - 1] * (L - x[n_act:]) / (L - x[n_act - 1])
        np.testing.assert_allclose(pot[n_act:], expect, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(sol.fractions[-1, 0, n_act:], 1.0)
    np.testing.assert_array_equal(sol.fractions[-1, 1, n_act:], 0.0)


def test_no_window_where_the_bulk_is_not_pristine():
    """A blocking back (its accumulation layer is not bulk) or back fractions that are not
    neutral against the fixed charge: no window (`window_arrays` None), every cell solved."""
    case = nppsim.default_case()
    problem = problem_from_case(case)
    ka = npp.kernel_arrays(problem)
    c_bulk, tol = npp.window_arrays(problem, ka)
    np.testing.assert_array_equal(c_bulk, [1.0, 0.0])
    np.testing.assert_allclose(tol, K.WINDOW_TOL_REL * (problem.atol + problem.rtol * c_bulk))
    ka.back_kind[0] = 1  # blocking
    assert npp.window_arrays(problem, ka) is None
    ka = npp.kernel_arrays(problem)
    ka.back_c[0] = 0.9  # a reservoir below the pristine fraction
    assert npp.window_arrays(problem, ka) is None
    blocked = problem_from_case(
        case.with_values({"species.Li.back": "blocking", "stage.1.duration_s": 10.0})
    )
    dg = npp.solve(blocked).diagnostics
    assert dg["active_cells"] == dg["n_cells"] == dg["mean_active_cells"]


def test_window_rule():
    """window_size keeps the window while its last WINDOW_MARGIN cells are pristine and grows it
    to 2 WINDOW_MARGIN beyond the last non-pristine cell (at most every cell);
    initial_window: the same from a state."""
    m = K.WINDOW_MARGIN
    n_cells, ns = 200, 2
    c_bulk = np.array([1.0, 0.0])
    tol = np.array([1e-10, 1e-14])
    y = np.zeros(n_cells * 3)
    y[0::3] = 1.0
    assert npp.initial_window(y, ns, c_bulk, tol) == 2 * m
    y[1 + 3 * 9] = 1e-13  # K beyond its tolerance in cell 9
    assert npp.initial_window(y, ns, c_bulk, tol) == 10 + 2 * m
    assert K.window_size(y, 10 + m, n_cells, ns, c_bulk, tol) == 10 + m  # 12 pristine beyond
    assert K.window_size(y, 10 + m - 1, n_cells, ns, c_bulk, tol) == 10 + 2 * m
    y[0 + 3 * 190] = 1.0 - 2e-10  # Li beyond its tolerance near the end
    assert K.window_size(y, 195, n_cells, ns, c_bulk, tol) == n_cells
    y[0 + 3 * 190] = 1.0 - 0.5e-10  # within it
    assert K.window_size(y, 195, n_cells, ns, c_bulk, tol) == 195


def test_newton_retries_on_the_window(monkeypatch):
    """The retry after a failed Newton iteration (the banded LU from the last accepted state)
    on the window: with one Newton iteration allowed per attempt (the loop run as Python,
    `advance.py_func`), the window run and the whole-grid run fail and retry the same steps and
    end at the same profiles (measured 1.5e-19), the window run's retries its only banded LU
    iterations."""
    case = nppsim.default_case().with_values(
        {"stage.1.duration_s": 0.01, "grid.fine_depth_nm": 100.0, "grid.fine_spacing_nm": 2.0,
         "grid.growth": 1.25, "solver.rtol": 1e-6, "solver.atol": 1e-10}
    )  # fmt: skip
    monkeypatch.setattr(K, "advance", K.advance.py_func)
    monkeypatch.setattr(K, "NEWTON_MAXITER", 1)
    win, full = _pair(case)
    assert win.diagnostics["newton_failures"] > 5
    assert win.diagnostics["active_cells"] < win.diagnostics["n_cells"]
    for key in ("steps", "newton_failures"):
        assert win.diagnostics[key] == full.diagnostics[key], key
    # every banded iteration of the window run is a retry (the whole grid's also include the
    # deep cells' ill-conditioned blocks of the first microseconds, which the window never meets)
    assert win.diagnostics["banded_iterations"] == win.diagnostics["newton_failures"]
    np.testing.assert_allclose(win.fractions, full.fractions, rtol=0, atol=1e-14)
