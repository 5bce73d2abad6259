"""The three-species block elimination (`newton_system_3`, `block_solve_3`) solves the Newton
system of `assemble` (against numpy / LAPACK on random and real states), flags ill-conditioned
blocks, and a whole three-species run through it equals one through the banded LU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kernels import SEEDS, _dense, _random_state

import nppsim
from nppsim.simulate import problem_from_case
from solvers import kernels as K
from solvers import kernels_numpy as KN
from solvers import npp

CASE = Path(__file__).resolve().parents[2] / "cases" / "lbo_cs_at_rb.toml"


def _newton_system_3(a, bordered=True):
    """newton_system_3 on the state `a` (three species): (ok, res, dy, zcol, jac_front)."""
    n = a["y"].size
    n_cells = n // 4
    dval, dder = np.zeros((3, n_cells)), np.zeros((3, n_cells))
    c_seen = np.full((3, n_cells), np.nan)
    faces = [np.zeros((3, n_cells + 1)) for _ in range(4)]
    res, dy, zcol, jf = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(6)
    xblk = np.zeros((n_cells, 16))
    ok = K.newton_system_3(*a.values(), dval, dder, c_seen, *faces, res, dy, jf, bordered, zcol,
                           xblk)  # fmt: skip
    return ok, res, dy, zcol, jf


def _band_matrix(ab, kl, ku):
    """The banded matrix of `ab` (transposed gbtrf layout) as a sparse CSR matrix."""
    n = ab.shape[0]
    rows, cols, vals = [], [], []
    for off in range(-ku, kl + 1):  # row - col
        col = np.arange(max(0, -off), min(n, n - off))
        rows.append(col + off)
        cols.append(col)
        vals.append(ab[col, kl + ku + off])
    rows, cols, vals = (np.concatenate(v) for v in (rows, cols, vals))
    return scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))


def _check(a, ok, res, dy, zcol, jf, bordered, backward_max, forward_max=None):
    """Against the numpy twin of `assemble`: the front Jacobian; where the block path solved
    (ok), the residual and dy = -J^-1 res and zcol = J^-1 d res/d psi_front with a normwise backward
    error below backward_max, and equal to LAPACK's pivoted band solution within forward_max
    (relative, max norm; None: 10 x the condition number times the backward error measured,
    the random states being near singular at times)."""
    res2, ab2, dru2, jf2 = KN.assemble(*a.values())
    np.testing.assert_allclose(jf, jf2, rtol=1e-12, atol=1e-12 * max(np.abs(jf2).max(), 1e-300))
    if not ok:
        return  # the sweep stopped at the flagged cell: res is not complete
    kl, ku = K.band_widths(3)
    jac = _band_matrix(ab2, kl, ku)
    terms = abs(jac) @ np.abs(a["y"]) + np.abs(a["hist"]) + a["cfix"]
    assert np.all(np.abs(res - res2) <= 1e-13 * terms)
    e = np.zeros(res.size)
    e[:4] = dru2
    for x, b in [(dy, -res2)] + ([(zcol, e)] if bordered else []):
        scale = np.max(abs(jac) @ np.abs(x) + np.abs(b))
        backward = np.max(np.abs(jac @ x - b)) / scale
        assert backward <= backward_max, backward
        x_ref = KN.banded_solve(ab2, kl, ku, b)
        err = np.max(np.abs(x - x_ref)) / np.max(np.abs(x_ref))
        bound = forward_max
        if bound is None:
            # forward error <~ condition number x backward error (of both solvers)
            cond = np.linalg.cond(_dense(ab2, kl, ku))
            if cond * max(backward, 1e-16) >= 1e-3:
                continue  # near singular: no two solvers agree
            bound = 10 * cond * max(backward, 1e-16)
        assert err <= bound, (err, bound)


@settings(max_examples=30, deadline=None)
@given(st.integers(-(2**62), 2**62))
def test_adjugate4_is_the_inverse(seed):
    """_adjugate4 / det is the inverse of a random 4 x 4 matrix and det its determinant
    (relative to the condition number), and its flag is det / (product of the row 1-norms)
    above BLOCK_DET_MIN."""
    rng = np.random.default_rng(abs(seed))
    m = rng.normal(size=(4, 4)) * 10 ** rng.uniform(-6, 6, (4, 1))  # badly scaled rows
    *adj, det, ok = K._adjugate4(*m.ravel())
    cond = np.linalg.cond(m)
    np.testing.assert_allclose(det, np.linalg.det(m), rtol=1e-13 * cond)
    inv = np.linalg.inv(m)
    assert np.max(np.abs(np.reshape(adj, (4, 4)) / det - inv)) <= 1e-13 * cond * np.abs(inv).max()
    ratio = abs(np.linalg.det(m)) / np.prod(np.abs(m).sum(axis=1))
    if abs(ratio / K.BLOCK_DET_MIN - 1.0) > 1e-6:
        assert ok == (ratio > K.BLOCK_DET_MIN)


@settings(max_examples=60, deadline=None)
@given(SEEDS, st.booleans())
def test_three_species_block_elimination_equals_the_banded_system(seed, bordered):
    """newton_system_3 returns the residual and front Jacobian of the numpy twin of
    `assemble`, and where it solves, dy = -J^-1 res and zcol = J^-1 d res/d psi_front with a
    normwise backward error below 1e-10, and equal to the pivoted band solution within 10 x
    the condition number times that (random states of three species of random charges, D(c)
    tables of both kinds, an immobile fraction, every boundary kind; dt from 1e-9 to 1e3 s).
    Over 1500 such states (seeds 0-1499): 5 flagged, backward errors median 7.5e-17, 99.9 %
    below 5e-15, at most 3.6e-14 (the bound leaves room: ~eps / BLOCK_DET_MIN is possible)."""
    a = _random_state(seed, n_species=3)
    _check(a, *_newton_system_3(a, bordered), bordered=bordered, backward_max=1e-10)


def _three_species_state(dt, stage_s=(200.0, 200.0)):
    """Kernel arguments (three species, 1221 cells) at the end of lbo_cs_at_rb run for
    stage_s (s) per stage: the Cs+ stage's source, potential and stage-start Rb+ reference."""
    case = nppsim.load_case(CASE).with_values(
        {"stage.1.duration_s": stage_s[0], "stage.2.duration_s": stage_s[1]}
    )
    problem = problem_from_case(case)
    sol = npp.solve(problem)
    ka = npp.kernel_arrays(problem)
    y = np.array(sol.state, dtype=float)
    n_cells = y.size // 4
    start = sol.fractions[sol.stage_end_index[0]]  # the fractions at the start of stage 2
    cref = np.ones((3, n_cells))
    for i in range(3):
        if ka.kind[i] == K.KIND_CELL_REFERENCE:
            cref[i] = np.where(start[i] < K.CREF_ABSENT, 0.0, start[i])
    stage = problem.stages[-1]
    hist = -y.copy()
    hist[3::4] = 0.0
    return dict(
        y=y, hist=hist, a0=1.0, dt=dt, psi_front=stage.value_at(0.0) / ka.thermal_voltage_V,
        h=ka.h, d=ka.d, lam2=ka.lam2, z=ka.z, cfix=ka.cfix, src=int(stage.source),
        c_src=stage.surface_fraction, back_kind=ka.back_kind, back_c=ka.back_c, kind=ka.kind,
        d_const=ka.d_const, u0=ka.u0, du=ka.du, logd=ka.logd, slope=ka.slope, n_lo=ka.n_lo,
        cref=cref, c_imm=ka.c_imm,
    )  # fmt: skip


@pytest.fixture(scope="module", params=[(200.0, 200.0), (1.25e4, 2.2e4)], ids=["400s", "final"])
def real_state(request):
    return _three_species_state(1.0, request.param)


def _refined(jac, ab, kl, ku, b):
    """The solution of jac x = b to working precision of x: LAPACK's pivoted band solution
    refined four times with residuals in extended precision (numpy longdouble)."""
    coo = jac.tocoo()
    data = coo.data.astype(np.longdouble)
    x = KN.banded_solve(ab, kl, ku, b).astype(np.longdouble)
    for _ in range(4):
        r = b.astype(np.longdouble)
        np.subtract.at(r, coo.row, data * x[coo.col])
        x += KN.banded_solve(ab, kl, ku, np.asarray(r, dtype=float))
    return np.asarray(x, dtype=float)


@pytest.mark.parametrize("dt", [1e-9, 1e-3, 1e-2, 1.0, 1e2, 1e4])
def test_three_species_block_elimination_on_a_real_profile(real_state, dt):
    """On lbo_cs_at_rb profiles (after 200 s of each stage, and the shipped run's final one;
    Rb+ and Cs+ in the sample, 1221 cells of 0.5 nm to 25 um) the block elimination solves the
    step sizes the run takes (dt >= 1e-2 s) with a normwise backward error below 1e-11 / dt
    (no pivoting across cells: it grows as 1 / dt from ~1e-16 at 1e4 s, measured 2.7e-12 at
    1 s on the final profile; LAPACK's pivoted band LU 1e-16), and dy, zcol within 1e-8 of the
    exact solution (extended-precision refinement). The Jacobian's conditioning makes that
    the attainable accuracy: measured 4e-11 to 2e-9 for the block elimination and 2e-11 to
    1.8e-9 for LAPACK. At dt <= 1e-3 s the deep cells' blocks are flagged (det / row norms
    below BLOCK_DET_MIN) and the caller takes the banded LU."""
    a = dict(real_state, dt=dt)
    res2, ab2, dru2, _ = KN.assemble(*a.values())
    kl, ku = K.band_widths(3)
    jac = _band_matrix(ab2, kl, ku)
    e = np.zeros(res2.size)
    e[:4] = dru2
    ok, res, dy, zcol, jf = _newton_system_3(a, True)
    assert ok == (dt >= 1e-2)
    _check(a, ok, res, dy, zcol, jf, bordered=True, backward_max=max(1e-11 / dt, 1e-15),
           forward_max=1e-8)  # fmt: skip
    if ok:
        for x, b in ((dy, -res2), (zcol, e)):
            exact = _refined(jac, ab2, kl, ku, b)
            assert np.max(np.abs(x - exact)) <= 1e-8 * np.max(np.abs(exact))
    # without the bordered column: the same dy
    ok2, _, dy2, _, _ = _newton_system_3(a, False)
    assert ok2 == ok and (not ok or np.array_equal(dy2, dy))


def test_ill_conditioned_or_not_finite_blocks_are_flagged(real_state):
    """A block that is singular to working precision (its potential column vanishing: with
    lam2 and dt -> 0 the Poisson row holds only the charges of the fractions and a species row
    only its own fraction) or not finite (a NaN fraction) returns False, so that the caller
    solves the iteration with the banded LU; row scaling alone is not flagged (the test is
    relative to the row norms)."""
    assert not _newton_system_3(dict(real_state, dt=1e-12, lam2=1e-20))[0]
    assert _newton_system_3(dict(real_state, dt=1e-2, a0=1e-14))[0]
    y = real_state["y"].copy()
    y[4 * 200] = np.nan
    assert not _newton_system_3(dict(real_state, y=y))[0]
    assert _newton_system_3(real_state)[0]


def _small_case(galvanostatic, stage_s=30.0):
    """lbo_cs_at_rb on a coarse grid (99 cells), stage_s (s) per stage; the Cs+ stage under a
    constant current if galvanostatic (the bordered Newton system)."""
    values = {
        "stage.1.duration_s": stage_s, "stage.2.duration_s": stage_s,
        "grid.fine_depth_nm": 100.0, "grid.fine_spacing_nm": 2.0, "grid.growth": 1.25,
    }  # fmt: skip
    case = nppsim.load_case(CASE).with_values(values)
    if galvanostatic:
        case = case.with_values({"stage.2.current_density_A_cm2": 2e-6})
    return problem_from_case(case)


@pytest.mark.parametrize("galvanostatic", [False, True])
def test_three_species_run_equals_the_banded_run(monkeypatch, galvanostatic):
    """A whole three-species run (Rb+ then Cs+, both D(c) kinds, a stage-start reference;
    potentiostatic, or galvanostatic in stage 2) through the block elimination gives the
    profiles, front records and step counts of the same run through the banded LU with
    partial pivoting (the time loop run as Python, `advance.py_func`, with the block path
    switched off in one of the two runs), within 1e-8 (the front potential under current
    control within 1e-7, a tenth of Newton's tolerance for it). Without the active window the
    compiled loop takes the banded LU only in the first iterations of each stage (dt <= ~1e-4
    s, where the deep cells' blocks are ill-conditioned): no more often in a run ten times
    longer; with it (the default), those deep cells are not solved and it takes the banded LU
    no more often."""
    problem = _small_case(galvanostatic)
    full = npp.solve(problem, active_window=False).diagnostics
    longer = npp.solve(_small_case(galvanostatic, stage_s=300.0), active_window=False).diagnostics
    assert longer["newton_iterations"] > full["newton_iterations"]
    assert 0 < full["banded_iterations"] < full["newton_iterations"]
    assert longer["banded_iterations"] <= full["banded_iterations"] + 10
    compiled = npp.solve(problem)
    diag = compiled.diagnostics
    assert diag["active_cells"] < diag["n_cells"]
    assert diag["banded_iterations"] <= full["banded_iterations"]
    monkeypatch.setattr(npp.K, "advance", K.advance.py_func)
    block = npp.solve(problem)
    monkeypatch.setattr(K, "newton_system_3", lambda *args: False)
    banded = npp.solve(problem)
    assert banded.diagnostics["banded_iterations"] == banded.diagnostics["newton_iterations"]
    assert block.diagnostics["banded_iterations"] == diag["banded_iterations"]
    for sol in (compiled, block):
        for key in ("steps", "rejected_steps", "newton_iterations"):
            assert sol.diagnostics[key] == banded.diagnostics[key], key
        np.testing.assert_array_equal(sol.times_s, banded.times_s)
        np.testing.assert_allclose(sol.fractions, banded.fractions, rtol=0, atol=1e-8)
        np.testing.assert_allclose(sol.potential_V, banded.potential_V, rtol=0, atol=1e-8)
        # the front potential under current control is a Newton iterate whose update stops
        # below NEWTON_PSI_TOL = 1e-6 of it: two linear solvers may differ by ~1e-8 there
        np.testing.assert_allclose(sol.front_potential_V, banded.front_potential_V, rtol=1e-7)
        current = banded.front_current_A_cm2
        np.testing.assert_allclose(
            sol.front_current_A_cm2, current, rtol=1e-8, atol=1e-8 * np.abs(current).max()
        )
