"""Case files: the TOML description of a CAIT experiment, loaded into frozen, validated dataclasses.

A case file has the tables ``[meta]``, ``[sample]``, ``[species.<name>]`` (optionally with
``[species.<name>.sed]``), one or more ``[[stage]]`` blocks, and the optional ``[grid]``,
``[solver]`` and ``[[data]]`` tables; the schema is documented in ``INTERFACES.md``.

Every problem with a case raises :class:`nppsim.errors.CaseError` with one line of the form
``<file>: <dotted key>: <what is wrong>``. Values are addressed by dotted keys such as
``sample.temperature_K``, ``species.Li.sed.fwhm_eV`` or ``stage.1.potential_V`` (stages and data
blocks are numbered from 1); :meth:`Case.with_values` sets them and re-validates.

Units live in the key names; nothing is converted here.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import numbers
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from .errors import CaseError

__all__ = [
    "Case",
    "DataSpec",
    "GridConfig",
    "Meta",
    "SEDSpec",
    "Sample",
    "SolverConfig",
    "SpeciesConfig",
    "Stage",
    "case_from_dict",
    "default_case",
    "load_case",
    "loads_case",
    "parse_assignment",
]

# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

ROLES = ("native", "foreign")
BACK_CONDITIONS = ("reservoir", "blocking", "absorbing")
SED_SHAPES = ("gaussian", "gaussians", "box", "exponential", "table")
FILLINGS = ("step", "fermi-dirac")
#: what an SED's reference density n_ref is: the pristine fraction (one value), or the local
#: fraction of the species at the start of each stage (per cell; the Double-CAIT second stage)
SED_REFERENCES = ("pristine", "stage_start")
METHODS = ("npp", "electroneutral")
NORMALIZATIONS = ("none", "bulk")
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
# Snapshots stored per stage: more than anyone can plot (10^8 would allocate gigabytes before
# the first step).
MAX_N_OUTPUT = 10_000
# Species names appear in dotted keys, glob patterns (species.*.D_cm2_s), KEY=VALUE arguments
# and HDF5 dataset names, so these characters would make them ambiguous.
_FORBIDDEN_NAME_CHARS = re.compile(r"[\s./\\*?=\[\]]")


@dataclass(frozen=True)
class Meta:
    """Name and provenance of a case.

    name: short title; description: free text; source: citation or note.
    """

    name: str
    description: str = ""
    source: str = ""


@dataclass(frozen=True)
class Sample:
    """The glass sample.

    thickness_um: sample thickness L (um); temperature_K: temperature (K);
    n_bulk_cm3: pristine density of mobile ions, equal to the background charge (cm^-3);
    eps_r: relative permittivity (1).
    """

    thickness_um: float
    temperature_K: float
    n_bulk_cm3: float
    eps_r: float


@dataclass(frozen=True)
class SEDSpec:
    """Site-energy distribution (SED) of a species, from which D(n) follows (MODEL.md section 3).

    shape: "gaussian" | "gaussians" | "box" | "exponential" | "table".
    fwhm_eV: full width at half maximum of the Gaussian SED (eV), shape "gaussian".
    vacancy_fraction: fraction of sites empty in the pristine bulk, in [0, 1).
    filling: "step" (T = 0 occupation) | "fermi-dirac".
    components: ((weight, center_eV, fwhm_eV), ...) of a sum of Gaussians, shape "gaussians".
    width_eV: width of a uniform box SED (eV), shape "box".
    tail_eV: decay energy of an exponential-tail SED (eV), shape "exponential".
    energies_eV, density: tabulated SED g(E) (eV, arbitrary units), shape "table".
    reference: "pristine" (n_ref = the species' pristine fraction, D(n_ref) = D_cm2_s) or
    "stage_start" (n_ref = the species' local fraction at the start of each stage, cell by
    cell: the sites a species occupies at the start of a stage form its SED for that stage;
    where its fraction is at or above the start value, D = D_cm2_s). See
    `nppsim.simulate.mobility_for`.
    """

    shape: str = "gaussian"
    fwhm_eV: float = 0.25
    vacancy_fraction: float = 0.10
    filling: str = "step"
    components: tuple[tuple[float, float, float], ...] | None = None
    width_eV: float | None = None
    tail_eV: float | None = None
    energies_eV: tuple[float, ...] | None = None
    density: tuple[float, ...] | None = None
    reference: str = "pristine"


@dataclass(frozen=True)
class SpeciesConfig:
    """One mobile ion species.

    name: the key of its [species.<name>] table; role: "native" | "foreign";
    D_cm2_s: native: D at the pristine density; foreign: the constant D (cm^2/s);
    charge: charge number z (nonzero integer);
    initial_fraction: pristine fraction of n_bulk (default: native 1.0, foreign 0.0);
    back: condition at the back electrode, "reservoir" | "blocking" | "absorbing"
    (default: native "reservoir", foreign "absorbing");
    sed: site-energy distribution giving D(n), or None;
    D_table: ((fraction of n_bulk, D_cm2_s), ...), a tabulated D(n), or None (not with sed).
    """

    name: str
    role: str
    D_cm2_s: float
    charge: int = 1
    initial_fraction: float = None  # type: ignore[assignment]  # resolved from role
    back: str = None  # type: ignore[assignment]  # resolved from role
    sed: SEDSpec | None = None
    D_table: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        if self.initial_fraction is None:
            object.__setattr__(self, "initial_fraction", 1.0 if self.role == "native" else 0.0)
        if self.back is None:
            object.__setattr__(self, "back", "reservoir" if self.role == "native" else "absorbing")


@dataclass(frozen=True)
class Stage:
    """One stage of the protocol; exactly one of the four controls is set.

    duration_s: stage duration (s); source: species entering at the front, or None for a
    blocking front; surface_fraction: source fraction held at x = 0;
    potential_V: constant front potential (V); current_density_A_cm2: constant front current
    density (A/cm^2); potential_table_V / current_table_A_cm2: ((t_s, value), ...) from the
    stage start, linear in between, the last value held after the last time.
    """

    duration_s: float
    source: str | None = None
    surface_fraction: float = 1.0
    potential_V: float | None = None
    current_density_A_cm2: float | None = None
    potential_table_V: tuple[tuple[float, float], ...] | None = None
    current_table_A_cm2: tuple[tuple[float, float], ...] | None = None

    @property
    def control(self) -> str:
        """ "potential" (potentiostatic) or "current" (galvanostatic)."""
        if self.potential_V is not None or self.potential_table_V is not None:
            return "potential"
        return "current"

    @property
    def control_table(self) -> tuple[tuple[float, float], ...]:
        """The control as rows (t_s, value); a constant control is the single row (0, value)."""
        for table in (self.potential_table_V, self.current_table_A_cm2):
            if table is not None:
                return table
        value = self.potential_V if self.potential_V is not None else self.current_density_A_cm2
        return ((0.0, float(value)),)  # type: ignore[arg-type]

    def control_value(self, t_s: float) -> float:
        """Control value (V or A/cm^2) at t_s seconds after the stage start."""
        rows = self.control_table
        if t_s <= rows[0][0]:
            return rows[0][1]
        for (t0, v0), (t1, v1) in itertools.pairwise(rows):
            if t_s <= t1:
                return v0 + (v1 - v0) * (t_s - t0) / (t1 - t0)
        return rows[-1][1]


@dataclass(frozen=True)
class GridConfig:
    """Graded grid: uniform cells of fine_spacing_nm (nm) to fine_depth_nm (nm), then cells
    growing by the factor growth to the back of the sample."""

    fine_depth_nm: float = 600.0
    fine_spacing_nm: float = 0.5
    growth: float = 1.05


@dataclass(frozen=True)
class SolverConfig:
    """Solver choice and controls.

    method: "npp" (full Nernst-Planck-Poisson) | "electroneutral"; rtol, atol: local error
    tolerances of the time integrator (fractions of n_bulk); n_output: snapshots stored per
    stage; dt_initial_s: first time step (s); max_steps: step limit per stage.
    """

    method: str = "npp"
    rtol: float = 1.0e-4
    atol: float = 1.0e-8
    n_output: int = 50
    dt_initial_s: float = 1.0e-9
    max_steps: int = 200_000


@dataclass(frozen=True)
class DataSpec:
    """A measured depth profile attached to a case.

    file: the resolved path of the profile file; after_stage: the stage (1-based) after which
    it was measured; columns: ((species, column), ...); depth_column: column holding depth, or
    time_column: column holding sputter time (s) converted with sputter_rate_nm_s (nm/s) or
    crater_depth_nm (nm, the depth at the last time); depth_resolution_nm: Gaussian sigma of the
    SIMS depth resolution (nm); mixing_nm, information_nm: atomic-mixing length w and
    information depth lambda (nm) of Hofmann's MRI depth-resolution model, whose roughness is
    depth_resolution_nm (both 0: the plain Gaussian); uncertainty_columns: ((species, column),
    ...) or None;
    relative_uncertainty: used where no uncertainty column is given (1);
    uncertainty_floor: smallest uncertainty (fraction of n_bulk); normalize: "none" (values are
    fractions of n_bulk) | "bulk" (raw counts, normalised to the bulk).
    """

    file: Path
    after_stage: int
    columns: tuple[tuple[str, str], ...]
    depth_column: str | None = None
    time_column: str | None = None
    sputter_rate_nm_s: float | None = None
    crater_depth_nm: float | None = None
    depth_resolution_nm: float = 0.0
    mixing_nm: float = 0.0
    information_nm: float = 0.0
    uncertainty_columns: tuple[tuple[str, str], ...] | None = None
    relative_uncertainty: float = 0.05
    uncertainty_floor: float = 0.005
    normalize: str = "none"


@dataclass(frozen=True)
class Case:
    """A complete, validated case.

    Equality and hashing compare the model (meta ... data) only, not where it was read from:
    a case written with :meth:`to_toml` and loaded back is equal to the original.

    path: the case file (absolute), or None; raw: the parsed TOML document, never mutated;
    base_dir: folder that relative data files are resolved against; source_label: the name
    used in error messages.
    """

    meta: Meta
    sample: Sample
    species: tuple[SpeciesConfig, ...]
    stages: tuple[Stage, ...]
    grid: GridConfig = field(default_factory=GridConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    data: tuple[DataSpec, ...] = ()
    path: Path | None = field(default=None, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    base_dir: Path | None = field(default=None, compare=False, repr=False)
    source_label: str = field(default="<case>", compare=False, repr=False)

    @property
    def species_names(self) -> tuple[str, ...]:
        """Species names in file order."""
        return tuple(s.name for s in self.species)

    def species_by_name(self, name: str) -> SpeciesConfig:
        """The species called name; KeyError naming the known species otherwise."""
        for s in self.species:
            if s.name == name:
                return s
        hint = _did_you_mean(name, self.species_names)
        raise KeyError(
            f"no species {name!r} in case {self.meta.name!r}{hint}; "
            f"species: {', '.join(self.species_names)}"
        )

    @property
    def native(self) -> SpeciesConfig:
        """The first species with role "native"."""
        return next(s for s in self.species if s.role == "native")

    def with_values(self, values: Mapping[str, object]) -> Case:
        """A new validated case with values set at dotted keys (this case is unchanged).

        Keys are applied in order. A valid key that is absent is created; None removes a key
        (back to its default). Setting one of a set of alternatives removes the others: a
        stage control replaces the stage's other control, ``sed`` replaces ``D_table`` and
        vice versa, ``depth_column``/``time_column`` and ``sputter_rate_nm_s``/
        ``crater_depth_nm`` replace each other, and a new SED ``shape`` drops the parameters
        of other shapes. Setting a whole table ``species.<new name>`` adds a species.
        """
        doc = copy.deepcopy(dict(self.raw)) if self.raw else _canonical_doc(self)
        for key, value in values.items():
            _set_value(doc, key, value, self.source_label)
        return _build_case(doc, self.source_label, self.base_dir, self.path)

    def with_stages(self, stage_numbers: Sequence[int]) -> Case:
        """A new validated case that runs only the stages `stage_numbers` (1-based, in order).

        For restarts: ``simulate(case.with_stages([2]), initial=stage1_result)`` runs the second
        stage of a sequential protocol on the saved result of the first. Data blocks measured
        after a kept stage follow it (their ``after_stage`` renumbered); the others are dropped.
        CaseError for an empty selection or a number that is not a stage of this case.
        """
        n = len(self.stages)
        picked = list(stage_numbers)
        label = self.source_label
        if not picked:
            raise CaseError(f"{label}: stage: select at least one stage (1..{n})")
        for k in picked:
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
                raise CaseError(f"{label}: stage: no stage {k!r} (the case has stages 1..{n})")
        doc = copy.deepcopy(dict(self.raw)) if self.raw else _canonical_doc(self)
        stages = doc.get("stage", [])
        doc["stage"] = [copy.deepcopy(stages[k - 1]) for k in picked]
        blocks = []
        for block in doc.get("data", []):
            after = block.get("after_stage", n)
            if after in picked:
                blocks.append({**block, "after_stage": len(picked) - picked[::-1].index(after)})
        if "data" in doc:
            doc["data"] = blocks
            if not blocks:
                del doc["data"]
        return _build_case(doc, label, self.base_dir, self.path)

    def get_value(self, key: str) -> object:
        """The value at a dotted key, defaults included (None for an unset optional value)."""
        label = self.source_label
        parts = _parse_key(_canonical_doc(self), key, label, setting=False)
        head = parts[0]
        if head in ("meta", "sample", "grid", "solver"):
            obj: Any = getattr(self, head)
            return obj if len(parts) == 1 else getattr(obj, parts[1])
        if head == "species":
            if len(parts) == 1:
                return self.species
            obj = self.species_by_name(parts[1])
            for part in parts[2:]:
                obj = None if obj is None else getattr(obj, part)
            return obj
        items: Sequence[Any] = self.stages if head == "stage" else self.data
        if len(parts) == 1:
            return items
        obj = items[int(parts[1]) - 1]
        if len(parts) == 2:
            return obj
        obj = getattr(obj, parts[2])
        if len(parts) == 4:
            return None if obj is None else dict(obj).get(parts[3])
        return obj

    def to_toml(self) -> str:
        """A TOML document, with every default written out, that loads back to an equal case.

        Data files are written as absolute paths so the document can be loaded from anywhere.
        """
        header = "# nppsim case file, written by nppsim.case.Case.to_toml\n\n"
        return header + _dumps_toml(_canonical_doc(self), inline=_INLINE_TABLE_KEYS)


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


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_TOP_KEYS = ("meta", "sample", "species", "stage", "grid", "solver", "data")
_META_KEYS = ("name", "description", "source")
_SAMPLE_KEYS = ("thickness_um", "temperature_K", "n_bulk_cm3", "eps_r")
_SPECIES_KEYS = ("role", "charge", "D_cm2_s", "initial_fraction", "back", "sed", "D_table")
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
_INLINE_TABLE_KEYS = frozenset({"columns", "uncertainty_columns"})

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


def _build_case(
    doc: Mapping[str, Any], label: str, base_dir: Path | None, path: Path | None
) -> Case:
    r = _Reader(label)
    r.check_keys(doc, "", _TOP_KEYS)
    meta = _read_meta(r, doc)
    sample = _read_sample(r, doc)
    species = _read_species(r, doc)
    names = tuple(s.name for s in species)
    stages = _read_stages(r, doc, names)
    grid = _read_grid(r, doc, sample)
    solver = _read_solver(r, doc)
    base = Path.cwd() if base_dir is None else Path(base_dir)
    data = _read_data(r, doc, names, len(stages), base)
    return Case(
        meta=meta,
        sample=sample,
        species=species,
        stages=stages,
        grid=grid,
        solver=solver,
        data=data,
        path=path,
        raw=doc,
        base_dir=base_dir,
        source_label=label,
    )


def _read_meta(r: _Reader, doc: Mapping[str, Any]) -> Meta:
    if "meta" not in doc:
        r.fail("meta.name", "required key is missing (add a [meta] table with name = ...)")
    t = r.table(doc["meta"], "meta")
    r.check_keys(t, "meta", _META_KEYS)
    return Meta(
        name=r.get_string(t, "meta", "name"),
        description=r.get_string(t, "meta", "description", "", allow_empty=True),
        source=r.get_string(t, "meta", "source", "", allow_empty=True),
    )


def _read_sample(r: _Reader, doc: Mapping[str, Any]) -> Sample:
    if "sample" not in doc:
        r.fail("sample", "required table is missing (thickness_um, temperature_K, ...)")
    t = r.table(doc["sample"], "sample")
    r.check_keys(t, "sample", _SAMPLE_KEYS)
    return Sample(
        thickness_um=r.get_number(t, "sample", "thickness_um", gt=0.0),
        temperature_K=r.get_number(t, "sample", "temperature_K", gt=0.0),
        n_bulk_cm3=r.get_number(t, "sample", "n_bulk_cm3", gt=0.0),
        eps_r=r.get_number(t, "sample", "eps_r", ge=1.0),
    )


def _check_species_name(r: _Reader, name: object) -> str:
    if not isinstance(name, str):
        r.fail("species", f"species names must be strings, got {_show(name)}")
    if not name or not name.isprintable() or _FORBIDDEN_NAME_CHARS.search(name):
        r.fail(
            _join("species", name),
            "invalid species name: it must be non-empty and free of whitespace and "
            "the characters . / \\ * ? = [ ] (they have meanings in dotted keys and patterns)",
        )
    return name


def _read_species(r: _Reader, doc: Mapping[str, Any]) -> tuple[SpeciesConfig, ...]:
    if "species" not in doc:
        r.fail("species", "required: at least one [species.<name>] table")
    tables = r.table(doc["species"], "species")
    if not tables:
        r.fail("species", "at least one species is required")
    out = []
    for name, value in tables.items():
        name = _check_species_name(r, name)
        key = _join("species", name)
        t = r.table(value, key)
        r.check_keys(t, key, _SPECIES_KEYS)
        role = r.get_string(t, key, "role", choices=ROLES)
        charge = r.get_integer(t, key, "charge", 1)
        if charge == 0:
            r.fail(f"{key}.charge", "must be a nonzero integer, got 0")
        D = r.get_number(t, key, "D_cm2_s", gt=0.0)
        initial = r.get_number(t, key, "initial_fraction", 1.0 if role == "native" else 0.0, ge=0.0)
        back = r.get_string(
            t, key, "back", "reservoir" if role == "native" else "absorbing", BACK_CONDITIONS
        )
        if "sed" in t and "D_table" in t:
            r.fail(key, "give either sed or D_table, not both")
        sed = _read_sed(r, t["sed"], f"{key}.sed") if "sed" in t else None
        if sed is not None and sed.reference == "pristine" and not initial > 0:
            r.fail(
                f"{key}.initial_fraction",
                "must be > 0 for a species with an SED (its pristine density is the SED's "
                f'reference density; or set sed.reference = "stage_start"), got '
                f"{_show(initial)}",
            )
        D_table = None
        if "D_table" in t:
            tkey = f"{key}.D_table"
            rows = r.rows(t["D_table"], tkey, ("fraction", "D_cm2_s"), min_rows=2)
            for j, (frac, Dj) in enumerate(rows, 1):
                r.number(frac, tkey, where=f"row {j}, fraction", ge=0.0)
                r.number(Dj, tkey, where=f"row {j}, D_cm2_s", gt=0.0)
            r.increasing([row[0] for row in rows], tkey, "fraction")
            D_table = tuple((row[0], row[1]) for row in rows)
        out.append(
            SpeciesConfig(
                name=name,
                role=role,
                D_cm2_s=D,
                charge=charge,
                initial_fraction=initial,
                back=back,
                sed=sed,
                D_table=D_table,
            )
        )
    if not any(s.role == "native" for s in out):
        r.fail("species", 'at least one species must have role = "native"')
    return tuple(out)


def _read_sed(r: _Reader, value: object, key: str) -> SEDSpec:
    t = r.table(value, key)
    r.check_keys(t, key, _SED_KEYS)
    shape = r.get_string(t, key, "shape", "gaussian", SED_SHAPES)
    for param, owner in _PARAM_SHAPE.items():
        if param in t and owner != shape:
            r.fail(f"{key}.{param}", f'only used with shape = "{owner}" (shape is "{shape}")')
    kwargs: dict[str, Any] = {
        "shape": shape,
        "vacancy_fraction": r.get_number(t, key, "vacancy_fraction", 0.10, ge=0.0, lt=1.0),
        "filling": r.get_string(t, key, "filling", "step", FILLINGS),
        "reference": r.get_string(t, key, "reference", "pristine", SED_REFERENCES),
    }
    for param in _SHAPE_PARAMS[shape]:
        if param not in t and shape != "gaussian":  # only the Gaussian has a default width
            r.fail(f"{key}.{param}", f'required for shape = "{shape}"')
    if shape == "gaussian":
        kwargs["fwhm_eV"] = r.get_number(t, key, "fwhm_eV", 0.25, gt=0.0)
    elif shape == "gaussians":
        ckey = f"{key}.components"
        rows = r.rows(t["components"], ckey, ("weight", "center_eV", "fwhm_eV"))
        for j, (w, _c, fw) in enumerate(rows, 1):
            r.number(w, ckey, where=f"row {j}, weight", gt=0.0)
            r.number(fw, ckey, where=f"row {j}, fwhm_eV", gt=0.0)
        kwargs["components"] = tuple((w, c, fw) for w, c, fw in rows)
    elif shape == "box":
        kwargs["width_eV"] = r.get_number(t, key, "width_eV", gt=0.0)
    elif shape == "exponential":
        kwargs["tail_eV"] = r.get_number(t, key, "tail_eV", gt=0.0)
    else:
        ekey, dkey = f"{key}.energies_eV", f"{key}.density"
        energies = [
            r.number(x, ekey, where=f"value {j}")
            for j, x in enumerate(r.array(t["energies_eV"], ekey), 1)
        ]
        density = [
            r.number(x, dkey, where=f"value {j}", ge=0.0)
            for j, x in enumerate(r.array(t["density"], dkey), 1)
        ]
        if len(energies) < 2:
            r.fail(ekey, f"needs at least 2 values, got {len(energies)}")
        r.increasing(energies, ekey, "energy", item="value")
        if len(density) != len(energies):
            r.fail(dkey, f"needs {len(energies)} values (one per energy), got {len(density)}")
        if not any(d > 0 for d in density):
            r.fail(dkey, "needs at least one value > 0")
        kwargs["energies_eV"] = tuple(energies)
        kwargs["density"] = tuple(density)
    return SEDSpec(**kwargs)


def _read_stages(r: _Reader, doc: Mapping[str, Any], names: Sequence[str]) -> tuple[Stage, ...]:
    if "stage" not in doc:
        r.fail("stage", "required: at least one [[stage]] table")
    tables = r.array_of_tables(doc, "stage")
    if not tables:
        r.fail("stage", "at least one [[stage]] is required")
    out = []
    for i, t in enumerate(tables, 1):
        key = f"stage.{i}"
        r.check_keys(t, key, _STAGE_KEYS)
        duration = r.get_number(t, key, "duration_s", gt=0.0)
        source = r.get_string(t, key, "source", None)
        if source is not None and source not in names:
            r.fail(f"{key}.source", f"unknown species {source!r}{_did_you_mean(source, names)}")
        if "surface_fraction" in t and source is None:
            r.fail(f"{key}.surface_fraction", "only used with source (this stage has none)")
        surface = r.get_number(t, key, "surface_fraction", 1.0, ge=0.0, le=1.0)
        given = [c for c in CONTROL_KEYS if c in t]
        if len(given) != 1:
            got = "none" if not given else ", ".join(given[:-1]) + " and " + given[-1]
            r.fail(key, f"give exactly one of {', '.join(CONTROL_KEYS)} (got {got})")
        control = given[0]
        kwargs: dict[str, Any] = {}
        if "_table_" in control:
            ckey = f"{key}.{control}"
            rows = r.rows(t[control], ckey, ("t_s", "value"))
            if rows[0][0] != 0.0:
                r.fail(ckey, f"row 1: t_s must be 0 (the stage start), got {_show(rows[0][0])}")
            r.increasing([row[0] for row in rows], ckey, "t_s")
            kwargs[control] = tuple((row[0], row[1]) for row in rows)
        else:
            kwargs[control] = r.get_number(t, key, control)
        out.append(Stage(duration_s=duration, source=source, surface_fraction=surface, **kwargs))
    return tuple(out)


def _optional_table(r: _Reader, doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    t = r.table(doc.get(name, {}), name)
    r.check_keys(t, name, _TABLE_KEYS[name])
    return t


def _read_grid(r: _Reader, doc: Mapping[str, Any], sample: Sample) -> GridConfig:
    t = _optional_table(r, doc, "grid")
    d = GridConfig()
    depth = r.get_number(t, "grid", "fine_depth_nm", d.fine_depth_nm, gt=0.0)
    spacing = r.get_number(t, "grid", "fine_spacing_nm", d.fine_spacing_nm, ge=MIN_FINE_SPACING_NM)
    growth = r.get_number(t, "grid", "growth", d.growth, gt=1.0, le=MAX_GRID_GROWTH)
    if spacing > depth:
        r.fail(
            "grid.fine_spacing_nm",
            f"must be <= grid.fine_depth_nm ({_show(depth)}), got {_show(spacing)}",
        )
    thickness_nm = sample.thickness_um * 1.0e3
    if not math.isfinite(thickness_nm):
        r.fail("sample.thickness_um", f"too large, got {_show(sample.thickness_um)}")
    if not depth < thickness_nm:
        r.fail(
            "grid.fine_depth_nm",
            f"must be < the sample thickness ({_show(thickness_nm)} nm), got {_show(depth)}",
        )
    n_fine, n_graded = _grid_cell_counts(thickness_nm, depth, spacing, growth)
    if not n_fine + n_graded <= MAX_GRID_CELLS:
        key, fix = (
            ("grid.fine_spacing_nm", "a larger fine_spacing_nm or a smaller fine_depth_nm")
            if n_fine >= n_graded
            else ("grid.growth", "a larger growth")
        )
        r.fail(
            key,
            f"the grid would have about {n_fine + n_graded:.3g} cells ({n_fine:.3g} of "
            f"{_bound(spacing)} nm to {_bound(depth)} nm, {n_graded:.3g} growing by "
            f"{_bound(growth)} to the {_bound(thickness_nm)} nm thickness), more than "
            f"{MAX_GRID_CELLS:,}; use {fix}",
        )
    return GridConfig(fine_depth_nm=depth, fine_spacing_nm=spacing, growth=growth)


def _grid_cell_counts(
    thickness_nm: float, fine_depth_nm: float, fine_spacing_nm: float, growth: float
) -> tuple[float, float]:
    """(uniform cells, graded cells) of `solvers.grid.graded_faces_nm`, estimated in floats (no
    grid is built; infinite for an overflowing thickness)."""
    n_fine = max(1.0, round(min(fine_depth_nm, thickness_nm) / fine_spacing_nm))
    rest = thickness_nm - n_fine * fine_spacing_nm
    if not rest > 0.0:
        return float(max(1.0, round(thickness_nm / fine_spacing_nm))), 0.0
    # cells h g, h g^2, ... h g^k cover the rest when h g (g^k - 1) / (g - 1) >= rest
    ratio = rest * (growth - 1.0) / (fine_spacing_nm * growth)
    return n_fine, math.ceil(math.log1p(ratio) / math.log(growth)) if ratio < math.inf else ratio


def _read_solver(r: _Reader, doc: Mapping[str, Any]) -> SolverConfig:
    t = _optional_table(r, doc, "solver")
    d = SolverConfig()
    return SolverConfig(
        method=r.get_string(t, "solver", "method", d.method, METHODS),
        rtol=r.get_number(t, "solver", "rtol", d.rtol, gt=0.0, lt=1.0),
        atol=r.get_number(t, "solver", "atol", d.atol, gt=0.0),
        n_output=r.get_integer(t, "solver", "n_output", d.n_output, ge=1, le=MAX_N_OUTPUT),
        dt_initial_s=r.get_number(t, "solver", "dt_initial_s", d.dt_initial_s, gt=0.0),
        max_steps=r.get_integer(t, "solver", "max_steps", d.max_steps, ge=1),
    )


def _column_map(
    r: _Reader, value: object, key: str, allowed: Sequence[str], what: str
) -> tuple[tuple[str, str], ...]:
    t = r.table(value, key)
    if not t:
        r.fail(key, 'must name at least one species, e.g. { Li = "Li" }')
    out = []
    for species, column in t.items():
        skey = _join(key, species)
        if species not in allowed:
            r.fail(skey, f"{what} {_show(species)}{_did_you_mean(species, allowed)}")
        out.append((species, r.string(column, skey)))
    return tuple(out)


def _read_data(
    r: _Reader, doc: Mapping[str, Any], names: Sequence[str], n_stages: int, base: Path
) -> tuple[DataSpec, ...]:
    if "data" not in doc:
        return ()
    out = []
    for i, t in enumerate(r.array_of_tables(doc, "data"), 1):
        key = f"data.{i}"
        r.check_keys(t, key, _DATA_KEYS)
        file = _read_data_file(r, t, key, base)
        after = r.get_integer(t, key, "after_stage", n_stages, ge=1)
        if after > n_stages:
            r.fail(
                f"{key}.after_stage", f"must be <= {n_stages} (the number of stages), got {after}"
            )
        depth_col = r.get_string(t, key, "depth_column", None)
        time_col = r.get_string(t, key, "time_column", None)
        if (depth_col is None) == (time_col is None):
            got = "both" if depth_col is not None else "neither"
            r.fail(key, f"give exactly one of depth_column, time_column (got {got})")
        rate = r.get_number(t, key, "sputter_rate_nm_s", None, gt=0.0)
        crater = r.get_number(t, key, "crater_depth_nm", None, gt=0.0)
        if depth_col is not None:
            for k in ("sputter_rate_nm_s", "crater_depth_nm"):
                if k in t:
                    r.fail(f"{key}.{k}", "only used with time_column (this block has depth_column)")
        elif (rate is None) == (crater is None):
            got = "both" if rate is not None else "neither"
            r.fail(
                key,
                f"time_column needs exactly one of sputter_rate_nm_s, crater_depth_nm (got {got})",
            )
        if "columns" not in t:
            r.fail(f"{key}.columns", 'required key is missing, e.g. columns = { Li = "Li" }')
        columns = _column_map(r, t["columns"], f"{key}.columns", names, "unknown species")
        unc = None
        if "uncertainty_columns" in t:
            fitted = [s for s, _ in columns]
            unc = _column_map(
                r,
                t["uncertainty_columns"],
                f"{key}.uncertainty_columns",
                fitted,
                f"species not in {key}.columns:",
            )
        out.append(
            DataSpec(
                file=file,
                after_stage=after,
                columns=columns,
                depth_column=depth_col,
                time_column=time_col,
                sputter_rate_nm_s=rate,
                crater_depth_nm=crater,
                depth_resolution_nm=r.get_number(t, key, "depth_resolution_nm", 0.0, ge=0.0),
                mixing_nm=r.get_number(t, key, "mixing_nm", 0.0, ge=0.0),
                information_nm=r.get_number(t, key, "information_nm", 0.0, ge=0.0),
                uncertainty_columns=unc,
                relative_uncertainty=r.get_number(t, key, "relative_uncertainty", 0.05, ge=0.0),
                # a zero floor would divide by zero where a measured fraction is 0
                uncertainty_floor=r.get_number(t, key, "uncertainty_floor", 0.005, gt=0.0),
                normalize=r.get_string(t, key, "normalize", "none", NORMALIZATIONS),
            )
        )
    return tuple(out)


def _read_data_file(r: _Reader, t: Mapping[str, Any], key: str, base: Path) -> Path:
    fkey = f"{key}.file"
    name = r.get_string(t, key, "file")
    try:
        path = (base / Path(name).expanduser()).resolve()
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        r.fail(fkey, f"cannot read data file {_clean(str(base / name))!r} ({exc.strerror or exc})")
    except (ValueError, RuntimeError) as exc:  # embedded NUL, symlink loops
        r.fail(fkey, f"invalid file name {_show(name)} ({_clean(str(exc))})")
    return path


# --------------------------------------------------------------------------------------------
# Dotted keys
# --------------------------------------------------------------------------------------------

# setting the key removes these siblings (they are alternatives to it)
_REPLACES = {
    **{c: tuple(k for k in CONTROL_KEYS if k != c) for c in CONTROL_KEYS},
    "sed": ("D_table",),
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
            "D_cm2_s": s.D_cm2_s,
            "initial_fraction": s.initial_fraction,
            "back": s.back,
        }
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
