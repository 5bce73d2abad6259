"""Tests of measured-profile import: every export variant reads, every malformed file is one
clear DataFileError, and no file content makes read_profile raise anything else. The depth axis
(units, sputter time) is tested in test_profile_depth.py, counts normalised to the bulk and
profiles of a case in test_profile_bulk.py; both import the helpers defined here."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nppsim.errors import DataFileError
from nppsim.fileio import write_csv_atomic
from nppsim.profile_table import MAX_PROFILE_LINES
from nppsim.profiles import MeasuredProfile, read_profile
from nppsim.quantify import MAX_DATA_FRACTION
from tests import strategies as hs

PROFILE_FILES = Path(__file__).parent / "profile_files"

# A small valid case (as in test_case.py); [[data]] blocks are appended to it.
CASE = """\
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

[species.K]
role = "foreign"
D_cm2_s = 2.0e-16

[[stage]]
duration_s = 4.0e4
source = "K"
potential_V = 1.5
"""

SIMPLE = "depth_nm,Li,K\n0.25,0.0079,0.9921\n0.75,0.25,0.75\n1.25,0.5,0.5\n"
SIMPLE_DEPTH = [0.25, 0.75, 1.25]
SIMPLE_LI = [0.0079, 0.25, 0.5]
SIMPLE_K = [0.9921, 0.75, 0.5]


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """Write content exactly as given (str as UTF-8, no newline translation)."""
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def check_profile(p: MeasuredProfile) -> None:
    """The invariants every profile read from a file satisfies."""
    assert isinstance(p, MeasuredProfile)
    assert p.depth_nm.ndim == 1 and p.depth_nm.size >= 1
    assert np.all(np.isfinite(p.depth_nm)) and np.all(p.depth_nm >= 0.0)
    assert np.all(np.diff(p.depth_nm) > 0.0)
    assert set(p.values) == set(p.sigma) == set(p.species) and len(p.species) >= 1
    for s in p.species:
        assert p.values[s].shape == p.sigma[s].shape == p.depth_nm.shape
        assert np.all(np.isfinite(p.values[s]))
        assert np.all(np.isfinite(p.sigma[s])) and np.all(p.sigma[s] > 0.0)


def check_error(err: BaseException, path: Path, *fragments: str) -> str:
    """A DataFileError message: one printable line naming the file, with the fragments."""
    msg = str(err)
    assert isinstance(err, DataFileError), repr(err)
    assert "\n" not in msg and "\r" not in msg and msg.isprintable(), repr(msg)
    assert msg.startswith(f"{path}: "), msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)
    return msg


def default_sigma(values: np.ndarray, relative: float = 0.05, floor: float = 1e-4) -> np.ndarray:
    return np.maximum(relative * np.abs(values), floor)


# ---- format variants --------------------------------------------------------------------------


FORMATS = {
    "comma": SIMPLE,
    "tab": SIMPLE.replace(",", "\t"),
    "semicolon-decimal-comma": SIMPLE.replace(",", ";").replace(".", ","),
    "semicolon-decimal-point": SIMPLE.replace(",", ";"),
    "tab-decimal-comma": SIMPLE.replace(",", "\t").replace(".", ","),
    "whitespace": "  depth_nm    Li   K\n0.25 0.0079\t0.9921\n  0.75   0.25 0.75  \n1.25 0.5 0.5\n",
    "whitespace-decimal-comma": "depth_nm Li K\n0,25 0,0079 0,9921\n0,75 0,25 0,75\n1,25 0,5 0,5\n",
    "comments-and-blank-lines": (
        "# exported by the instrument\n\n# sample 7\ndepth_nm,Li,K\n\n0.25,0.0079,0.9921\n"
        "  # a note between rows\n0.75,0.25,0.75\n   \n1.25,0.5,0.5\n\n# end\n"
    ),
    "bom": "\ufeff" + SIMPLE,
    "crlf": SIMPLE.replace("\n", "\r\n"),
    "cr": SIMPLE.replace("\n", "\r"),
    "no-final-newline": SIMPLE.rstrip("\n"),
    "quoted-header": '"depth_nm","Li","K"\n0.25,0.0079,0.9921\n0.75,0.25,0.75\n1.25,0.5,0.5\n',
    "quoted-cells": 'depth_nm;"Li";K\n"0,25";0,0079;"0,9921"\n0,75;0,25;0,75\n1,25;0,5;0,5\n',
    "trailing-delimiters": "depth_nm,Li,K,\n0.25,0.0079,0.9921,\n0.75,0.25,0.75,\n1.25,0.5,0.5\n",
    "spaces-around-cells": (
        "depth_nm , Li , K\n 0.25 , 0.0079 , 0.9921\n0.75,0.25,0.75\n1.25,0.5,0.5\n"
    ),
    "spreadsheet-blank-rows": SIMPLE + ",,\n , ,\n",
    "extra-text-column": (
        "depth_nm,note,Li,K\n0.25,first,0.0079,0.9921\n0.75,,0.25,0.75\n1.25,x y,0.5,0.5\n"
    ),
}


@pytest.mark.parametrize("variant", list(FORMATS))
def test_format_variants_read_the_same_profile(tmp_path, variant):
    path = write(tmp_path, f"{variant}.csv", FORMATS[variant])
    p = read_profile(path, columns={"Li": "Li", "K": "K"})
    check_profile(p)
    np.testing.assert_allclose(p.depth_nm, SIMPLE_DEPTH, rtol=1e-15)
    np.testing.assert_allclose(p.values["Li"], SIMPLE_LI, rtol=1e-15)
    np.testing.assert_allclose(p.values["K"], SIMPLE_K, rtol=1e-15)
    assert p.species == ("Li", "K")
    assert p.file == path


def test_defaults_and_metadata(tmp_path):
    path = write(tmp_path, "a.csv", SIMPLE)
    p = read_profile(path, after_stage=2, depth_resolution_nm=1.5)
    assert p.species == ("Li", "K")  # every column but depth, in file order
    assert (p.after_stage, p.depth_resolution_nm, p.n_points) == (2, 1.5, 3)
    np.testing.assert_allclose(p.sigma["K"], default_sigma(np.array(SIMPLE_K)), rtol=1e-15)
    np.testing.assert_allclose(p.sigma["Li"], [0.000395, 0.0125, 0.025], rtol=1e-12)
    assert not p.depth_nm.flags.writeable and not p.values["K"].flags.writeable
    assert "a.csv" in repr(p) and "n_points=3" in repr(p)


def test_latin1_micro_sign_header(tmp_path):
    path = write(tmp_path, "latin1.csv", b"Depth (\xb5m);Li;K\r\n0,5;0,25;0,75\r\n1,5;0,5;0,5\r\n")
    p = read_profile(path)
    np.testing.assert_allclose(p.depth_nm, [500.0, 1500.0], rtol=1e-15)
    np.testing.assert_allclose(p.values["K"], [0.75, 0.5], rtol=1e-15)


def test_utf16_with_byte_order_mark(tmp_path):
    path = write(tmp_path, "utf16.txt", SIMPLE.replace(",", "\t").encode("utf-16"))
    np.testing.assert_allclose(read_profile(path).values["Li"], SIMPLE_LI, rtol=1e-15)


def test_what_nppsim_run_csv_writes_reads_back(tmp_path):
    rng = np.random.default_rng(7)
    depth = np.cumsum(rng.uniform(0.1, 2.0, 50))
    li = rng.uniform(0.0, 1.0, 50)
    path = tmp_path / "run.csv"
    write_csv_atomic(path, ["depth_nm", "Li", "K"], [depth, li, 1.0 - li])
    p = read_profile(path)
    # written with 10 significant digits
    np.testing.assert_allclose(p.depth_nm, depth, rtol=1e-9)
    np.testing.assert_allclose(p.values["K"], 1.0 - li, rtol=1e-9, atol=1e-12)


def test_column_lookup_exact_first_then_case_insensitive(tmp_path):
    path = write(tmp_path, "c.csv", "Depth_NM,k,K,Li\n1,0.1,0.2,0.7\n2,0.3,0.4,0.3\n")
    p = read_profile(path, depth_column="depth_nm", columns={"K": "K", "Li": " li "})
    np.testing.assert_allclose(p.values["K"], [0.2, 0.4], rtol=1e-15)
    np.testing.assert_allclose(p.values["Li"], [0.7, 0.3], rtol=1e-15)
    with pytest.raises(DataFileError) as exc:
        read_profile(path, columns={"K": " k "})
    check_error(exc.value, path, "line 1", "' k ' is ambiguous", "columns 2, 3 match")


def test_columns_rename_and_order_species(tmp_path):
    path = write(tmp_path, "c.csv", "depth_nm,39K,7Li,junk\n1,0.1,0.9,abc\n2,0.3,0.7,\n")
    p = read_profile(path, columns=[("Li", "7Li"), ("K", "39K")])
    assert p.species == ("Li", "K")
    np.testing.assert_allclose(p.values["Li"], [0.9, 0.7], rtol=1e-15)


def test_uncertainty_columns(tmp_path):
    text = "depth_nm,Li,dLi,K,dK\n1,0.1,0.02,0.9,0.0\n2,0.3,0.05,0.7,0.01\n"
    path = write(tmp_path, "u.csv", text)
    p = read_profile(path, uncertainty_columns={"Li": "dLi", "K": "dK"}, uncertainty_floor=0.001)
    assert p.species == ("Li", "K")  # uncertainty columns are not species
    np.testing.assert_allclose(p.sigma["Li"], [0.02, 0.05], rtol=1e-15)
    np.testing.assert_allclose(p.sigma["K"], [0.001, 0.01], rtol=1e-15)  # 0 -> floor


def test_relative_uncertainty_with_floor(tmp_path):
    path = write(tmp_path, "r.csv", SIMPLE)
    p = read_profile(path, relative_uncertainty=0.1, uncertainty_floor=0.03)
    np.testing.assert_allclose(p.sigma["Li"], [0.03, 0.03, 0.05], rtol=1e-15)
    np.testing.assert_allclose(p.sigma["K"], [0.09921, 0.075, 0.05], rtol=1e-15)
    q = read_profile(path, relative_uncertainty=0.0, uncertainty_floor=0.02)
    np.testing.assert_allclose(q.sigma["K"], [0.02, 0.02, 0.02], rtol=1e-15)


def test_missing_values_drop_the_row(tmp_path):
    text = (
        "depth_nm,Li,K,other\n1,0.1,0.9,x\n2,,0.8,\n3,0.3,nan,\n4,n/a,0.6,\n5,0.5,-,\n6,0.6,0.4,\n"
    )
    path = write(tmp_path, "m.csv", text)
    p = read_profile(path, columns={"Li": "Li", "K": "K"})
    np.testing.assert_allclose(p.depth_nm, [1.0, 6.0], rtol=1e-15)
    # a missing value in a column that is not read does not matter
    q = read_profile(path, columns={"Li": "Li"})
    np.testing.assert_allclose(q.depth_nm, [1.0, 3.0, 5.0, 6.0], rtol=1e-15)


def test_missing_uncertainty_drops_the_row(tmp_path):
    path = write(tmp_path, "m.csv", "depth_nm;K;dK\n1;0,5;0,1\n2;0,4;\n3;0,3;0,2\n")
    p = read_profile(path, uncertainty_columns={"K": "dK"})
    np.testing.assert_allclose(p.depth_nm, [1.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(p.sigma["K"], [0.1, 0.2], rtol=1e-15)


def test_shipped_profile_files_read(tmp_path):
    for path in sorted(PROFILE_FILES.glob("*")):
        check_profile(read_profile(path))


# ---- malformed files --------------------------------------------------------------------------

MALFORMED = {
    "empty": ("", ["empty file"]),
    "only-comments": ("# nothing\n\n   \n# here\n", ["empty file"]),
    "header-only": ("depth_nm,Li,K\n", ["header only, no data rows"]),
    "header-only-comments": ("depth_nm,Li,K\n# no data\n\n", ["header only, no data rows"]),
    "one-column": ("depth_nm\n1\n2\n", ["line 1: cannot split the header into columns"]),
    "ragged-short": (
        "depth_nm,Li,K\n1,0.1,0.9\n2,0.2\n",
        ["line 3: 2 fields, expected 3 (ragged row"],
    ),
    "ragged-long": (
        "depth_nm,Li,K\n1,0.1,0.9\n2,0.2,0.8,5\n",
        ["line 3: 4 fields, expected 3 (ragged row"],
    ),
    "text-in-column": (
        "# c\ndepth_nm,Li,K\n1,0.1,0.9\n2,0.2,0.8\n\n3,0.3,0.7\n4,0.4,0.6\n5,0.5,abc\n",
        ["line 8: column 'K': 'abc' is not a number"],
    ),
    "decimal-comma-in-comma-file": (
        'depth_nm,Li,K\n1,0.1,"0,9"\n',
        ["line 2: column 'K': '0,9' is not a number"],
    ),
    "infinite": ("depth_nm,Li,K\n1,0.1,inf\n", ["line 2: column 'K': 'inf' is not finite"]),
    "overflow": ("depth_nm,Li,K\n1,0.1,1e999\n", ["line 2: column 'K': '1e999' is not finite"]),
    "non-monotonic": (
        "depth_nm,Li,K\n1,0.1,0.9\n2,0.2,0.8\n1.5,0.3,0.7\n",
        ["line 4: depth 1.5 nm is not larger than the previous 2.0 nm (not monotonic depth)"],
    ),
    "non-monotonic-backwards": (
        "depth_nm,Li,K\n3,0.1,0.9\n2,0.2,0.8\n2.5,0.3,0.7\n",
        ["line 4: depth 2.5 nm is not smaller than the previous 2.0 nm"],
    ),
    "duplicated-depth": (
        "depth_nm,Li,K\n1,0.1,0.9\n12.0,0.2,0.8\n\n12,0.3,0.7\n",
        ["line 5: depth 12.0 nm is not larger than the previous 12.0 nm (duplicated depth)"],
    ),
    "negative-depth": ("depth_nm,Li,K\n-1,0.1,0.9\n2,0.2,0.8\n", ["line 2: depth -1.0 nm"]),
    "depths-collapse-in-conversion": (
        "depth [Å],K\n5e-324,0.5\n1e-323,0.4\n",
        ["line 3: depth 0.0 nm equals the previous one after conversion to nm"],
    ),
    "missing-depth": ("depth_nm,Li,K\n1,0.1,0.9\n,0.2,0.8\n", ["line 3: column 'depth_nm'"]),
    "all-nan-column": (
        "depth_nm,Li,K\n1,0.1,nan\n2,0.2,\n3,0.3,NaN\n",
        ["column 'K' has no values"],
    ),
    "no-complete-row": (
        "depth_nm,Li,K\n1,0.1,\n2,,0.8\n",
        ["no row has a value in every used column (Li, K)"],
    ),
    "no-depth-column": ("x,Li,K\n1,0.1,0.9\n", ["no depth column", "columns: x, Li, K"]),
    "two-depth-columns": ("depth_nm,depth_um,K\n1,0.001,0.9\n", ["several depth columns"]),
    "numeric-header": ("1,0.1,0.9\n2,0.2,0.8\n", ["line 1: the first line holds numbers"]),
    "commented-header": (
        "#depth_nm,Li,K\n1,0.1,0.9\n",
        ["line 2: the first line holds numbers", "#"],
    ),
    "empty-column-name": ("depth_nm,,K\n1,0.1,0.9\n", ["line 1: column 2 has no name"]),
    "duplicated-column-name": (
        "depth_nm,K,K\n1,0.1,0.9\n",
        ["line 1: column name 'K' appears twice"],
    ),
    "unknown-unit": ("depth (furlong),K\n1,0.9\n", ["column 'depth (furlong)'", "unknown length"]),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", ["not a text file"]),
    "bad-utf16": (b"\xff\xfed\x00e\x00\x00\xd8", ["not valid UTF-16"]),
    "control-characters": (
        "depth_nm,Li,K\n1,0.1,ab\x0bc\x1b[31m" + "x" * 200 + "\n",
        ["line 2: column 'K': 'ab\\x0bc\\x1b[31mxxx", "...' is not a number"],
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_files(tmp_path, name):
    content, fragments = MALFORMED[name]
    path = write(tmp_path, f"{name}.csv", content)
    with pytest.raises(DataFileError) as exc:
        read_profile(path)
    msg = check_error(exc.value, path, *fragments)
    assert len(msg) < len(str(path)) + 250, msg


def test_missing_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "x.csv", SIMPLE)
    with pytest.raises(DataFileError) as exc:
        read_profile(path, columns={"Rb": "Rb"})
    assert str(exc.value) == f"{path}: no column 'Rb' (columns: depth_nm, Li, K)"
    with pytest.raises(DataFileError) as exc:
        read_profile(path, columns={"Li": "Li"}, uncertainty_columns={"Li": "dLi"})
    check_error(exc.value, path, "no column 'dLi' (uncertainty of Li; did you mean 'Li'?")
    with pytest.raises(DataFileError) as exc:
        read_profile(path, time_column="t_s", sputter_rate_nm_s=1.0)
    check_error(exc.value, path, "no column 't_s' (time column;")


def test_negative_uncertainty(tmp_path):
    path = write(tmp_path, "u.csv", "depth_nm,K,dK\n1,0.5,0.1\n2,0.4,-0.1\n")
    with pytest.raises(DataFileError) as exc:
        read_profile(path, uncertainty_columns={"K": "dK"})
    check_error(exc.value, path, "line 3: column 'dK': uncertainty -0.1 is negative")


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataFileError) as exc:
        read_profile(missing)
    check_error(exc.value, missing, "cannot read profile file")
    with pytest.raises(DataFileError) as exc:
        read_profile(tmp_path)
    check_error(exc.value, tmp_path, "cannot read profile file")


def test_file_name_with_control_characters_stays_on_one_line(tmp_path):
    path = write(tmp_path, "bad\nname.csv", "")
    with pytest.raises(DataFileError) as exc:
        read_profile(path)
    msg = str(exc.value)
    assert "\n" not in msg and "bad\\nname.csv" in msg and "empty file" in msg


@pytest.mark.parametrize(
    "kwargs",
    [
        {"depth_column": "depth_nm", "time_column": "t_s"},
        {"time_column": "t_s"},
        {"time_column": "t_s", "sputter_rate_nm_s": 1.0, "crater_depth_nm": 5.0},
        {"time_column": "t_s", "sputter_rate_nm_s": 0.0},
        {"sputter_rate_nm_s": 1.0},
        {"normalize": "counts"},
        {"normalize": "bulk"},
        {"uncertainty_floor": 0.0},
        {"relative_uncertainty": -0.1},
        {"columns": {}},
        {"after_stage": -1},
        {"depth_resolution_nm": math.nan},
    ],
)
def test_inconsistent_arguments_are_value_errors(tmp_path, kwargs):
    path = write(tmp_path, "a.csv", SIMPLE)
    with pytest.raises(ValueError) as exc:
        read_profile(path, **kwargs)
    assert not isinstance(exc.value, DataFileError)


def test_measured_profile_validates_its_arrays():
    ok = {"depth_nm": [1.0, 2.0], "values": {"K": [0.5, 0.4]}, "sigma": {"K": [0.1, 0.1]}}
    p = MeasuredProfile(**ok)
    assert p.species == ("K",) and p.file is None and p.after_stage == 0
    with pytest.raises(ValueError):
        p.values["K"][0] = 1.0  # read-only
    bad = [
        {"depth_nm": [2.0, 1.0]},
        {"depth_nm": [-1.0, 1.0]},
        {"values": {"K": [0.5]}},
        {"sigma": {"K": [0.1, 0.0]}},
        {"sigma": {"Li": [0.1, 0.1]}},
        {"values": {"K": [0.5, math.inf]}},
    ]
    for change in bad:
        with pytest.raises(ValueError):
            MeasuredProfile(**{**ok, **change})


# ---- properties -------------------------------------------------------------------------------

FUZZ = settings(
    deadline=None,
    database=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)

#: pieces of real profile files, so that random files get past the first checks
POSITION_HEADERS = (
    "depth_nm", "Depth (µm)", "depth [Å]", "depth", '"depth (nm)"', "t_s", "time (min)",
)  # fmt: skip
HEADER_TOKENS = ("depth (furlong)", "Li", "K", "dK", "", "1", "#", '"', "µ", "depth_nm")
GOOD_NUMBERS = ("0", "1", "2.5", "0.1", "0.25", "3", "7", "10", "12", "0,5", "1e-3")
VALUE_TOKENS = (
    "-1", "1e308", "1e-320", "-0", "nan", "", "inf", "abc", "n/a", '"', "1e999", "5e-324",
    "1e200", "-", " ", "#", "0.1.2",
)  # fmt: skip
DELIMITERS = (",", ";", "\t", " ", "  ")


@st.composite
def profile_like_texts(draw: st.DrawFn) -> str:
    """A plausible profile file with a few random defects: a header naming a depth or time
    column and species, rows of mostly good numbers with increasing positions."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    species = draw(
        st.lists(st.sampled_from(("Li", "K", "dK", "Rb")), min_size=1, max_size=3, unique=True)
    )
    names = [draw(st.sampled_from(POSITION_HEADERS)), *species]
    if draw(st.integers(0, 4)) == 0:
        names[draw(st.integers(0, len(names) - 1))] = draw(st.sampled_from(HEADER_TOKENS))
    if draw(st.integers(0, 4)) == 0:
        names = list(draw(st.permutations(names)))
    lines = [delimiter.join(names)]
    position = draw(st.integers(-1, 3))
    for _ in range(draw(st.integers(0, 12))):
        defect = draw(st.integers(0, 24))
        if defect == 0:
            lines.append(draw(st.sampled_from(("", "# note", "  "))))
            continue
        position += draw(st.integers(0 if defect == 1 else 1, 5))
        width = len(names) if defect != 2 else draw(st.integers(0, len(names) + 1))
        cells = [str(position) if defect != 3 else draw(st.sampled_from(VALUE_TOKENS))]
        for _ in range(width - 1):
            bad = draw(st.integers(0, 14)) == 0
            cells.append(draw(st.sampled_from(VALUE_TOKENS if bad else GOOD_NUMBERS)))
        d = delimiter if defect != 4 else draw(st.sampled_from(DELIMITERS))
        lines.append(d.join(cells))
    if draw(st.integers(0, 4)) == 0:
        lines[1:] = lines[:0:-1]
    return draw(st.sampled_from(("\n", "\r\n", "\r"))).join(lines)


CALLS = (
    {},
    {"columns": {"Li": "Li", "K": "K"}, "depth_column": "depth_nm"},
    {"normalize": "bulk", "native": "Li", "uncertainty_columns": {"K": "dK"}},
    {"time_column": "t_s", "crater_depth_nm": 100.0},
    {"time_column": "time (min)", "sputter_rate_nm_s": 1e300},
)


def check_outcome(content: str | bytes) -> None:
    """Every call either gives a valid profile or a one-line DataFileError naming the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), "fuzz.csv", content)
        for kwargs in CALLS:
            try:
                p = read_profile(path, **kwargs)
            except DataFileError as exc:
                check_error(exc, path)
            else:
                check_profile(p)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_gives_a_profile_or_a_data_file_error(text):
    check_outcome(text)


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_profile_or_a_data_file_error(data):
    check_outcome(data)


@settings(FUZZ, max_examples=300)
@given(profile_like_texts())
def test_profile_like_text_gives_a_profile_or_a_data_file_error(text):
    check_outcome(text)


DEPTH_HEADERS = (("depth_nm", 1.0), ("depth (um)", 1000.0), ("Depth [Å]", 0.1), ("depth", 1.0))


@st.composite
def profile_tables(draw: st.DrawFn) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    """A valid profile file in a random dialect, and the depths (nm) and values it holds."""
    delimiter = draw(st.sampled_from((",", "\t", ";", " ", "   ")))
    decimal_comma = delimiter != "," and draw(st.booleans())
    species = draw(st.lists(st.sampled_from(hs.SPECIES_NAMES), min_size=1, max_size=4, unique=True))
    header, factor = draw(st.sampled_from(DEPTH_HEADERS))
    n = draw(st.integers(1, 25))
    start = draw(hs.bounded_floats(0.0, 100.0))
    steps = draw(st.lists(hs.log_floats(1e-3, 1e3), min_size=n - 1, max_size=n - 1))
    depth = [start]
    for step in steps:
        depth.append(depth[-1] + step)
    # anything up to the physical limit; beyond it is refused (test_absurd_fractions_are_refused)
    big = MAX_DATA_FRACTION
    number = st.one_of(hs.bounded_floats(-2.0, 2.0), hs.bounded_floats(-big, big))
    values = {s: draw(st.lists(number, min_size=n, max_size=n)) for s in species}

    def fmt(x: float) -> str:
        text = repr(float(x))
        return text.replace(".", ",") if decimal_comma else text

    quote = draw(st.booleans())
    names = [header, *species]
    lines = [delimiter.join(f'"{c}"' if quote else c for c in names)]
    rows = [
        delimiter.join(fmt(c) for c in (depth[i], *(values[s][i] for s in species)))
        for i in range(n)
    ]
    if draw(st.booleans()):
        rows.reverse()
    lines += rows
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(("", "# note", "  "))))
    newline = draw(st.sampled_from(("\n", "\r\n")))
    text = ("\ufeff" if draw(st.booleans()) else "") + newline.join(lines) + newline
    depth_nm = np.array(depth) * factor
    return text, depth_nm, {s: np.array(v) for s, v in values.items()}


@settings(FUZZ, max_examples=200)
@given(profile_tables())
def test_random_valid_tables_read_back(table):
    text, depth_nm, values = table
    with tempfile.TemporaryDirectory() as folder:
        p = read_profile(write(Path(folder), "table.csv", text))
    check_profile(p)
    assert p.species == tuple(values)
    np.testing.assert_allclose(p.depth_nm, depth_nm, rtol=1e-12, atol=0.0)
    for s, v in values.items():
        np.testing.assert_allclose(p.values[s], v, rtol=1e-12, atol=0.0)
        np.testing.assert_allclose(p.sigma[s], default_sigma(v), rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("value", ["1e308", "-1e300", "101", "2.5e3"])
def test_absurd_fractions_are_refused(tmp_path, value):
    """A fraction of 1e308 (or anything beyond MAX_DATA_FRACTION times n_bulk) is no
    measurement: one-line DataFileError naming the file, line and column, not a fit that
    'succeeds' on it."""
    path = tmp_path / "p.csv"
    path.write_text(f"depth_nm,Li,K\n1.0,0.5,0.5\n2.0,{value},0.1\n")
    with pytest.raises(
        DataFileError, match=r"p\.csv: line 3: column 'Li': fraction .* not physical"
    ):
        read_profile(path)


def test_too_many_lines_are_refused_while_reading(tmp_path, monkeypatch):
    """The line limit is checked chunk by chunk: a file far beyond it is refused after reading
    about the limit, not after loading it all (here a limit of 1000 lines and 1 kB chunks)."""
    import nppsim.profile_table as profiles

    monkeypatch.setattr(profiles, "MAX_PROFILE_LINES", 1000)
    monkeypatch.setattr(profiles, "READ_CHUNK_BYTES", 1024)
    path = tmp_path / "huge.csv"
    path.write_text("depth_nm,Li\n" + "".join(f"{i + 1},0.5\n" for i in range(5000)))
    reads = []
    real_open = open

    def counting_open(*args, **kwargs):
        f = real_open(*args, **kwargs)
        real_read = f.read

        def read(n=-1):
            chunk = real_read(n)
            reads.append(len(chunk))
            return chunk

        f.read = read
        return f

    monkeypatch.setattr(profiles, "open", counting_open, raising=False)
    with pytest.raises(DataFileError, match="more than 1,000 lines"):
        read_profile(path)
    assert sum(reads) < 0.5 * path.stat().st_size  # stopped soon after the limit
    path.write_text("depth_nm,Li\n" + "".join(f"{i + 1},0.5\n" for i in range(998)))
    assert read_profile(path).n_points == 998
    assert MAX_PROFILE_LINES == 1_000_000
