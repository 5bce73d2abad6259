"""Tests of raw counts normalised to the bulk (``normalize = "bulk"``): the fractions and their
Poisson uncertainties are recovered from synthetic counts, uncertainty columns are scaled with the
counts, and counts that cannot be normalised are one clear DataFileError; then profiles read for a
case's [[data]] blocks (profile_from_spec), one of them such counts. The reading helpers and the
small case come from test_profiles.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nppsim import loads_case
from nppsim.case import DataSpec
from nppsim.errors import DataFileError
from nppsim.profiles import profile_from_spec, read_profile
from tests.nppsim.test_profiles import CASE, SIMPLE, SIMPLE_K, check_error, check_profile, write

# ---- normalize = "bulk" -----------------------------------------------------------------------


def synthetic_fractions(n: int = 100) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Li replaced by K (linear to 60 nm) and Rb (quadratic to 30 nm); pristine below 60 nm."""
    depth = np.linspace(0.5, 99.5, n)
    k = 0.7 * np.clip(1.0 - depth / 60.0, 0.0, None)
    rb = 0.2 * np.clip(1.0 - depth / 30.0, 0.0, None) ** 2
    return depth, {"Li": 1.0 - k - rb, "K": k, "Rb": rb}


SENSITIVITY = {"Li": 3.7e4, "K": 5.1e3, "Rb": 812.3}


def write_counts(folder: Path, with_uncertainty: bool = False, delimiter: str = ",") -> Path:
    depth, fractions = synthetic_fractions()
    counts = {s: SENSITIVITY[s] * f for s, f in fractions.items()}
    header = ["depth_nm", *counts]
    columns = [depth, *counts.values()]
    if with_uncertainty:
        header += [f"d{s}" for s in counts]
        columns += [np.sqrt(c) for c in counts.values()]
    lines = [delimiter.join(header)]
    lines += [delimiter.join(repr(float(c[i])) for c in columns) for i in range(depth.size)]
    return write(folder, "counts.csv", "\n".join(lines) + "\n")


def test_bulk_normalisation_recovers_the_fractions(tmp_path):
    path = write_counts(tmp_path)
    p = read_profile(path, normalize="bulk", native="Li")
    _, fractions = synthetic_fractions()
    for s, f in fractions.items():
        np.testing.assert_allclose(p.values[s], f, rtol=0.0, atol=1e-12, err_msg=s)
    # counts: Poisson statistics alone by default (relative 0), then the floor
    for s, f in fractions.items():
        counting = np.sqrt(SENSITIVITY[s] * f) / SENSITIVITY[s]
        expected = np.maximum(counting, 1e-4)
        np.testing.assert_allclose(p.sigma[s], expected, rtol=1e-9, err_msg=s)


def test_bulk_normalisation_scales_uncertainty_columns(tmp_path):
    path = write_counts(tmp_path, with_uncertainty=True, delimiter="\t")
    unc = {"Li": "dLi", "K": "dK", "Rb": "dRb"}
    p = read_profile(
        path,
        columns={"Li": "Li", "K": "K", "Rb": "Rb"},
        uncertainty_columns=unc,
        normalize="bulk",
        native="Li",
        uncertainty_floor=1e-6,
    )
    _, fractions = synthetic_fractions()
    for s, f in fractions.items():
        np.testing.assert_allclose(p.values[s], f, rtol=0.0, atol=1e-12, err_msg=s)
        expected = np.maximum(np.sqrt(SENSITIVITY[s] * f) / SENSITIVITY[s], 1e-6)
        np.testing.assert_allclose(p.sigma[s], expected, rtol=1e-9, err_msg=s)


def test_bulk_normalisation_native_only(tmp_path):
    path = write(tmp_path, "n.csv", "depth_nm,Li\n1,10\n2,20\n3,40\n4,40\n5,40\n")
    p = read_profile(path, normalize="bulk", native="Li", relative_uncertainty=0.0)
    np.testing.assert_allclose(p.values["Li"], [0.25, 0.5, 1.0, 1.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(p.sigma["Li"], np.sqrt([10, 20, 40, 40, 40]) / 40.0, rtol=1e-15)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("depth_nm,Li,K\n1,0,0\n2,5,0\n3,10,0\n4,10,0\n", ["column 'K': all counts are 0"]),
        (
            "depth_nm,Li,K\n1,0,-5\n2,5,-3\n3,10,0\n4,10,0\n",
            ["column 'K': its scale to the bulk", "not > 0"],
        ),
        ("depth_nm,Li,K\n1,0,5\n2,0,0\n3,0,0\n", ["column 'Li': mean count 0.0", "deepest 3"]),
        ("depth_nm,Li,K\n1,5,5\n2,10,0\n", ["needs at least 3 data rows, got 2"]),
        ("depth_nm,K,Rb\n1,5,5\n2,10,0\n3,0,0\n", ["needs the native species 'Li'"]),
        (
            "depth_nm,Li,K,Rb\n1,0,5,10\n2,5,3,6\n3,10,0,0\n4,10,0,0\n",
            ["columns K, Rb are linearly dependent"],
        ),
    ],
)
def test_bulk_normalisation_errors(tmp_path, text, fragments):
    path = write(tmp_path, "b.csv", text)
    with pytest.raises(DataFileError) as exc:
        read_profile(path, normalize="bulk", native="Li")
    check_error(exc.value, path, *fragments)


# ---- profiles of a case -----------------------------------------------------------------------


def test_profile_from_a_data_spec(tmp_path):
    path = write(tmp_path, "k.csv", "t_s;K39;dK\n0;0,9;0,01\n10;0,5;0,02\n20;0,1;0,03\n")
    spec = DataSpec(
        file=path,
        after_stage=2,
        columns=(("K", "K39"),),
        time_column="t_s",
        crater_depth_nm=300.0,
        depth_resolution_nm=2.5,
        uncertainty_columns=(("K", "dK"),),
        uncertainty_floor=0.015,
    )
    p = profile_from_spec(spec, native="Li")
    check_profile(p)
    assert (p.file, p.after_stage, p.depth_resolution_nm, p.species) == (path, 2, 2.5, ("K",))
    np.testing.assert_allclose(p.depth_nm, [0.0, 150.0, 300.0], rtol=1e-15)
    np.testing.assert_allclose(p.values["K"], [0.9, 0.5, 0.1], rtol=1e-15)
    np.testing.assert_allclose(p.sigma["K"], [0.015, 0.02, 0.03], rtol=1e-15)


def test_profile_from_a_loaded_case(tmp_path):
    write(tmp_path, "lbo_k.csv", SIMPLE)
    write_counts(tmp_path)
    text = CASE + (
        '\n[[data]]\nfile = "lbo_k.csv"\ndepth_column = "depth_nm"\n'
        'columns = { Li = "Li", K = "K" }\ndepth_resolution_nm = 2.0\n'
        '\n[[data]]\nfile = "counts.csv"\ndepth_column = "depth_nm"\n'
        'columns = { K = "K", Li = "Li" }\nnormalize = "bulk"\n'
    )
    case = loads_case(text, source="x.toml", base_dir=tmp_path)
    p = profile_from_spec(case.data[0], case.native.name)
    assert (p.after_stage, p.depth_resolution_nm, p.species) == (1, 2.0, ("Li", "K"))
    assert p.file == (tmp_path / "lbo_k.csv").resolve()
    np.testing.assert_allclose(p.values["K"], SIMPLE_K, rtol=1e-15)
    q = profile_from_spec(case.data[1], case.native.name)
    assert q.species == ("K", "Li")
    _, fractions = synthetic_fractions()
    # Rb is not read, so the scale of K absorbs it; Li is normalised exactly regardless
    np.testing.assert_allclose(q.values["Li"], fractions["Li"], rtol=0.0, atol=1e-12)
    exchanged = fractions["K"] > 0.0
    assert np.all(q.values["K"][exchanged] > 0.0) and np.all(q.values["K"][~exchanged] == 0.0)
