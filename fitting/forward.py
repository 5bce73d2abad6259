"""Forward model of a fit: simulate each case, blur with the SIMS depth resolution, sample at
the measured depths, and weigh the differences by the measurement uncertainties.

Each case's ``[[data]]`` blocks are the measured profiles; block k of a case is compared with the
simulated profile at the end of stage ``after_stage`` (a profile measured after the first stage
of a multi-stage protocol). Residuals are (model - measured) / uncertainty for every species
column of every block, in the order case, block, species, depth.

Simulations are cached by the case without its data blocks: a parameter that only changes the
depth resolution (``data.1.depth_resolution_nm``) costs no new simulation. A data-side parameter
that changes the measured profile itself (``data.1.depth_scale``, ``data.1.depth_offset_nm``,
``data.1.sputter_rate_nm_s``, ``data.1.background.K``, ...) re-reads the block from its file with
the trial values at every evaluation, keeping the points chosen at the start of the fit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from fitting.resolution import GaussianResolution, MRIResolution, measured_profile
from nppsim.case import Case, DataSpec
from nppsim.case.reader import is_validated, mark_validated
from nppsim.errors import InputError, SimulationError
from nppsim.profiles import MeasuredProfile, profile_from_spec
from nppsim.quantify import check_fractions, site_density_limit
from nppsim.result import Result
from nppsim.simulate import simulate

log = logging.getLogger(__name__)

__all__ = ["FAILED_RESIDUAL", "DataBlock", "ForwardModel", "ModelProfile", "resolution_of"]

#: residual of every point when a simulation fails (or a value is invalid): large, so that the
#: optimiser backs off, but finite, so that it does not crash (MODEL.md section 9)
FAILED_RESIDUAL = 1.0e3
#: simulations kept in the cache (a finite-difference Jacobian revisits the base point)
CACHE_SIZE = 16
#: snapshots per stage during a fit: only the stage ends are compared with data
FIT_N_OUTPUT = 1
#: threads for the simulations of one evaluation of a joint fit (one case each); None: one per
#: case, up to twice the number of cores (the compiled loops release the GIL, so a thread per
#: case shares the cores evenly: the joint K/Rb/Cs fit with the full solver took 3.0 s with three
#: threads on 2 cores, 3.6 s with two, 5.0 s in one)
FIT_THREADS: int | None = None


@dataclass(frozen=True)
class DataBlock:
    """A measured profile and where it belongs: case_index (0-based), data_index (1-based
    ``[[data]]`` block), profile (MeasuredProfile)."""

    case_index: int
    data_index: int
    profile: MeasuredProfile


@dataclass(frozen=True)
class ModelProfile:
    """Measured and model values of one data block (for reports and plots).

    case_name; data_index (1-based); after_stage (1-based); depth_nm (n,); species: names;
    measured, sigma, model: {species: (n,)} fractions of n_bulk (model blurred with the depth
    resolution); sim_depth_nm, sim: the simulated (unblurred) stage-end profile {species:
    fraction} on the cell centres up to a little beyond the deepest measured point; info: how
    the measured values were obtained (`nppsim.profiles.MeasuredProfile.info`).
    """

    case_name: str
    data_index: int
    after_stage: int
    depth_nm: np.ndarray
    species: tuple[str, ...]
    measured: dict[str, np.ndarray]
    sigma: dict[str, np.ndarray]
    model: dict[str, np.ndarray]
    sim_depth_nm: np.ndarray
    sim: dict[str, np.ndarray]
    info: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        # read-only arrays, as in a Result: a report or a plot that changed one in place would
        # silently change what the fit saves (copy with np.array(a) to modify)
        from nppsim.result import read_only

        for name in ("depth_nm", "sim_depth_nm"):
            object.__setattr__(self, name, read_only(getattr(self, name)))
        for name in ("measured", "sigma", "model", "sim"):
            table = {k: read_only(v) for k, v in getattr(self, name).items()}
            object.__setattr__(self, name, table)

    def residuals(self) -> dict[str, np.ndarray]:
        """(model - measured) / sigma per species."""
        return {s: (self.model[s] - self.measured[s]) / self.sigma[s] for s in self.species}


def resolution_of(spec: DataSpec) -> GaussianResolution | MRIResolution:
    """The depth-resolution model of a data block: Hofmann's MRI model when it has a mixing
    length or an information depth (roughness = depth_resolution_nm), else the Gaussian."""
    if spec.mixing_nm > 0.0 or spec.information_nm > 0.0:
        return MRIResolution(
            mixing_nm=spec.mixing_nm,
            roughness_nm=spec.depth_resolution_nm,
            information_nm=spec.information_nm,
        )
    return GaussianResolution(spec.depth_resolution_nm)


def _sim_key(case: Case) -> Case:
    return dataclasses.replace(case, data=())


class ForwardModel:
    """Residuals of a set of cases with measured profiles, as a function of case values.

    cases: the cases (each with at least one ``[[data]]`` block); method: solver ("npp" or
    "electroneutral"); resolution: optional {(case_index, data_index): model} overriding the
    block's own model (`resolution_of`: Gaussian, or MRI with mixing_nm/information_nm);
    species_weights: optional {species: weight} multiplying that species' residuals by
    sqrt(weight). Counts the simulations it runs in `n_simulations`.
    """

    def __init__(
        self,
        cases: Sequence[Case],
        method: str = "electroneutral",
        resolution: Mapping[tuple[int, int], object] | None = None,
        species_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.cases = tuple(cases)
        self.method = method
        self.resolution = dict(resolution or {})
        self.species_weights = dict(species_weights or {})
        for s, w in self.species_weights.items():
            if not (math.isfinite(w) and w >= 0.0):
                raise InputError(f"species weight of {s}: must be finite and >= 0, got {w}")
        self.blocks: list[DataBlock] = []
        for i, case in enumerate(self.cases):
            if not case.data:
                label = case.path or case.meta.name
                raise InputError(f"{label}: no [[data]] block: nothing to fit")
            limit = site_density_limit(case)
            for k, spec in enumerate(case.data, 1):
                prof = profile_from_spec(spec, case.native.name)
                label = str(prof.file) if prof.file is not None else f"data.{k}"
                check_fractions(label, prof.values, prof.species, spec.normalize, limit)
                self.blocks.append(DataBlock(i, k, prof))
        self.n_points = int(
            sum(len(b.profile.depth_nm) * len(b.profile.species) for b in self.blocks)
        )
        self.n_simulations = 0
        self.n_failed = 0
        self.last_error = ""
        #: per case, the keys whose forward sensitivities every simulation integrates (set by
        #: `use_sensitivities`; empty: none)
        self.sensitivity_keys: tuple[tuple[str, ...], ...] = tuple(() for _ in self.cases)
        self._cache: OrderedDict[Case, Result | str] = OrderedDict()
        self._profile_cache: OrderedDict[tuple, MeasuredProfile] = OrderedDict()

    # ------------------------------------------------------------------ simulations
    def use_sensitivities(self, keys_per_case: Sequence[Sequence[str]]) -> str | None:
        """Integrate the forward sensitivities of these keys (per case) in every simulation
        (`residual_derivatives`); returns None, or the reason they cannot be used (then
        nothing changes)."""
        from nppsim.simulate import sensitivity_support

        for case, keys in zip(self.cases, keys_per_case, strict=True):
            if not keys:
                continue
            why = sensitivity_support(case, keys, self.method)
            if why is not None:
                return why
        self.sensitivity_keys = tuple(tuple(k) for k in keys_per_case)
        self._cache.clear()
        return None

    def simulate(self, case: Case, keys: Sequence[str] = ()) -> Result:
        """The case's simulation (cached), with the forward sensitivities of `keys`; raises
        SimulationError or InputError on failure."""
        key = _sim_key(case)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._run(case, keys)
            self._count(hit)
            self._store(key, hit)
        else:
            self._cache.move_to_end(key)
        if isinstance(hit, str):
            raise SimulationError(hit)
        return hit

    def _count(self, value: Result | str) -> None:
        """Count a simulation just run (and its failure: `last_error`)."""
        self.n_simulations += 1
        if isinstance(value, str):
            self.n_failed += 1
            self.last_error = value

    def _run(self, case: Case, keys: Sequence[str]) -> Result | str:
        """Simulate with the fit's snapshot count: the Result, or the error text (any thread:
        it changes no state of the model)."""
        run = case
        if case.solver.n_output != FIT_N_OUTPUT:
            # the snapshot count alone changes (always valid): no new validation of the case
            run = dataclasses.replace(
                case, solver=dataclasses.replace(case.solver, n_output=FIT_N_OUTPUT)
            )
            if is_validated(case):
                mark_validated(run)
        try:
            return simulate(run, method=self.method, sensitivities=tuple(keys))
        except (SimulationError, InputError) as exc:
            return str(exc)

    def prefetch(self, cases: Sequence[Case]) -> None:
        """Run the simulations the data blocks need for these cases that are not cached yet,
        in parallel threads when there are several (a joint fit: one per case, see
        FIT_THREADS; the compiled time loops release the GIL), and cache them (errors
        included, as `simulate` does)."""
        todo: dict[Case, tuple[Case, tuple[str, ...]]] = {}
        for b in self.blocks:
            case = cases[b.case_index]
            key = _sim_key(case)
            if key not in self._cache and key not in todo:
                todo[key] = (case, self.sensitivity_keys[b.case_index])
        workers = min(len(todo), FIT_THREADS or 2 * (os.cpu_count() or 1))
        if workers < 2:
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {key: pool.submit(self._run, c, k) for key, (c, k) in todo.items()}
            done = {key: f.result() for key, f in futures.items()}
        for key, value in done.items():
            self._count(value)
            self._store(key, value)

    def _store(self, key: Case, value: Result | str) -> None:
        self._cache[key] = value
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    # ------------------------------------------------------------------ model
    def cases_with(self, values: Sequence[Mapping[str, float]]) -> list[Case]:
        """The cases with `values[i]` set on case i (raises InputError for invalid values)."""
        return [c.with_values(v) if v else c for c, v in zip(self.cases, values, strict=True)]

    def profiles(self, cases: Sequence[Case]) -> list[ModelProfile]:
        """Model profiles of every data block for these (modified) cases.

        Raises SimulationError or InputError when a simulation fails.
        """
        out = []
        results: dict[int, Result] = {}
        self.prefetch(cases)
        for b in self.blocks:
            case = cases[b.case_index]
            if b.case_index not in results:
                results[b.case_index] = self.simulate(case, self.sensitivity_keys[b.case_index])
            res = results[b.case_index]
            spec = case.data[b.data_index - 1]
            prof = self.measured(b, case)
            stage = spec.after_stage
            t_idx = res.stage_end_index[stage - 1]
            model_res = self.resolution.get((b.case_index, b.data_index)) or resolution_of(spec)
            x = res.depth_nm
            model = {}
            sim = {}
            deepest = float(prof.depth_nm.max()) if len(prof.depth_nm) else 0.0
            keep = x <= max(2.0 * deepest, x[min(len(x) - 1, 1)])
            for s in prof.species:
                c = res.fractions[t_idx, res.species.index(s)]
                model[s] = measured_profile(x, c, prof.depth_nm, model_res)
                sim[s] = c[keep]
            out.append(
                ModelProfile(
                    case_name=case.meta.name,
                    data_index=b.data_index,
                    after_stage=stage,
                    depth_nm=prof.depth_nm,
                    species=prof.species,
                    measured=dict(prof.values),
                    sigma=dict(prof.sigma),
                    model=model,
                    sim_depth_nm=x[keep],
                    sim=sim,
                    info=dict(prof.info),
                )
            )
        return out

    def measured(self, block: DataBlock, case: Case) -> MeasuredProfile:
        """The block's measured profile for the data-side values of `case`: the profile read at
        the start when they are unchanged, else the file re-read with them (same points).
        Raises DataFileError (an InputError) when the values make it invalid."""
        base_spec = self.cases[block.case_index].data[block.data_index - 1]
        spec = case.data[block.data_index - 1]
        if spec == base_spec:
            return block.profile
        key = (block.case_index, block.data_index, spec)
        hit = self._profile_cache.get(key)
        if hit is None:
            hit = profile_from_spec(spec, case.native.name, rows=block.profile.file_rows)
            self._profile_cache[key] = hit
            while len(self._profile_cache) > CACHE_SIZE:
                self._profile_cache.popitem(last=False)
        return hit

    def residual_vector(self, profiles: Sequence[ModelProfile]) -> np.ndarray:
        """Weighted residuals of model profiles, concatenated (case, block, species, depth)."""
        parts = []
        for p in profiles:
            for s in p.species:
                w = math.sqrt(self.species_weights.get(s, 1.0))
                parts.append(w * (p.model[s] - p.measured[s]) / p.sigma[s])
        return np.concatenate(parts) if parts else np.zeros(0)

    def residual_derivatives(
        self, values: Sequence[Mapping[str, float]]
    ) -> dict[tuple[int, str], np.ndarray]:
        """d residuals / d value of every (case index, key) of `sensitivity_keys`, from the
        forward sensitivities of the (cached) simulations at `values`: the depth-resolution
        blur and the sampling at the measured depths are linear, so each derivative is the
        blurred, sampled sensitivity profile over the uncertainty. Raises SimulationError or
        InputError when a simulation fails."""
        cases = self.cases_with(values)
        self.prefetch(cases)
        out: dict[tuple[int, str], list[np.ndarray]] = {}
        for i, keys in enumerate(self.sensitivity_keys):
            for k in keys:
                out[(i, k)] = []
        for b in self.blocks:
            case = cases[b.case_index]
            res = self.simulate(case, self.sensitivity_keys[b.case_index])
            spec = case.data[b.data_index - 1]
            prof = self.measured(b, case)
            t_idx = res.stage_end_index[spec.after_stage - 1]
            model_res = self.resolution.get((b.case_index, b.data_index)) or resolution_of(spec)
            for (i, k), parts in out.items():
                for s in prof.species:
                    w = math.sqrt(self.species_weights.get(s, 1.0))
                    if i != b.case_index:
                        parts.append(np.zeros(len(prof.depth_nm)))
                        continue
                    ds = res.sensitivities[k][t_idx, res.species.index(s)]
                    dm = measured_profile(res.depth_nm, ds, prof.depth_nm, model_res)
                    parts.append(w * dm / prof.sigma[s])
        return {ik: np.concatenate(p) if p else np.zeros(0) for ik, p in out.items()}

    def residuals(self, values: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Residual vector for per-case values; FAILED_RESIDUAL everywhere when the values are
        invalid or a simulation fails (the reason is kept in `last_error`)."""
        try:
            cases = self.cases_with(values)
            r = self.residual_vector(self.profiles(cases))
        except (SimulationError, InputError) as exc:
            self.last_error = str(exc)
            log.info("forward model failed: %s", exc)
            return np.full(self.n_points, FAILED_RESIDUAL)
        except Exception as exc:
            # anything else (ZeroDivisionError at an extreme bound, an overflow in a model)
            # also only penalises this trial point: one bad corner must not end the whole fit
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("forward model failed unexpectedly: %s", self.last_error)
            return np.full(self.n_points, FAILED_RESIDUAL)
        if not np.all(np.isfinite(r)):
            self.last_error = "non-finite model profile"
            return np.full(self.n_points, FAILED_RESIDUAL)
        return r


def as_case_list(cases: Case | Sequence[Case]) -> list[Case]:
    """A single case or a sequence of cases as a list."""
    return [cases] if isinstance(cases, Case) else list(cases)
