"""Tests of sed.table: the kernel table reproduces the mobility models it is built from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sed_strategies import strict_fp  # noqa: F401

from sed import (
    DEFAULT_TABLE_NODES,
    KIND_CONSTANT,
    KIND_LOG_TABLE,
    LN_OVERFULL_GAIN_MAX,
    ConstantMobility,
    GaussianSED,
    KernelTable,
    SEDMobility,
    TabulatedMobility,
    build_log_table,
    evaluate_table,
)


def li3b7o12(filling: str = "step") -> SEDMobility:
    """Gaussian 250 meV FWHM, v = 0.1, 350 K (the accuracy case of the kernel-table spec)."""
    return SEDMobility(GaussianSED(0.25), 1e-12, 1.0, 350.0, vacancy_fraction=0.1, filling=filling)


@pytest.fixture(scope="module")
def model() -> SEDMobility:
    return li3b7o12()


@pytest.fixture(scope="module")
def table(model: SEDMobility) -> KernelTable:
    return model.kernel_table()


def test_table_layout(model: SEDMobility, table: KernelTable) -> None:
    assert table.kind == KIND_LOG_TABLE
    assert table.m == DEFAULT_TABLE_NODES
    assert table.logD.shape == table.slope.shape == (DEFAULT_TABLE_NODES,)
    np.testing.assert_allclose(table.n_lo, model.n_floor, rtol=1e-15)
    np.testing.assert_allclose(math.exp(table.u0), table.n_lo, rtol=1e-15)
    np.testing.assert_allclose(math.exp(table.u_last), model.n_cap, rtol=1e-13)
    assert not table.logD.flags.writeable


def test_table_accuracy(model: SEDMobility, table: KernelTable) -> None:
    """D to 1e-7 and dD/dn to 1e-5 relative for n in [1e-10, 1.1] n_ref (the spec's case)."""
    n = np.geomspace(1e-10, 1.1, 100_001) * model.n_ref
    D, dD = evaluate_table(table, n)
    np.testing.assert_allclose(D, model.D(n), rtol=1e-7, atol=0)
    np.testing.assert_allclose(dD, model.dD_dn(n), rtol=1e-5, atol=0)


def test_table_accuracy_fermi_dirac() -> None:
    model = li3b7o12("fermi-dirac")
    n = np.geomspace(1e-10, 1.1, 20_001)
    D, dD = evaluate_table(model.kernel_table(), n)
    np.testing.assert_allclose(D, model.D(n), rtol=1e-7, atol=0)
    np.testing.assert_allclose(dD, model.dD_dn(n), rtol=1e-5, atol=0)


def test_table_tails_coincide_with_model(model: SEDMobility, table: KernelTable) -> None:
    """Below n_floor, at and below 0, and in the overfull tail the table is the model itself."""
    lo, cap = model.n_floor, model.n_cap
    n = np.array([-2.0, -1e-300, 0.0, 1e-280, 1e-3 * lo, 0.999 * lo])
    D, dD = evaluate_table(table, n)
    np.testing.assert_allclose(D, model.D(n), rtol=1e-14, atol=0)
    np.testing.assert_allclose(dD, model.dD_dn(n), rtol=1e-14, atol=0)
    assert np.all(D[n <= 0] == 0.0)
    n = np.append(cap * np.array([1.0 + 1e-6, 1.0001, 1.001, 1.01, 2.0]), 1e300)
    D, dD = evaluate_table(table, n)
    np.testing.assert_allclose(D, model.D(n), rtol=1e-10, atol=0)
    np.testing.assert_allclose(dD, model.dD_dn(n), rtol=1e-10, atol=0)
    # the overfull cap: D stops LN_OVERFULL_GAIN_MAX above D(n_cap), with zero slope
    np.testing.assert_allclose(D[-1], model.D(cap) * math.exp(LN_OVERFULL_GAIN_MAX), rtol=1e-10)
    assert dD[-1] == 0.0


def test_table_derivative_consistent(table: KernelTable) -> None:
    """dD/dn of the table is the derivative of the table's own D (Hermite t-derivative / du)."""
    rng = np.random.default_rng(3)
    n = np.concatenate([rng.uniform(1e-4, 1.1, 300), np.geomspace(1e-11, 1e-4, 50)])
    h = 1e-7 * n
    Dp, _ = evaluate_table(table, n + h)
    Dm, _ = evaluate_table(table, n - h)
    _, dD = evaluate_table(table, n)
    np.testing.assert_allclose(dD, (Dp - Dm) / (2 * h), rtol=1e-5, atol=0)


def test_table_random_states_finite(table: KernelTable) -> None:
    rng = np.random.default_rng(5)
    n = np.concatenate([rng.normal(0.5, 1.0, 10_000), 10.0 ** rng.uniform(-300, 300, 1000)])
    D, dD = evaluate_table(table, n)
    assert np.all(np.isfinite(D)) and np.all(np.isfinite(dD))
    assert np.all(D >= 0.0) and np.all(dD >= 0.0)
    order = np.argsort(n)
    assert np.all(np.diff(D[order]) >= -1e-14 * D[order][1:])
    D_nan, dD_nan = evaluate_table(table, np.array([np.nan]))
    assert np.isnan(D_nan[0]) and np.isnan(dD_nan[0])


def test_nodes_reproduced_exactly(table: KernelTable) -> None:
    n = np.exp(table.u0 + table.du * np.arange(1, table.m - 1, 997))
    D, _ = evaluate_table(table, n)
    k = np.arange(1, table.m - 1, 997)
    np.testing.assert_allclose(np.log(D), table.logD[k], rtol=0, atol=1e-9)


def test_constant_table() -> None:
    table = ConstantMobility(3e-15).kernel_table()
    assert table.kind == KIND_CONSTANT
    assert table.D_const == 3e-15
    D, dD = evaluate_table(table, np.array([-1.0, 0.0, 0.5, 7.0]))
    np.testing.assert_array_equal(D, np.full(4, 3e-15))
    np.testing.assert_array_equal(dD, np.zeros(4))


def test_tabulated_mobility_table() -> None:
    model = TabulatedMobility([0.05, 0.2, 0.6, 1.0], [1e-17, 1e-15, 3e-14, 1e-12])
    table = model.kernel_table()
    np.testing.assert_allclose(table.n_lo, 0.05, rtol=1e-15)
    assert table.slope[-1] == 0.0
    # below the first point, at and beyond the last point: exact
    n = np.array([-1.0, 0.0, 0.01, 0.049, 1.0, 1.5, 1e6])
    D, dD = evaluate_table(table, n)
    np.testing.assert_allclose(D, model.D(n), rtol=1e-12, atol=0)
    np.testing.assert_allclose(dD, model.dD_dn(n), rtol=1e-12)
    # inside: exact away from the kinks (the Hermite cubic reproduces ln D = a + b e^u to O(du^4)),
    # O(du) in ln D in the node intervals that contain a table point
    rng = np.random.default_rng(9)
    n = rng.uniform(0.05, 0.999, 2000)
    D, _ = evaluate_table(table, n)
    err = np.abs(np.log(D / np.asarray(model.D(n))))
    u = np.log(n)
    near_kink = np.min(np.abs(u[:, None] - np.log([0.2, 0.6, 1.0])), axis=1) < 2 * table.du
    assert np.max(err[~near_kink]) < 1e-9
    assert np.max(err) < table.du


def test_build_log_table_validation() -> None:
    def model(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros_like(u), np.zeros_like(u)

    with pytest.raises(ValueError, match="at least 2 nodes"):
        build_log_table(0.0, 1.0, 1, model)
    with pytest.raises(ValueError, match="ln_n_lo < ln_n_hi"):
        build_log_table(1.0, 0.0, 16, model)

    def bad(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.full_like(u, np.nan), np.zeros_like(u)

    with pytest.raises(ValueError, match="non-finite"):
        build_log_table(0.0, 1.0, 16, bad)
