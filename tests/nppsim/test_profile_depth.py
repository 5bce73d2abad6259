"""Tests of the depth axis of a measured profile (nppsim/profile_depth.py): depth units read from
the header (nm, µm, Å in their spellings), sputter time converted with a sputter rate or a crater
depth, positions given in reverse order, and the clear errors when a time or a depth cannot be
converted. The reading helpers and the small example file come from test_profiles.py."""

from __future__ import annotations

import numpy as np
import pytest

from nppsim.errors import DataFileError
from nppsim.profiles import read_profile
from tests.nppsim.test_profiles import SIMPLE, SIMPLE_DEPTH, SIMPLE_K, check_error, write


@pytest.mark.parametrize(
    ("header", "factor"),
    [
        ("depth_nm", 1.0),
        ("depth (nm)", 1.0),
        ("Depth [nm]", 1.0),
        ("depth nm", 1.0),
        ("depth/nm", 1.0),
        ("DEPTH", 1.0),
        ("depth_um", 1000.0),
        ("depth (um)", 1000.0),
        ("depth (µm)", 1000.0),  # micro sign U+00B5
        ("depth (μm)", 1000.0),  # Greek mu U+03BC
        ("Depth [µm]", 1000.0),
        ("depth_micron", 1000.0),
        ("depth (A)", 0.1),
        ("depth_A", 0.1),
        ("Depth [Å]", 0.1),  # Latin capital A with ring U+00C5
        ("Depth (\u212b)", 0.1),  # angstrom sign U+212B
        ("depth_angstrom", 0.1),
        ("Depth (nm) corrected", 1.0),
    ],
)
def test_depth_units_from_the_header(tmp_path, header, factor):
    path = write(tmp_path, "u.csv", f'"{header}",K\n2.5,0.5\n40,0.25\n')
    p = read_profile(path)
    np.testing.assert_allclose(p.depth_nm, [2.5 * factor, 40.0 * factor], rtol=1e-15)


def test_unquoted_header_with_unit_in_whitespace_file(tmp_path):
    path = write(tmp_path, "w.txt", "depth (um)   Li  K\n0.5 0.25 0.75\n1.5 0.5 0.5\n")
    p = read_profile(path)
    np.testing.assert_allclose(p.depth_nm, [500.0, 1500.0], rtol=1e-15)
    assert p.species == ("Li", "K")


def test_sputter_time_with_rate(tmp_path):
    path = write(tmp_path, "t.csv", "t_s,Li,K\n0,0.1,0.9\n10,0.5,0.5\n30,1,0\n")
    p = read_profile(path, time_column="t_s", sputter_rate_nm_s=0.2)
    np.testing.assert_allclose(p.depth_nm, [0.0, 2.0, 6.0], rtol=1e-15)
    np.testing.assert_allclose(p.values["Li"], [0.1, 0.5, 1.0], rtol=1e-15)


def test_sputter_time_with_crater_depth(tmp_path):
    path = write(tmp_path, "t.csv", "time (s);K\n1;0,9\n2;0,5\n4;0\n")
    p = read_profile(path, columns={"K": "K"}, time_column="time (s)", crater_depth_nm=450.0)
    np.testing.assert_allclose(p.depth_nm, [112.5, 225.0, 450.0], rtol=1e-15)


def test_sputter_time_in_minutes(tmp_path):
    path = write(tmp_path, "t.csv", "Time (min)\tK\n0.5\t0.9\n1\t0.5\n")
    p = read_profile(path, time_column="time (min)", sputter_rate_nm_s=0.1)
    np.testing.assert_allclose(p.depth_nm, [3.0, 6.0], rtol=1e-15)
    # a crater depth does not depend on the time unit
    q = read_profile(path, time_column="Time (min)", crater_depth_nm=100.0)
    np.testing.assert_allclose(q.depth_nm, [50.0, 100.0], rtol=1e-15)


def test_reversed_depth_order_is_sorted(tmp_path):
    rows = "\n".join(reversed(SIMPLE.strip().split("\n")[1:]))
    path = write(tmp_path, "rev.csv", f"depth_nm,Li,K\n{rows}\n")
    p = read_profile(path)
    np.testing.assert_allclose(p.depth_nm, SIMPLE_DEPTH, rtol=1e-15)
    np.testing.assert_allclose(p.values["K"], SIMPLE_K, rtol=1e-15)


def test_reversed_sputter_time(tmp_path):
    path = write(tmp_path, "rev.csv", "t_s,K\n30,0\n10,0.5\n0,0.9\n")
    p = read_profile(path, time_column="t_s", crater_depth_nm=60.0)
    np.testing.assert_allclose(p.depth_nm, [0.0, 20.0, 60.0], rtol=1e-15)
    np.testing.assert_allclose(p.values["K"], [0.9, 0.5, 0.0], rtol=1e-15)


def test_crater_depth_needs_a_positive_time(tmp_path):
    path = write(tmp_path, "t.csv", "t_s,K\n0,0.5\n")
    with pytest.raises(DataFileError) as exc:
        read_profile(path, time_column="t_s", crater_depth_nm=100.0)
    check_error(exc.value, path, "column 't_s': the largest sputter time is 0")


def test_depth_overflow_on_unit_conversion(tmp_path):
    path = write(tmp_path, "o.csv", "depth_um,K\n1e306,0.5\n")
    with pytest.raises(DataFileError) as exc:
        read_profile(path)
    check_error(exc.value, path, "numbers out of range")


@pytest.mark.parametrize("offset", [1e300, 1e20])
def test_an_offset_that_swamps_the_depths_is_a_data_file_error(tmp_path, offset):
    """depth_offset_nm so large that the file's depths vanish against it in floating point
    (found by the fuzz test with 1e300): one line naming the file and both keys, not the
    ValueError of the profile's own check."""
    path = write(tmp_path, "p.csv", SIMPLE)
    with pytest.raises(DataFileError) as info:
        read_profile(path, depth_offset_nm=offset)
    check_error(info.value, path, "depth_scale", "depth_offset_nm")
