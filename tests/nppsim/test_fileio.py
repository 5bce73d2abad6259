"""Atomic writes: the target is complete or untouched, and no temporary files remain."""

from __future__ import annotations

import os
import stat

import h5py
import numpy as np
import pytest

from nppsim.fileio import atomic_path, atomic_write, write_csv_atomic


class Boom(Exception):
    pass


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_atomic_write_text_creates_file(tmp_path):
    target = tmp_path / "a.txt"
    with atomic_write(target) as f:
        f.write("hello\n")
    assert target.read_text() == "hello\n"
    assert _leftovers(tmp_path) == []


def test_temp_file_is_hidden_beside_target(tmp_path):
    target = tmp_path / "a.bin"
    with atomic_write(target, "wb") as f:
        names = [p.name for p in tmp_path.iterdir()]
        f.write(b"\x00\x01")
    assert len(names) == 1 and names[0].startswith(".a.bin.tmp-")
    assert target.read_bytes() == b"\x00\x01"


def test_exception_mid_write_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(Boom), atomic_write(target) as f:
        f.write("new, half written")
        raise Boom
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_exception_without_existing_target_leaves_nothing(tmp_path):
    target = tmp_path / "never.txt"
    with pytest.raises(Boom), atomic_write(target, "wb") as f:
        f.write(b"x")
        raise Boom
    assert list(tmp_path.iterdir()) == []


def test_keyboard_interrupt_also_cleans_up(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as f:
        f.write("new")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_hdf5_through_atomic_path_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "r.h5"
    with atomic_path(target) as tmp, h5py.File(tmp, "w") as h5:
        h5["x"] = np.arange(3.0)
    with pytest.raises(Boom), atomic_path(target) as tmp, h5py.File(tmp, "w") as h5:
        h5["x"] = np.arange(5.0)
        raise Boom
    with h5py.File(target, "r") as h5:
        np.testing.assert_array_equal(h5["x"][()], np.arange(3.0))
    assert _leftovers(tmp_path) == []


def test_new_file_is_not_private(tmp_path):
    # mkstemp creates 0600 files; the result should get the usual umask-based permissions
    target = tmp_path / "a.txt"
    with atomic_write(target) as f:
        f.write("x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_replacing_keeps_permissions(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    target.chmod(0o640)
    with atomic_write(target) as f:
        f.write("new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_missing_folder_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_write(tmp_path / "no" / "a.txt") as f:
        f.write("x")
    assert list(tmp_path.iterdir()) == []


def test_bad_mode_rejected(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "a", "a"):
        pass


def test_write_csv_atomic_format(tmp_path):
    target = tmp_path / "p.csv"
    depth = np.array([0.25, 0.75, 1.5])
    li = np.array([0.0079, 0.5, 1.0 / 3.0])
    write_csv_atomic(target, ["depth_nm", "Li"], [depth, li])
    lines = target.read_text().splitlines()
    assert lines[0] == "depth_nm,Li"
    assert lines[1] == "0.25,0.0079"
    assert lines[3] == "1.5,0.3333333333"
    table = np.loadtxt(target, delimiter=",", skiprows=1)
    np.testing.assert_allclose(table, np.column_stack([depth, li]), rtol=1e-9, atol=0)


def test_write_csv_atomic_rejects_ragged_columns(tmp_path):
    with pytest.raises(ValueError, match="length"):
        write_csv_atomic(tmp_path / "p.csv", ["a", "b"], [np.zeros(2), np.zeros(3)])
    assert list(tmp_path.iterdir()) == []
