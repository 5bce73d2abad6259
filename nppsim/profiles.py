"""Measured depth profiles (ToF-SIMS): reading delimited text files into :class:`MeasuredProfile`.

File format
-----------
Delimited text as instruments and spreadsheets export it::

    # K+ CAIT, 350 K, 1.5 V            <- comment lines (starting with #) and blank lines: skipped
    depth_nm,Li,K                       <- exactly one header row: the first other line
    0.25,0.0079,0.9921
    0.75,0.0113,0.9887

- Delimiter: comma, tab, semicolon or runs of whitespace, detected from the header and the first
  data rows (the one that splits them all into the same number of columns, at least 2).
- Encoding: UTF-8 (with or without byte-order mark), UTF-16 with a byte-order mark, else Latin-1.
  Windows (CRLF) and old Mac (CR) line endings are accepted.
- Cells may be quoted with double quotes (``"depth (nm)"``); quotes are removed. Surrounding
  whitespace is ignored. Cells after the last named column must be empty (trailing delimiters).
- Numbers: decimal point; a decimal comma (``0,0079``) is accepted when the delimiter is not a
  comma (the usual semicolon-separated European export). A missing value (empty cell, ``nan``,
  ``-``, ``n/a``, ``na``) in a value or uncertainty column drops that row from the profile;
  a column without any value is an error. Infinite values and text are errors. Columns that are
  not used are never parsed and may hold anything.
- Depth: a depth column, unit from its header: ``(nm)``, ``[nm]``, ``_nm``, ``nm`` -> nm; ``um``,
  ``µm``, ``μm``, ``micron`` -> 1000 nm; ``A``, ``Å``, ``angstrom`` -> 0.1 nm (also pm, mm,
  cm, m); a header without a unit is in nm, but one word after ``depth`` that is not a unit
  (``depth_Ang``, ``depth furlong``) is an error, not silently nm. Or sputter time (unit ``s``
  by default, ``min``, ``ms`` or ``h`` from the header) converted with a sputter rate (nm/s) or
  a crater depth (the depth reached at the largest time).
- Depths must be >= 0 and strictly increasing; a file whose depths strictly decrease throughout
  (some instruments export from the back) is reversed.

Values
------
With ``normalize="none"`` the value columns are fractions of n_bulk already (this is what
``nppsim run --csv`` writes). With ``normalize="bulk"`` they are raw counts (any sensitivity):

- the native species' counts are divided by their mean over the deepest 10 % of the rows (at
  least 3): there the glass is pristine, native fraction 1;
- each foreign species j is scaled by a factor k_j > 0 found by linear least squares so that
  ``native + sum_j k_j * I_j = 1`` at every depth: the mobile ions together keep the pristine
  density (electroneutrality against the immobile background charge).

Uncertainty (sigma, fraction of n_bulk): from an uncertainty column (scaled like its values), else
``relative_uncertainty * |value|``, combined in quadrature with the counting statistics
``sqrt(counts) * scale`` for raw counts; never below ``uncertainty_floor``.

Every problem with a file raises :class:`nppsim.errors.DataFileError` with one line naming the
file and the line and/or column, e.g. ``lbo_k.csv: line 7: column 'K': 'abc' is not a number``.
Inconsistent arguments (not file content) raise ValueError.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .case import DataSpec
from .errors import DataFileError

__all__ = ["MeasuredProfile", "profile_from_spec", "read_profile"]

logger = logging.getLogger(__name__)

#: normalize="bulk": the deepest fraction of the rows taken as pristine glass (native fraction 1);
#: ToF-SIMS profiles are measured well past the exchanged zone, so the last 10 % are bulk
BULK_TAIL_FRACTION = 0.10
#: ... but never fewer rows than this, so that one noisy point does not set the scale
BULK_TAIL_MIN_POINTS = 3
#: values from a file are shortened to this many characters in error messages
MAX_SHOWN_CHARS = 40
#: column names listed in a "no column" message
MAX_LISTED_COLUMNS = 20
#: data rows (after the header) used to detect the delimiter
SNIFF_ROWS = 20
#: a profile file may hold at most this many lines (a ToF-SIMS depth profile has 10^2 to 10^4
#: rows; 10^7 rows took 5.6 GB and a quarter of an hour before): counted while reading
MAX_PROFILE_LINES = 1_000_000
#: ... and at most this many bytes (a million rows of a dozen columns)
MAX_PROFILE_BYTES = 256 * 2**20
#: bytes read at a time while counting lines
READ_CHUNK_BYTES = 2**20
#: a measured fraction beyond this many times n_bulk is no measurement (the site density of a
#: glass is a few n_bulk at most): counts read as fractions, a unit mix-up or a damaged file
MAX_DATA_FRACTION = 100.0

NORMALIZATIONS = ("none", "bulk")
#: candidate delimiters in order of preference; None = runs of whitespace
_DELIMITERS: tuple[str | None, ...] = ("\t", ";", ",", None)
_DELIMITER_NAMES = {"\t": "tab", ";": "semicolon", ",": "comma", None: "whitespace"}
#: cells meaning "no value" (compared in lower case)
MISSING_TOKENS = frozenset({"", "nan", "+nan", "-nan", "-", "n/a", "na"})

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITY = re.compile(r"[+-]?inf(?:inity)?", re.IGNORECASE)
_BRACKETED = re.compile(r"[(\[]\s*([^()\[\]]*?)\s*[)\]]")
_TOKEN_SEPARATORS = re.compile(r"[\s_/\-()\[\],:;]+")
_UNIT_IN_BRACKETS = re.compile(r"^[(\[][^()\[\]]*[)\]]$")

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


# --------------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MeasuredProfile:
    """A measured depth profile, ready to compare with simulations.

    depth_nm: (n,) depths (nm), >= 0 and strictly increasing; values: {species: (n,) fraction of
    n_bulk}; sigma: {species: (n,) uncertainty of the value (fraction of n_bulk), > 0};
    file: the file it was read from, or None; after_stage: the stage (1-based) after which it was
    measured, 0 when unknown; depth_resolution_nm: Gaussian sigma of the SIMS depth resolution
    (nm); species: the species in column order (default: the order of values).

    The arrays are read-only float64 copies. Equality is identity (arrays do not compare as one
    truth value).
    """

    depth_nm: np.ndarray
    values: dict[str, np.ndarray]
    sigma: dict[str, np.ndarray]
    file: Path | None = None
    after_stage: int = 0
    depth_resolution_nm: float = 0.0
    species: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        depth = _frozen_array(self.depth_nm)
        if depth.ndim != 1:
            raise ValueError(f"depth_nm must be one-dimensional, got shape {depth.shape}")
        if not np.all(np.isfinite(depth)) or np.any(depth < 0.0):
            raise ValueError("depth_nm must be finite and >= 0")
        if np.any(np.diff(depth) <= 0.0):
            raise ValueError("depth_nm must be strictly increasing")
        species = tuple(self.species) if self.species else tuple(self.values)
        if set(species) != set(self.values) or set(species) != set(self.sigma):
            raise ValueError(
                f"species {species}, values {tuple(self.values)} and sigma {tuple(self.sigma)} "
                "must name the same species"
            )
        if len(set(species)) != len(species):
            raise ValueError(f"species {species} has duplicates")
        values = {s: _frozen_array(self.values[s]) for s in species}
        sigma = {s: _frozen_array(self.sigma[s]) for s in species}
        for s in species:
            if values[s].shape != depth.shape or sigma[s].shape != depth.shape:
                raise ValueError(f"values and sigma of {s!r} must have the shape of depth_nm")
            if not np.all(np.isfinite(values[s])):
                raise ValueError(f"values of {s!r} must be finite")
            if not (np.all(np.isfinite(sigma[s])) and np.all(sigma[s] > 0.0)):
                raise ValueError(f"sigma of {s!r} must be finite and > 0")
        if not (math.isfinite(self.depth_resolution_nm) and self.depth_resolution_nm >= 0.0):
            raise ValueError(f"depth_resolution_nm must be >= 0, got {self.depth_resolution_nm}")
        if self.after_stage < 0:
            raise ValueError(f"after_stage must be >= 0, got {self.after_stage}")
        object.__setattr__(self, "depth_nm", depth)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "sigma", sigma)
        object.__setattr__(self, "species", species)
        object.__setattr__(self, "file", None if self.file is None else Path(self.file))
        object.__setattr__(self, "depth_resolution_nm", float(self.depth_resolution_nm))

    @property
    def n_points(self) -> int:
        """Number of depths."""
        return int(self.depth_nm.size)

    def __repr__(self) -> str:
        span = f"{self.depth_nm[0]:.4g}..{self.depth_nm[-1]:.4g} nm" if self.n_points else "empty"
        return (
            f"MeasuredProfile(file={str(self.file) if self.file else None!r}, "
            f"species={self.species}, n_points={self.n_points}, depth {span}, "
            f"after_stage={self.after_stage}, depth_resolution_nm={self.depth_resolution_nm:g})"
        )


def _frozen_array(a: object) -> np.ndarray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def read_profile(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    depth_column: str | None = None,
    time_column: str | None = None,
    sputter_rate_nm_s: float | None = None,
    crater_depth_nm: float | None = None,
    uncertainty_columns: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    relative_uncertainty: float = 0.05,
    uncertainty_floor: float = 0.005,
    normalize: str = "none",
    native: str | None = None,
    after_stage: int = 0,
    depth_resolution_nm: float = 0.0,
) -> MeasuredProfile:
    """Read a measured depth profile from a delimited text file (format: see the module docstring).

    path: the file; columns: species -> column name (a mapping or (species, column) pairs), in
    the order the species should have; None: every column except the depth/time column and the
    uncertainty columns, species named by the header, in file order.
    depth_column: the column holding depth (unit from its header, default nm); time_column: the
    column holding sputter time (unit from its header, default s), converted with
    sputter_rate_nm_s (nm/s; depth = t * rate) or crater_depth_nm (nm; depth = crater * t / t_max).
    With neither, the one column whose header starts with "depth" (any case) is used.
    A column name matches a header exactly, else case-insensitively ignoring surrounding
    whitespace.
    uncertainty_columns: species -> column of its uncertainty (same units as its values);
    relative_uncertainty: sigma = relative_uncertainty * |value| where no column is given (1);
    uncertainty_floor: smallest sigma (fraction of n_bulk, > 0).
    normalize: "none" (values are fractions of n_bulk) | "bulk" (raw counts, normalised with the
    native species `native` and electroneutrality, see the module docstring).
    after_stage, depth_resolution_nm (nm): stored in the result.

    Raises DataFileError (one line naming the file, line and/or column) for any problem with the
    file, ValueError for inconsistent arguments.
    """
    col_map = _pairs(columns, "columns")
    unc_map = _pairs(uncertainty_columns, "uncertainty_columns")
    _check_arguments(
        col_map,
        depth_column,
        time_column,
        sputter_rate_nm_s,
        crater_depth_nm,
        relative_uncertainty,
        uncertainty_floor,
        normalize,
        native,
        after_stage,
        depth_resolution_nm,
    )
    label = _clean(str(path))
    p = Path(path)
    table = _parse_table(_read_text(p, label), label)
    try:
        # overflow (1e308 um -> nm) or invalid operations are errors of the file, whatever the
        # caller's numpy error settings
        with np.errstate(all="raise", under="ignore"):
            depth, values, sigma, species = _build(
                table,
                col_map,
                unc_map,
                depth_column,
                time_column,
                sputter_rate_nm_s,
                crater_depth_nm,
                relative_uncertainty,
                uncertainty_floor,
                normalize,
                native,
            )
    except (FloatingPointError, OverflowError, np.linalg.LinAlgError) as exc:
        raise DataFileError(
            f"{label}: numbers out of range while converting the profile ({_clean(str(exc))})"
        ) from None
    return MeasuredProfile(
        depth_nm=depth,
        values=values,
        sigma=sigma,
        file=p,
        after_stage=after_stage,
        depth_resolution_nm=float(depth_resolution_nm),
        species=species,
    )


def profile_from_spec(spec: DataSpec, native: str) -> MeasuredProfile:
    """Read the measured profile of a ``[[data]]`` block of a loaded case.

    spec: the block (``case.data[i]``); native: the name of the case's native species
    (``case.native.name``), needed when ``spec.normalize == "bulk"``.
    """
    return read_profile(
        spec.file,
        columns=spec.columns,
        depth_column=spec.depth_column,
        time_column=spec.time_column,
        sputter_rate_nm_s=spec.sputter_rate_nm_s,
        crater_depth_nm=spec.crater_depth_nm,
        uncertainty_columns=spec.uncertainty_columns,
        relative_uncertainty=spec.relative_uncertainty,
        uncertainty_floor=spec.uncertainty_floor,
        normalize=spec.normalize,
        native=native,
        after_stage=spec.after_stage,
        depth_resolution_nm=spec.depth_resolution_nm,
    )


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def _pairs(
    value: Mapping[str, str] | Iterable[tuple[str, str]] | None, name: str
) -> dict[str, str] | None:
    if value is None:
        return None
    out = dict(value.items() if isinstance(value, Mapping) else value)
    for species, column in out.items():
        if not isinstance(species, str) or not isinstance(column, str):
            raise ValueError(f"{name}: species and column names must be strings")
    return out


def _check_arguments(
    columns: dict[str, str] | None,
    depth_column: str | None,
    time_column: str | None,
    rate: float | None,
    crater: float | None,
    relative_uncertainty: float,
    uncertainty_floor: float,
    normalize: str,
    native: str | None,
    after_stage: int,
    depth_resolution_nm: float,
) -> None:
    if columns is not None and not columns:
        raise ValueError("columns must name at least one species")
    if depth_column is not None and time_column is not None:
        raise ValueError("give depth_column or time_column, not both")
    if time_column is None:
        if rate is not None or crater is not None:
            raise ValueError("sputter_rate_nm_s and crater_depth_nm are only used with time_column")
    elif (rate is None) == (crater is None):
        raise ValueError("time_column needs exactly one of sputter_rate_nm_s, crater_depth_nm")
    for name, value in (("sputter_rate_nm_s", rate), ("crater_depth_nm", crater)):
        if value is not None and not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    if not (math.isfinite(relative_uncertainty) and relative_uncertainty >= 0.0):
        raise ValueError(f"relative_uncertainty must be >= 0, got {relative_uncertainty!r}")
    if not (math.isfinite(uncertainty_floor) and uncertainty_floor > 0.0):
        raise ValueError(f"uncertainty_floor must be > 0, got {uncertainty_floor!r}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if normalize == "bulk" and native is None:
        raise ValueError('normalize="bulk" needs native (the name of the native species)')
    if after_stage < 0:
        raise ValueError(f"after_stage must be >= 0, got {after_stage!r}")
    if not (math.isfinite(depth_resolution_nm) and depth_resolution_nm >= 0.0):
        raise ValueError(f"depth_resolution_nm must be >= 0, got {depth_resolution_nm!r}")


# --------------------------------------------------------------------------------------------
# Text -> table of cells
# --------------------------------------------------------------------------------------------


@dataclass
class _Table:
    """The cells of a file: header names, rows with exactly len(names) cells, line numbers."""

    label: str
    names: list[str]
    header_line: int
    rows: list[list[str]]
    lines: list[int]
    delimiter: str | None


def _read_limited(path: Path, label: str) -> bytes:
    """The bytes of `path`; DataFileError as soon as it passes MAX_PROFILE_LINES lines or
    MAX_PROFILE_BYTES bytes (checked chunk by chunk, before the whole file is in memory)."""
    chunks = []
    lines = size = 0
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK_BYTES):
            lines += chunk.count(b"\n")
            size += len(chunk)
            if lines > MAX_PROFILE_LINES or size > MAX_PROFILE_BYTES:
                raise DataFileError(
                    f"{label}: too large for a measured profile (more than "
                    f"{MAX_PROFILE_LINES:,} lines or {MAX_PROFILE_BYTES // 2**20} MB); "
                    "thin it out first"
                )
            chunks.append(chunk)
    return b"".join(chunks)


def _read_text(path: Path, label: str) -> str:
    try:
        data = _read_limited(path, label)
    except OSError as exc:
        raise DataFileError(
            f"{label}: cannot read profile file ({_clean(exc.strerror or str(exc))})"
        ) from None
    except ValueError as exc:  # an embedded NUL in the name
        raise DataFileError(f"{label}: invalid file name ({_clean(str(exc))})") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{label}: not valid UTF-16 text ({exc.reason})") from None
    if b"\x00" in data:
        raise DataFileError(f"{label}: not a text file (it contains NUL bytes{_utf16_hint(data)})")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # e.g. a "µm" header written by a Windows program in Latin-1 (cp1252 agrees on it)
        return data.decode("latin-1")


def _utf16_hint(data: bytes) -> str:
    """A hint when NUL bytes sit at every other position: UTF-16 text without a byte-order mark."""
    if len(data) < 4:
        return ""
    for order, zeros in (("little", data[1::2]), ("big", data[0::2])):
        if zeros.count(0) >= 0.9 * len(zeros):
            return f"; UTF-16 {order}-endian without a byte-order mark? save it as UTF-8"
    return ""


def _parse_table(text: str, label: str) -> _Table:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    content = [
        (i, line) for i, line in enumerate(lines, 1) if line.strip() and not _is_comment(line)
    ]
    if not content:
        raise DataFileError(f"{label}: empty file (no header row)")
    header_no, header_text = content[0]
    data = content[1:]
    delimiter = _choose_delimiter(header_text, [line for _, line in data[:SNIFF_ROWS]])
    if delimiter is _NO_DELIMITER:
        raise DataFileError(
            f"{label}: line {header_no}: cannot split the header into columns (expected at least "
            "two names separated by commas, tabs, semicolons or spaces)"
        )
    names = _header_cells(header_text, delimiter)
    for j, name in enumerate(names, 1):
        if not name:
            raise DataFileError(f"{label}: line {header_no}: column {j} has no name")
    if all(_NUMBER.fullmatch(_decimal_point(n, delimiter)) for n in names):
        raise DataFileError(
            f"{label}: line {header_no}: the first line holds numbers, not column names (one "
            "header row is required; lines starting with # are comments)"
        )
    rows: list[list[str]] = []
    numbers: list[int] = []
    width = len(names)
    for no, line in data:
        cells = _split_cells(line, delimiter)
        if not any(cells):
            continue  # only delimiters: a blank row of a spreadsheet
        if len(cells) < width or any(cells[width:]):
            n = len(cells) if len(cells) < width else _trimmed_length(cells)
            raise DataFileError(
                f"{label}: line {no}: {n} fields, expected {width} (ragged row; "
                f"{_DELIMITER_NAMES[delimiter]}-separated)"
            )
        rows.append(cells[:width])
        numbers.append(no)
    if not rows:
        raise DataFileError(f"{label}: header only, no data rows")
    return _Table(label, names, header_no, rows, numbers, delimiter)


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


_NO_DELIMITER = "\x00no delimiter"


def _choose_delimiter(header: str, sample: Sequence[str]) -> str | None:
    """The delimiter splitting the header into >= 2 names and most sample rows alike."""
    best: str | None = _NO_DELIMITER
    best_score = -1
    for delimiter in _DELIMITERS:
        width = len(_header_cells(header, delimiter))
        if width < 2:
            continue
        score = 0
        for line in sample:
            cells = _split_cells(line, delimiter)
            if len(cells) >= width and not any(cells[width:]):
                score += 1
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _header_cells(line: str, delimiter: str | None) -> list[str]:
    cells = _split_cells(line, delimiter)
    if delimiter is None:
        # "depth (nm) Li K": a unit in brackets belongs to the name before it
        merged: list[str] = []
        for cell in cells:
            if merged and _UNIT_IN_BRACKETS.match(cell):
                merged[-1] = f"{merged[-1]} {cell}"
            else:
                merged.append(cell)
        cells = merged
    while len(cells) > 1 and not cells[-1]:
        cells.pop()  # trailing delimiters
    return cells


def _split_cells(line: str, delimiter: str | None) -> list[str]:
    """Cells of one line, stripped of whitespace and of double quotes around them."""
    if '"' not in line:
        if delimiter is None:
            return line.split()
        return [c.strip() for c in line.split(delimiter)]
    cells: list[str] = []
    cell: list[str] = []
    in_cell = False  # whitespace mode: inside a cell
    quoted = False
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if quoted:
            if c == '"':
                if i + 1 < n and line[i + 1] == '"':
                    cell.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                cell.append(c)
        elif c == '"' and not "".join(cell).strip():
            cell = []
            quoted = in_cell = True
        elif delimiter is None and c.isspace():
            if in_cell:
                cells.append("".join(cell).strip())
                cell, in_cell = [], False
        elif c == delimiter:
            cells.append("".join(cell).strip())
            cell = []
        else:
            cell.append(c)
            in_cell = True
        i += 1
    if delimiter is not None or in_cell:
        cells.append("".join(cell).strip())
    return cells


def _trimmed_length(cells: list[str]) -> int:
    n = len(cells)
    while n > 0 and not cells[n - 1]:
        n -= 1
    return n


# --------------------------------------------------------------------------------------------
# Columns and numbers
# --------------------------------------------------------------------------------------------


def _find_column(table: _Table, name: str, what: str = "") -> int:
    """Index of the column called name: exact match, else case-insensitive without whitespace."""
    exact = [j for j, n in enumerate(table.names) if n == name]
    if not exact:
        folded = name.strip().casefold()
        exact = [j for j, n in enumerate(table.names) if n.strip().casefold() == folded]
    context = f"{what}; " if what else ""
    if len(exact) > 1:
        raise DataFileError(
            f"{table.label}: line {table.header_line}: column name {_show(name)} is ambiguous "
            f"({context}columns {', '.join(str(j + 1) for j in exact)} match)"
        )
    if not exact:
        close = difflib.get_close_matches(name, table.names, n=1)
        hint = f"did you mean {_show(close[0])}? " if close else ""
        raise DataFileError(
            f"{table.label}: no column {_show(name)} ({context}{hint}columns: "
            f"{_list_columns(table.names)})"
        )
    return exact[0]


def _list_columns(names: Sequence[str]) -> str:
    shown = [_short(n) for n in names[:MAX_LISTED_COLUMNS]]
    if len(names) > MAX_LISTED_COLUMNS:
        shown.append(f"... ({len(names)} in all)")
    return ", ".join(shown)


def _decimal_point(cell: str, delimiter: str | None) -> str:
    if delimiter != "," and cell.count(",") == 1 and "." not in cell:
        return cell.replace(",", ".")
    return cell


def _column_numbers(table: _Table, j: int, *, missing_ok: bool) -> np.ndarray:
    """Column j as floats; missing cells are NaN (an error unless missing_ok)."""
    out = np.empty(len(table.rows))
    name = _show(table.names[j])
    for i, row in enumerate(table.rows):
        cell = row[j]
        if cell.lower() in MISSING_TOKENS:
            if not missing_ok:
                raise DataFileError(
                    f"{table.label}: line {table.lines[i]}: column {name}: no value "
                    f"({_show(cell)}); every row needs one"
                )
            out[i] = math.nan
            continue
        text = _decimal_point(cell, table.delimiter)
        if _NUMBER.fullmatch(text):
            value = float(text)
            if math.isfinite(value):
                out[i] = value
                continue
        elif not _INFINITY.fullmatch(text):
            raise DataFileError(
                f"{table.label}: line {table.lines[i]}: column {name}: "
                f"{_show(cell)} is not a number"
            )
        raise DataFileError(
            f"{table.label}: line {table.lines[i]}: column {name}: {_show(cell)} is not finite"
        )
    return out


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


# --------------------------------------------------------------------------------------------
# Cells -> profile
# --------------------------------------------------------------------------------------------


def _build(
    table: _Table,
    col_map: dict[str, str] | None,
    unc_map: dict[str, str] | None,
    depth_column: str | None,
    time_column: str | None,
    rate: float | None,
    crater: float | None,
    relative_uncertainty: float,
    uncertainty_floor: float,
    normalize: str,
    native: str | None,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray], tuple[str, ...]]:
    """(depth_nm, values, sigma, species) from the cells: rows sorted, incomplete rows dropped."""
    label = table.label
    pos, species_idx, unc_idx = _select_columns(
        table, col_map, unc_map, depth_column, time_column, normalize, native
    )
    species = tuple(species_idx)
    depth, order = _depth_nm(table, pos, time_column is not None, rate, crater)
    values = {s: _column_numbers(table, j, missing_ok=True) for s, j in species_idx.items()}
    unc = {s: _column_numbers(table, j, missing_ok=True) for s, j in unc_idx.items()}
    for s, u in unc.items():
        bad = np.flatnonzero(u < 0.0)
        if bad.size:
            raise DataFileError(
                f"{label}: line {table.lines[bad[0]]}: column {_show(table.names[unc_idx[s]])}: "
                f"uncertainty {_num(u[bad[0]])} is negative"
            )

    # ---- rows with a value in every used column, by increasing depth
    keep = np.ones(len(table.rows), dtype=bool)
    used = [(species_idx[s], values[s]) for s in species] + [(unc_idx[s], unc[s]) for s in unc]
    for j, column in used:
        present = ~np.isnan(column)
        if not present.any():
            raise DataFileError(
                f"{label}: column {_show(table.names[j])} has no values (all cells empty or nan)"
            )
        keep &= present
    if not keep.any():
        raise DataFileError(
            f"{label}: no row has a value in every used column "
            f"({_list_columns([table.names[j] for j, _ in used])})"
        )
    if not keep.all():
        logger.info("%s: %d rows with missing values dropped", label, int((~keep).sum()))
    rows = order[keep[order]]
    depth = depth[rows]
    values = {s: v[rows] for s, v in values.items()}
    unc = {s: u[rows] for s, u in unc.items()}
    steps = np.flatnonzero(np.diff(depth) <= 0.0)
    if steps.size:
        # distinct in the file, equal after the unit conversion (subnormal numbers)
        i = steps[0] + 1
        raise DataFileError(
            f"{label}: line {table.lines[rows[i]]}: depth {_num(depth[i])} nm equals the "
            "previous one after conversion to nm"
        )

    # ---- normalisation and uncertainty
    if normalize == "bulk":
        assert native is not None
        scales = _bulk_scales(label, table, species_idx, values, native)
        sigma = {}
        for s in species:
            counts = values[s]
            values[s] = counts * scales[s]
            if s in unc:
                sigma[s] = unc[s] * scales[s]
            else:
                sigma[s] = np.hypot(
                    relative_uncertainty * np.abs(values[s]), np.sqrt(np.abs(counts)) * scales[s]
                )
    else:
        sigma = {
            s: unc[s] if s in unc else relative_uncertainty * np.abs(values[s]) for s in species
        }
    sigma = {s: np.maximum(sig, uncertainty_floor) for s, sig in sigma.items()}
    for s in species:
        if not (np.all(np.isfinite(values[s])) and np.all(np.isfinite(sigma[s]))):
            raise DataFileError(
                f"{label}: column {_show(table.names[species_idx[s]])}: values out of range "
                "after normalisation"
            )
        big = np.flatnonzero(np.abs(values[s]) > MAX_DATA_FRACTION)
        if big.size:
            k = int(big[0])
            raise DataFileError(
                f"{label}: line {table.lines[rows[k]]}: column "
                f"{_show(table.names[species_idx[s]])}: fraction {_num(values[s][k])} of "
                f"n_bulk is not physical (more than {MAX_DATA_FRACTION:g}; counts? use "
                'normalize = "bulk")'
            )
    return depth, values, sigma, species


def _select_columns(
    table: _Table,
    col_map: dict[str, str] | None,
    unc_map: dict[str, str] | None,
    depth_column: str | None,
    time_column: str | None,
    normalize: str,
    native: str | None,
) -> tuple[int, dict[str, int], dict[str, int]]:
    """Indices of the depth/time column, {species: value column}, {species: uncertainty column}."""
    label = table.label
    if time_column is not None:
        pos = _find_column(table, time_column, "time column")
    elif depth_column is not None:
        pos = _find_column(table, depth_column, "depth column")
    else:
        pos = _autodetect_depth(table)
    unc_idx = {
        s: _find_column(table, c, f"uncertainty of {_short(s)}") for s, c in (unc_map or {}).items()
    }
    if col_map is None:
        skip = {pos, *unc_idx.values()}
        species_idx = {table.names[j]: j for j in range(len(table.names)) if j not in skip}
        if not species_idx:
            raise DataFileError(
                f"{label}: no value columns besides the depth/time and uncertainty columns "
                f"(columns: {_list_columns(table.names)})"
            )
        if len(species_idx) != len(table.names) - len(skip):
            dup = next(n for n in species_idx if table.names.count(n) > 1)
            raise DataFileError(
                f"{label}: line {table.header_line}: column name {_show(dup)} appears twice"
            )
    else:
        species_idx = {s: _find_column(table, c) for s, c in col_map.items()}
    for s in unc_idx:
        if s not in species_idx:
            raise DataFileError(
                f"{label}: uncertainty column given for {_show(s)}, which is not among the "
                f"species ({_list_columns(list(species_idx))})"
            )
    if normalize == "bulk" and native not in species_idx:
        raise DataFileError(
            f"{label}: normalize='bulk' needs the native species {_show(native)} among the "
            f"columns (species: {_list_columns(list(species_idx))})"
        )
    return pos, species_idx, unc_idx


def _depth_nm(
    table: _Table, pos: int, is_time: bool, rate: float | None, crater: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Depths (nm) of all rows, in file order, and the row order by increasing depth."""
    name = table.names[pos]
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


def _autodetect_depth(table: _Table) -> int:
    found = [j for j, n in enumerate(table.names) if n.strip().casefold().startswith("depth")]
    if len(found) == 1:
        return found[0]
    if found:
        raise DataFileError(
            f"{table.label}: line {table.header_line}: several depth columns "
            f"({_list_columns([table.names[j] for j in found])}); choose one with depth_column"
        )
    raise DataFileError(
        f"{table.label}: no depth column (no header starts with 'depth'; columns: "
        f"{_list_columns(table.names)}); name it with depth_column, or give time_column with "
        "sputter_rate_nm_s or crater_depth_nm"
    )


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


def _bulk_scales(
    label: str,
    table: _Table,
    species_idx: Mapping[str, int],
    counts: Mapping[str, np.ndarray],
    native: str,
) -> dict[str, float]:
    """Factors turning counts into fractions of n_bulk (see the module docstring)."""
    n = counts[native].size
    if n < BULK_TAIL_MIN_POINTS:
        raise DataFileError(
            f"{label}: normalize='bulk' needs at least {BULK_TAIL_MIN_POINTS} data rows, got {n}"
        )
    tail = max(BULK_TAIL_MIN_POINTS, math.ceil(BULK_TAIL_FRACTION * n))
    native_name = _show(table.names[species_idx[native]])
    pristine = float(np.mean(counts[native][-tail:]))
    if not (math.isfinite(pristine) and pristine > 0.0):
        raise DataFileError(
            f"{label}: column {native_name}: mean count {_num(pristine)} over the deepest {tail} "
            "rows is not > 0, cannot normalise to the bulk"
        )
    scales = {native: 1.0 / pristine}
    foreign = [s for s in species_idx if s != native]
    if not foreign:
        return scales
    native_fraction = counts[native] / pristine
    target = 1.0 - native_fraction
    size = np.array([np.max(np.abs(counts[s])) for s in foreign])
    for s, m in zip(foreign, size, strict=True):
        if not m > 0.0:
            raise DataFileError(
                f"{label}: column {_show(table.names[species_idx[s]])}: all counts are 0, "
                "cannot scale it to the bulk"
            )
    design = np.column_stack([counts[s] / m for s, m in zip(foreign, size, strict=True)])
    coef, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    if rank < len(foreign):
        raise DataFileError(
            f"{label}: columns {_list_columns([table.names[species_idx[s]] for s in foreign])} "
            "are linearly dependent, cannot find their scales"
        )
    for s, c, m in zip(foreign, coef, size, strict=True):
        k = float(c / m)
        if not (math.isfinite(k) and k > 0.0):
            raise DataFileError(
                f"{label}: column {_show(table.names[species_idx[s]])}: its scale to the bulk "
                f"(least squares: native + sum k_j I_j = 1) is {_num(k)}, not > 0"
            )
        scales[s] = k
    return scales


# --------------------------------------------------------------------------------------------
# Message helpers
# --------------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """text on one printable line (file names may hold anything)."""
    return text if text.isprintable() else repr(text)


def _short(text: str) -> str:
    """text from a file, shortened and on one printable line, without quotes."""
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 3] + "..."
    return _clean(text)


def _num(x: float) -> str:
    """A number for a message: the shortest repr that reads back to the same float."""
    return repr(float(x))


def _show(text: object) -> str:
    """A value from a file, quoted, shortened and on one printable line."""
    text = str(text)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 3] + "..."
    return repr(text)
