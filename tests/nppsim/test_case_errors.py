"""Tests of the case loader's validation: each malformed document (an edit of BASE, from
test_case.py) is refused with a one-line CaseError naming the file and the dotted key;
unreadable files, encodings and non-tables; and property-based checks that arbitrary text,
TOML fragments and (broken) documents raise nothing but a CaseError."""

from __future__ import annotations

import re
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nppsim.case import Case, _dumps_toml, case_from_dict, load_case, loads_case
from nppsim.errors import CaseError, InputError
from tests import strategies as hs
from tests.nppsim.test_case import BASE, FAST, LABEL, ROOT, check_message, load

# an existing, readable file to stand in for a measured profile (relative to ROOT)
DATA_FILE = "cases/lbo_k.toml"
DATA = f'\n[[data]]\nfile = "{DATA_FILE}"\ndepth_column = "depth_nm"\ncolumns = {{ K = "K" }}\n'


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
