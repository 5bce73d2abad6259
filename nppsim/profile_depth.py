"""Depth from a file's position column: units from the header, sputter time converted with a
sputter rate or a crater depth, and the order of the rows (instruments may export from the back).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from .errors import DataFileError
from .profile_table import _column_numbers, _num, _show, _Table

_BRACKETED = re.compile(r"[(\[]\s*([^()\[\]]*?)\s*[)\]]")
_TOKEN_SEPARATORS = re.compile(r"[\s_/\-()\[\],:;]+")

_LENGTH_UNITS_NM = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1.0e3, "µm": 1.0e3, "μm": 1.0e3, "micron": 1.0e3, "microns": 1.0e3,
    "micrometer": 1.0e3, "micrometers": 1.0e3, "micrometre": 1.0e3, "micrometres": 1.0e3,
    "a": 0.1, "å": 0.1, "angstrom": 0.1, "angstroms": 0.1, "ångström": 0.1, "ångströms": 0.1,
    "pm": 1.0e-3, "mm": 1.0e6, "cm": 1.0e7, "m": 1.0e9,
}  # fmt: skip
_UNIT_HINTS = {"length": "nm, um or Å", "time": "s, min, ms or h"}
#: first words of a depth or time header; a single word after one of them must be a unit
#: ("depth_Ang" is not read as nm)
_UNIT_PREFIXES = {"length": ("depth", "x", "z"), "time": ("time", "t")}
_TIME_UNITS_S = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1.0e-3,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
}  # fmt: skip


def _unit(
    header: str, units: Mapping[str, float], default: str, kind: str, label: str
) -> tuple[float, str]:
    """(factor to nm or s, unit as written) from a column header; the default unit if none."""
    h = header.strip()
    bracketed = _BRACKETED.findall(h)
    tokens = [t for t in _TOKEN_SEPARATORS.split(h) if t]
    candidates = [*bracketed, *reversed(tokens[1:]), h]
    for prefix in ("depth", "time"):
        if h.lower().startswith(prefix):
            candidates.append(h[len(prefix) :].strip(" _-/"))
    for c in candidates:
        factor = units.get(c.lower())
        if factor is not None:
            return factor, c
    if bracketed:
        raise DataFileError(
            f"{label}: column {_show(header)}: unknown {kind} unit {_show(bracketed[-1])} "
            f"(use {_UNIT_HINTS[kind]})"
        )
    if len(tokens) == 2 and tokens[0].casefold() in _UNIT_PREFIXES[kind] and tokens[1].isalpha():
        raise DataFileError(
            f"{label}: column {_show(header)}: unknown {kind} unit {_show(tokens[1])} "
            f"(use {_UNIT_HINTS[kind]})"
        )
    return units[default], default


def _depth_nm(
    table: _Table, pos: int, is_time: bool, rate: float | None, crater: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Depths (nm) of all rows, in file order, and the row order by increasing depth."""
    name = table.names[pos]
    if table.units and table.units[pos] and not _BRACKETED.search(name):
        # a units row: "Time" over "s" reads as "Time (s)"
        name = f"{name} ({table.units[pos].strip('()[] ')})"
    if is_time:
        factor, unit = _unit(name, _TIME_UNITS_S, "s", "time", table.label)
    else:
        factor, unit = _unit(name, _LENGTH_UNITS_NM, "nm", "length", table.label)
    raw = _column_numbers(table, pos, missing_ok=False)
    order = _check_positions(table, raw, "time" if is_time else "depth", unit)
    if not is_time:
        return raw * factor, order
    t_s = raw * factor
    if rate is not None:
        return t_s * rate, order
    t_last = float(np.max(t_s))
    if not t_last > 0.0:
        raise DataFileError(
            f"{table.label}: column {_show(name)}: the largest sputter time is 0, "
            "cannot scale it to the crater depth"
        )
    assert crater is not None
    return crater * (t_s / t_last), order


def _check_positions(table: _Table, raw: np.ndarray, kind: str, unit: str) -> np.ndarray:
    """Row order by increasing depth: as read, or reversed when strictly decreasing throughout."""
    label = table.label
    negative = np.flatnonzero(raw < 0.0)
    if negative.size:
        i = negative[0]
        raise DataFileError(
            f"{label}: line {table.lines[i]}: {kind} {_num(raw[i])} {unit} is negative"
        )
    n = raw.size
    if n >= 2 and raw[1] < raw[0]:
        bad = np.flatnonzero(raw[1:] >= raw[:-1])
        if bad.size:
            i = bad[0] + 1
            what = "duplicated" if raw[i] == raw[i - 1] else "not monotonic"
            raise DataFileError(
                f"{label}: line {table.lines[i]}: {kind} {_num(raw[i])} {unit} is not smaller than "
                f"the previous {_num(raw[i - 1])} {unit} ({what} {kind}; the rows before run "
                "backwards)"
            )
        return np.arange(n - 1, -1, -1)
    bad = np.flatnonzero(raw[1:] <= raw[:-1])
    if bad.size:
        i = bad[0] + 1
        what = "duplicated" if raw[i] == raw[i - 1] else "not monotonic"
        raise DataFileError(
            f"{label}: line {table.lines[i]}: {kind} {_num(raw[i])} {unit} is not larger than the "
            f"previous {_num(raw[i - 1])} {unit} ({what} {kind})"
        )
    return np.arange(n)
