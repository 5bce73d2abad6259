"""Writing a case as TOML, with every default written out (loads back to an equal case)."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nppsim.case.keys import _GRID_KEYS, _SAMPLE_KEYS, _SHAPE_PARAMS, _SOLVER_KEYS, CONTROL_KEYS
from nppsim.case.schema import Case

# --------------------------------------------------------------------------------------------
# Writing TOML
# --------------------------------------------------------------------------------------------


def _canonical_doc(case: Case) -> dict[str, Any]:
    """The case as a TOML-ready document with every default written out."""
    doc: dict[str, Any] = {
        "meta": {
            "name": case.meta.name,
            "description": case.meta.description,
            "source": case.meta.source,
        },
        "sample": {k: getattr(case.sample, k) for k in _SAMPLE_KEYS},
        "species": {},
    }
    for s in case.species:
        t: dict[str, Any] = {
            "role": s.role,
            "charge": s.charge,
            **(
                {"D_cm2_s": s.D_cm2_s}
                if s.D0_cm2_s is None
                else {"D0_cm2_s": s.D0_cm2_s, "activation_energy_eV": s.activation_energy_eV}
            ),
            "initial_fraction": s.initial_fraction,
            "back": s.back,
        }
        if s.immobile_fraction != 0.0:
            t["immobile_fraction"] = s.immobile_fraction
        if s.D_table is not None:
            t["D_table"] = _plain(s.D_table)
        if s.sed is not None:
            sed = s.sed
            st: dict[str, Any] = {"shape": sed.shape}
            for param in _SHAPE_PARAMS[sed.shape]:
                st[param] = _plain(getattr(sed, param))
            st["vacancy_fraction"] = sed.vacancy_fraction
            st["filling"] = sed.filling
            st["reference"] = sed.reference
            t["sed"] = st
        doc["species"][s.name] = t
    stages = []
    for stage in case.stages:
        st = {"duration_s": stage.duration_s}
        if stage.source is not None:
            st["source"] = stage.source
            st["surface_fraction"] = stage.surface_fraction
        for c in CONTROL_KEYS:
            val = getattr(stage, c)
            if val is not None:
                st[c] = _plain(val)
        stages.append(st)
    doc["stage"] = stages
    doc["grid"] = {k: getattr(case.grid, k) for k in _GRID_KEYS}
    doc["solver"] = {k: getattr(case.solver, k) for k in _SOLVER_KEYS}
    blocks = []
    for d in case.data:
        b: dict[str, Any] = {"file": str(d.file), "after_stage": d.after_stage}
        for k in ("depth_column", "time_column", "sputter_rate_nm_s", "crater_depth_nm"):
            if getattr(d, k) is not None:
                b[k] = getattr(d, k)
        b["columns"] = dict(d.columns)
        b["depth_resolution_nm"] = d.depth_resolution_nm
        if d.mixing_nm or d.information_nm:
            b["mixing_nm"] = d.mixing_nm
            b["information_nm"] = d.information_nm
        if d.uncertainty_columns is not None:
            b["uncertainty_columns"] = dict(d.uncertainty_columns)
        b["relative_uncertainty"] = d.relative_uncertainty
        b["uncertainty_floor"] = d.uncertainty_floor
        b["normalize"] = d.normalize
        for k in ("header_row", "matrix_column", "bulk_level"):
            if getattr(d, k) is not None:
                b[k] = getattr(d, k)
        for k in ("sensitivity", "background"):
            if getattr(d, k) is not None:
                b[k] = dict(getattr(d, k))
        if d.fit_range_nm is not None:
            b["fit_range_nm"] = list(d.fit_range_nm)
        b["depth_scale"] = d.depth_scale
        b["depth_offset_nm"] = d.depth_offset_nm
        blocks.append(b)
    if blocks:
        doc["data"] = blocks
    return doc


def _plain(value: Any) -> Any:
    """Tuples (of tuples) as lists, as tomllib returns them."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)  # shortest text that reads back to the same float
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, Path):
        return _toml_string(str(value))
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _dumps_toml(doc: Mapping[str, Any], inline: frozenset[str] = frozenset()) -> str:
    """A TOML document for nested dicts/lists/scalars; dicts under a key in inline are written as
    inline tables, lists of dicts at table level as arrays of tables."""
    lines: list[str] = []
    _emit_table(lines, (), doc, inline, header=None)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_subtable(key: str, value: object, inline: frozenset[str]) -> bool:
    return isinstance(value, Mapping) and key not in inline


def _is_table_array(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(v, Mapping) for v in value)
    )


def _emit_table(
    lines: list[str],
    path: tuple[str, ...],
    table: Mapping[str, Any],
    inline: frozenset[str],
    header: str | None,
) -> None:
    simple = [
        (k, v) for k, v in table.items() if not (_is_subtable(k, v, inline) or _is_table_array(v))
    ]
    nested = len(simple) < len(table)
    # a table holding only sub-tables is created implicitly by their headers
    if header is not None and (simple or not nested or header.startswith("[[")):
        lines.extend(["", header])
    lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in simple)
    for k, v in table.items():
        sub = (*path, k)
        dotted = ".".join(_toml_key(p) for p in sub)
        if _is_subtable(k, v, inline):
            _emit_table(lines, sub, v, inline, f"[{dotted}]")
        elif _is_table_array(v):
            for item in v:
                _emit_table(lines, sub, item, inline, f"[[{dotted}]]")
