"""The top-level names of the package (INTERFACES.md, "Python API") resolve to their modules."""

from __future__ import annotations

import inspect

import pytest

import nppsim
import nppsim.transport as transport

#: the public transport utilities, exported at the top level
TRANSPORT_NAMES = (
    "ArrheniusFit",
    "D_sigma_from_D_tracer",
    "D_sigma_from_conductivity",
    "D_tracer_from_D_sigma",
    "HAVEN_RATIO_LI3B7O12",
    "carrier_density_from_cell",
    "carrier_density_from_density",
    "conductivity_from_D_sigma",
    "conductivity_from_resistance",
    "fit_arrhenius",
    "haven_ratio",
)


@pytest.mark.parametrize("name", TRANSPORT_NAMES)
def test_transport_utilities_at_the_top_level(name):
    assert getattr(nppsim, name) is getattr(transport, name)
    assert name in nppsim.__all__


def test_every_public_transport_function_is_exported():
    public = {
        name
        for name, obj in vars(transport).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == transport.__name__
    }
    assert public <= set(TRANSPORT_NAMES)


def test_top_level_transport_call():
    # Li3B7O12: D* = D_sigma / 2
    assert nppsim.haven_ratio(0.5e-12, 1.0e-12) == pytest.approx(0.5, rel=1e-15)


def test_all_names_resolve():
    for name in nppsim.__all__:
        assert getattr(nppsim, name) is not None, name
