"""Tests of real-export reading and quantification: header detection, units rows, matrix
normalisation, sensitivity factors, background, bulk level, fit range, depth calibration,
Poisson uncertainties and the checks that refuse nonsense."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nppsim import loads_case
from nppsim.errors import CaseError, DataFileError
from nppsim.profiles import profile_from_spec, read_profile
from nppsim.quantify import check_fractions, site_density_limit
from tests.nppsim.test_profiles import CASE

# ---- a small synthetic counts profile with known fractions ------------------------------------

DEPTH = np.arange(1.0, 121.0, 1.0)  # nm
#: K replaces Li to 50 nm (linear), pristine below 60 nm
K_TRUE = np.clip(1.0 - DEPTH / 60.0, 0.0, None) * 0.9
LI_TRUE = 1.0 - K_TRUE
S_LI, S_K, S_B = 2.0e4, 5.0e4, 1.0e5
BG_K = 3.0


def counts_text(
    drift: np.ndarray | None = None,
    matrix: bool = True,
    background: float = BG_K,
    preamble: str = "",
    units: bool = False,
    newline: str = "\n",
) -> str:
    """Exact (noise-free) counts: Li, K scaled by the primary-current drift; 11B+ matrix."""
    d = np.ones_like(DEPTH) if drift is None else drift
    header = "depth_nm\tLi+\tK+" + ("\t11B+" if matrix else "")
    lines = [*([preamble] if preamble else []), header]
    if units:
        lines.append("(nm)\t(counts)\t(counts)" + ("\t(counts)" if matrix else ""))
    for i, x in enumerate(DEPTH):
        row = [x, S_LI * LI_TRUE[i] * d[i], S_K * K_TRUE[i] * d[i] + background]
        if matrix:
            row.append(S_B * d[i])
        lines.append("\t".join(repr(float(v)) for v in row))
    return newline.join(lines) + newline


def write(tmp_path: Path, text: str, name: str = "p.txt", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


COLUMNS = {"Li": "Li+", "K": "K+"}


# ---- header, preamble, units row --------------------------------------------------------------


def test_preamble_without_comment_marks_is_skipped(tmp_path):
    preamble = "IONTOF export\nSample: glass 7, 77 °C\nanalysis\tBi3+ 30 keV\n"
    path = write(tmp_path, counts_text(preamble=preamble.rstrip("\n")), encoding="latin-1")
    p = read_profile(
        path, columns=COLUMNS, depth_column="depth_nm", normalize="matrix", native="Li",
        matrix_column="11B+", background={"K": BG_K},
    )  # fmt: skip
    assert p.info["header_line"] == 4 and p.info["preamble_lines"] == 3
    np.testing.assert_allclose(p.values["Li"], LI_TRUE, rtol=1e-12)
    np.testing.assert_allclose(p.values["K"], K_TRUE, atol=1e-12)


def test_header_row_forces_the_header(tmp_path):
    # the preamble mentions the depth column's name: header_row says where the header is
    text = "depth_nm is in nm\n" + counts_text(matrix=False)
    path = write(tmp_path, text)
    with pytest.raises(DataFileError, match="line 3: 3 fields, expected 4"):
        read_profile(path, columns=COLUMNS, depth_column="depth_nm")
    p = read_profile(
        path, columns=COLUMNS, depth_column="depth_nm", header_row=2, normalize="bulk",
        native="Li",
    )  # fmt: skip
    assert p.n_points == DEPTH.size and p.info["header_line"] == 2


def test_header_row_on_a_blank_or_missing_line_is_an_error(tmp_path):
    path = write(tmp_path, "\n" + counts_text(matrix=False))
    with pytest.raises(DataFileError, match="line 1: header_row points to a blank line"):
        read_profile(path, columns=COLUMNS, header_row=1)
    with pytest.raises(DataFileError, match="past the end"):
        read_profile(path, columns=COLUMNS, header_row=10_000)


def test_units_row_gives_the_depth_unit(tmp_path):
    text = counts_text(matrix=False, units=True).replace("(nm)", "(um)", 1)
    text = text.replace("depth_nm", "Depth", 1)  # no unit in the header: the units row's
    path = write(tmp_path, text.replace("\n", "\r\n"))
    p = read_profile(path, columns=COLUMNS, depth_column="Depth", normalize="bulk", native="Li")
    assert p.info["units_row"] is True
    np.testing.assert_allclose(p.depth_nm, DEPTH * 1e3, rtol=1e-12)


def test_units_row_with_an_unknown_unit_is_an_error(tmp_path):
    text = counts_text(matrix=False, units=True).replace("(nm)", "(furlong)", 1)
    text = text.replace("depth_nm", "Depth", 1)
    with pytest.raises(DataFileError, match="unknown length unit 'furlong'"):
        read_profile(write(tmp_path, text), columns=COLUMNS, depth_column="Depth")


# ---- quantification ---------------------------------------------------------------------------


def test_matrix_normalisation_cancels_the_primary_current_drift(tmp_path):
    drift = 1.0 - 0.3 * DEPTH / DEPTH[-1]
    path = write(tmp_path, counts_text(drift=drift))
    kw = {"columns": COLUMNS, "depth_column": "depth_nm", "native": "Li", "background": {"K": BG_K}}
    p = read_profile(path, normalize="matrix", matrix_column="11B+", **kw)
    np.testing.assert_allclose(p.values["Li"], LI_TRUE, rtol=1e-12)
    np.testing.assert_allclose(p.values["K"], K_TRUE, atol=1e-12)
    assert p.info["bulk_level"] == pytest.approx(S_LI * drift[-1] / (S_B * drift[-1]))
    # without the matrix the drift stays in the profile: Li at 60 nm reads 0.3 * 50/120 too high
    q = read_profile(path, normalize="bulk", **kw)
    i = int(np.searchsorted(DEPTH, 60.0))
    assert q.values["Li"][i] > 1.08


def test_poisson_uncertainty_propagates_background_and_matrix(tmp_path):
    path = write(tmp_path, counts_text())
    p = read_profile(
        path, columns=COLUMNS, depth_column="depth_nm", normalize="matrix", native="Li",
        matrix_column="11B+", background={"K": BG_K}, uncertainty_floor=1e-12,
    )  # fmt: skip
    k_factor = p.info["factors"]["K"]
    i_k = S_K * K_TRUE + BG_K  # raw counts of K
    ratio = (i_k - BG_K) / S_B
    expected = k_factor * np.sqrt(i_k / S_B**2 + ratio**2 / S_B)
    np.testing.assert_allclose(p.sigma["K"], np.maximum(expected, 1e-12), rtol=1e-9)
    assert "Poisson" in p.info["uncertainty_model"]
    assert p.info["relative_uncertainty"] == 0.0


def test_sensitivity_factors_quantify_foreign_ions_against_the_native(tmp_path):
    path = write(tmp_path, counts_text(matrix=False, background=0.0))
    p = read_profile(
        path, columns=COLUMNS, depth_column="depth_nm", normalize="bulk", native="Li",
        sensitivity={"Li": 1.0, "K": S_LI / S_K},
    )  # fmt: skip
    np.testing.assert_allclose(p.values["K"], K_TRUE, atol=1e-12)
    assert "sensitivity" in p.info["factor_from"]["K"]


def test_bulk_level_given_replaces_the_deepest_rows(tmp_path):
    path = write(tmp_path, counts_text(matrix=False, background=0.0))
    p = read_profile(
        path, columns=COLUMNS, depth_column="depth_nm", normalize="bulk", native="Li",
        bulk_level=S_LI / 2.0,
    )  # fmt: skip
    np.testing.assert_allclose(p.values["Li"], 2.0 * LI_TRUE, rtol=1e-12)
    assert p.info["bulk_level_from"] == "bulk_level (given)"


def test_fit_range_and_depth_calibration(tmp_path):
    path = write(tmp_path, counts_text())
    kw = {
        "columns": COLUMNS, "depth_column": "depth_nm", "normalize": "matrix", "native": "Li",
        "matrix_column": "11B+", "background": {"K": BG_K},
    }  # fmt: skip
    p = read_profile(path, fit_range_nm=(10.0, 100.0), depth_scale=0.9, depth_offset_nm=-2.0, **kw)
    kept = (DEPTH >= 10.0) & (DEPTH <= 100.0)
    np.testing.assert_allclose(p.depth_nm, 0.9 * DEPTH[kept] - 2.0, rtol=1e-12)
    np.testing.assert_allclose(p.values["Li"], LI_TRUE[kept], rtol=1e-12)
    assert p.info["points_used"] == kept.sum() and len(p.info["excluded"]) == 2
    # the bulk level comes from the deepest rows of the whole file, not of the fit range
    assert p.info["file_depth_range_nm"] == [10.0, 100.0]
    # re-reading with the same rows keeps the points whatever the new calibration
    q = read_profile(path, rows=p.file_rows, depth_scale=1.1, **kw)
    assert q.n_points == p.n_points
    with pytest.raises(DataFileError, match="< 0 after depth_scale"):
        read_profile(path, depth_offset_nm=-5.0, **kw)
    with pytest.raises(DataFileError, match="holds no row"):
        read_profile(path, fit_range_nm=(500.0, 600.0), **kw)


# ---- checks that refuse nonsense -------------------------------------------------------------


def test_profile_cut_before_the_bulk_is_refused(tmp_path):
    text = counts_text(matrix=False, background=0.0)
    cut = "\n".join(text.splitlines()[:56]) + "\n"  # ends at 55 nm, inside the exchanged zone
    path = write(tmp_path, cut)
    with pytest.raises(DataFileError, match=r"does not reach the bulk.*give bulk_level"):
        read_profile(path, columns=COLUMNS, normalize="bulk", native="Li")
    # a given bulk level is the operator's statement: no check
    p = read_profile(path, columns=COLUMNS, normalize="bulk", native="Li", bulk_level=S_LI)
    np.testing.assert_allclose(p.values["Li"], LI_TRUE[:55], rtol=1e-12)


def test_foreign_signal_in_the_deepest_rows_is_refused(tmp_path):
    # Li flat (a plateau) to the end, K still there: the bulk was never reached
    rows = "\n".join(f"{x},{500.0},{9000.0 + x}" for x in range(1, 60))
    path = write(tmp_path, "depth_nm,Li,K\n" + rows + "\n")
    with pytest.raises(DataFileError, match="foreign signal 'K' is still"):
        read_profile(path, normalize="bulk", native="Li")


def test_zero_matrix_counts_are_refused(tmp_path):
    text = counts_text().splitlines()
    cells = text[5].split("\t")
    cells[-1] = "0"
    text[5] = "\t".join(cells)
    path = write(tmp_path, "\n".join(text) + "\n")
    with pytest.raises(DataFileError, match=r"line 6: column '11B\+': matrix counts 0.0"):
        read_profile(path, columns=COLUMNS, normalize="matrix", native="Li", matrix_column="11B+")
    with pytest.raises(DataFileError, match="no column '11B'"):
        read_profile(path, columns=COLUMNS, normalize="matrix", native="Li", matrix_column="11B")


def test_counts_read_as_fractions_are_refused(tmp_path):
    case = loads_case(CASE)
    path = write(tmp_path, counts_text(matrix=False))
    # far beyond any fraction: refused while reading already (MAX_DATA_FRACTION)
    with pytest.raises(DataFileError, match="set normalize"):
        read_profile(path, columns=COLUMNS)
    # counts of a weak signal, below that bound, but above the case's site density
    counts = {"Li": 50.0 * LI_TRUE, "K": 50.0 * K_TRUE}
    with pytest.raises(DataFileError, match="set normalize"):
        check_fractions(str(path), counts, ("Li", "K"), "none", site_density_limit(case))
    # fractions of n_bulk with noise pass
    check_fractions("f", {"Li": np.array([1.08])}, ("Li",), "none", site_density_limit(case))


def test_site_density_limit_of_an_sed_species():
    case = loads_case(CASE).with_values(
        {"species.Li.sed.fwhm_eV": 0.25, "species.Li.sed.vacancy_fraction": 0.2}
    )
    assert site_density_limit(case) == pytest.approx(1.0 / 0.8)


# ---- the case keys ----------------------------------------------------------------------------


def data_case(tmp_path: Path, block: str) -> str:
    write(tmp_path, counts_text(), "counts.txt")
    return CASE + '\n[[data]]\nfile = "counts.txt"\ncolumns = { Li = "Li+", K = "K+" }\n' + block


def test_case_keys_reach_the_reader(tmp_path):
    text = data_case(
        tmp_path,
        'depth_column = "depth_nm"\nnormalize = "matrix"\nmatrix_column = "11B+"\n'
        "background = { K = 3.0 }\nfit_range_nm = [5.0, 200.0]\ndepth_scale = 0.95\n"
        "depth_offset_nm = 1.0\nheader_row = 1\n",
    )
    case = loads_case(text, base_dir=tmp_path)
    spec = case.data[0]
    assert spec.relative_uncertainty == 0.0  # counts: Poisson alone by default
    p = profile_from_spec(spec, "Li")
    np.testing.assert_allclose(p.depth_nm, 0.95 * DEPTH[4:] + 1.0, rtol=1e-12)
    np.testing.assert_allclose(p.values["K"], K_TRUE[4:], atol=1e-12)
    # background entries are dotted keys: settable and read back
    moved = case.with_values({"data.1.background.K": 5.0})
    assert moved.get_value("data.1.background.K") == 5.0
    again = loads_case(case.to_toml(), base_dir=tmp_path)
    assert again == case


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ('depth_column = "depth_nm"\nnormalize = "matrix"\n', "data.1.matrix_column"),
        ('depth_column = "depth_nm"\nmatrix_column = "11B+"\n', 'only used with normalize = "'),
        ('depth_column = "depth_nm"\nbackground = { K = 1.0 }\n', "data.1.background"),
        ('depth_column = "depth_nm"\nnormalize = "bulk"\nbackground = { Na = 1.0 }\n', "'Na'"),
        ('depth_column = "depth_nm"\nnormalize = "bulk"\nsensitivity = { K = 0.0 }\n', "> 0"),
        ('depth_column = "depth_nm"\nfit_range_nm = [10.0, 5.0]\n', "high must be > low"),
        ('depth_column = "depth_nm"\nfit_range_nm = [10.0]\n', "[low, high]"),
        ('depth_column = "depth_nm"\ndepth_scale = 0.0\n', "data.1.depth_scale: must be > 0"),
        ('depth_column = "depth_nm"\nheader_row = 0\n', "data.1.header_row: must be >= 1"),
        ('depth_column = "depth_nm"\nbulk_level = 1.0\n', "data.1.bulk_level"),
    ],
)
def test_case_key_errors(tmp_path, block, fragment):
    with pytest.raises(CaseError) as info:
        loads_case(data_case(tmp_path, block), base_dir=tmp_path)
    assert fragment in str(info.value) and "\n" not in str(info.value)


# ---- properties of the readers ---------------------------------------------------------------

preamble_lines = st.lists(
    st.text(
        st.characters(codec="latin-1", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=30,
    ).filter(lambda s: s.strip() and not s.lstrip().startswith("#") and "time" not in s.lower()),
    max_size=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    preamble=preamble_lines,
    delimiter=st.sampled_from(["\t", ";", ","]),
    newline=st.sampled_from(["\n", "\r\n"]),
    units=st.booleans(),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
)
def test_header_detection_property(tmp_path, preamble, delimiter, newline, units, encoding):
    """Any preamble free of the time column's name is skipped, with or without a units row,
    and the profile reads the same."""
    t = np.arange(1.0, 41.0)
    li = np.where(t < 20, 0.1, 1.0)
    lines = [*preamble, delimiter.join(["Time", "Li+", "K+"])]
    if units:
        lines.append(delimiter.join(["s", "cts", "cts"]))
    lines += [
        delimiter.join([f"{a:g}", f"{b:g}", f"{1 - b:g}"]) for a, b in zip(t, li, strict=True)
    ]
    path = tmp_path / "h.txt"
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    p = read_profile(path, columns=COLUMNS, time_column="Time", sputter_rate_nm_s=0.5)
    assert p.info["header_line"] == len(preamble) + 1
    assert p.info["units_row"] is units
    np.testing.assert_allclose(p.depth_nm, 0.5 * t, rtol=1e-12)
    np.testing.assert_allclose(p.values["Li"], li, rtol=1e-12)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scale=st.floats(0.5, 2.0),
    offset=st.floats(-0.5, 20.0),
    low=st.floats(0.0, 50.0),
)
def test_depth_calibration_property(tmp_path, scale, offset, low):
    """true depth = scale * file depth + offset on the rows inside fit_range_nm; values and
    sigma do not depend on the calibration."""
    path = tmp_path / "c.txt"
    path.write_text(counts_text(), encoding="utf-8")
    kw = {
        "columns": COLUMNS, "depth_column": "depth_nm", "normalize": "matrix", "native": "Li",
        "matrix_column": "11B+", "background": {"K": BG_K}, "fit_range_nm": (low, 1e3),
    }  # fmt: skip
    base = read_profile(path, **kw)
    p = read_profile(path, depth_scale=scale, depth_offset_nm=offset, **kw)
    kept = DEPTH >= low
    np.testing.assert_allclose(p.depth_nm, scale * DEPTH[kept] + offset, rtol=1e-12, atol=1e-12)
    for s in p.species:
        np.testing.assert_array_equal(p.values[s], base.values[s])
        np.testing.assert_array_equal(p.sigma[s], base.sigma[s])
