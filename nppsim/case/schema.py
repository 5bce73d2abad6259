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
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nppsim.case.keys import _INLINE_TABLE_KEYS, _did_you_mean
from nppsim.errors import CaseError


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
    D_table: ((fraction of n_bulk, D_cm2_s), ...), a tabulated D(n), or None (not with sed);
    immobile_fraction: fraction of n_bulk that sits in the deepest sites and never moves
    (native species only, 0 <= f < initial_fraction; MODEL.md section 10), default 0;
    D0_cm2_s, activation_energy_eV: the Arrhenius prefactor (cm^2/s) and activation energy
    (eV; for an SED species at the pristine density) when the case gives them instead of
    D_cm2_s (None otherwise); D_cm2_s is then D0 exp(-E_a / (k_B T)) at the sample
    temperature (MODEL.md section 10), so that everything downstream sees D at T.
    """

    name: str
    role: str
    D_cm2_s: float
    charge: int = 1
    initial_fraction: float = None  # type: ignore[assignment]  # resolved from role
    back: str = None  # type: ignore[assignment]  # resolved from role
    sed: SEDSpec | None = None
    D_table: tuple[tuple[float, float], ...] | None = None
    immobile_fraction: float = 0.0
    D0_cm2_s: float | None = None
    activation_energy_eV: float | None = None

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
    fractions of n_bulk) | "bulk" (raw counts, normalised to the bulk) | "matrix" (raw counts
    divided point by point by the counts of matrix_column, then normalised to the bulk);
    header_row: the file line (1-based) of the column names, None: found automatically;
    sensitivity: ((species, factor), ...) relative sensitivity factors multiplying the counts,
    or None; background: ((species, counts), ...) subtracted from the counts, or None;
    bulk_level: the native signal (after background, sensitivity and matrix normalisation) of
    the pristine bulk, None: the mean over the deepest rows; fit_range_nm: (low, high) depths in
    the file's own calibration (nm) of the points compared with the model, or None (all);
    depth_scale, depth_offset_nm: true depth = depth_scale * file depth + depth_offset_nm (nm).
    The reader's default relative_uncertainty is 0.05 for fractions and 0 for counts (Poisson
    statistics alone); the dataclass defaults are those of fractions.
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
    uncertainty_floor: float = 1.0e-4
    normalize: str = "none"
    header_row: int | None = None
    matrix_column: str | None = None
    sensitivity: tuple[tuple[str, float], ...] | None = None
    background: tuple[tuple[str, float], ...] | None = None
    bulk_level: float | None = None
    fit_range_nm: tuple[float, float] | None = None
    depth_scale: float = 1.0
    depth_offset_nm: float = 0.0


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
        from nppsim.case.dotted import _set_value
        from nppsim.case.reader import _build_case
        from nppsim.case.writer import _canonical_doc

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
        from nppsim.case.reader import _build_case
        from nppsim.case.writer import _canonical_doc

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
        from nppsim.case.dotted import _parse_key
        from nppsim.case.writer import _canonical_doc

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
        from nppsim.case.writer import _canonical_doc, _dumps_toml

        header = "# nppsim case file, written by nppsim.case.Case.to_toml\n\n"
        return header + _dumps_toml(_canonical_doc(self), inline=_INLINE_TABLE_KEYS)
