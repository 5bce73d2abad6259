"""The compiled kernels agree with their numpy twins (1e-12 relative on random states)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import sed
from solvers import kernels as K
from solvers import kernels_numpy as KN

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def _random_state(seed, n_species=2, n_cells=40):
    """A physically sensible random state: fractions in [0, 1.2], a smooth random potential,
    random cell widths, an SED table for species 0 and constant D for the others."""
    rng = np.random.default_rng(seed)
    nb = n_species + 1
    h = rng.uniform(0.1, 3.0, n_cells)
    xc = np.cumsum(h) - 0.5 * h
    d = np.concatenate([[xc[0]], np.diff(xc), [h[-1] / 2]])
    y = np.zeros(n_cells * nb)
    for i in range(n_species):
        y[i::nb] = rng.uniform(0.0, 1.2, n_cells)
    y[n_species::nb] = np.cumsum(rng.normal(0.0, 0.5, n_cells)) + rng.normal(0, 5)
    table = sed.SEDMobility(
        sed.GaussianSED(rng.uniform(0.05, 0.5)), 1e-12, 1.0, rng.uniform(250, 800),
        vacancy_fraction=rng.uniform(0.02, 0.4),
    ).kernel_table(m=512)  # fmt: skip
    m = len(table.logD)
    kind = np.zeros(n_species, dtype=np.int64)
    # species 0: an SED table in c (kind 1) or in c / cref per cell (kind 2, Double-CAIT)
    kind[0] = 1 + int(rng.integers(0, 2))
    cref = np.maximum(rng.uniform(-0.2, 1.0, (n_species, n_cells)), 0.0)  # 0: absent
    logd = np.zeros((n_species, m))
    slope = np.zeros((n_species, m))
    logd[0] = np.asarray(table.logD) + np.log(1e14)
    slope[0] = table.slope
    args = dict(
        y=y, hist=rng.normal(0.0, 1.0, y.size), a0=rng.uniform(1.0, 1.7),
        dt=10 ** rng.uniform(-9, 3), psi_front=rng.normal(0, 10), h=h, d=d,
        lam2=rng.uniform(1e-4, 1e-2), z=rng.choice([1.0, 2.0, -1.0], n_species),
        cfix=1.0, src=int(rng.integers(-1, n_species)), c_src=rng.uniform(0, 1),
        back_kind=rng.integers(0, 3, n_species), back_c=rng.uniform(0, 1, n_species),
        kind=kind, d_const=10 ** rng.uniform(-2, 3, n_species),
        u0=np.full(n_species, table.u0), du=np.full(n_species, table.du), logd=logd,
        slope=slope, n_lo=np.full(n_species, table.n_lo), cref=cref,
        # an immobile fraction for species 0 in half the states (MODEL.md section 10)
        c_imm=np.where(np.arange(n_species) == 0, rng.uniform(0.0, 0.3) * rng.integers(0, 2),
                       0.0),
    )  # fmt: skip
    return args


def _assemble_numba(a):
    n = a["y"].size
    n_species = len(a["z"])
    nb = n_species + 1
    n_cells = n // nb
    kl, ku = K.band_widths(n_species)
    res, ab = np.zeros(n), np.zeros((n, 2 * kl + ku + 1))
    dru, jf = np.zeros(nb), np.zeros(nb + 2)
    work = np.zeros((n_species, n_cells)), np.zeros((n_species, n_cells))
    faces = [np.zeros((n_species, n_cells + 1)) for _ in range(4)]
    K.assemble(*a.values(), *work, res, ab, dru, jf, *faces, np.full((n_species, n_cells), np.nan))
    return res, ab, dru, jf


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(1, 3))
def test_assemble_numba_equals_numpy(seed, n_species):
    a = _random_state(seed, n_species=n_species)
    res, ab, dru, jf = _assemble_numba(a)
    res2, ab2, dru2, jf2 = KN.assemble(*a.values())
    np.testing.assert_allclose(res, res2, rtol=1e-12, atol=1e-12 * np.abs(res2).max())
    np.testing.assert_allclose(ab, ab2, rtol=1e-12, atol=1e-12 * np.abs(ab2).max())
    np.testing.assert_allclose(dru, dru2, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(jf, jf2, rtol=1e-12, atol=1e-12 * max(np.abs(jf2).max(), 1e-300))


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(1, 3))
def test_conservation_residual_numba_equals_numpy(seed, n_species):
    """The species balance the Newton acceptance checks equals sum_k h_k res_k of assemble."""
    a = _random_state(seed, n_species=n_species)
    keys = ("y", "hist", "a0", "dt", "psi_front", "h", "d", "z", "src", "c_src", "back_kind",
            "back_c", "kind", "d_const", "u0", "du", "logd", "slope", "n_lo", "cref",
            "c_imm")  # fmt: skip
    out = np.zeros(n_species)
    K.conservation_residual(*(a[k] for k in keys), out)
    ref = KN.conservation_residual(*(a[k] for k in keys))
    # interior fluxes cancel in the sum: compare to round-off of the flux terms
    _, ab = KN.assemble(*a.values())[:2]
    scale = np.abs(ab).sum() * max(1.0, np.abs(a["y"]).max()) * a["h"].max()
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(1, 3))
def test_conservation_residual_is_storage_minus_the_boundary_fluxes(seed, n_species):
    """With uniform fractions and a flat interior potential every interior flux is exactly
    zero, so the numpy twin's sum h res has no cancellation: the compiled balance equals it to
    1e-12 of the storage and boundary terms, which catches a missing or mis-signed front or
    back flux (the general test above must allow the round-off of the interior fluxes)."""
    a = _random_state(seed, n_species=n_species)
    nb = n_species + 1
    rng = np.random.default_rng(seed)
    for i in range(n_species):
        a["y"][i::nb] = rng.uniform(0.0, 1.2)
    a["y"][n_species::nb] = 0.0
    keys = ("y", "hist", "a0", "dt", "psi_front", "h", "d", "z", "src", "c_src", "back_kind",
            "back_c", "kind", "d_const", "u0", "du", "logd", "slope", "n_lo", "cref",
            "c_imm")  # fmt: skip
    out = np.zeros(n_species)
    K.conservation_residual(*(a[k] for k in keys), out)
    ref = KN.conservation_residual(*(a[k] for k in keys))
    storage = np.array(
        [np.dot(a["h"], a["a0"] * a["y"][i::nb] + a["hist"][i::nb]) for i in range(n_species)]
    )
    size = np.array(
        [np.dot(a["h"], np.abs(a["a0"] * a["y"][i::nb]) + np.abs(a["hist"][i::nb]))
         for i in range(n_species)]
    ) + np.abs(ref - storage)  # fmt: skip
    np.testing.assert_allclose(out, ref, rtol=0.0, atol=1e-12 * size.max())


@settings(max_examples=10, deadline=None)
@given(SEEDS)
def test_jacobian_matches_finite_differences(seed):
    """The analytic Jacobian (including dD/dc of the SED species) is the derivative of the
    residual: central differences agree to 1e-6 relative to the largest entry."""
    a = _random_state(seed, n_species=2, n_cells=8)
    a["y"][0::3] = np.clip(a["y"][0::3], 0.05, None)  # away from the kink of the D tail at 0
    _, ab, _, _ = _assemble_numba(a)
    y = a["y"]
    n = y.size
    kl, ku = K.band_widths(2)
    dense = np.zeros((n, n))  # entries outside the declared band are absent: checked too
    for col in range(n):
        for row in range(max(0, col - ku), min(n, col + kl + 1)):
            dense[row, col] = ab[col, kl + ku + row - col]
    fd = np.zeros((n, n))
    for col in range(n):
        step = 1e-7 * max(1.0, abs(y[col]))
        yp, ym = y.copy(), y.copy()
        yp[col] += step
        ym[col] -= step
        fd[:, col] = (KN.assemble(yp, *list(a.values())[1:])[0]
                      - KN.assemble(ym, *list(a.values())[1:])[0]) / (2 * step)  # fmt: skip
    np.testing.assert_allclose(dense, fd, atol=1e-6 * np.abs(fd).max())


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.integers(1, 6), st.integers(5, 200))
def test_banded_lu_solves_like_lapack(seed, kl, n):
    rng = np.random.default_rng(seed)
    kv = 2 * kl
    ab = np.zeros((n, 3 * kl + 1))  # transposed gbtrf layout: A[r, c] = ab[c, kv + r - c]
    ab[:, kl:] = rng.normal(size=(n, 2 * kl + 1))
    ab[:, kv] += rng.choice([-1, 1], n) * 0.5  # not dominant: pivoting is exercised
    for col in range(n):  # zero the entries outside the matrix
        for r in range(kl, 3 * kl + 1):
            row = r - kv + col
            if row < 0 or row >= n:
                ab[col, r] = 0.0
    b = rng.normal(size=n)
    x_ref = scipy.linalg.solve_banded((kl, kl), ab[:, kl:].T, b)
    lu = ab.copy()
    ipiv = np.zeros(n, dtype=np.int64)
    assert K.banded_lu(lu, kl, kl, ipiv) == 0
    x = b.copy()
    K.banded_solve(lu, kl, kl, ipiv, x)
    np.testing.assert_allclose(x, x_ref, rtol=1e-9, atol=1e-9 * np.abs(x_ref).max())
    np.testing.assert_allclose(x, KN.banded_solve(ab, kl, kl, b), rtol=1e-9,
                               atol=1e-9 * np.abs(x_ref).max())  # fmt: skip


@given(st.floats(-800, 800, allow_nan=False))
def test_bernoulli_pair_matches_separate_evaluations(x):
    bp, bm, dbp, dbm = K.bernoulli_pair(x)
    np.testing.assert_allclose([bp, bm], [K.bernoulli(x), K.bernoulli(-x)], rtol=1e-13, atol=0)
    np.testing.assert_allclose(
        [dbp, dbm], [K.bernoulli_prime(x), K.bernoulli_prime(-x)], rtol=1e-12, atol=1e-300
    )


@given(st.floats(-800, 800, allow_nan=False))
def test_bernoulli_twins_and_identities(x):
    b = K.bernoulli(x)
    np.testing.assert_allclose(b, KN.bernoulli(np.array([x]))[0], rtol=1e-14)
    np.testing.assert_allclose(K.bernoulli_prime(x), KN.bernoulli_prime(np.array([x]))[0],
                               rtol=1e-14, atol=1e-300)  # fmt: skip
    assert b >= 0.0 and np.isfinite(b)
    # B(-x) = B(x) + x holds exactly in exact arithmetic
    np.testing.assert_allclose(K.bernoulli(-x), b + x, rtol=1e-13, atol=1e-13)


@given(st.floats(-30, 30, allow_nan=False).filter(lambda v: abs(v) > 1e-6))
def test_bernoulli_derivative_is_derivative(x):
    step = 1e-6 * max(1.0, abs(x))
    fd = (K.bernoulli(x + step) - K.bernoulli(x - step)) / (2 * step)
    np.testing.assert_allclose(K.bernoulli_prime(x), fd, rtol=1e-6, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(SEEDS)
def test_kernel_mobility_equals_sed_table(seed):
    """The compiled D(c) lookup equals its numpy twin (1e-12) and the reference
    `sed.evaluate_table` (1e-10), including both tails, overfilling and c <= 0."""
    rng = np.random.default_rng(seed)
    model = sed.SEDMobility(
        sed.GaussianSED(rng.uniform(0.05, 0.6)), 1e-12, 1.0, rng.uniform(200, 900),
        vacancy_fraction=rng.uniform(0.01, 0.5),
    )  # fmt: skip
    t = model.kernel_table()
    c = np.concatenate([rng.uniform(-0.1, 1.3, 200), 10 ** rng.uniform(-16, 0, 50), [0.0]])
    got = np.array([K.mobility(v, 1, 0.0, t.u0, t.du, np.asarray(t.logD), np.asarray(t.slope),
                               t.n_lo) for v in c])  # fmt: skip
    twin = KN.mobility(c, 1, 0.0, t.u0, t.du, np.asarray(t.logD), np.asarray(t.slope), t.n_lo)
    np.testing.assert_allclose(got[:, 0], twin[0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(got[:, 1], twin[1], rtol=1e-12, atol=0)
    # the sed reference evaluates the same interpolant in another floating-point order
    d_ref, dd_ref = sed.evaluate_table(t, c)
    np.testing.assert_allclose(got[:, 0], d_ref, rtol=1e-10, atol=0)
    np.testing.assert_allclose(got[:, 1], dd_ref, rtol=1e-10, atol=0)


@settings(max_examples=30, deadline=None)
@given(SEEDS)
def test_cell_reference_mobility_scales_the_table(seed):
    """Kind 2: D(c) = D_table(c / cref) below the reference, D_table(1) at or above it, and
    the compiled and numpy versions agree (the stage_start SED of the Double-CAIT)."""
    rng = np.random.default_rng(seed)
    table = sed.SEDMobility(
        sed.GaussianSED(rng.uniform(0.05, 0.5)), 1e-12, 1.0, 350.0
    ).kernel_table(m=256)  # fmt: skip
    tab = (
        np.array([2]), np.zeros(1), np.array([table.u0]), np.array([table.du]),
        np.array([np.asarray(table.logD)]), np.array([np.asarray(table.slope)]),
        np.array([table.n_lo]),
    )  # fmt: skip
    cref = np.array([rng.uniform(0.05, 1.0, 30)])
    c = cref[0] * rng.uniform(0.01, 2.0, 30)
    cref[0, ::5] = 0.0  # absent at the stage start: D(1) whatever c
    dv, dd = KN.species_mobility(c, 0, *tab, cref)
    plain = (1, 0.0, table.u0, table.du, tab[4][0], tab[5][0], table.n_lo)
    below = c < cref[0]
    ratio = np.where(below, c / np.where(below, cref[0], 1.0), 1.0)
    d_expect, dd_expect = KN.mobility(ratio, *plain)
    np.testing.assert_allclose(dv, d_expect, rtol=1e-13)
    np.testing.assert_allclose(dd[below], dd_expect[below] / cref[0][below], rtol=1e-13)
    assert np.all(dd[~below] == 0.0)
    for k in range(c.size):
        dk, ddk = K.species_mobility(c[k], 0, k, *tab, cref)
        assert abs(dk - dv[k]) <= 1e-12 * dv[k]
        assert abs(ddk - dd[k]) <= 1e-12 * abs(dd[k]) + 1e-300


def _newton_system_numba(a, bordered=True, c_seen=None, dval=None, dder=None, factors=None):
    """newton_system_2 on the state `a` (two species): (ok, res, dy, zcol, jac_front); with
    `factors` a list, the stored factors (faces, xblk, dinv) are appended to it."""
    n = a["y"].size
    n_cells = n // 3
    dval = np.zeros((2, n_cells)) if dval is None else dval
    dder = np.zeros((2, n_cells)) if dder is None else dder
    c_seen = np.full((2, n_cells), np.nan) if c_seen is None else c_seen
    faces = [np.zeros((2, n_cells + 1)) for _ in range(4)]
    res, dy, zcol, jf = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(5)
    xblk = np.zeros((n_cells, 9))
    dinv = np.zeros((n_cells if factors is not None else 1, 9))
    ok = K.newton_system_2(*a.values(), dval, dder, c_seen, *faces, res, dy, jf, bordered, zcol,
                           xblk, dinv)  # fmt: skip
    if factors is not None:
        factors.extend([faces, xblk, dinv])
    return ok, res, dy, zcol, jf


def _dense(ab, kl, ku):
    n = ab.shape[0]
    dense = np.zeros((n, n))
    for col in range(n):
        for row in range(max(0, col - ku), min(n, col + kl + 1)):
            dense[row, col] = ab[col, kl + ku + row - col]
    return dense


def _check_block_solution(a, ok, res, dy, zcol, jf, bordered=True, backward_max=1e-13):
    """The block path against the numpy twin: the front Jacobian to 1e-12; where it solved
    (ok; otherwise it stops at the flagged cell), the residual to 1e-13 of the size of its
    terms (|J| |y| + |hist|: the fluxes cancel in the rows), and dy, zcol with a normwise
    backward error below backward_max."""
    res2, ab2, dru2, jf2 = KN.assemble(*a.values())
    np.testing.assert_allclose(jf, jf2, rtol=1e-12, atol=1e-12 * max(np.abs(jf2).max(), 1e-300))
    if not ok:
        return
    kl, ku = K.band_widths(2)
    dense = _dense(ab2, kl, ku)
    terms = np.abs(dense) @ np.abs(a["y"]) + np.abs(a["hist"]) + a["cfix"]
    assert np.all(np.abs(res - res2) <= 1e-13 * terms)
    e = np.zeros(res.size)
    e[:3] = dru2
    checks = [(dy, -res2)] + ([(zcol, e)] if bordered else [])
    for x, b in checks:
        # normwise backward error |A x - b| / (|A| |x| + |b|) (maxima over the rows), and the
        # difference to LAPACK's pivoted band solution relative to the conditioning it implies
        scale = np.max(np.abs(dense) @ np.abs(x) + np.abs(b))
        backward = np.max(np.abs(dense @ x - b)) / scale
        assert backward <= backward_max, backward
        x_ref = KN.banded_solve(ab2, kl, ku, b)
        # forward error: backward error times the condition number (the random matrices can be
        # nearly singular, where no two solvers agree); 1e-6 on the real profile
        cond = np.linalg.cond(dense) if dense.shape[0] <= 500 else 1e-6 / backward_max
        if cond * backward_max < 1e-3:
            err = np.max(np.abs(x - x_ref)) / np.max(np.abs(x_ref))
            assert err <= 10 * cond * max(backward_max, 1e-16), (err, cond)


@settings(max_examples=60, deadline=None)
@given(SEEDS, st.booleans())
def test_two_species_block_elimination_equals_the_banded_system(seed, bordered):
    """newton_system_2 (face fluxes, then block elimination with no pivoting across cells)
    returns the residual and front Jacobian of the numpy twin of `assemble`, and where it
    solves (its conditioning flag), dy = -J^-1 res and zcol = J^-1 d res/d psi_front with a
    normwise backward error below 1e-8. Over 3000 random states: below 1e-12 in all but one,
    3.3e-9 in that one (seed 289: a block with det / row norms 1e-7, whose adjugate loses
    eps / 1e-7; LAPACK's pivoted band LU 5e-17): an inexact Newton iteration, not a wrong one."""
    a = _random_state(seed, n_species=2)
    _check_block_solution(
        a, *_newton_system_numba(a, bordered), bordered=bordered, backward_max=1e-8
    )


def _lbo_k_state(duration_s):
    """Kernel arguments at the end of lbo_k run for duration_s (a real profile), on the whole
    grid (the run without the active window, whose Newton systems are those of every cell)."""
    from pathlib import Path

    import nppsim
    from nppsim.simulate import problem_from_case
    from solvers import npp

    case = Path(__file__).resolve().parents[2] / "cases" / "lbo_k.toml"
    problem = problem_from_case(
        nppsim.load_case(case).with_values({"stage.1.duration_s": duration_s})
    )
    sol = npp.solve(problem, active_window=False)
    ka = npp.kernel_arrays(problem)
    y = np.array(sol.state, dtype=float)
    stage = problem.stages[-1]
    hist = -y.copy()
    hist[2::3] = 0.0
    return dict(
        y=y, hist=hist, a0=1.0, dt=1.0, psi_front=stage.value_at(duration_s) / ka.thermal_voltage_V,
        h=ka.h, d=ka.d, lam2=ka.lam2, z=ka.z, cfix=ka.cfix, src=int(stage.source),
        c_src=stage.surface_fraction, back_kind=ka.back_kind, back_c=ka.back_c, kind=ka.kind,
        d_const=ka.d_const, u0=ka.u0, du=ka.du, logd=ka.logd, slope=ka.slope, n_lo=ka.n_lo,
        cref=np.ones((2, y.size // 3)), c_imm=ka.c_imm,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("duration_s", "dt", "backward_max"),
    [(100.0, 1e-9, None), (100.0, 1e-3, 1e-10), (100.0, 1.0, 1e-13), (100.0, 1e2, 1e-15),
     (100.0, 1e4, 1e-15), (4e4, 1e-3, 1e-9), (4e4, 1e2, 1e-14)],
)  # fmt: skip
def test_block_elimination_on_a_real_profile(duration_s, dt, backward_max):
    """On the lbo_k profile (1421 cells, 0.5 nm to 20 um) the block elimination solves the
    step sizes the run takes there, with the banded LU's normwise backward error (~1e-16)
    at dt >= 1e2 s. Without pivoting across cells its backward error grows as 1 / dt in the
    deep 20 um cells (measured: 1.2e-11 at dt = 1e-3 s on the 100 s profile, 6e-10 on the
    final one; the banded LU 1e-16), which only makes a Newton iteration inexact there; at
    dt = 1e-9 s the deep-cell blocks (Poisson rows ~1e-12 of the species rows) are flagged
    and the caller takes the banded LU."""
    a = _lbo_k_state(duration_s)
    a["dt"] = dt
    ok, *out = _newton_system_numba(a)
    assert ok == (backward_max is not None)
    _check_block_solution(a, ok, *out, backward_max=backward_max or 0.0)


@settings(max_examples=30, deadline=None)
@given(SEEDS)
def test_mobility_memo_is_exact(seed):
    """update_mobilities re-evaluates D(c) only where the fraction changed, and the result is
    bit for bit that of evaluate_mobilities (kinds 1 and 2 and constant D)."""
    a = _random_state(seed, n_species=2)
    rng = np.random.default_rng(seed)
    y = a["y"]
    n_cells = y.size // 3
    args = (2, a["kind"], a["d_const"], a["u0"], a["du"], a["logd"], a["slope"], a["n_lo"],
            a["cref"])  # fmt: skip
    dval, dder = np.zeros((2, n_cells)), np.zeros((2, n_cells))
    c_seen = np.full((2, n_cells), np.nan)
    K.update_mobilities(y, *args, dval, dder, c_seen)
    for _ in range(3):
        changed = rng.random(y.size) < 0.3
        y[changed] *= rng.uniform(0.5, 1.5, changed.sum())
        K.update_mobilities(y, *args, dval, dder, c_seen)
        ref_v, ref_d = np.zeros((2, n_cells)), np.zeros((2, n_cells))
        K.evaluate_mobilities(y, *args, ref_v, ref_d)
        assert np.array_equal(dval, ref_v) and np.array_equal(dder, ref_d)
        # ...which is the scalar species_mobility (and so `mobility`) cell by cell, bit for bit
        scalar = np.array([[K.species_mobility(y[3 * k + i], i, k, *args[1:])
                            for k in range(n_cells)] for i in range(2)])  # fmt: skip
        assert np.array_equal(dval, scalar[..., 0]) and np.array_equal(dder, scalar[..., 1])
        table = a["kind"] != K.KIND_CONSTANT  # constant D: nothing to remember
        assert np.array_equal(c_seen[table], np.stack([y[0::3], y[1::3]])[table])


def _check_substitution(a, n_rhs, seed, backward_max):
    """block_substitute_2 with the factors newton_system_2 stored, on the state `a`: normwise
    backward error of every solve below backward_max against the numpy twin's dense Jacobian;
    where the Jacobian's condition number makes a comparison meaningful, the same solutions as
    the step's own update dy and LAPACK's pivoted band solve."""
    from solvers.kernels_linalg import block_substitute_2

    factors = []
    ok, res, dy, *_ = _newton_system_numba(a, bordered=False, factors=factors)
    if not ok:
        return False
    (_, fdl, _, fdp), xblk, dinv = factors
    _, ab2, _, _ = KN.assemble(*a.values())
    kl, ku = K.band_widths(2)
    dense = _dense(ab2, kl, ku)
    rng = np.random.default_rng(seed)
    b = rng.normal(size=(n_rhs, dy.size))
    b[0] = -res  # the Newton right-hand side: the step's own update again
    x = b.copy()
    block_substitute_2(a["dt"], a["h"], a["d"], a["lam2"], fdl, fdp, dinv, xblk, x)
    cond = np.linalg.cond(dense) if dense.shape[0] <= 500 else None
    for m in range(n_rhs):
        scale = np.max(np.abs(dense) @ np.abs(x[m]) + np.abs(b[m]))
        backward = np.max(np.abs(dense @ x[m] - b[m])) / scale
        assert backward <= backward_max, backward
        if cond is None or cond * backward_max < 1e-6:
            # LAPACK's pivoted solve differs by the Jacobian's conditioning (up to ~2e-9 of
            # the largest entry on real profiles); the step's own update, from the same
            # elimination, only by round-off
            x_ref = KN.banded_solve(ab2, kl, ku, b[m])
            big = np.max(np.abs(x_ref))
            np.testing.assert_allclose(x[m], x_ref, rtol=0, atol=1e-7 * big)
            if m == 0:
                np.testing.assert_allclose(x[0], dy, rtol=0, atol=1e-11 * big)
    return True


@settings(max_examples=30, deadline=None)
@given(SEEDS, st.integers(1, 3))
def test_substitution_with_stored_factors_solves_the_newton_matrix(seed, n_rhs):
    """block_substitute_2, with the factors block_solve_2 stored (the inverted diagonal blocks
    and X_k), solves J x = b for new right-hand sides (the forward sensitivities' solve) with
    the elimination's own backward error, and gives the step's update and LAPACK's solutions
    where the random Jacobian is not near singular."""
    _check_substitution(_random_state(seed, n_species=2), n_rhs, seed, 1e-8)


@pytest.mark.parametrize(("duration_s", "dt"), [(100.0, 1.0), (4e4, 1e2)])
def test_substitution_on_a_real_profile(duration_s, dt):
    """On the lbo_k profile (1421 cells) the substitutions solve the Newton matrix to the
    banded LU's backward error, equal the step's own update to round-off and LAPACK's
    solution to the conditioning of the Jacobian."""
    a = _lbo_k_state(duration_s)
    a["dt"] = dt
    assert _check_substitution(a, 2, 7, 1e-13)
