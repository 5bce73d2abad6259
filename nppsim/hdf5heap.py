"""A check of the HDF5 global heaps of a file before the HDF5 library reads it.

The variable-length strings of nppsim's files (every text attribute: the case, the species, the
message) live in global heap collections ("GCOL"). The HDF5 library walks the objects of a
collection when it first reads one of them, advancing by each object's stored size; a damaged
file whose free-space object has size 0 makes that walk stand still: the library loops forever
(found by the fuzz test of damaged results: a load that never returned). `global_heap_problem`
walks every collection of the file the way the library does (H5HG__cache_heap_deserialize) and
says what is wrong before the library gets there, so that a damaged file is a one-line error.
"""

from __future__ import annotations

import mmap
import os
import struct

#: the signature of a global heap collection, its version, and the sizes of its header and
#: of an object header (with 8-byte lengths, as every file nppsim writes)
SIGNATURE = b"GCOL"
VERSION = 1
HEADER_SIZE = 16
OBJECT_HEADER_SIZE = 16
#: the smallest collection the library writes
MIN_COLLECTION = 4096


def _align8(n: int) -> int:
    return (n + 7) // 8 * 8


def _collection_problem(buf: bytes | mmap.mmap, at: int, size: int) -> str | None:
    """What is wrong with the objects of the collection at byte `at` of `size` bytes."""
    end = at + size
    p = at + HEADER_SIZE
    while p < end:
        if p + OBJECT_HEADER_SIZE > end:
            return None  # the tail is too small for an object header: free space
        idx, _, _, obj_size = struct.unpack_from("<HHIQ", buf, p)
        need = OBJECT_HEADER_SIZE + _align8(obj_size) if idx > 0 else obj_size
        if need <= 0:
            return f"object {idx} at byte {p} has size 0"
        if p + need > end:
            return f"object {idx} at byte {p} runs past the end of its collection"
        p += need
    return None


def global_heap_problem(path: str | os.PathLike[str]) -> str | None:
    """None if every global heap collection of the HDF5 file `path` can be walked (or it has
    none), else what is wrong (one line, with the byte offset). A "GCOL" found inside data
    counts only with a valid collection header (version 1, reserved bytes 0, a size of at
    least 4096 bytes that fits in the file)."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            n = len(buf)
            at = buf.find(SIGNATURE)
            while at >= 0:
                if (
                    at + HEADER_SIZE <= n
                    and buf[at + 4] == VERSION
                    and buf[at + 5 : at + 8] == (b"\0\0\0")
                ):
                    (size,) = struct.unpack_from("<Q", buf, at + 8)
                    if MIN_COLLECTION <= size <= n - at:
                        problem = _collection_problem(buf, at, size)
                        if problem is not None:
                            return f"global heap at byte {at}: {problem}"
                at = buf.find(SIGNATURE, at + 4)
    return None
