"""The caches behind the kernel tables (nodes, quantile bases, tables by value) give exactly
the tables of a fresh build, and a changed parameter gives a new table."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from sed_strategies import SETTINGS, D_ref_cm2_s, fwhm_eV, strict_fp, temperature_K  # noqa: F401

from sed import BoxSED, ExponentialTailSED, GaussianSED, SEDMobility, TabulatedMobility
from sed import mobility as mob_module
from sed.table import build_log_table

#: small tables keep the property tests fast; the caches do not depend on the size
M = 257

shapes = st.one_of(
    fwhm_eV.map(GaussianSED),
    st.builds(GaussianSED, fwhm_eV, st.floats(-0.5, 0.5)),
    st.floats(0.02, 0.6).map(BoxSED),
    st.floats(0.01, 0.1).map(ExponentialTailSED),
)
vacancies = st.floats(0.02, 0.3)
n_refs = st.floats(0.2, 1.5)


def _formula_table(model: SEDMobility, m: int):
    """The table straight from the model's formula at nodes computed here (no shared caches)."""
    lo, hi = model._ln_n_floor, model._ln_n_cap
    du = (hi - lo) / (m - 1)
    u = lo + du * np.arange(m)
    return build_log_table(lo, hi, m, lambda _nodes: model._table_model(u))


def _same(a, b) -> bool:
    return (
        a.kind == b.kind
        and (a.u0, a.du, a.n_lo, a.D_const) == (b.u0, b.du, b.n_lo, b.D_const)
        and np.array_equal(a.logD, b.logD)
        and np.array_equal(a.slope, b.slope)
    )


@SETTINGS
@given(shapes, n_refs, vacancies, temperature_K, D_ref_cm2_s, st.floats(1.001, 1.5))
def test_sed_table_equals_fresh_build_and_follows_the_width(shape, n_ref, v, T, D_ref, factor):
    """The kernel table (cached nodes and quantile basis) is bit for bit the formula's; a wider
    SED of the same class, built after it on the same cached nodes, gets its own table, again
    the formula's."""
    model = SEDMobility(shape, D_ref_cm2_s=D_ref, n_ref=n_ref, temperature_K=T, vacancy_fraction=v)
    table = model.kernel_table(M)
    assert _same(table, _formula_table(model, M))
    field = next(iter(shape.__dataclass_fields__))
    wider = type(shape)(**{**shape.__dict__, field: getattr(shape, field) * factor})
    other = SEDMobility(wider, D_ref_cm2_s=D_ref, n_ref=n_ref, temperature_K=T, vacancy_fraction=v)
    other_table = other.kernel_table(M)
    assert _same(other_table, _formula_table(other, M))
    assert not np.array_equal(other_table.logD, table.logD)


def test_fermi_dirac_table_equals_fresh_build():
    """Fermi-Dirac filling keeps the plain path: still exactly the formula's table."""
    model = SEDMobility(GaussianSED(0.25), 1e-12, 1.0, 350.0, filling="fermi-dirac")
    assert _same(model.kernel_table(M), _formula_table(model, M))


def _tabulated_fresh(mob: TabulatedMobility, m: int):
    """The tabulated table without the value cache and with the general segment search."""

    def model(u):
        n = np.exp(u)
        lnD, dlnD = mob._log_interp(n)
        slope = n * dlnD
        slope[-1] = 0.0
        return lnD, slope

    return build_log_table(math.log(mob.n_lo), math.log(float(mob.n_points[-1])), m, model)


#: densities of a D table, at least 1e-3 apart (closer points make ln n_lo = ln n_last, which
#: build_log_table rejects whatever the cache)
table_points = st.lists(st.integers(1, 2000), min_size=2, max_size=40, unique=True).map(
    lambda ks: [k / 1000.0 for k in sorted(ks)]
)


@SETTINGS
@given(table_points, st.booleans(), st.data())
def test_tabulated_table_cached_by_value(points, from_zero, data):
    """Equal rows share one table, equal to a fresh build; other D values give another table."""
    n = np.array(([0.0] if from_zero else []) + points)
    log_d = np.sort(data.draw(st.lists(st.floats(-18, -10), min_size=n.size, max_size=n.size)))
    d = 10.0**log_d
    mob_module._tabulated_tables.clear()
    first = TabulatedMobility(n, d).kernel_table(M)
    again = TabulatedMobility(n.copy(), d.copy()).kernel_table(M)
    assert again is first
    assert _same(first, _tabulated_fresh(TabulatedMobility(n, d), M))
    d2 = d * 1.5
    changed = TabulatedMobility(n, d2).kernel_table(M)
    assert changed is not first and not np.array_equal(changed.logD, first.logD)
    assert _same(changed, _tabulated_fresh(TabulatedMobility(n, d2), M))


@SETTINGS
@given(table_points, st.lists(st.floats(0.0, 3.0), min_size=1, max_size=200))
def test_ascending_segment_search_matches_general(points, queries):
    """The segment search for sorted densities gives the general search's values."""
    n = np.array(points)
    mob = TabulatedMobility(n, np.geomspace(1e-16, 1e-12, n.size))
    q = np.sort(np.maximum(np.array(queries), mob.n_lo))
    a = mob._log_interp(q)
    b = mob._log_interp(q, ascending=True)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
