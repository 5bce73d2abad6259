"""The case schema's vocabulary: allowed keys and values, limits, and typed access to a
parsed document that fails with one line ``<file>: <key>: <problem>``."""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from nppsim.errors import CaseError

ROLES = ("native", "foreign")
BACK_CONDITIONS = ("reservoir", "blocking", "absorbing")
SED_SHAPES = ("gaussian", "gaussians", "box", "exponential", "table")
FILLINGS = ("step", "fermi-dirac")
#: what an SED's reference density n_ref is: the pristine fraction (one value), or the local
#: fraction of the species at the start of each stage (per cell; the Double-CAIT second stage)
SED_REFERENCES = ("pristine", "stage_start")
METHODS = ("npp", "electroneutral")
NORMALIZATIONS = ("none", "bulk", "matrix")
CONTROL_KEYS = ("potential_V", "current_density_A_cm2", "potential_table_V", "current_table_A_cm2")

# Cells finer than this are far below any SIMS depth resolution and only make the grid huge.
MIN_FINE_SPACING_NM = 0.01
# Geometric growth above this ratio makes the finite-volume scheme noticeably inaccurate;
# MODEL.md recommends <= 1.1, larger values are allowed for quick looks.
MAX_GRID_GROWTH = 1.5
# Grids beyond this many cells cannot be simulated in reasonable time and memory (the graded grid
# of a 5 mm sample with 0.01 nm cells to 5 um has ~5e5); the check stops a typo (fine_depth_nm in
# um, a growth of 1.000001) from exhausting the memory before the first step.
MAX_GRID_CELLS = 1_000_000
#: default smallest uncertainty of a measured fraction: well below a 1 % plateau (the Li plateau
#: behind a Cs front is 0.3-1 % of n_bulk), so that stated or counting uncertainties decide
DEFAULT_UNCERTAINTY_FLOOR = 1.0e-4
#: default relative uncertainty of values given as fractions (normalize = "none"); counts
#: ("bulk", "matrix") default to Poisson statistics alone (relative 0)
DEFAULT_RELATIVE_UNCERTAINTY = 0.05
# Snapshots stored per stage: more than anyone can plot (10^8 would allocate gigabytes before
# the first step).
MAX_N_OUTPUT = 10_000
# Mobile-ion densities of ion-conducting glasses are 1e19 to 1e23 cm^-3; below this the Debye
# length exceeds a millimetre (no space charge to resolve) and the scaled equations divide by
# numbers that underflow (1e-300 divided by zero).
MIN_N_BULK_CM3 = 1.0e10
# No stage of an experiment is shorter than a nanosecond; shorter (denormal) durations cannot
# even take the first time step.
MIN_STAGE_DURATION_S = 1.0e-9
# Species names appear in dotted keys, glob patterns (species.*.D_cm2_s), KEY=VALUE arguments,
# HDF5 dataset names and CSV column headers, so these characters would make them ambiguous.
_FORBIDDEN_NAME_CHARS = re.compile(r"[\s./\\*?=\[\],;\"']")

# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_TOP_KEYS = ("meta", "sample", "species", "stage", "grid", "solver", "data")
_META_KEYS = ("name", "description", "source")
_SAMPLE_KEYS = ("thickness_um", "temperature_K", "n_bulk_cm3", "eps_r")
_SPECIES_KEYS = (
    "role",
    "charge",
    "D_cm2_s",
    "D0_cm2_s",
    "activation_energy_eV",
    "initial_fraction",
    "immobile_fraction",
    "back",
    "sed",
    "D_table",
)
_SED_KEYS = (
    "shape",
    "fwhm_eV",
    "vacancy_fraction",
    "filling",
    "components",
    "width_eV",
    "tail_eV",
    "energies_eV",
    "density",
    "reference",
)
_STAGE_KEYS = ("duration_s", "source", "surface_fraction", *CONTROL_KEYS)
_GRID_KEYS = ("fine_depth_nm", "fine_spacing_nm", "growth")
_SOLVER_KEYS = ("method", "rtol", "atol", "n_output", "dt_initial_s", "max_steps")
_DATA_KEYS = (
    "file",
    "after_stage",
    "depth_column",
    "time_column",
    "sputter_rate_nm_s",
    "crater_depth_nm",
    "columns",
    "depth_resolution_nm",
    "mixing_nm",
    "information_nm",
    "uncertainty_columns",
    "relative_uncertainty",
    "uncertainty_floor",
    "normalize",
    "header_row",
    "matrix_column",
    "sensitivity",
    "background",
    "bulk_level",
    "fit_range_nm",
    "depth_scale",
    "depth_offset_nm",
)
_TABLE_KEYS = {
    "meta": _META_KEYS,
    "sample": _SAMPLE_KEYS,
    "grid": _GRID_KEYS,
    "solver": _SOLVER_KEYS,
}
# the SED parameters that belong to one shape only
_SHAPE_PARAMS = {
    "gaussian": ("fwhm_eV",),
    "gaussians": ("components",),
    "box": ("width_eV",),
    "exponential": ("tail_eV",),
    "table": ("energies_eV", "density"),
}
_PARAM_SHAPE = {p: shape for shape, params in _SHAPE_PARAMS.items() for p in params}
_INLINE_TABLE_KEYS = frozenset({"columns", "uncertainty_columns", "sensitivity", "background"})

_MISSING: Any = object()


def _clean(text: str) -> str:
    """text on one printable line (file names and keys may hold anything)."""
    return text if text.isprintable() else repr(text)


def _key_part(part: object) -> str:
    if isinstance(part, str) and part and part.isprintable() and "." not in part:
        return part
    return repr(part)


def _join(prefix: str, part: object) -> str:
    return f"{prefix}.{_key_part(part)}" if prefix else _key_part(part)


def _did_you_mean(word: object, options: Sequence[str]) -> str:
    if not isinstance(word, str):
        return ""
    folded = [o for o in options if o.lower() == word.lower()]
    close = folded or difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: object) -> str:
    """A short one-line description of a value for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "...'"
    if isinstance(value, numbers.Integral):
        text = str(int(value))
        return text if len(text) <= 30 else text[:12] + f"... ({len(text)} digits)"
    if isinstance(value, numbers.Real):
        try:
            return repr(float(value))
        except (OverflowError, ValueError):
            return repr(value)[:40]
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def _toml_error_message(label: str, message: str) -> str:
    message = _clean(message)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        what = message[: match.start()]
        return f"{label}: line {match[1]}, column {match[2]}: invalid TOML ({what})"
    match = re.search(r"\s*\(at end of document\)$", message)
    if match:
        return f"{label}: end of document: invalid TOML ({message[: match.start()]})"
    return f"{label}: invalid TOML ({message})"


def _bound(x: float) -> str:
    return format(x, "g")


class _Reader:
    """Typed access to a parsed document that fails with `<file>: <key>: <problem>`."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, key: str, message: str) -> NoReturn:
        raise CaseError(f"{self.label}: {key}: {message}")

    # ---- containers ----
    def table(self, value: object, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a table, got {_show(value)}")
        return value

    def array(self, value: object, key: str) -> Sequence[Any]:
        if not isinstance(value, list | tuple):
            self.fail(key, f"must be an array, got {_show(value)}")
        return value

    def check_keys(self, table: Mapping[Any, Any], prefix: str, allowed: Sequence[str]) -> None:
        for k in table:
            if not isinstance(k, str) or k not in allowed:
                hint = _did_you_mean(k, allowed) or f" (valid keys: {', '.join(allowed)})"
                self.fail(_join(prefix, k), f"unknown key{hint}")

    def array_of_tables(self, doc: Mapping[str, Any], name: str) -> Sequence[Mapping[str, Any]]:
        value = doc[name]
        if isinstance(value, Mapping):
            self.fail(name, f"must be an array of tables ([[{name}]]), got a table ([{name}])")
        items = self.array(value, name)
        return [self.table(item, f"{name}.{i}") for i, item in enumerate(items, 1)]

    # ---- scalars ----
    def number(
        self,
        value: object,
        key: str,
        *,
        where: str = "",
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
    ) -> float:
        pre = f"{where}: " if where else ""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            self.fail(key, f"{pre}must be a number, got {_show(value)}")
        try:
            x = float(value)
        except (OverflowError, ValueError, TypeError):
            x = math.inf
        if not math.isfinite(x):
            self.fail(key, f"{pre}must be finite, got {_show(value)}")
        if gt is not None and not x > gt:
            self.fail(key, f"{pre}must be > {_bound(gt)}, got {_show(value)}")
        if ge is not None and not x >= ge:
            self.fail(key, f"{pre}must be >= {_bound(ge)}, got {_show(value)}")
        if lt is not None and not x < lt:
            self.fail(key, f"{pre}must be < {_bound(lt)}, got {_show(value)}")
        if le is not None and not x <= le:
            self.fail(key, f"{pre}must be <= {_bound(le)}, got {_show(value)}")
        return x

    def integer(
        self, value: object, key: str, *, ge: int | None = None, le: int | None = None
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            self.fail(key, f"must be an integer, got {_show(value)}")
        n = int(value)
        if ge is not None and n < ge:
            self.fail(key, f"must be >= {ge}, got {_show(n)}")
        if le is not None and n > le:
            self.fail(key, f"must be <= {le}, got {_show(n)}")
        return n

    def string(
        self,
        value: object,
        key: str,
        choices: Sequence[str] | None = None,
        *,
        allow_empty: bool = False,
    ) -> str:
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {_show(value)}")
        if choices is not None and value not in choices:
            options = ", ".join(repr(c) for c in choices)
            self.fail(
                key,
                f"must be one of {options}, got {_show(value)}{_did_you_mean(value, choices)}",
            )
        if choices is None and not allow_empty and not value.strip():
            self.fail(key, "must not be empty")
        return value

    # ---- keyed access ----
    def get_number(
        self, table: Mapping[str, Any], prefix: str, name: str, default: Any = _MISSING, **bounds
    ) -> Any:
        if name not in table:
            return self._default(prefix, name, default)
        return self.number(table[name], _join(prefix, name), **bounds)

    def get_integer(
        self, table: Mapping[str, Any], prefix: str, name: str, default: Any = _MISSING, **bounds
    ) -> Any:
        if name not in table:
            return self._default(prefix, name, default)
        return self.integer(table[name], _join(prefix, name), **bounds)

    def get_string(
        self,
        table: Mapping[str, Any],
        prefix: str,
        name: str,
        default: Any = _MISSING,
        choices: Sequence[str] | None = None,
        *,
        allow_empty: bool = False,
    ) -> Any:
        if name not in table:
            return self._default(prefix, name, default)
        return self.string(table[name], _join(prefix, name), choices, allow_empty=allow_empty)

    def _default(self, prefix: str, name: str, default: Any) -> Any:
        if default is _MISSING:
            self.fail(_join(prefix, name), "required key is missing")
        return default

    def rows(
        self, value: object, key: str, columns: Sequence[str], *, min_rows: int = 1
    ) -> list[list[float]]:
        """An array of rows of len(columns) finite numbers."""
        items = self.array(value, key)
        if len(items) < min_rows:
            layout = "[" + ", ".join(columns) + "]"
            self.fail(key, f"needs at least {min_rows} row(s) {layout}, got {len(items)}")
        out = []
        for j, row in enumerate(items, 1):
            if not isinstance(row, list | tuple) or len(row) != len(columns):
                layout = "[" + ", ".join(columns) + "]"
                self.fail(key, f"row {j}: must be {layout}, got {_show(row)}")
            out.append(
                [
                    self.number(x, key, where=f"row {j}, {c}")
                    for x, c in zip(row, columns, strict=True)
                ]
            )
        return out

    def increasing(self, values: Sequence[float], key: str, what: str, item: str = "row") -> None:
        for j in range(1, len(values)):
            if not values[j] > values[j - 1]:
                self.fail(
                    key,
                    f"{item} {j + 1}: {what} must increase strictly, "
                    f"got {_show(values[j])} after {_show(values[j - 1])}",
                )
