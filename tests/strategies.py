"""Hypothesis strategies shared by the test suite.

Physical quantities are drawn from bounded ranges that real CAIT experiments and glasses span
(no NaN or infinity); case documents are nested dicts as ``tomllib`` returns them, either valid
(``case_dicts``) or deliberately broken (``toml_documents``, ``mutated_case_dicts``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import strategies as st

# ---- physically bounded floats ----------------------------------------------------------------


def bounded_floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite floats in [low, high]."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def log_floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Positive floats spread evenly in log10 between low and high (> 0)."""
    lo, hi = math.log10(low), math.log10(high)
    return bounded_floats(lo, hi).map(lambda e: min(max(10.0**e, low), high))


def thicknesses_um() -> st.SearchStrategy[float]:
    """Sample thickness (um): thin films to thick plates."""
    return bounded_floats(2.0, 5000.0)


def temperatures_K() -> st.SearchStrategy[float]:
    """Sample temperature (K)."""
    return bounded_floats(200.0, 1200.0)


def densities_cm3() -> st.SearchStrategy[float]:
    """Mobile-ion density (cm^-3)."""
    return log_floats(1.0e18, 1.0e23)


def permittivities() -> st.SearchStrategy[float]:
    """Relative permittivity of a glass."""
    return bounded_floats(1.0, 100.0)


def diffusivities_cm2_s() -> st.SearchStrategy[float]:
    """Diffusion coefficient (cm^2/s) of an ion in a glass."""
    return log_floats(1.0e-22, 1.0e-5)


def fractions() -> st.SearchStrategy[float]:
    """A fraction of n_bulk in [0, 1]."""
    return bounded_floats(0.0, 1.0)


def energies_eV() -> st.SearchStrategy[float]:
    """A positive energy width (eV) of a site-energy distribution."""
    return bounded_floats(0.005, 1.5)


def potentials_V() -> st.SearchStrategy[float]:
    """Front potential (V)."""
    return bounded_floats(-20.0, 20.0)


def current_densities_A_cm2() -> st.SearchStrategy[float]:
    """Front current density (A/cm^2)."""
    return bounded_floats(-1.0e-3, 1.0e-3)


def durations_s() -> st.SearchStrategy[float]:
    """Stage duration (s): a millisecond to months."""
    return log_floats(1.0e-3, 1.0e7)


# ---- valid case documents ---------------------------------------------------------------------

SPECIES_NAMES = ("Li", "Na", "K", "Rb", "Cs", "H", "Ag", "Li6", "H3O+")


@st.composite
def increasing_times_s(draw: st.DrawFn, max_rows: int = 5) -> list[float]:
    """0 followed by strictly increasing times (s)."""
    steps = draw(st.lists(log_floats(1.0e-2, 1.0e5), max_size=max_rows - 1))
    times = [0.0]
    for dt in steps:
        t = times[-1] + dt
        if t > times[-1]:
            times.append(t)
    return times


@st.composite
def sed_tables(draw: st.DrawFn) -> dict[str, Any]:
    """A valid [species.X.sed] table of any shape; optional keys sometimes left out."""
    shape = draw(st.sampled_from(("gaussian", "gaussians", "box", "exponential", "table")))
    t: dict[str, Any] = {}
    if shape != "gaussian" or draw(st.booleans()):
        t["shape"] = shape
    if shape == "gaussian" and draw(st.booleans()):
        t["fwhm_eV"] = draw(energies_eV())
    elif shape == "gaussians":
        component = st.tuples(
            bounded_floats(0.01, 10.0), bounded_floats(-1.0, 1.0), energies_eV()
        ).map(list)
        t["components"] = draw(st.lists(component, min_size=1, max_size=3))
    elif shape == "box":
        t["width_eV"] = draw(energies_eV())
    elif shape == "exponential":
        t["tail_eV"] = draw(energies_eV())
    elif shape == "table":
        n = draw(st.integers(2, 6))
        start = draw(bounded_floats(-1.0, 0.0))
        steps = draw(st.lists(bounded_floats(0.01, 0.5), min_size=n - 1, max_size=n - 1))
        energies = [start]
        for s in steps:
            energies.append(energies[-1] + s)
        density = draw(st.lists(bounded_floats(0.0, 10.0), min_size=n, max_size=n))
        density[draw(st.integers(0, n - 1))] = draw(bounded_floats(0.1, 10.0))
        t["energies_eV"] = energies
        t["density"] = density
    if draw(st.booleans()):
        t["vacancy_fraction"] = draw(bounded_floats(0.0, 0.99))
    if draw(st.booleans()):
        t["filling"] = draw(st.sampled_from(("step", "fermi-dirac")))
    return t


@st.composite
def d_tables(draw: st.DrawFn) -> list[list[float]]:
    """A valid D_table: strictly increasing fractions, positive D."""
    n = draw(st.integers(2, 6))
    steps = draw(st.lists(bounded_floats(0.01, 0.5), min_size=n - 1, max_size=n - 1))
    fracs = [draw(bounded_floats(0.0, 0.2))]
    for s in steps:
        fracs.append(fracs[-1] + s)
    return [[f, draw(diffusivities_cm2_s())] for f in fracs]


@st.composite
def species_tables(draw: st.DrawFn, role: str) -> dict[str, Any]:
    """A valid [species.X] table with the given role."""
    t: dict[str, Any] = {"role": role, "D_cm2_s": draw(diffusivities_cm2_s())}
    if draw(st.booleans()):
        t["charge"] = draw(st.sampled_from((1, 2, -1)))
    if draw(st.booleans()):
        t["initial_fraction"] = draw(fractions())
    if draw(st.booleans()):
        t["back"] = draw(st.sampled_from(("reservoir", "blocking", "absorbing")))
    mobility = draw(st.sampled_from(("constant", "sed", "table")))
    if mobility == "sed":
        t["sed"] = draw(sed_tables())
        # the pristine density is the SED's reference density, so it must be > 0
        if role == "foreign" or "initial_fraction" in t:
            t["initial_fraction"] = draw(bounded_floats(1.0e-3, 1.0))
    elif mobility == "table":
        t["D_table"] = draw(d_tables())
    return t


@st.composite
def stage_tables(draw: st.DrawFn, names: tuple[str, ...]) -> dict[str, Any]:
    """A valid [[stage]] table using one of the four controls."""
    t: dict[str, Any] = {"duration_s": draw(durations_s())}
    if draw(st.booleans()):
        t["source"] = draw(st.sampled_from(names))
        if draw(st.booleans()):
            t["surface_fraction"] = draw(fractions())
    control = draw(
        st.sampled_from(
            ("potential_V", "current_density_A_cm2", "potential_table_V", "current_table_A_cm2")
        )
    )
    values = potentials_V() if control.startswith("potential") else current_densities_A_cm2()
    if "_table_" in control:
        times = draw(increasing_times_s())
        t[control] = [[time, draw(values)] for time in times]
    else:
        t[control] = draw(values)
    return t


@st.composite
def case_dicts(draw: st.DrawFn, max_species: int = 3, max_stages: int = 3) -> dict[str, Any]:
    """A valid case document without [[data]] blocks (those need files on disk)."""
    names = tuple(
        draw(
            st.lists(st.sampled_from(SPECIES_NAMES), min_size=1, max_size=max_species, unique=True)
        )
    )
    thickness_um = draw(thicknesses_um())
    doc: dict[str, Any] = {
        "meta": {"name": draw(st.text(min_size=1, max_size=20).filter(str.strip))},
        "sample": {
            "thickness_um": thickness_um,
            "temperature_K": draw(temperatures_K()),
            "n_bulk_cm3": draw(densities_cm3()),
            "eps_r": draw(permittivities()),
        },
        "species": {
            name: draw(
                species_tables("native" if i == 0 else draw(st.sampled_from(("native", "foreign"))))
            )
            for i, name in enumerate(names)
        },
        "stage": draw(st.lists(stage_tables(names), min_size=1, max_size=max_stages)),
    }
    if draw(st.booleans()):
        doc["meta"]["description"] = draw(st.text(max_size=30))
    if draw(st.booleans()):
        spacing = draw(bounded_floats(0.01, 2.0))
        depth = draw(bounded_floats(spacing, min(0.9 * thickness_um * 1.0e3, 5000.0)))
        doc["grid"] = {
            "fine_spacing_nm": spacing,
            "fine_depth_nm": depth,
            "growth": draw(bounded_floats(1.001, 1.5)),
        }
    if draw(st.booleans()):
        doc["solver"] = {
            "method": draw(st.sampled_from(("npp", "electroneutral"))),
            "rtol": draw(log_floats(1.0e-8, 0.1)),
            "atol": draw(log_floats(1.0e-14, 1.0e-2)),
            "n_output": draw(st.integers(1, 1000)),
        }
    return doc


# ---- arbitrary and broken documents -----------------------------------------------------------

#: keys of the case schema, mixed into random documents so they get past the first checks
SCHEMA_KEYS = (
    "meta", "sample", "species", "stage", "grid", "solver", "data", "name", "role",
    "D_cm2_s", "charge", "sed", "shape", "fwhm_eV", "duration_s", "source", "potential_V",
    "potential_table_V", "file", "columns", "Li", "K",
)  # fmt: skip


def toml_scalars(allow_nan: bool = True) -> st.SearchStrategy[Any]:
    """Values a TOML scalar can hold (no dates)."""
    return st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=allow_nan),
        st.text(max_size=20),
    )


def toml_keys() -> st.SearchStrategy[str]:
    """Table keys: schema keys or any text."""
    return st.one_of(st.sampled_from(SCHEMA_KEYS), st.text(max_size=10))


def toml_values(allow_nan: bool = True) -> st.SearchStrategy[Any]:
    """Nested arrays, tables and scalars."""
    return st.recursive(
        toml_scalars(allow_nan),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(toml_keys(), children, max_size=4),
        ),
        max_leaves=12,
    )


def toml_documents(allow_nan: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """A TOML document: a table of arbitrary values."""
    return st.dictionaries(toml_keys(), toml_values(allow_nan), max_size=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated_case_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid case document with one node replaced, removed or given a stray key."""
    doc = copy.deepcopy(draw(case_dicts(max_species=2, max_stages=2)))
    path = draw(st.sampled_from(_paths(doc)))
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    action = draw(st.sampled_from(("replace", "remove", "add")))
    if action == "replace":
        parent[path[-1]] = draw(toml_values())
    elif action == "remove":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(toml_keys())] = draw(toml_values())
    else:
        parent.append(draw(toml_values()))
    return doc
