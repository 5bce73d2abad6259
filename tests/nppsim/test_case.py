"""Tests of the case-file model: loading, defaults, validation messages, editing, TOML writing."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nppsim.case import (
    Case,
    DataSpec,
    GridConfig,
    SEDSpec,
    SolverConfig,
    Stage,
    _dumps_toml,
    case_from_dict,
    default_case,
    load_case,
    loads_case,
    parse_assignment,
)
from nppsim.errors import CaseError, InputError
from tests import strategies as hs

ROOT = Path(__file__).resolve().parents[2]
LBO_K = ROOT / "cases" / "lbo_k.toml"
DEFAULT_TOML = ROOT / "nppsim" / "data" / "default_case.toml"
REFERENCE = ROOT.parent / "shared" / "data" / "reference" / "lbo_k_potentiostatic.toml"
LABEL = "cases/x.toml"

# A small valid case; the malformed documents below are edits of it.
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

# an existing, readable file to stand in for a measured profile (relative to ROOT)
DATA_FILE = "cases/lbo_k.toml"
DATA = f'\n[[data]]\nfile = "{DATA_FILE}"\ndepth_column = "depth_nm"\ncolumns = {{ K = "K" }}\n'


def load(text: str) -> Case:
    return loads_case(text, source=LABEL, base_dir=ROOT)


def check_message(err: BaseException, label: str = LABEL) -> str:
    """The message of a CaseError: one line that starts with the file name."""
    msg = str(err)
    assert isinstance(err, CaseError)
    assert len(msg.splitlines()) == 1, msg
    assert msg.startswith(f"{label}: "), msg
    return msg


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


# ---- with_values ------------------------------------------------------------------------------


def test_with_values_returns_a_new_case_and_leaves_the_original():
    case = load(BASE)
    raw_before = copy.deepcopy(case.raw)
    new = case.with_values(
        {
            "sample.temperature_K": 400,
            "species.Li.sed.fwhm_eV": 0.3,
            "species.K.D_cm2_s": np.float64(5e-16),
            "stage.1.potential_V": 2.0,
            "meta.name": "edited",
            "solver.method": "electroneutral",
        }
    )
    assert new is not case
    assert case.raw == raw_before
    assert case == load(BASE)
    assert new.sample.temperature_K == 400.0
    assert new.species_by_name("Li").sed.fwhm_eV == 0.3
    assert new.species_by_name("K").D_cm2_s == 5e-16
    assert new.stages[0].potential_V == 2.0
    assert new.meta.name == "edited"
    assert new.solver.method == "electroneutral"
    assert new.get_value("species.Li.sed.fwhm_eV") == 0.3
    assert new.get_value("solver.rtol") == 1e-4  # a default, not in the file
    assert new.get_value("species.K.sed") is None


def test_with_values_creates_absent_keys():
    case = load(BASE)
    assert "grid" not in case.raw
    new = case.with_values(
        {
            "grid.growth": 1.08,
            "species.K.sed.fwhm_eV": 0.2,
            "species.K.initial_fraction": 0.05,
            "species.K.charge": 2,
        }
    )
    assert new.grid == GridConfig(growth=1.08)
    assert new.species_by_name("K").sed == SEDSpec(fwhm_eV=0.2)
    assert new.species_by_name("K").charge == 2
    assert "grid" not in case.raw and "sed" not in case.raw["species"]["K"]


def test_with_values_replaces_alternatives_and_removes_with_none():
    case = load(BASE)
    galvanostatic = case.with_values({"stage.1.current_density_A_cm2": 9e-7})
    assert galvanostatic.stages[0].control == "current"
    assert galvanostatic.stages[0].potential_V is None
    table = case.with_values({"stage.1.potential_table_V": [[0, 1.0], [3600, 1.5]]})
    assert table.stages[0].potential_table_V == ((0.0, 1.0), (3600.0, 1.5))
    box = case.with_values({"species.Li.sed.shape": "box", "species.Li.sed.width_eV": 0.3})
    assert box.species[0].sed == SEDSpec(shape="box", width_eV=0.3)
    tabulated = case.with_values({"species.Li.D_table": [[0, 1e-16], [1, 1e-12]]})
    assert tabulated.species[0].sed is None
    blocking = case.with_values({"stage.1.source": None})
    assert blocking.stages[0].source is None
    no_sed = case.with_values({"species.Li.sed": None})
    assert no_sed.species[0].sed is None
    assert case.with_values({"grid.growth": None}) == case
    added = case.with_values(
        {"species.Rb": {"role": "foreign", "D_cm2_s": 1e-16}, "stage.1.source": "Rb"}
    )
    assert added.species_names == ("Li", "K", "Rb") and added.stages[0].source == "Rb"


def test_with_values_revalidates():
    case = load(BASE)
    with pytest.raises(CaseError) as info:
        case.with_values({"species.K.D_cm2_s": -1e-16})
    assert check_message(info.value) == f"{LABEL}: species.K.D_cm2_s: must be > 0, got -1e-16"
    with pytest.raises(CaseError, match=r"stage\.1\.source: unknown species 'Rb'"):
        case.with_values({"stage.1.source": "Rb"})
    with pytest.raises(CaseError, match=r"grid\.fine_depth_nm: must be < the sample thickness"):
        case.with_values({"sample.thickness_um": 0.5})


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("species.Li.sed.fwhmeV", "species.Li.sed.fwhmeV: unknown key (did you mean 'fwhm_eV'?)"),
        ("species.Kk.D_cm2_s", "species.Kk: unknown species (did you mean 'K'?)"),
        ("sampel.eps_r", "sampel: unknown key (did you mean 'sample'?)"),
        ("sample.epsr", "sample.epsr: unknown key (did you mean 'eps_r'?)"),
        ("stage.2.potential_V", "stage.2: out of range: the case has 1 stage(s)"),
        ("stage.0.potential_V", "stage.0: out of range"),
        ("stage.one.potential_V", "stage.one: expected a stage number"),
        ("stage.1.potental_V", "stage.1.potental_V: unknown key (did you mean 'potential_V'?)"),
        ("data.1.file", "data.1: out of range: the case has 0 data block(s)"),
        ("grid.growth.x", "grid.growth: is a value, not a table"),
        ("solver..rtol", "malformed dotted key"),
        ("species.K.sed.fwhm_eV.x", "species.K.sed.fwhm_eV: is a value, not a table"),
    ],
)
def test_with_values_rejects_unknown_keys(key, expected):
    with pytest.raises(CaseError) as info:
        load(BASE).with_values({key: 1.0})
    msg = check_message(info.value)
    assert expected in msg


def test_case_built_without_raw_can_still_be_edited():
    case = load(BASE)
    bare = Case(meta=case.meta, sample=case.sample, species=case.species, stages=case.stages)
    assert bare == case
    assert bare.with_values({"sample.eps_r": 8.0}).sample.eps_r == 8.0


# ---- to_toml ----------------------------------------------------------------------------------


def test_to_toml_round_trip_of_the_shipped_case():
    case = load_case(LBO_K)
    text = case.to_toml()
    assert loads_case(text) == case
    assert loads_case(loads_case(text).to_toml()).to_toml() == text


def test_to_toml_escapes_strings():
    name = 'quote " backslash \\ newline \n tab \t bell \x07 del \x7f ünïcødé'
    case = load(BASE).with_values({"meta.name": name, "meta.description": "a\r\nb"})
    again = loads_case(case.to_toml())
    assert again.meta.name == name and again.meta.description == "a\r\nb"


def test_toml_writer_layout():
    doc = {
        "a": 1,
        "t": {"x": [1, 2.5], "sub": {"s": "v"}},
        "arr": [{"k": 1}, {"k": 2}],
        "columns": {"Li": "Li"},
    }
    text = _dumps_toml(doc, inline=frozenset({"columns"}))
    assert tomllib.loads(text) == doc
    assert "[[arr]]" in text and "[t.sub]" in text and 'columns = { Li = "Li" }' in text


# ---- parse_assignment ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("species.K.D_cm2_s=1e-12", ("species.K.D_cm2_s", 1e-12)),
        ("solver.method=npp", ("solver.method", "npp")),
        ('solver.method="electroneutral"', ("solver.method", "electroneutral")),
        (
            "stage.1.potential_table_V=[[0,1],[10,2]]",
            ("stage.1.potential_table_V", [[0, 1], [10, 2]]),
        ),
        ("solver.n_output=20", ("solver.n_output", 20)),
        (" sample.eps_r = 7 ", ("sample.eps_r", 7)),
        ("grid.growth=.5", ("grid.growth", 0.5)),
        ("grid.growth=1.", ("grid.growth", 1.0)),
        ("meta.name=K+ run = 2", ("meta.name", "K+ run = 2")),
        ("flag=true", ("flag", True)),
        ("meta.name=", ("meta.name", "")),
        ("meta.name=1\nx = 2", ("meta.name", "1\nx = 2")),
    ],
)
def test_parse_assignment(text, expected):
    assert parse_assignment(text) == expected


@pytest.mark.parametrize("text", ["no-equals-sign", "=5", "  =x"])
def test_parse_assignment_rejects_missing_key(text):
    with pytest.raises(CaseError) as info:
        parse_assignment(text)
    assert len(str(info.value).splitlines()) == 1 and "KEY=VALUE" in str(info.value)


def test_parse_assignment_feeds_with_values():
    case = load(BASE).with_values(
        dict([parse_assignment("stage.1.current_table_A_cm2=[[0, 1e-6]]")])
    )
    assert case.stages[0].current_table_A_cm2 == ((0.0, 1e-6),)


# ---- malformed documents ----------------------------------------------------------------------

CONTROLS = "potential_V, current_density_A_cm2, potential_table_V, current_table_A_cm2"

# (old text in BASE (+ DATA when marked), replacement, expected "<key>: <message fragment>")
MALFORMED = {
    "syntax": ("eps_r = 7.0", "eps_r = 7.0.0", "line 8, column 12: invalid TOML (Expected newline"),
    "syntax-end": (
        "potential_V = 1.5",
        "potential_V = [1.5",
        "end of document: invalid TOML (Unclosed array)",
    ),
    "missing-name": ('name = "test"', 'description = "x"', "meta.name: required key is missing"),
    "name-type": ('name = "test"', "name = 3", "meta.name: must be a string, got 3"),
    "no-meta": ('[meta]\nname = "test"', "", "meta.name: required key is missing"),
    "unknown-key": (
        "fwhm_eV = 0.25",
        "fwhmeV = 0.25",
        "species.Li.sed.fwhmeV: unknown key (did you mean 'fwhm_eV'?)",
    ),
    "unknown-top": ("[[stage]]", "[[stages]]", "stages: unknown key (did you mean 'stage'?)"),
    "unknown-far": (
        "eps_r = 7.0",
        "eps_r = 7.0\ncolour = 1",
        "sample.colour: unknown key (valid keys: ",
    ),
    "negative-D": (
        "D_cm2_s = 2.0e-16",
        "D_cm2_s = -1e-16",
        "species.K.D_cm2_s: must be > 0, got -1e-16",
    ),
    "missing-D": ("D_cm2_s = 2.0e-16", "", "species.K.D_cm2_s: required key is missing"),
    "two-controls": (
        "potential_V = 1.5",
        "potential_V = 1.5\ncurrent_density_A_cm2 = 1e-6",
        f"stage.1: give exactly one of {CONTROLS} (got potential_V and current_density_A_cm2)",
    ),
    "no-control": ("potential_V = 1.5", "", f"stage.1: give exactly one of {CONTROLS} (got none)"),
    "unknown-source": (
        'source = "K"',
        'source = "Kk"',
        "stage.1.source: unknown species 'Kk' (did you mean 'K'?)",
    ),
    "nan": (
        "temperature_K = 350.0",
        "temperature_K = nan",
        "sample.temperature_K: must be finite, got nan",
    ),
    "inf": (
        "n_bulk_cm3 = 1.4e22",
        "n_bulk_cm3 = inf",
        "sample.n_bulk_cm3: must be finite, got inf",
    ),
    "huge-int": (
        "n_bulk_cm3 = 1.4e22",
        "n_bulk_cm3 = 1" + "0" * 400,
        "sample.n_bulk_cm3: must be finite",
    ),
    "bool": ("eps_r = 7.0", "eps_r = true", "sample.eps_r: must be a number, got true"),
    "string-number": (
        "thickness_um = 500.0",
        'thickness_um = "500"',
        "sample.thickness_um: must be a number, got '500'",
    ),
    "eps-below-1": ("eps_r = 7.0", "eps_r = 0.5", "sample.eps_r: must be >= 1, got 0.5"),
    "zero-thickness": (
        "thickness_um = 500.0",
        "thickness_um = 0",
        "sample.thickness_um: must be > 0, got 0",
    ),
    "missing-sample-key": ("eps_r = 7.0", "", "sample.eps_r: required key is missing"),
    "meta-not-table": (
        '[meta]\nname = "test"',
        'meta = "test"',
        "meta: must be a table, got 'test'",
    ),
    "charge-float": (
        'role = "foreign"',
        'role = "foreign"\ncharge = 1.5',
        "species.K.charge: must be an integer, got 1.5",
    ),
    "charge-zero": (
        'role = "foreign"',
        'role = "foreign"\ncharge = 0',
        "species.K.charge: must be a nonzero integer",
    ),
    "role-typo": (
        'role = "foreign"',
        'role = "foriegn"',
        "species.K.role: must be one of 'native', 'foreign', got 'foriegn' "
        "(did you mean 'foreign'?)",
    ),
    "role-case": (
        'role = "foreign"',
        'role = "Foreign"',
        "species.K.role: must be one of 'native', 'foreign', got 'Foreign' "
        "(did you mean 'foreign'?)",
    ),
    "back": (
        'role = "foreign"',
        'role = "foreign"\nback = "open"',
        "species.K.back: must be one of 'reservoir', 'blocking', 'absorbing'",
    ),
    "initial-negative": (
        'role = "foreign"',
        'role = "foreign"\ninitial_fraction = -0.1',
        "species.K.initial_fraction: must be >= 0",
    ),
    "sed-empty": (
        'role = "foreign"',
        'role = "foreign"\nsed = { fwhm_eV = 0.2 }',
        "species.K.initial_fraction: must be > 0 for a species with an SED",
    ),
    "no-native": (
        'role = "native"',
        'role = "foreign"\ninitial_fraction = 1.0',
        'species: at least one species must have role = "native"',
    ),
    "no-species": (
        "[species.K]\nrole",
        "[species2.K]\nrole",
        "species2: unknown key (did you mean 'species'?)",
    ),
    "species-dot": ("[species.K]", '[species."K.39"]', "species.'K.39': invalid species name"),
    "species-space": ("[species.K]", '[species."K 39"]', "species.K 39: invalid species name"),
    "vacancy-1": (
        "fwhm_eV = 0.25",
        "vacancy_fraction = 1.0",
        "species.Li.sed.vacancy_fraction: must be < 1, got 1.0",
    ),
    "fwhm-zero": ("fwhm_eV = 0.25", "fwhm_eV = 0", "species.Li.sed.fwhm_eV: must be > 0, got 0"),
    "filling": (
        "fwhm_eV = 0.25",
        'filling = "fermi_dirac"',
        "species.Li.sed.filling: must be one of 'step', 'fermi-dirac', got 'fermi_dirac' "
        "(did you mean 'fermi-dirac'?)",
    ),
    "shape": ("fwhm_eV = 0.25", 'shape = "gauss"', "species.Li.sed.shape: must be one of"),
    "box-no-width": (
        "fwhm_eV = 0.25",
        'shape = "box"',
        'species.Li.sed.width_eV: required for shape = "box"',
    ),
    "box-with-fwhm": (
        "fwhm_eV = 0.25",
        'fwhm_eV = 0.25\nshape = "box"\nwidth_eV = 0.3',
        'species.Li.sed.fwhm_eV: only used with shape = "gaussian" (shape is "box")',
    ),
    "sed-table-length": (
        "fwhm_eV = 0.25",
        'shape = "table"\nenergies_eV = [0, 1]\ndensity = [1]',
        "species.Li.sed.density: needs 2 values",
    ),
    "components-row": (
        "fwhm_eV = 0.25",
        'shape = "gaussians"\ncomponents = [[1, 0]]',
        "species.Li.sed.components: row 1: must be [weight, center_eV, fwhm_eV]",
    ),
    "sed-and-table": (
        "[species.Li.sed]",
        "D_table = [[0, 1e-16], [1, 1e-12]]\n[species.Li.sed]",
        "species.Li: give either sed or D_table, not both",
    ),
    "d-table-inf": (
        'role = "foreign"',
        'role = "foreign"\nD_table = [[0, 1e-16], [1, inf]]',
        "species.K.D_table: row 2, D_cm2_s: must be finite, got inf",
    ),
    "d-table-order": (
        'role = "foreign"',
        'role = "foreign"\nD_table = [[0.5, 1e-16], [0.1, 1e-12]]',
        "species.K.D_table: row 2: fraction must increase strictly",
    ),
    "surface-fraction": (
        'source = "K"',
        'source = "K"\nsurface_fraction = 1.5',
        "stage.1.surface_fraction: must be <= 1, got 1.5",
    ),
    "surface-no-source": (
        'source = "K"',
        "surface_fraction = 0.5",
        "stage.1.surface_fraction: only used with source",
    ),
    "no-stage": (
        '[[stage]]\nduration_s = 4.0e4\nsource = "K"\npotential_V = 1.5\n',
        "",
        "stage: required: at least one [[stage]] table",
    ),
    "stage-table": (
        "[[stage]]",
        "[stage]",
        "stage: must be an array of tables ([[stage]]), got a table ([stage])",
    ),
    "duration": (
        "duration_s = 4.0e4",
        "duration_s = -1",
        "stage.1.duration_s: must be > 0, got -1",
    ),
    "table-start": (
        "potential_V = 1.5",
        "potential_table_V = [[1, 1.5]]",
        "stage.1.potential_table_V: row 1: t_s must be 0 (the stage start), got 1",
    ),
    "table-order": (
        "potential_V = 1.5",
        "potential_table_V = [[0, 1], [10, 2], [10, 3]]",
        "stage.1.potential_table_V: row 3: t_s must increase strictly, got 10.0 after 10.0",
    ),
    "table-row": (
        "potential_V = 1.5",
        "current_table_A_cm2 = [[0, 1, 2]]",
        "stage.1.current_table_A_cm2: row 1: must be [t_s, value], got an array",
    ),
    "table-nan": (
        "potential_V = 1.5",
        "potential_table_V = [[0, nan]]",
        "stage.1.potential_table_V: row 1, value: must be finite, got nan",
    ),
    "grid-growth": (
        "[[stage]]",
        "[grid]\ngrowth = 1.6\n[[stage]]",
        "grid.growth: must be <= 1.5, got 1.6",
    ),
    "grid-growth-1": (
        "[[stage]]",
        "[grid]\ngrowth = 1\n[[stage]]",
        "grid.growth: must be > 1, got 1",
    ),
    "grid-spacing": (
        "[[stage]]",
        "[grid]\nfine_spacing_nm = 0.001\n[[stage]]",
        "grid.fine_spacing_nm: must be >= 0.01, got 0.001",
    ),
    "grid-spacing-depth": (
        "[[stage]]",
        "[grid]\nfine_spacing_nm = 700.0\n[[stage]]",
        "grid.fine_spacing_nm: must be <= grid.fine_depth_nm (600.0), got 700.0",
    ),
    "grid-thin-sample": (
        "thickness_um = 500.0",
        "thickness_um = 0.5",
        "grid.fine_depth_nm: must be < the sample thickness (500.0 nm), got 600.0",
    ),
    "solver-method": (
        "[[stage]]",
        '[solver]\nmethod = "fast"\n[[stage]]',
        "solver.method: must be one of 'npp', 'electroneutral', got 'fast'",
    ),
    "solver-output": (
        "[[stage]]",
        "[solver]\nn_output = 0\n[[stage]]",
        "solver.n_output: must be >= 1, got 0",
    ),
    "solver-rtol": (
        "[[stage]]",
        "[solver]\nrtol = 0.0\n[[stage]]",
        "solver.rtol: must be > 0, got 0.0",
    ),
    "data-missing-file": ("+data", 'file = "cases/nope.csv"', "data.1.file: cannot read data file"),
    "data-unknown-species": (
        "+data",
        'K = "K"',
        "data.1.columns.Kx: unknown species 'Kx' (did you mean 'K'?)",
    ),
    "data-both-columns": (
        "+data",
        'depth_column = "depth_nm"',
        "data.1: give exactly one of depth_column, time_column (got both)",
    ),
    "data-no-rate": (
        "+data",
        'depth_column = "depth_nm"',
        "data.1: time_column needs exactly one of sputter_rate_nm_s, crater_depth_nm (got neither)",
    ),
    "data-rate-with-depth": (
        "+data",
        'depth_column = "depth_nm"',
        "data.1.sputter_rate_nm_s: only used with time_column",
    ),
    "data-after-stage": (
        "+data",
        'depth_column = "depth_nm"',
        "data.1.after_stage: must be <= 1 (the number of stages), got 2",
    ),
    "data-uncertainty": (
        "+data",
        'depth_column = "depth_nm"',
        "data.1.uncertainty_columns.Li: species not in data.1.columns: 'Li'",
    ),
    "data-table": (
        "+data",
        "[[data]]",
        "data: must be an array of tables ([[data]]), got a table ([data])",
    ),
    "data-floor": (
        "+data",
        'depth_column = "depth_nm"',
        "data.1.uncertainty_floor: must be > 0, got 0",
    ),
}
# replacements inside the [[data]] block of DATA, for the "+data" rows
DATA_EDITS = {
    "data-missing-file": f'file = "{DATA_FILE}"',
    "data-unknown-species": 'K = "K"',
    "data-both-columns": 'depth_column = "depth_nm"',
    "data-no-rate": 'depth_column = "depth_nm"',
    "data-rate-with-depth": 'depth_column = "depth_nm"',
    "data-after-stage": 'depth_column = "depth_nm"',
    "data-uncertainty": 'depth_column = "depth_nm"',
    "data-table": "[[data]]",
    "data-floor": 'depth_column = "depth_nm"',
}
DATA_NEW = {
    "data-unknown-species": 'Kx = "K"',
    "data-both-columns": 'depth_column = "depth_nm"\ntime_column = "t_s"',
    "data-no-rate": 'time_column = "t_s"',
    "data-rate-with-depth": 'depth_column = "depth_nm"\nsputter_rate_nm_s = 0.1',
    "data-after-stage": 'depth_column = "depth_nm"\nafter_stage = 2',
    "data-uncertainty": 'depth_column = "depth_nm"\nuncertainty_columns = { Li = "dLi" }',
    "data-table": "[data]",
    "data-floor": 'depth_column = "depth_nm"\nuncertainty_floor = 0',
}


def malformed_text(case_id: str) -> str:
    old, new, _ = MALFORMED[case_id]
    if old == "+data":
        old, new = DATA_EDITS[case_id], DATA_NEW.get(case_id, new)
        assert old in DATA, case_id
        return BASE + DATA.replace(old, new, 1)
    assert old in BASE, case_id
    return BASE.replace(old, new, 1)


def test_base_documents_are_valid():
    assert load(BASE).data == ()
    assert load(BASE + DATA).data[0].file == (ROOT / DATA_FILE).resolve()


@pytest.mark.parametrize("case_id", sorted(MALFORMED))
def test_malformed_documents(case_id):
    expected = MALFORMED[case_id][2]
    with pytest.raises(CaseError) as info:
        load(malformed_text(case_id))
    msg = check_message(info.value)
    assert msg.startswith(f"{LABEL}: {expected}"), msg


def test_malformed_documents_from_files(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(malformed_text("negative-D"), encoding="utf-8")
    with pytest.raises(CaseError) as info:
        load_case(path)
    assert (
        check_message(info.value, str(path))
        == f"{path}: species.K.D_cm2_s: must be > 0, got -1e-16"
    )
    assert isinstance(info.value, InputError)


def test_unreadable_case_files(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(CaseError) as info:
        load_case(missing)
    assert check_message(info.value, str(missing)).startswith(f"{missing}: cannot read case file (")
    with pytest.raises(CaseError, match="cannot read case file"):
        load_case(tmp_path)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(BASE.replace("test", "Schäfer").encode("latin-1"))
    with pytest.raises(CaseError) as info:
        load_case(latin1)
    assert "not UTF-8" in check_message(info.value, str(latin1))


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode("utf-8"))
    assert load_case(path) == load(BASE)


def test_case_from_dict_rejects_non_tables():
    with pytest.raises(CaseError, match="the case must be a table"):
        case_from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(CaseError, match=r"species: species names must be strings"):
        case_from_dict({**tomllib.loads(BASE), "species": {1: {}}})


# ---- property-based ---------------------------------------------------------------------------

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_case_errors(load_fn) -> Case | None:
    try:
        return load_fn()
    except CaseError as err:
        check_message(err, "h.toml")
        return None


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_case_error(text):
    only_case_errors(lambda: loads_case(text, source="h.toml"))


@FAST
@given(
    st.lists(
        st.sampled_from(
            [
                '[meta]\nname = "n"\n',
                "[sample]\n",
                "thickness_um = 5\n",
                "eps_r = 'x'\n",
                "[[stage]]\n",
                "[species.Li]\n",
                'role = "native"\n',
                "D_cm2_s = 1e-12\n",
                "potential_V = nan\n",
                "x = [[0, 1]\n",
                "= 1\n",
                "\n",
                "[species.Li.sed]\n",
                'shape = "box"\n',
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_toml_fragments_raise_only_case_error(text):
    only_case_errors(lambda: loads_case(text, source="h.toml"))


@FAST
@given(hs.toml_documents())
def test_arbitrary_documents_raise_only_case_error(doc):
    only_case_errors(lambda: case_from_dict(doc, source="h.toml"))
    only_case_errors(lambda: loads_case(_dumps_toml(doc), source="h.toml"))


@FAST
@given(hs.mutated_case_dicts())
def test_broken_case_documents_raise_only_case_error(doc):
    case = only_case_errors(lambda: case_from_dict(doc, source="h.toml"))
    if case is not None:
        assert loads_case(case.to_toml()) == case


@FAST
@given(hs.case_dicts())
def test_valid_documents_load_and_round_trip(doc):
    case = case_from_dict(doc)
    assert loads_case(_dumps_toml(doc)) == case
    text = case.to_toml()
    assert loads_case(text) == case
    for key, value in doc["sample"].items():
        assert getattr(case.sample, key) == value
    assert case.species_names == tuple(doc["species"])
    assert len(case.stages) == len(doc["stage"])


@FAST
@given(
    hs.case_dicts(max_species=2),
    hs.temperatures_K(),
    hs.diffusivities_cm2_s(),
    hs.energies_eV(),
    hs.potentials_V(),
)
def test_valid_values_set_by_dotted_key_round_trip(doc, temperature, diffusivity, fwhm, potential):
    case = case_from_dict(doc)
    name = case.species_names[-1]
    values = {
        "sample.temperature_K": temperature,
        f"species.{name}.D_cm2_s": diffusivity,
        f"species.{name}.sed": {"fwhm_eV": fwhm},
        f"species.{name}.initial_fraction": 0.5,
        "stage.1.potential_V": potential,
    }
    new = case.with_values(values)
    assert new.sample.temperature_K == temperature
    assert new.species_by_name(name).D_cm2_s == diffusivity
    assert new.species_by_name(name).sed == SEDSpec(fwhm_eV=fwhm)
    assert new.stages[0].potential_V == potential and new.stages[0].control == "potential"
    assert case == case_from_dict(doc)
    assert loads_case(new.to_toml()) == new
    for key, value in values.items():
        if not isinstance(value, dict):
            assert new.get_value(key) == value


@FAST
@given(hs.toml_documents(allow_nan=False))
def test_toml_writer_round_trip(doc):
    assert tomllib.loads(_dumps_toml(doc)) == doc


def test_error_messages_name_file_and_key():
    # the documented format, character for character
    with pytest.raises(CaseError) as info:
        load(malformed_text("unknown-key"))
    assert (
        str(info.value) == f"{LABEL}: species.Li.sed.fwhmeV: unknown key (did you mean 'fwhm_eV'?)"
    )
    with pytest.raises(CaseError) as info:
        load(malformed_text("syntax"))
    assert re.fullmatch(
        rf"{re.escape(LABEL)}: line 8, column \d+: invalid TOML \(.+\)", str(info.value)
    )


def test_with_stages_keeps_the_selected_stages_and_their_data(tmp_path):
    """with_stages([2]) runs only stage 2; a data block measured after stage 2 follows it
    (after_stage renumbered to 1), one measured after stage 1 is dropped; bad selections are
    CaseErrors naming the stages."""
    profile = tmp_path / "p.csv"
    profile.write_text("depth_nm,K\n1,0.5\n2,0.4\n", encoding="utf-8")
    extra = "".join(
        f'\n[[data]]\nfile = "{profile.as_posix()}"\nafter_stage = {k}\n'
        f'depth_column = "depth_nm"\ncolumns = {{ K = "K" }}\n'
        for k in (1, 2)
    )
    text = (
        default_case()
        .to_toml()
        .replace(
            "[[stage]]",
            '[[stage]]\nduration_s = 50.0\npotential_V = 2.0\nsource = "K"\n\n[[stage]]',
            1,
        )
    )
    two = loads_case(text + extra)
    assert len(two.stages) == 2 and len(two.data) == 2
    second = two.with_stages([2])
    assert second.stages == (two.stages[1],)
    assert [d.after_stage for d in second.data] == [1]
    assert loads_case(second.to_toml()) == second
    assert two.with_stages([1]).stages == (two.stages[0],)
    assert two.with_stages([2, 1]).stages == (two.stages[1], two.stages[0])
    for bad in ([], [0], [3], [1.0]):
        with pytest.raises(CaseError, match="stage"):
            two.with_stages(bad)
