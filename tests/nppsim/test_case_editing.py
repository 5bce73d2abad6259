"""Tests of editing and writing a case: `with_values` / `get_value` by dotted key (new cases,
absent keys, alternatives, removal, revalidation, unknown keys), `parse_assignment` for
KEY=VALUE text, `with_stages`, and `to_toml` / the TOML writer with round trips through the
loader, property-based as well."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest
from hypothesis import given

from nppsim.case import (
    Case,
    GridConfig,
    SEDSpec,
    _dumps_toml,
    case_from_dict,
    default_case,
    load_case,
    loads_case,
    parse_assignment,
)
from nppsim.errors import CaseError
from tests import strategies as hs
from tests.nppsim.test_case import BASE, FAST, LABEL, LBO_K, check_message, load

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


# ---- property-based ---------------------------------------------------------------------------


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
