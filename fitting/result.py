"""The result of a fit: best values with standard errors, goodness of fit, best-fit profiles.

`FitResult.report()` prints one readable block in the spirit of lmfit's ``fit_report``;
`FitResult.save` writes JSON (the contract of INTERFACES.md, plus the profiles for plots) or
HDF5, always through a temporary file; `load_fit` reads the JSON back.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fitting.forward import ModelProfile
from nppsim.errors import InputError
from nppsim.fileio import atomic_path, atomic_write

__all__ = ["FitResult", "FittedParameter", "block_chi2", "correlation_warnings", "load_fit"]

#: |correlation| above this: the two parameters are not separately identifiable from the data
CORRELATION_WARN = 0.95
#: keys of the depth calibration: when one of them is degenerate with a physical parameter,
#: the calibration is what an operator can measure independently (crater depth by profilometry)
_CALIBRATION_SUFFIXES = ("depth_scale", "depth_offset_nm", "sputter_rate_nm_s", "crater_depth_nm")


@dataclass(frozen=True)
class FittedParameter:
    """One fitted value.

    key: dotted case key; case: the case's name for a per-case parameter of a joint fit, None
    when shared or when the fit has one case; value: best value (the
    key's unit); stderr: standard error (the key's unit, linearised at the optimum; NaN when
    undetermined); low, high: bounds; at_bound: the value sits on a bound; log: fitted on a
    log10 scale; initial: start value of the best start; interval: profile-likelihood interval
    (low, high) when requested, else None.
    """

    key: str
    case: str | None
    value: float
    stderr: float
    low: float
    high: float
    at_bound: bool
    log: bool
    initial: float
    interval: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        """The key, with the case name in brackets for a per-case parameter."""
        return self.key if self.case is None else f"{self.key} [{self.case}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as null)."""
        return {
            "key": self.key,
            "case": self.case,
            "value": self.value,
            "stderr": _num(self.stderr),
            "low": self.low,
            "high": self.high,
            "at_bound": self.at_bound,
            "log": self.log,
            "initial": self.initial,
            "interval": None if self.interval is None else [_num(v) for v in self.interval],
        }


@dataclass(frozen=True)
class FitResult:
    """Outcome of `fitting.fit`.

    success: the optimiser converged (and was not interrupted); message: why it stopped;
    parameters: FittedParameter per free parameter; correlation: (P, P) correlation matrix in
    the order of `parameters` (NaN where undetermined); chi2: sum of squared weighted
    residuals; reduced_chi2: chi2 / (n_points - P); n_points: residuals; aic, bic: chi2 + 2P and
    chi2 + P ln(n_points) (Gaussian likelihood with the given uncertainties, constants
    dropped); n_simulations: solver runs; wall_s: wall time (s); warnings: list of one-line
    warnings; method: the solver the fit used; profiles: best-fit ModelProfile per data block;
    check: the full-solver check of an electroneutral fit ({} when not run); starts: per start
    {"initial": [...], "chi2": ..., "nfev": ..., "solver": ...} (after an electroneutral
    prefit, its starts, then the full solver's refinement); case_tomls: the best-fit cases as TOML.
    """

    success: bool
    message: str
    parameters: tuple[FittedParameter, ...]
    correlation: np.ndarray
    chi2: float
    reduced_chi2: float
    n_points: int
    aic: float
    bic: float
    n_simulations: int
    wall_s: float
    warnings: tuple[str, ...]
    method: str
    profiles: tuple[ModelProfile, ...] = ()
    check: dict[str, Any] = field(default_factory=dict)
    starts: tuple[dict[str, Any], ...] = ()
    case_tomls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from nppsim.result import read_only

        object.__setattr__(self, "correlation", read_only(self.correlation))

    # ------------------------------------------------------------------ access
    def __getitem__(self, label: str) -> FittedParameter:
        """The parameter with this label (``key`` or ``key [case]``) or key (if unique)."""
        for p in self.parameters:
            if p.label == label:
                return p
        matches = [p for p in self.parameters if p.key == label]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(p.label for p in self.parameters)
        raise KeyError(f"no parameter {label!r} (parameters: {known})")

    @property
    def values(self) -> dict[str, float]:
        """{label: best value}."""
        return {p.label: p.value for p in self.parameters}

    # ------------------------------------------------------------------ report
    def report(self) -> str:
        """A readable multi-line summary: fit statistics, parameters, correlations, warnings."""
        lines = ["[[Fit statistics]]"]
        pre = [st for st in self.starts if st.get("solver", self.method) != self.method]
        if pre:
            n_pre = sum(int(st.get("nfev", 0)) for st in pre)
            lines.append(
                f"    solver             = {self.method} (after an {pre[0]['solver']} prefit of "
                f"{n_pre} evaluations)"
            )
        else:
            lines.append(f"    solver             = {self.method}")
        lines.append(f"    success            = {self.success} ({self.message})")
        lines.append(f"    simulations        = {self.n_simulations}")
        lines.append(f"    wall time          = {self.wall_s:.3g} s")
        lines.append(f"    data points        = {self.n_points}")
        lines.append(f"    variables          = {len(self.parameters)}")
        lines.append(f"    chi-square         = {self.chi2:.6g}")
        lines.append(f"    reduced chi-square = {self.reduced_chi2:.6g}")
        lines.append(f"    AIC                = {self.aic:.6g}")
        lines.append(f"    BIC                = {self.bic:.6g}")
        lines.append("[[Variables]]")
        width = max((len(p.label) for p in self.parameters), default=4)
        for p in self.parameters:
            err = p.stderr
            if math.isfinite(err) and p.value != 0.0:
                unc = f"+/- {err:.4g} ({100.0 * abs(err / p.value):.2f}%)"
            else:
                unc = "+/- (not determined)"
            extra = " (at bound)" if p.at_bound else ""
            line = f"    {p.label:<{width}} = {p.value:.6g} {unc}"
            line += f"  (init = {p.initial:.4g}, bounds [{p.low:.4g}, {p.high:.4g}]){extra}"
            lines.append(line)
            if p.interval is not None:
                lo, hi = p.interval
                pad = " " * width
                lines.append(f"    {pad}   profile-likelihood interval [{lo:.4g}, {hi:.4g}]")
        pairs = []
        n = len(self.parameters)
        for i in range(n):
            for j in range(i + 1, n):
                r = self.correlation[i, j]
                if math.isfinite(r) and abs(r) >= 0.1:
                    pairs.append((abs(r), r, self.parameters[i].label, self.parameters[j].label))
        if pairs:
            lines.append("[[Correlations]] (unreported correlations are < 0.100)")
            for _, r, a, b in sorted(pairs, reverse=True):
                lines.append(f"    C({a}, {b}) = {r:+.3f}")
        blocks = block_chi2(self.profiles)
        if blocks:
            lines.append("[[Data blocks]] (chi-square without species weights)")
            for p, b in zip(self.profiles, blocks, strict=True):
                per = ", ".join(f"{s} {v:.4g}" for s, v in b["chi2_species"].items())
                lines.append(
                    f"    {p.case_name} data.{p.data_index}: {b['n_points']} points, "
                    f"chi-square {b['chi2']:.4g} ({per})"
                )
                lines.extend(f"        {t}" for t in _info_lines(p.info))
        if self.check:
            c = self.check
            lines.append("[[Check with the full NPP solver]]")
            lines.append(
                f"    chi-square {c['chi2']:.6g}; largest model difference "
                f"{c['max_abs_difference']:.3g} (fraction of n_bulk)"
            )
        if self.warnings:
            lines.append("[[Warnings]]")
            lines.extend(f"    {w}" for w in self.warnings)
        return "\n".join(lines)

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the INTERFACES.md keys plus aic, bic, method, check, starts,
        profiles (measured, sigma, model and simulated profile per data block), cases (TOML)."""
        corr = [[_num(v) for v in row] for row in np.asarray(self.correlation).tolist()]
        return {
            "success": self.success,
            "message": self.message,
            "parameters": [p.to_dict() for p in self.parameters],
            "correlation": corr,
            "chi2": _num(self.chi2),
            "reduced_chi2": _num(self.reduced_chi2),
            "n_points": self.n_points,
            "n_simulations": self.n_simulations,
            "wall_s": self.wall_s,
            "warnings": list(self.warnings),
            "aic": _num(self.aic),
            "bic": _num(self.bic),
            "method": self.method,
            "check": {k: _num(v) if isinstance(v, float) else v for k, v in self.check.items()},
            "starts": [_jsonable(s) for s in self.starts],
            "profiles": [_profile_dict(p) for p in self.profiles],
            "blocks": [
                {
                    "case": p.case_name,
                    "data_index": p.data_index,
                    **b,
                    "quantification": _jsonable(p.info),
                }
                for p, b in zip(self.profiles, block_chi2(self.profiles), strict=True)
            ],
            "cases": list(self.case_tomls),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write JSON (any suffix but .h5/.hdf5) or HDF5, atomically; returns the path."""
        p = Path(path)
        if p.suffix.lower() in (".h5", ".hdf5"):
            return self._save_hdf5(p)
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        with atomic_write(p, "w", newline="\n") as f:
            f.write(text + "\n")
        return p

    def _save_hdf5(self, path: Path) -> Path:
        import h5py

        d = self.to_dict()
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs["fit_json"] = json.dumps(d, allow_nan=False)
            for key in ("success", "message", "chi2", "reduced_chi2", "n_points"):
                v = d[key]
                h5.attrs[key] = np.nan if v is None else v
            g = h5.create_group("parameters")
            g.create_dataset("label", data=[p.label for p in self.parameters])
            for name in ("value", "stderr", "low", "high"):
                g.create_dataset(name, data=[getattr(p, name) for p in self.parameters])
            h5.create_dataset("correlation", data=np.asarray(self.correlation, dtype=float))
            for i, prof in enumerate(self.profiles):
                pg = h5.create_group(f"profiles/{i + 1}")
                pg.attrs["case"] = prof.case_name
                pg.attrs["data_index"] = prof.data_index
                pg.create_dataset("depth_nm", data=prof.depth_nm)
                pg.create_dataset("sim_depth_nm", data=prof.sim_depth_nm)
                for s in prof.species:
                    for name in ("measured", "sigma", "model", "sim"):
                        pg.create_dataset(f"{name}/{s}", data=getattr(prof, name)[s])
        return path


def block_chi2(profiles: tuple[ModelProfile, ...] | list[ModelProfile]) -> list[dict[str, Any]]:
    """Per data block: n_points, chi2 (sum of squared (model - measured) / sigma) and
    chi2_species {species: chi2}, without species weights."""
    out = []
    for p in profiles:
        per = {s: float(np.sum(r * r)) for s, r in p.residuals().items()}
        out.append(
            {
                "n_points": int(len(p.depth_nm) * len(p.species)),
                "chi2": float(sum(per.values())),
                "chi2_species": per,
            }
        )
    return out


def correlation_warnings(
    parameters: tuple[FittedParameter, ...] | list[FittedParameter], correlation: np.ndarray
) -> list[str]:
    """One warning per pair of parameters correlated above CORRELATION_WARN, naming the one
    to fix: a depth-calibration key (measure it independently), else the one with the larger
    relative standard error."""
    out = []
    n = len(parameters)
    corr = np.asarray(correlation, dtype=float)
    for i in range(n):
        for j in range(i + 1, n):
            r = corr[i, j]
            if not (math.isfinite(r) and abs(r) > CORRELATION_WARN):
                continue
            a, b = parameters[i], parameters[j]
            cal_a, cal_b = (p.key.endswith(_CALIBRATION_SUFFIXES) for p in (a, b))
            if cal_a != cal_b:
                fix = a if cal_a else b
                why = "a depth calibration: measure the crater depth and fix it"
            else:
                fix = a if _relative_error(a) >= _relative_error(b) else b
                why = "the less determined of the two"
            out.append(
                f"C({a.label}, {b.label}) = {r:+.3f}: the data do not tell them apart; "
                f"fix {fix.label} ({why}) or add data that separates them"
            )
    return out


def _relative_error(p: FittedParameter) -> float:
    """stderr / |value| (stderr / bound range for a value of 0); inf when undetermined."""
    if not math.isfinite(p.stderr):
        return math.inf
    if p.value != 0.0:
        return abs(p.stderr / p.value)
    span = p.high - p.low
    return abs(p.stderr) / span if span > 0 else math.inf


def _info_lines(info: dict[str, Any]) -> list[str]:
    """The quantification record of a block (MeasuredProfile.info) as report lines."""
    if not info:
        return []
    out = [f"normalize = {info.get('normalize')}"]
    if info.get("matrix_column"):
        out[0] += f" (matrix column {info['matrix_column']!r})"
    if info.get("bulk_level") is not None:
        out.append(f"bulk level {info['bulk_level']:.6g} from {info.get('bulk_level_from')}")
    factors = info.get("factors") or {}
    if factors and info.get("normalize") != "none":
        how = info.get("factor_from") or {}
        out.append(
            "factors to fractions: "
            + ", ".join(f"{s} {f:.4g} ({how.get(s, '')})" for s, f in factors.items())
        )
    for name in ("sensitivity", "background"):
        if info.get(name):
            out.append(f"{name}: " + ", ".join(f"{s} {v:g}" for s, v in info[name].items()))
    out.append(f"uncertainty: {info.get('uncertainty_model')}")
    floored = {s: n for s, n in (info.get("floored_points") or {}).items() if n}
    if floored:
        out.append("points at the floor: " + ", ".join(f"{s} {n}" for s, n in floored.items()))
    used = f"points used: {info.get('points_used')} of {info.get('rows_in_file')} rows"
    if info.get("excluded"):
        used += " (excluded: " + "; ".join(info["excluded"]) + ")"
    out.append(used)
    lo, hi = info.get("depth_range_nm") or (math.nan, math.nan)
    out.append(
        f"depth = {info.get('depth_scale', 1.0):.6g} * file depth + "
        f"{info.get('depth_offset_nm', 0.0):.4g} nm (data span {lo:.4g}-{hi:.4g} nm)"
    )
    return out


def _num(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(v) else None
    return v


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    return _num(obj)


def _profile_dict(p: ModelProfile) -> dict[str, Any]:
    return {
        "case": p.case_name,
        "data_index": p.data_index,
        "after_stage": p.after_stage,
        "depth_nm": _jsonable(p.depth_nm),
        "species": list(p.species),
        "measured": {s: _jsonable(v) for s, v in p.measured.items()},
        "sigma": {s: _jsonable(v) for s, v in p.sigma.items()},
        "model": {s: _jsonable(v) for s, v in p.model.items()},
        "sim_depth_nm": _jsonable(p.sim_depth_nm),
        "sim": {s: _jsonable(v) for s, v in p.sim.items()},
        "info": _jsonable(p.info),
    }


def _arr(v: Any) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def load_fit(path: str | os.PathLike[str]) -> FitResult:
    """Read a fit written by `FitResult.save` (JSON or HDF5).

    Raises InputError (one line naming the file) when the file is missing or not a fit.
    """
    p = Path(path)
    try:
        if p.suffix.lower() in (".h5", ".hdf5"):
            import h5py

            with h5py.File(p, "r") as h5:
                d = json.loads(h5.attrs["fit_json"])
        else:
            d = json.loads(p.read_text(encoding="utf-8"))
        params = tuple(
            FittedParameter(
                key=q["key"],
                case=q["case"],
                value=float(q["value"]),
                stderr=math.nan if q["stderr"] is None else float(q["stderr"]),
                low=float(q["low"]),
                high=float(q["high"]),
                at_bound=bool(q["at_bound"]),
                log=bool(q.get("log", False)),
                initial=float(q.get("initial", q["value"])),
                interval=None if q.get("interval") is None else tuple(_arr(q["interval"])),
            )
            for q in d["parameters"]
        )
        profiles = tuple(
            ModelProfile(
                case_name=q["case"],
                data_index=int(q["data_index"]),
                after_stage=int(q["after_stage"]),
                depth_nm=_arr(q["depth_nm"]),
                species=tuple(q["species"]),
                measured={s: _arr(v) for s, v in q["measured"].items()},
                sigma={s: _arr(v) for s, v in q["sigma"].items()},
                model={s: _arr(v) for s, v in q["model"].items()},
                sim_depth_nm=_arr(q["sim_depth_nm"]),
                sim={s: _arr(v) for s, v in q["sim"].items()},
                info=dict(q.get("info") or {}),
            )
            for q in d.get("profiles", [])
        )
        nan = math.nan
        return FitResult(
            success=bool(d["success"]),
            message=str(d["message"]),
            parameters=params,
            correlation=np.array([_arr(row) for row in d["correlation"]], dtype=float).reshape(
                len(params), len(params)
            ),
            chi2=nan if d["chi2"] is None else float(d["chi2"]),
            reduced_chi2=nan if d["reduced_chi2"] is None else float(d["reduced_chi2"]),
            n_points=int(d["n_points"]),
            aic=nan if d.get("aic") is None else float(d["aic"]),
            bic=nan if d.get("bic") is None else float(d["bic"]),
            n_simulations=int(d["n_simulations"]),
            wall_s=float(d["wall_s"]),
            warnings=tuple(d["warnings"]),
            method=str(d.get("method", "")),
            profiles=profiles,
            check=dict(d.get("check") or {}),
            starts=tuple(d.get("starts") or ()),
            case_tomls=tuple(d.get("cases") or ()),
        )
    except OSError as exc:
        raise InputError(f"{p}: cannot read fit file ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InputError(f"{p}: not an nppsim fit file ({type(exc).__name__}: {exc})") from None
