"""Case files: the TOML description of a CAIT experiment, loaded into frozen, validated dataclasses.

A case file has the tables ``[meta]``, ``[sample]``, ``[species.<name>]`` (optionally with
``[species.<name>.sed]``), one or more ``[[stage]]`` blocks, and the optional ``[grid]``,
``[solver]`` and ``[[data]]`` tables; the schema is documented in ``INTERFACES.md``.

Every problem with a case raises :class:`nppsim.errors.CaseError` with one line of the form
``<file>: <dotted key>: <what is wrong>``. Values are addressed by dotted keys such as
``sample.temperature_K``, ``species.Li.sed.fwhm_eV`` or ``stage.1.potential_V`` (stages and data
blocks are numbered from 1); :meth:`Case.with_values` sets them and re-validates.

The package: ``schema`` (the dataclasses), ``keys`` (allowed keys, limits, typed access),
``reader`` (validation), ``dotted`` (dotted keys), ``writer`` (TOML out), ``loading`` (entry
points). Units live in the key names; nothing is converted here.
"""

from __future__ import annotations

from nppsim.case.keys import (
    _DATA_KEYS,
    _SED_KEYS,
    _SPECIES_KEYS,
    _STAGE_KEYS,
    _TABLE_KEYS,
    _TOP_KEYS,
)
from nppsim.case.loading import (
    case_from_dict,
    default_case,
    load_case,
    loads_case,
    parse_assignment,
)
from nppsim.case.schema import (
    Case,
    DataSpec,
    GridConfig,
    Meta,
    Sample,
    SEDSpec,
    SolverConfig,
    SpeciesConfig,
    Stage,
)
from nppsim.case.writer import _canonical_doc, _dumps_toml

__all__ = [
    "_DATA_KEYS",
    "_SED_KEYS",
    "_SPECIES_KEYS",
    "_STAGE_KEYS",
    "_TABLE_KEYS",
    "_TOP_KEYS",
    "Case",
    "DataSpec",
    "GridConfig",
    "Meta",
    "SEDSpec",
    "Sample",
    "SolverConfig",
    "SpeciesConfig",
    "Stage",
    "_canonical_doc",
    "_dumps_toml",
    "case_from_dict",
    "default_case",
    "load_case",
    "loads_case",
    "parse_assignment",
]
