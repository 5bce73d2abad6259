"""Dotted keys (``species.Li.sed.fwhm_eV``, ``stage.1.potential_V``): checked against the
schema, and set in a parsed document."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from nppsim.case.keys import (
    _DATA_KEYS,
    _INLINE_TABLE_KEYS,
    _PARAM_SHAPE,
    _SED_KEYS,
    _SHAPE_PARAMS,
    _SPECIES_KEYS,
    _STAGE_KEYS,
    _TABLE_KEYS,
    _TOP_KEYS,
    CONTROL_KEYS,
    _clean,
    _did_you_mean,
    _join,
    _key_part,
    _Reader,
    _show,
)
from nppsim.errors import CaseError

# --------------------------------------------------------------------------------------------
# Dotted keys
# --------------------------------------------------------------------------------------------

# setting the key removes these siblings (they are alternatives to it)
_REPLACES = {
    **{c: tuple(k for k in CONTROL_KEYS if k != c) for c in CONTROL_KEYS},
    "sed": ("D_table",),
    # D at the sample temperature, or its Arrhenius parameters (MODEL.md section 10)
    "D_cm2_s": ("D0_cm2_s", "activation_energy_eV"),
    "D0_cm2_s": ("D_cm2_s",),
    "activation_energy_eV": ("D_cm2_s",),
    "D_table": ("sed",),
    "depth_column": ("time_column", "sputter_rate_nm_s", "crater_depth_nm"),
    "time_column": ("depth_column",),
    "sputter_rate_nm_s": ("crater_depth_nm",),
    "crater_depth_nm": ("sputter_rate_nm_s",),
}


def _parse_key(doc: Mapping[str, Any], key: str, label: str, *, setting: bool) -> list[str]:
    """Check a dotted key against the schema and the document; its parts, indices as text.

    With setting=True a whole new species table may be named (species.<new name>).
    """
    r = _Reader(label)
    if not isinstance(key, str) or not key:
        r.fail(_show(key), "a dotted key must be a non-empty string, e.g. sample.temperature_K")
    parts = key.split(".")
    if any(not p for p in parts):
        r.fail(_clean(key), "malformed dotted key (empty part)")
    head = parts[0]
    if head not in _TOP_KEYS:
        r.fail(_key_part(head), f"unknown key{_did_you_mean(head, _TOP_KEYS)}")

    def leaf(prefix: str, name: str, allowed: Sequence[str], rest: list[str]) -> None:
        if name not in allowed:
            r.fail(_join(prefix, name), f"unknown key{_did_you_mean(name, allowed)}")
        if rest:
            r.fail(_join(prefix, name), "is a value, not a table")

    if len(parts) == 1:
        return parts
    if head in _TABLE_KEYS:
        leaf(head, parts[1], _TABLE_KEYS[head], parts[2:])
    elif head == "species":
        names = [str(n) for n in doc.get("species", {})]
        name = parts[1]
        if name not in names and not (setting and len(parts) == 2):
            r.fail(_join("species", name), f"unknown species{_did_you_mean(name, names)}")
        if len(parts) > 2:
            prefix = _join("species", name)
            if parts[2] == "sed" and len(parts) > 3:
                leaf(f"{prefix}.sed", parts[3], _SED_KEYS, parts[4:])
            else:
                leaf(prefix, parts[2], _SPECIES_KEYS, parts[3:])
    else:
        items = doc.get(head, [])
        n = len(items) if isinstance(items, list | tuple) else 0
        index = parts[1]
        what = "stage" if head == "stage" else "data block"
        if not index.isdigit():
            r.fail(
                f"{head}.{_key_part(index)}", f"expected a {what} number (1-based), got {index!r}"
            )
        if not 1 <= int(index) <= n:
            r.fail(f"{head}.{index}", f"out of range: the case has {n} {what}(s)")
        parts[1] = str(int(index))
        if len(parts) > 2:
            prefix = f"{head}.{parts[1]}"
            allowed = _STAGE_KEYS if head == "stage" else _DATA_KEYS
            if head == "data" and parts[2] in _INLINE_TABLE_KEYS and len(parts) == 4:
                pass  # data.N.columns.<species>: validated with the whole case
            else:
                leaf(prefix, parts[2], allowed, parts[3:])
    return parts


def _set_value(doc: dict[str, Any], key: str, value: object, label: str) -> None:
    """Set (or with None remove) the value at a dotted key in a parsed document, in place."""
    parts = _parse_key(doc, key, label, setting=True)
    value = copy.deepcopy(value)
    container: Any = doc
    for j, part in enumerate(parts[:-1]):
        if isinstance(container, list):
            nxt = container[int(part) - 1]
        else:
            nxt = container.get(part)
            if nxt is None:
                if value is None:
                    return  # removing something that is not there
                nxt = container[part] = {}
        # stage and data hold arrays of tables; everything else on the way is a table
        expected = list if j == 0 and parts[0] in ("stage", "data") else dict
        if not isinstance(nxt, expected):
            kind = "an array of tables" if expected is list else "a table"
            where = ".".join(parts[: j + 1])
            raise CaseError(f"{label}: {where}: must be {kind} to set {key}, got {_show(nxt)}")
        container = nxt
    last = parts[-1]
    if isinstance(container, list):
        index = int(last) - 1
        if value is None:
            del container[index]
        else:
            container[index] = value
        return
    if value is None:
        container.pop(last, None)
        return
    container[last] = value
    for other in _REPLACES.get(last, ()):
        container.pop(other, None)
    if last == "shape" and isinstance(value, str) and value in _SHAPE_PARAMS:
        for param, owner in _PARAM_SHAPE.items():
            if owner != value:
                container.pop(param, None)
