"""Shared test configuration: floating-point errors raise, matplotlib draws off-screen."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REFERENCE_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "reference")


@pytest.fixture(autouse=True)
def _strict_floating_point():
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)
