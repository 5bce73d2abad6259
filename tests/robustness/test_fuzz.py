"""Fuzzing the readers: no input makes them raise anything but their documented error.

- the case loader (`loads_case`, `load_case`, `case_from_dict`), `Case.with_values` and
  `parse_assignment`: only CaseError, one line naming the source;
- the profile reader (`read_profile`, `profile_from_spec`): only DataFileError (ValueError is
  documented for inconsistent arguments, so the arguments drawn here are consistent);
- the result reader (`load_result`): only DataFileError.

tests/nppsim/test_case_errors.py and test_profiles.py already fuzz arbitrary text, arbitrary
documents and "almost CSV" text with fixed arguments; this module adds mutated real case files,
random dotted keys and values, random --set text, random bytes as case files, random encodings,
column arguments and [[data]] blocks, and damaged result files. Each test is small (settings
below) so that the module runs in well under 30 s.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import fractions
import math
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import nppsim
from nppsim.case import (
    _DATA_KEYS,
    _SED_KEYS,
    _SPECIES_KEYS,
    _STAGE_KEYS,
    _TABLE_KEYS,
    _TOP_KEYS,
    Case,
    _canonical_doc,
    _dumps_toml,
    case_from_dict,
    default_case,
    load_case,
    loads_case,
    parse_assignment,
)
from nppsim.errors import CaseError, DataFileError
from nppsim.profiles import MeasuredProfile, profile_from_spec, read_profile
from tests import strategies as hs

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).resolve().parent / "bad_inputs"
LABEL = "fuzz.toml"

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

#: real case files whose text is mutated (read once)
CASE_TEXTS = {
    "default": (ROOT / "nppsim" / "data" / "default_case.toml").read_text(encoding="utf-8"),
    "valid": (BAD / "valid_case.toml").read_text(encoding="utf-8"),
    "with-data": (BAD / "valid_fit_case.toml").read_text(encoding="utf-8"),
}
#: tokens put where a value or a word was
NASTY_TOKENS = (
    "nan", "+nan", "inf", "-inf", "-0.0", "0", "-1", "1e400", "1e-400", "1e308", "-1e308",
    "9223372036854775807", "-9223372036854775808", "1" + "0" * 40, "0x10", "1_000", "1979-05-27",
    "07:32:00", "1979-05-27T07:32:00Z", '""', '"   "', '"x"', "[]", "[[]]", "{}", "{ a = 1 }",
    "true", "false", '"native"', '"foreign"', '"K"', '"Li"', '"stage_start"', "[[0, 1], [0, 2]]",
    "[[0.0, 1.0], [1e300, nan]]", "'''", '"\\u0000"', "=", "[", "]", "#", "\n", "\\",
)  # fmt: skip


def check_case_error(err: BaseException, label: str = LABEL) -> None:
    """A CaseError: one printable line that starts with the source label."""
    assert isinstance(err, CaseError), repr(err)
    msg = str(err)
    assert msg.isprintable() and "\n" not in msg, repr(msg)
    assert msg.startswith(f"{label}: "), msg


def load_or_case_error(text: str, label: str = LABEL) -> Case | None:
    try:
        case = loads_case(text, source=label, base_dir=BAD)
    except CaseError as err:
        check_case_error(err, label)
        event("CaseError")
        return None
    event("loaded")
    # whatever loads writes back and loads to an equal case
    assert loads_case(case.to_toml(), base_dir=BAD) == case
    return case


# ---------------------------------------------------------------------- case text


@st.composite
def mutated_case_texts(draw: st.DrawFn) -> str:
    """A real case file with one to three edits of its lines, words or numbers."""
    text = CASE_TEXTS[draw(st.sampled_from(sorted(CASE_TEXTS)))]
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(
            st.sampled_from(
                ("delete", "duplicate", "replace-line", "insert", "number", "word", "truncate")
            )
        )
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "replace-line":
            lines[i] = draw(st.one_of(st.text(max_size=30), st.sampled_from(NASTY_TOKENS)))
        elif action == "insert":
            pos = draw(st.integers(0, len(lines[i])))
            new = draw(st.one_of(st.text(max_size=8), st.sampled_from(NASTY_TOKENS)))
            lines[i] = lines[i][:pos] + new + lines[i][pos:]
        elif action in ("number", "word"):
            pattern = r"-?\d[\d.eE+-]*" if action == "number" else r"[A-Za-z_]+"
            spans = [m.span() for m in re.finditer(pattern, text)]
            if spans:
                a, b = draw(st.sampled_from(spans))
                new = draw(st.one_of(st.sampled_from(NASTY_TOKENS), st.text(max_size=6)))
                text = text[:a] + new + text[b:]
                continue
        else:
            text = text[: draw(st.integers(0, len(text)))]
            continue
        text = "\n".join(lines)
    return text


@FUZZ
@given(mutated_case_texts())
def test_mutated_case_files_give_a_case_or_one_case_error(text):
    load_or_case_error(text)


@FUZZ
@given(st.binary(max_size=200), st.sampled_from((b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")))
def test_arbitrary_bytes_as_a_case_file(data, prefix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.toml"
        path.write_bytes(prefix + data)
        try:
            load_case(path)
        except CaseError as err:
            check_case_error(err, str(path))


# ---------------------------------------------------------------------- case documents

#: values a document can hold after tomllib (dates and times included) and then some
NASTY_VALUES = st.one_of(
    hs.toml_values(),
    st.sampled_from(
        (
            math.nan, math.inf, -math.inf, 0, -0.0, -1, 1e308, -1e308, 5e-324, 2**63 - 1,
            -(2**63), 10**400, "", "   ", "\x00", "native", "foreign", "K", "Li", "stage_start",
            [], [[]], {}, [[0.0, 1.0], [0.0, 2.0]], [[0.0, math.nan]],
            datetime.date(1979, 5, 27), datetime.time(7, 32), datetime.datetime(1979, 5, 27, 7),
        )
    ).map(copy.deepcopy),  # the lists and tables are mutated later: never share them
)  # fmt: skip


def _node_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _node_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _node_paths(v, (*prefix, i))
    return out


@st.composite
def deeply_mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid document (drawn, or a real case file parsed) with one to three nodes replaced,
    removed or given a stray key, values from NASTY_VALUES (dates included)."""
    if draw(st.booleans()):
        doc = draw(hs.case_dicts(max_species=3, max_stages=2))
    else:
        doc = tomllib.loads(CASE_TEXTS[draw(st.sampled_from(sorted(CASE_TEXTS)))])
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = _node_paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(("replace", "remove", "add")))
        if action == "replace":
            parent[path[-1]] = draw(NASTY_VALUES)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(hs.toml_keys())] = draw(NASTY_VALUES)
        else:
            parent.append(draw(NASTY_VALUES))
    return doc


def _has_dates(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_has_dates(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_dates(v) for v in node)
    return isinstance(node, datetime.date | datetime.time)


@FUZZ
@given(deeply_mutated_documents())
def test_mutated_documents_give_a_case_or_one_case_error(doc):
    try:
        case = case_from_dict(doc, source=LABEL, base_dir=BAD)
    except CaseError as err:
        check_case_error(err)
        case = None
    if not _has_dates(doc):  # the TOML writer does not write dates (no case holds one)
        loaded = load_or_case_error(_dumps_toml(doc))
        assert loaded == case


# ---------------------------------------------------------------------- dotted keys

SPECIES_PARTS = ("Li", "K", "Na", "Rb", "*", "li", "")
INDEX_PARTS = ("1", "2", "0", "-1", "01", "1e3", "99999999999999999999", "x", "")
KEY_WORDS = tuple(
    sorted(
        {*_TOP_KEYS, *_SPECIES_KEYS, *_SED_KEYS, *_STAGE_KEYS, *_DATA_KEYS}
        | {k for keys in _TABLE_KEYS.values() for k in keys}
    )
)


@st.composite
def dotted_keys(draw: st.DrawFn) -> str:
    """Keys shaped like the schema's (right and wrong), or any text."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.text(max_size=20))
    head = draw(st.sampled_from((*_TOP_KEYS, "stages", "Sample", "")))
    parts = [head]
    if head == "species":
        parts.append(draw(st.sampled_from(SPECIES_PARTS)))
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from((*_SPECIES_KEYS, "sed", "fwhm"))))
            if parts[-1] == "sed" and draw(st.booleans()):
                parts.append(draw(st.sampled_from((*_SED_KEYS, "fwhm"))))
    elif head in ("stage", "data"):
        parts.append(draw(st.sampled_from(INDEX_PARTS)))
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(KEY_WORDS)))
            if parts[-1] in ("columns", "uncertainty_columns") and draw(st.booleans()):
                parts.append(draw(st.sampled_from(SPECIES_PARTS)))
    elif draw(st.integers(0, 3)) > 0:
        parts.append(draw(st.sampled_from(KEY_WORDS)))
    for _ in range(draw(st.integers(0, 1))):
        parts.append(draw(st.sampled_from(KEY_WORDS)))
    return ".".join(parts)


#: Python values a caller may pass to with_values (beyond what TOML holds)
PYTHON_VALUES = st.one_of(
    NASTY_VALUES,
    st.none(),
    st.floats().map(np.float64),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.sampled_from(
        (
            (1.0, 2.0), ((0.0, 1.0), (1.0, 2.0)), np.array([1.0, 2.0]), np.float32(1.5),
            decimal.Decimal("1.5"), fractions.Fraction(3, 2), 1 + 2j, b"bytes", Path("x.csv"),
            {"fwhm_eV": 0.3}, {"shape": "box", "width_eV": 0.2}, {"role": "foreign", "D_cm2_s": 1},
        )
    ).map(copy.deepcopy),
)  # fmt: skip
_DEFAULT = default_case()
_WITH_DATA = load_case(BAD / "valid_fit_case.toml")


def _leaf_keys(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every leaf of a canonical document (arrays of tables 1-based)."""
    if isinstance(node, dict) and not (prefix.endswith("columns") and prefix):
        out = []
        for k, v in node.items():
            out += _leaf_keys(v, f"{prefix}.{k}" if prefix else k)
        return out
    if isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        out = []
        for i, v in enumerate(node, 1):
            out += _leaf_keys(v, f"{prefix}.{i}")
        return out
    return [(prefix, node)]


#: the existing keys of both cases and their values
EXISTING = sorted(
    {
        (k, repr(v)): (k, v)
        for c in (_DEFAULT, _WITH_DATA)
        for k, v in _leaf_keys(_canonical_doc(c))
    }.values(),
    key=lambda kv: kv[0],
)


@st.composite
def plausible_items(draw: st.DrawFn) -> tuple[str, Any]:
    """An existing key with a value near its own, of another type, or nasty."""
    key, value = draw(st.sampled_from(EXISTING))
    if isinstance(value, float) and draw(st.booleans()):
        return key, value * draw(st.sampled_from((0.5, 2.0, 10.0, -1.0, 0.0, 1e-300, 1e300)))
    return key, draw(PYTHON_VALUES)


@FUZZ
@given(
    st.sampled_from(("default", "with-data")),
    st.lists(
        st.one_of(st.tuples(dotted_keys(), PYTHON_VALUES), plausible_items()),
        min_size=1,
        max_size=3,
    ),
)
def test_with_values_random_keys_and_values(which, items):
    case = _DEFAULT if which == "default" else _WITH_DATA
    label = case.source_label
    try:
        new = case.with_values(dict(items))
    except CaseError as err:
        check_case_error(err, label)
        event("CaseError")
        return
    event("set")
    assert loads_case(new.to_toml(), base_dir=BAD) == new
    for key, value in items:
        if value is not None:
            try:
                new.get_value(key)
            except CaseError as err:  # e.g. a later key removed the stage this one named
                check_case_error(err, label)


@FUZZ
@given(
    st.one_of(
        st.text(max_size=40),
        st.tuples(dotted_keys(), st.sampled_from(("=", " = ", "==", "")), st.text(max_size=20)).map(
            "".join
        ),
        st.tuples(dotted_keys(), st.sampled_from(NASTY_TOKENS)).map("=".join),
    )
)
def test_parse_assignment_then_with_values(text):
    try:
        key, value = parse_assignment(text)
    except CaseError as err:
        msg = str(err)
        assert msg.isprintable() and msg.startswith("--set: "), msg
        return
    assert isinstance(key, str) and key == key.strip() and key
    try:
        _DEFAULT.with_values({key: value})
    except CaseError as err:
        check_case_error(err, _DEFAULT.source_label)


# ---------------------------------------------------------------------- profiles


def check_data_file_error(err: BaseException, path: Path) -> None:
    assert isinstance(err, DataFileError), repr(err)
    msg = str(err)
    assert msg.isprintable() and msg.startswith(f"{path}: "), msg


def check_profile(p: MeasuredProfile) -> None:
    assert p.depth_nm.size >= 1 and np.all(np.diff(p.depth_nm) > 0) and p.depth_nm[0] >= 0
    for s in p.species:
        assert np.all(np.isfinite(p.values[s])) and np.all(p.sigma[s] > 0)


HEADER_WORDS = ("depth", "Depth", "depth_nm", "Li", "K", "dK", "t_s", "x", "µ", "Å", "")
UNIT_WORDS = ("nm", "um", "µm", "Å", "A", "Ang", "furlong", "s", "min", "", "nm nm", "(nm)")
GOOD_VALUES = ("0", "1", "2.5", "0,5", "1e-3", "0.25", "0.75")
VALUES = (*GOOD_VALUES * 3, "nan", "", "-", "inf", "abc", "1e308", "-1", "5e-324")


@st.composite
def profile_files(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Profile-like text with random headers (units in brackets, after _ or a space) and cells;
    returns the text and its header names."""
    delimiter = draw(st.sampled_from((",", ";", "\t", " ")))
    n_cols = draw(st.integers(1, 4))
    names = []
    for _ in range(n_cols):
        word = draw(st.sampled_from(HEADER_WORDS))
        style = draw(st.sampled_from(("plain", "bracket", "underscore", "space")))
        unit = draw(st.one_of(st.sampled_from(UNIT_WORDS), st.text(max_size=5)))
        names.append(
            {"plain": word, "bracket": f"{word} ({unit})", "underscore": f"{word}_{unit}"}.get(
                style, f"{word} {unit}"
            )
        )
    lines = [delimiter.join(names)]
    depth = 0
    for _ in range(draw(st.integers(0, 6))):
        depth += draw(st.integers(0, 3))
        cells = [str(depth)] + [draw(st.sampled_from(VALUES)) for _ in range(n_cols - 1)]
        lines.append(delimiter.join(cells))
    return "\n".join(lines) + "\n", names


ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be")


@st.composite
def read_arguments(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    """Consistent read_profile arguments naming header columns, near misses or anything."""
    column = st.one_of(st.sampled_from(names), st.text(max_size=8), st.sampled_from(HEADER_WORDS))
    kwargs: dict[str, Any] = {}
    if draw(st.booleans()):
        species = draw(st.lists(st.sampled_from(("Li", "K", "Rb")), min_size=1, unique=True))
        kwargs["columns"] = {s: draw(column) for s in species}
        if draw(st.booleans()):
            kwargs["uncertainty_columns"] = {species[0]: draw(column)}
        if draw(st.booleans()):
            kwargs["normalize"] = "bulk"
            kwargs["native"] = species[0]
    choice = draw(st.sampled_from(("auto", "depth", "time-rate", "time-crater")))
    if choice == "depth":
        kwargs["depth_column"] = draw(column)
    elif choice.startswith("time"):
        kwargs["time_column"] = draw(column)
        key = "sputter_rate_nm_s" if choice == "time-rate" else "crater_depth_nm"
        kwargs[key] = draw(st.sampled_from((1e-300, 0.5, 1e300)))
    return kwargs


@FUZZ
@given(profile_files(), st.sampled_from(ENCODINGS), st.data())
def test_profiles_in_any_encoding_with_any_column_arguments(table, encoding, data):
    text, names = table
    kwargs = data.draw(read_arguments(names))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.csv"
        path.write_bytes(text.encode(encoding, errors="replace"))
        try:
            profile = read_profile(path, **kwargs)
        except DataFileError as err:
            check_data_file_error(err, path)
            event("DataFileError")
        else:
            check_profile(profile)
            event("read")


PROFILE_FILES = sorted(p.name for p in (BAD / "profiles").iterdir())
PROFILE_FILES += ["good.csv"] * len(PROFILE_FILES)  # half of the draws read a valid file
DATA_VALUES = st.one_of(
    st.sampled_from(
        (
            "depth_nm", "Li", "K", "t_s", "depth (furlong)", "depth_Ang", "", 0, 1, 2, -1, 0.0,
            1e-300, 1e300, math.nan, "none", "bulk", {"Li": "Li"}, {"K": "K"}, {"K": "Li"},
            {"Li": "K", "K": "Li"}, {}, [1], True,
        )
    ),
    st.text(max_size=6),
)  # fmt: skip


@FUZZ
@given(
    st.sampled_from(PROFILE_FILES),
    st.dictionaries(st.sampled_from(_DATA_KEYS), DATA_VALUES, max_size=2),
)
def test_data_blocks_load_and_read_or_fail_with_their_error(profile, changes):
    """A [[data]] block with random keys: the case loader rejects it with CaseError, or the
    profile it names reads (or fails with DataFileError): the case validation and the reader's
    argument checks agree (no ValueError)."""
    block = {
        "file": f"profiles/{profile}",
        "depth_column": "depth_nm",
        "columns": {"Li": "Li", "K": "K"},
    }
    for key, value in changes.items():
        block[key] = value
    doc = {**copy.deepcopy(dict(_WITH_DATA.raw)), "data": [block]}
    try:
        case = case_from_dict(doc, source=LABEL, base_dir=BAD)
    except CaseError as err:
        check_case_error(err)
        event("CaseError")
        return
    spec = case.data[0]
    try:
        measured = profile_from_spec(spec, case.native.name)
    except DataFileError as err:
        check_data_file_error(err, spec.file)
        event("DataFileError")
    else:
        event("read")
        check_profile(measured)
        assert measured.after_stage == spec.after_stage


# ---------------------------------------------------------------------- result files

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@pytest.fixture(scope="module")
def result_bytes() -> bytes:
    case = nppsim.load_case(BAD / "valid_case.toml")
    with tempfile.TemporaryDirectory() as folder:
        return nppsim.simulate(case).save(Path(folder) / "r.h5").read_bytes()


def _load_or_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.h5"
        path.write_bytes(data)
        try:
            result = nppsim.load_result(path)
        except DataFileError as err:
            check_data_file_error(err, path)
            event("DataFileError")
        else:
            event("loaded")
            assert result.fractions.shape == (result.n_times, len(result.species), result.n_cells)


@settings(FUZZ, max_examples=100)
@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes_as_a_result(data, signed):
    _load_or_error((HDF5_SIGNATURE if signed else b"") + data)


@settings(FUZZ, max_examples=300)
@given(st.data())
def test_damaged_results_load_or_fail_with_one_data_file_error(result_bytes, data):
    """Random bytes of a real result overwritten (and sometimes the file cut): h5py raises
    OSError, KeyError, RuntimeError, ValueError or TypeError inside; load_result only
    DataFileError."""
    damaged = bytearray(result_bytes)
    n = len(damaged)
    for _ in range(data.draw(st.integers(1, 6))):
        # the first 4 kB hold the superblock, the object headers and the attribute heaps
        at = data.draw(st.one_of(st.integers(0, min(n, 4096) - 1), st.integers(0, n - 1)))
        damaged[at] = data.draw(st.integers(0, 255))
    if data.draw(st.integers(0, 5)) == 0:
        damaged = damaged[: data.draw(st.integers(0, n))]
    assume(bytes(damaged) != result_bytes)
    _load_or_error(bytes(damaged))
