"""The check of HDF5 global heaps before the library reads a file (nppsim.hdf5heap).

A damaged result whose global heap holds a free-space object of size 0 made h5py's first read
of a text attribute loop forever inside the HDF5 library (the fuzz test of damaged results hung
once in a full run; reproduced with random damage of a real result in ~1 of 1000 files).
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nppsim
from nppsim.errors import DataFileError
from nppsim.hdf5heap import SIGNATURE, global_heap_problem

BAD = Path(__file__).resolve().parents[1] / "robustness" / "bad_inputs"


@pytest.fixture(scope="module")
def result_file(tmp_path_factory) -> Path:
    case = nppsim.load_case(BAD / "valid_case.toml")
    return nppsim.simulate(case).save(tmp_path_factory.mktemp("heap") / "r.h5")


def _objects(data: bytes, at: int) -> list[tuple[int, int, int]]:
    """(byte offset, index, size) of the objects of the collection at `at`."""
    (size,) = struct.unpack_from("<Q", data, at + 8)
    p, out = at + 16, []
    while p + 16 <= at + size:
        idx, _, _, obj = struct.unpack_from("<HHIQ", data, p)
        out.append((p, idx, obj))
        if idx == 0:
            break
        p += 16 + (obj + 7) // 8 * 8
    return out


def _with_free_space_size(path: Path, out: Path, size: int) -> Path:
    data = bytearray(path.read_bytes())
    at = data.find(SIGNATURE)
    free = next(o for o in _objects(bytes(data), at) if o[1] == 0)
    struct.pack_into("<Q", data, free[0] + 8, size)
    out.write_bytes(bytes(data))
    return out


def test_a_written_result_has_a_sound_heap(result_file):
    data = result_file.read_bytes()
    at = data.find(SIGNATURE)
    assert at > 0 and [o[1] for o in _objects(data, at)][-1] == 0  # it has text attributes
    assert global_heap_problem(result_file) is None


def test_a_free_space_object_of_size_0_is_named_not_read(result_file, tmp_path):
    """The damage that hung the library: the load is a one-line DataFileError at once (run in
    a child process with a time limit, so that a regression fails instead of hanging)."""
    bad = _with_free_space_size(result_file, tmp_path / "bad.h5", 0)
    assert "size 0" in global_heap_problem(bad)
    code = (
        "import nppsim, sys\n"
        "from nppsim.errors import DataFileError\n"
        "try:\n"
        f"    nppsim.load_result({str(bad)!r})\n"
        "except DataFileError as e:\n"
        "    print(e)\n"
        "    sys.exit(0)\n"
        "sys.exit(1)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    message = run.stdout.strip()
    assert "\n" not in message and str(bad) in message and "global heap" in message


def test_an_object_past_its_collection_is_named(result_file, tmp_path):
    bad = _with_free_space_size(result_file, tmp_path / "bad.h5", 10**6)
    assert "past the end" in global_heap_problem(bad)
    with pytest.raises(DataFileError, match="damaged HDF5 file"):
        nppsim.load_result(bad)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 2**64 - 1))
def test_gcol_inside_other_bytes_needs_a_valid_header(noise, size):
    """ "GCOL" met inside data counts only with a valid collection header; random bytes never
    make the check raise."""
    import tempfile

    blob = noise + SIGNATURE + bytes([1, 0, 0, 0]) + struct.pack("<Q", size) + noise
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.bin"
        path.write_bytes(blob)
        problem = global_heap_problem(path)
    if size < 4096 or size > len(blob) - len(noise):
        assert problem is None
