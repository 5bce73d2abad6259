"""What a simulation no longer does again: validate a validated case, write the case text
before anyone reads it, rebuild a grid or the scaled D(n) tables it built a moment ago. Each
shortcut must give exactly what the long way gives."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest

import nppsim
from fitting.forward import FIT_N_OUTPUT, ForwardModel
from nppsim.case.reader import is_validated
from nppsim.errors import CaseError
from nppsim.result import Result
from nppsim.simulate import checked_case, grid_faces_nm, problem_from_case
from solvers import npp
from solvers.grid import graded_faces_nm
from tests.nppsim.test_result import CASE_TOML, make_solution

#: a small, quick variant of the default case (1 um, 2 nm cells, 20 s)
SMALL = {
    "sample.thickness_um": 1.0,
    "grid.fine_depth_nm": 500.0,
    "grid.fine_spacing_nm": 2.0,
    "stage.1.duration_s": 20.0,
    "solver.n_output": 3,
}


@pytest.fixture(scope="module")
def small_case():
    return nppsim.default_case().with_values(SMALL)


def test_case_text_is_written_when_first_read():
    """A callable case text is called on the first read only, and the Result reads as a text."""
    calls = []

    def text() -> str:
        calls.append(1)
        return CASE_TOML

    res = Result.from_solution(make_solution(), text, "fake K on Li", 1.0)
    assert calls == []
    assert res.case_toml == CASE_TOML and res.case_toml == CASE_TOML
    assert calls == [1]
    assert res.roles == {"Li": "native", "K": "foreign"}


def test_simulated_result_carries_the_case_text_through_pickle_and_files(small_case, tmp_path):
    """simulate's Result has the text of its case, also after pickling (process pools) and a
    round trip through a result file."""
    res = nppsim.simulate(small_case, method="electroneutral")
    expected = small_case.to_toml()
    assert pickle.loads(pickle.dumps(res)).case_toml == expected
    assert res.case_toml == expected
    assert nppsim.load_result(res.save(tmp_path / "r.h5")).case_toml == expected


def test_validated_cases_are_not_validated_again(small_case):
    """Cases of the reader (load_case, with_values) pass checked_case as they are; a case
    changed by dataclasses.replace is validated again and still fails with a CaseError."""
    assert is_validated(small_case)
    assert checked_case(small_case) is small_case
    bad = dataclasses.replace(
        small_case, sample=dataclasses.replace(small_case.sample, thickness_um=math.nan)
    )
    assert not is_validated(bad)
    with pytest.raises(CaseError, match="thickness"):
        checked_case(bad)
    good = dataclasses.replace(small_case, meta=small_case.meta)
    assert not is_validated(good) and checked_case(good) is good


def test_grid_faces_are_a_fresh_copy_of_the_graded_grid(small_case):
    """The cached grid is the graded grid, handed out as a new writable array every time."""
    g = small_case.grid
    ref = graded_faces_nm(1.0e3, g.fine_depth_nm, g.fine_spacing_nm, g.growth)
    a = grid_faces_nm(small_case)
    assert np.array_equal(a, ref) and a.flags.writeable
    a[:] = -1.0
    assert np.array_equal(grid_faces_nm(small_case), ref)


def test_scaled_tables_follow_the_sed(small_case):
    """kernel_arrays' scaled tables: the same arrays for the same SED, the table's own values
    in nm^2/s, and new ones for another width."""
    p1 = problem_from_case(small_case)
    ka1 = npp.kernel_arrays(p1)
    ka2 = npp.kernel_arrays(problem_from_case(small_case))
    assert ka2.logd is ka1.logd
    t = p1.species[0].mobility.kernel_table()
    assert np.array_equal(ka1.logd[0], np.asarray(t.logD) + npp.LN_CM2_TO_NM2)
    assert np.array_equal(ka1.slope[0], t.slope) and not np.any(ka1.logd[1])
    wider = small_case.with_values({"species.Li.sed.fwhm_eV": 0.3})
    ka3 = npp.kernel_arrays(problem_from_case(wider))
    assert not np.array_equal(ka3.logd[0], ka1.logd[0])


def test_forward_model_runs_one_snapshot_per_stage_without_revalidation(small_case):
    """A fit's simulation of a case with more snapshots is the simulation of the case with
    FIT_N_OUTPUT, bit for bit."""
    case = nppsim.load_case("cases/synthetic/lbo_k_synthetic.toml").with_values(
        {**SMALL, "data.1.fit_range_nm": [0.0, 400.0], "solver.n_output": 5}
    )
    fm = ForwardModel([case], method="electroneutral")
    res = fm.simulate(case)
    ref = nppsim.simulate(
        case.with_values({"solver.n_output": FIT_N_OUTPUT}), method="electroneutral"
    )
    assert res.n_times == ref.n_times == 2
    assert np.array_equal(res.fractions, ref.fractions)
    assert np.array_equal(res.front.charge_C_cm2, ref.front.charge_C_cm2)
    assert res.case_toml == ref.case_toml
