"""Tests of the case-file model: loading the shipped case, defaults and accessors, [[data]]
blocks. The small valid document BASE and the helpers here (`load`, `check_message`, the
hypothesis settings FAST) are shared with test_case_errors.py (validation messages, fuzzing)
and test_case_editing.py (dotted-key edits, TOML writing, round trips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from nppsim.case import (
    Case,
    DataSpec,
    GridConfig,
    SEDSpec,
    SolverConfig,
    Stage,
    default_case,
    load_case,
    loads_case,
)
from nppsim.errors import CaseError

ROOT = Path(__file__).resolve().parents[2]
LBO_K = ROOT / "cases" / "lbo_k.toml"
DEFAULT_TOML = ROOT / "nppsim" / "data" / "default_case.toml"
REFERENCE = ROOT.parent / "shared" / "data" / "reference" / "lbo_k_potentiostatic.toml"
LABEL = "cases/x.toml"

# A small valid case; the malformed documents in test_case_errors.py are edits of it.
BASE = """\
[meta]
name = "test"

[sample]
thickness_um = 500.0
temperature_K = 350.0
n_bulk_cm3 = 1.4e22
eps_r = 7.0

[species.Li]
role = "native"
D_cm2_s = 1.0e-12

[species.Li.sed]
fwhm_eV = 0.25

[species.K]
role = "foreign"
D_cm2_s = 2.0e-16

[[stage]]
duration_s = 4.0e4
source = "K"
potential_V = 1.5
"""


def load(text: str) -> Case:
    return loads_case(text, source=LABEL, base_dir=ROOT)


def check_message(err: BaseException, label: str = LABEL) -> str:
    """The message of a CaseError: one line that starts with the file name."""
    msg = str(err)
    assert isinstance(err, CaseError)
    assert len(msg.splitlines()) == 1, msg
    assert msg.startswith(f"{label}: "), msg
    return msg


# hypothesis settings of the property-based tests in test_case_errors.py and
# test_case_editing.py
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- the shipped case --------------------------------------------------------------------------


def test_shipped_case_parameters():
    case = load_case(LBO_K)
    assert case.path == LBO_K.resolve()
    assert case.sample.thickness_um == 500.0
    assert case.sample.temperature_K == 350.0
    assert case.sample.n_bulk_cm3 == 1.4e22
    assert case.sample.eps_r == 7.0
    assert case.species_names == ("Li", "K")
    li, k = case.species
    assert (li.role, li.D_cm2_s, li.charge, li.initial_fraction, li.back) == (
        "native",
        1.0e-12,
        1,
        1.0,
        "reservoir",
    )
    assert li.sed == SEDSpec(shape="gaussian", fwhm_eV=0.25, vacancy_fraction=0.10, filling="step")
    assert (k.role, k.D_cm2_s, k.initial_fraction, k.back, k.sed) == (
        "foreign",
        2.0e-16,
        0.0,
        "absorbing",
        None,
    )
    assert case.stages == (
        Stage(duration_s=4.0e4, source="K", surface_fraction=1.0, potential_V=1.5),
    )
    assert case.stages[0].control == "potential"
    assert case.grid == GridConfig(fine_depth_nm=600.0, fine_spacing_nm=0.5, growth=1.05)
    assert case.solver == SolverConfig(method="npp", rtol=1e-4, atol=1e-8, n_output=50)
    assert case.data == ()
    assert "Gunawan" in case.meta.source and "14430" in case.meta.source
    # grid and solver are written out explicitly, not left to the defaults
    assert set(case.raw["grid"]) == {"fine_depth_nm", "fine_spacing_nm", "growth"}
    assert set(case.raw["solver"]) == {"method", "rtol", "atol", "n_output"}


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference data not available")
def test_shipped_case_matches_reference_case():
    case, ref = load_case(LBO_K), load_case(REFERENCE)
    assert case.sample == ref.sample
    assert case.species == ref.species
    assert case.stages == ref.stages


def test_default_case_is_twin_of_lbo_k():
    assert DEFAULT_TOML.read_bytes() == LBO_K.read_bytes()
    case = default_case()
    assert case == load_case(LBO_K)
    assert case.path is None


# ---- defaults and accessors -------------------------------------------------------------------


def test_defaults():
    case = load(BASE)
    assert case.meta.description == "" and case.meta.source == ""
    assert case.grid == GridConfig() == GridConfig(600.0, 0.5, 1.05)
    assert case.solver == SolverConfig()
    assert (case.solver.method, case.solver.rtol, case.solver.atol) == ("npp", 1e-4, 1e-8)
    assert (case.solver.n_output, case.solver.dt_initial_s, case.solver.max_steps) == (
        50,
        1e-9,
        200_000,
    )
    li, k = case.species
    assert (li.charge, li.initial_fraction, li.back) == (1, 1.0, "reservoir")
    assert (k.charge, k.initial_fraction, k.back) == (1, 0.0, "absorbing")
    assert li.sed == SEDSpec()
    assert (li.sed.shape, li.sed.vacancy_fraction, li.sed.filling) == ("gaussian", 0.10, "step")
    assert case.stages[0].surface_fraction == 1.0
    assert case.path is None and case.data == ()


def test_integers_are_accepted_as_floats():
    case = load(
        BASE.replace("eps_r = 7.0", "eps_r = 7").replace("duration_s = 4.0e4", "duration_s = 40000")
    )
    assert case.sample.eps_r == 7.0 and isinstance(case.sample.eps_r, float)
    assert isinstance(case.stages[0].duration_s, float)


def test_species_lookup_and_native():
    case = load(BASE)
    assert case.species_by_name("K").role == "foreign"
    assert case.native.name == "Li"
    with pytest.raises(KeyError, match=r"'Kk'.*did you mean 'K'"):
        case.species_by_name("Kk")
    foreign_first = BASE.replace(
        "[species.Li]", "[species.Na]\nrole = 'native'\nD_cm2_s = 1e-13\n\n[species.Li]"
    )
    assert load(foreign_first).native.name == "Na"


def test_case_is_hashable_and_equality_ignores_origin():
    a = load_case(LBO_K)
    b = loads_case(LBO_K.read_text(encoding="utf-8"))
    assert a == b and hash(a) == hash(b)
    assert a.path != b.path


def test_stage_control_table_and_value():
    text = BASE.replace(
        "potential_V = 1.5", "current_table_A_cm2 = [[0, 1e-6], [10, 3e-6], [20, 3e-6]]"
    )
    stage = load(text).stages[0]
    assert stage.control == "current"
    assert stage.control_table == ((0.0, 1e-6), (10.0, 3e-6), (20.0, 3e-6))
    np.testing.assert_allclose(
        [stage.control_value(t) for t in (0.0, 5.0, 10.0, 15.0, 100.0)],
        [1e-6, 2e-6, 3e-6, 3e-6, 3e-6],
        rtol=1e-12,
        atol=0.0,
    )
    constant = load(BASE).stages[0]
    assert constant.control_table == ((0.0, 1.5),)
    assert constant.control_value(123.0) == 1.5


def test_sed_shapes():
    shapes = {
        'shape = "gaussians"\ncomponents = [[1.0, 0.0, 0.2], [0.5, 0.3, 0.1]]': SEDSpec(
            shape="gaussians", components=((1.0, 0.0, 0.2), (0.5, 0.3, 0.1))
        ),
        'shape = "box"\nwidth_eV = 0.4': SEDSpec(shape="box", width_eV=0.4),
        'shape = "exponential"\ntail_eV = 0.05\nfilling = "fermi-dirac"': SEDSpec(
            shape="exponential", tail_eV=0.05, filling="fermi-dirac"
        ),
        'shape = "table"\nenergies_eV = [-0.2, 0.0, 0.2]\ndensity = [0, 1, 0.5]': SEDSpec(
            shape="table", energies_eV=(-0.2, 0.0, 0.2), density=(0.0, 1.0, 0.5)
        ),
    }
    for body, expected in shapes.items():
        case = load(BASE.replace("fwhm_eV = 0.25", body))
        assert case.species[0].sed == expected
        assert loads_case(case.to_toml()) == case


def test_d_table():
    text = BASE.replace(
        "[species.Li.sed]\nfwhm_eV = 0.25", "D_table = [[0.1, 1e-16], [0.5, 1e-14], [1, 1e-12]]"
    )
    li = load(text).species[0]
    assert li.sed is None
    assert li.D_table == ((0.1, 1e-16), (0.5, 1e-14), (1.0, 1e-12))


# ---- data blocks ------------------------------------------------------------------------------


def test_data_block_paths_resolve_against_the_case_folder(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "profile.csv").write_text("depth_nm,Li,K\n0.25,0.01,0.99\n", encoding="utf-8")
    text = (
        BASE
        + '\n[[data]]\nfile = "profile.csv"\ndepth_column = "depth_nm"\n'
        + 'columns = { Li = "Li", K = "K" }\n'
    )
    (folder / "x.toml").write_text(text, encoding="utf-8")
    case = load_case(folder / "x.toml")
    (spec,) = case.data
    assert spec == DataSpec(
        file=(folder / "profile.csv").resolve(),
        after_stage=1,
        columns=(("Li", "Li"), ("K", "K")),
        depth_column="depth_nm",
    )
    assert (spec.relative_uncertainty, spec.uncertainty_floor, spec.normalize) == (
        0.05,
        1e-4,
        "none",
    )
    # written with an absolute path, the case loads back equal from anywhere
    assert loads_case(case.to_toml(), base_dir=tmp_path) == case
    # editing keeps resolving relative files against the case folder
    edited = case.with_values({"data.1.depth_resolution_nm": 2.0, "data.1.columns.Li": "Li7"})
    assert edited.data[0].depth_resolution_nm == 2.0
    assert dict(edited.data[0].columns) == {"Li": "Li7", "K": "K"}
    assert edited.get_value("data.1.columns.K") == "K"


def test_data_block_with_sputter_time(tmp_path):
    (tmp_path / "p.csv").write_text("t_s,K,dK\n1,0.9,0.01\n", encoding="utf-8")
    text = BASE + (
        '\n[[data]]\nfile = "p.csv"\nafter_stage = 1\ntime_column = "t_s"\n'
        "crater_depth_nm = 450.0\n"
        'columns = { K = "K" }\nuncertainty_columns = { K = "dK" }\nnormalize = "bulk"\n'
    )
    case = loads_case(text, base_dir=tmp_path)
    spec = case.data[0]
    assert (spec.time_column, spec.crater_depth_nm, spec.sputter_rate_nm_s) == ("t_s", 450.0, None)
    assert spec.uncertainty_columns == (("K", "dK"),)
    switched = case.with_values({"data.1.sputter_rate_nm_s": 0.1})
    assert (switched.data[0].sputter_rate_nm_s, switched.data[0].crater_depth_nm) == (0.1, None)
    to_depth = case.with_values({"data.1.depth_column": "depth_nm"})
    assert (to_depth.data[0].depth_column, to_depth.data[0].time_column) == ("depth_nm", None)
    assert loads_case(case.to_toml()) == case
