"""StepRecords: what the compiled loops write in chunks comes back whole and in order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solvers.problem import StepRecords

NAMES = ("t", "flux", "psi")


@settings(deadline=None, database=None, max_examples=50)
@given(st.lists(st.integers(0, 8), max_size=12), st.floats(-1e3, 1e3))
def test_chunks_are_joined_in_order(chunk_sizes, start):
    """Each record's array is its start value then every entry written, in order, however the
    steps fell into calls; each buffer is its own contiguous 1-D array (as the loops take it)."""
    rec = StepRecords(NAMES, 8)
    assert all(b.ndim == 1 and b.flags.c_contiguous and b.size == 8 for b in rec.buffers)
    rec.start(start, start + 1.0, start + 2.0)
    ist = np.zeros(2, dtype=np.int64)
    expected = {n: [start + k] for k, n in enumerate(NAMES)}
    step = 0
    for n in chunk_sizes:
        for r in range(n):  # what the loop does: entry r of every buffer, then the count
            for k, buf in enumerate(rec.buffers):
                buf[r] = 10.0 * step + k
                expected[NAMES[k]].append(10.0 * step + k)
            step += 1
        ist[1] = n
        rec.collect(ist, 1)
        assert ist[1] == 0
        rec.collect(ist, 1)  # again: nothing is collected twice
    out = rec.arrays()
    assert list(out) == list(NAMES)
    for name in NAMES:
        assert np.array_equal(out[name], np.array(expected[name]))
