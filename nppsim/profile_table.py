"""Delimited text -> a table of cells: encoding, delimiter and header detection, columns by name,
cells as numbers, and the one-line messages that name the file, line and column.

The file format is described in :mod:`nppsim.profiles`.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataFileError

logger = logging.getLogger(__name__)

#: values from a file are shortened to this many characters in error messages
MAX_SHOWN_CHARS = 40
#: column names listed in a "no column" message
MAX_LISTED_COLUMNS = 20
#: lines searched for the header row (a preamble longer than this needs header_row)
HEADER_SEARCH_LINES = 500
#: cells of a units row are short ("(nm)", "counts", "cts/s"); a longer text is a data error
MAX_UNIT_CHARS = 16
#: data rows (after the header) used to detect the delimiter
SNIFF_ROWS = 20
#: a profile file may hold at most this many lines (a ToF-SIMS depth profile has 10^2 to 10^4
#: rows; 10^7 rows took 5.6 GB and a quarter of an hour before): counted while reading
MAX_PROFILE_LINES = 1_000_000
#: ... and at most this many bytes (a million rows of a dozen columns)
MAX_PROFILE_BYTES = 256 * 2**20
#: bytes read at a time while counting lines
READ_CHUNK_BYTES = 2**20

NORMALIZATIONS = ("none", "bulk")
#: candidate delimiters in order of preference; None = runs of whitespace
_DELIMITERS: tuple[str | None, ...] = ("\t", ";", ",", None)
_DELIMITER_NAMES = {"\t": "tab", ";": "semicolon", ",": "comma", None: "whitespace"}
#: cells meaning "no value" (compared in lower case)
MISSING_TOKENS = frozenset({"", "nan", "+nan", "-nan", "-", "n/a", "na"})

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITY = re.compile(r"[+-]?inf(?:inity)?", re.IGNORECASE)
_UNIT_IN_BRACKETS = re.compile(r"^[(\[][^()\[\]]*[)\]]$")


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
    #: the units row right under the header (one cell per column), or None
    units: list[str] | None = None
    #: lines above the header skipped as a preamble (count)
    preamble_lines: int = 0


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


def _parse_table(
    text: str,
    label: str,
    header_row: int | None = None,
    header_names: Sequence[str] | None = None,
) -> _Table:
    """The table of cells of a file's text.

    header_row: the file line (1-based) of the column names; None: the first non-comment line
    that holds one of header_names (a column name, matched like `_find_column`, or a name
    starting with "depth" when header_names is empty), everything above it being a preamble;
    when no line holds one, the first non-comment line (the files nppsim writes). A row right
    under the header without any number (``(nm)``, ``counts``) is read as a units row.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if header_row is not None:
        if header_row > len(lines) or not lines[header_row - 1].strip():
            raise DataFileError(
                f"{label}: line {header_row}: header_row points to "
                + ("a line past the end of the file" if header_row > len(lines) else "a blank line")
            )
        content = [(header_row, lines[header_row - 1])] + [
            (i, line)
            for i, line in enumerate(lines[header_row:], header_row + 1)
            if line.strip() and not _is_comment(line)
        ]
    else:
        content = [
            (i, line) for i, line in enumerate(lines, 1) if line.strip() and not _is_comment(line)
        ]
        if not content:
            raise DataFileError(f"{label}: empty file (no header row)")
        start = _find_header(content, header_names)
        content = content[start:]
    preamble = (
        0
        if header_row is not None
        else sum(1 for i, line in enumerate(lines, 1) if i < content[0][0] and line.strip())
    )
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
            "header row is required; lines starting with # are comments; header_row = N names "
            "the line of the column names)"
        )
    rows: list[list[str]] = []
    numbers: list[int] = []
    width = len(names)
    units: list[str] | None = None
    for k, (no, line) in enumerate(data):
        cells = _split_cells(line, delimiter)
        if not any(cells):
            continue  # only delimiters: a blank row of a spreadsheet
        if k == 0 and _is_units_row(cells, delimiter):
            units = (cells + [""] * width)[:width]
            continue
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
    if preamble:
        logger.info("%s: %d preamble lines above the header (line %d)", label, preamble, header_no)
    return _Table(label, names, header_no, rows, numbers, delimiter, units, preamble)


def _find_header(content: Sequence[tuple[int, str]], names: Sequence[str] | None) -> int:
    """Index in content of the first line holding one of names (see `_parse_table`), else 0."""
    folded = {n.strip().casefold() for n in names or ()}

    def holds(cell: str) -> bool:
        c = cell.strip().casefold()
        return c in folded if folded else c.startswith("depth")

    for k, (_, line) in enumerate(content[:HEADER_SEARCH_LINES]):
        for delimiter in _DELIMITERS:
            if any(holds(c) for c in _header_cells(line, delimiter)):
                return k
    return 0


def _is_units_row(cells: Sequence[str], delimiter: str | None) -> bool:
    """A row without any number and with at least one unit-like cell: ``(nm)``, ``counts``."""
    present = [c for c in cells if c and c.lower() not in MISSING_TOKENS]
    if not present:
        return False
    if any(
        _NUMBER.fullmatch(_decimal_point(c, delimiter)) or _INFINITY.fullmatch(c) for c in present
    ):
        return False
    return all(len(c) <= MAX_UNIT_CHARS for c in present)


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
    if normalize != "none" and native not in species_idx:
        raise DataFileError(
            f"{label}: normalize={normalize!r} needs the native species {_show(native)} among the "
            f"columns (species: {_list_columns(list(species_idx))})"
        )
    return pos, species_idx, unc_idx


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
