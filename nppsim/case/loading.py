"""Loading cases: from a file, TOML text, a parsed document, or the packaged default."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from nppsim.case.keys import _clean, _show, _toml_error_message
from nppsim.case.reader import _build_case
from nppsim.case.schema import Case
from nppsim.errors import CaseError

# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_case(path: str | Path) -> Case:
    """Load and validate the case file at path; CaseError on any problem."""
    label = _clean(str(path))
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CaseError(f"{label}: cannot read case file ({exc.strerror or exc})") from None
    except ValueError as exc:  # an embedded NUL in the name
        raise CaseError(f"{label}: invalid file name ({_clean(str(exc))})") from None
    try:
        # utf-8-sig: editors on Windows like to start files with a byte-order mark
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        why = "UTF-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else f"not UTF-8: {exc.reason}"
        raise CaseError(
            f"{label}: line {line}: cannot read case file ({why}; TOML files must be UTF-8)"
        ) from None
    resolved = p.resolve()
    return _build_case(_parse_toml(text, label), label, resolved.parent, resolved)


def loads_case(text: str, source: str = "<string>", base_dir: Path | None = None) -> Case:
    """Load and validate a case from TOML text.

    source: name used in error messages; base_dir: folder that relative data files are
    resolved against (default: the current directory).
    """
    label = _clean(source)
    return _build_case(_parse_toml(text, label), label, base_dir, None)


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(_toml_error_message(label, str(exc))) from None
    except RecursionError:
        raise CaseError(f"{label}: invalid TOML (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise CaseError(f"{label}: invalid TOML ({_clean(str(exc))[:120]})") from None


def case_from_dict(
    doc: Mapping[str, Any], source: str = "<dict>", base_dir: Path | None = None
) -> Case:
    """Validate a parsed case document (nested dicts as tomllib returns them)."""
    label = _clean(source)
    if not isinstance(doc, Mapping):
        raise CaseError(f"{label}: the case must be a table, got {_show(doc)}")
    return _build_case(copy.deepcopy(dict(doc)), label, base_dir, None)


def default_case() -> Case:
    """The case shipped inside the package (nppsim/data/default_case.toml; cases/lbo_k.toml is
    its twin): K+ CAIT on a Li3B7O12-like glass."""
    resource = resources.files("nppsim") / "data" / "default_case.toml"
    return loads_case(resource.read_text(encoding="utf-8"), source="<default case>")


def parse_assignment(text: str) -> tuple[str, object]:
    """Split "KEY=VALUE" (the --set syntax) into the key and a value.

    VALUE is read as a TOML value (1e-12, true, "npp", [[0, 1]]); failing that as a number in
    Python's syntax (.5, 1.); failing that it is taken as a bare string (npp).
    """
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise CaseError(f"--set: {_show(text)}: expected KEY=VALUE, e.g. sample.temperature_K=350")
    value_text = value_text.strip()
    try:
        parsed = tomllib.loads(f"v = {value_text}\n")
    except (ValueError, RecursionError):
        parsed = {}
    if list(parsed) == ["v"]:
        return key, parsed["v"]
    try:
        return key, int(value_text) if value_text.lstrip("+-").isdigit() else float(value_text)
    except ValueError:
        return key, value_text
