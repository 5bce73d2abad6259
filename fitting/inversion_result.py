"""The result of a D(n) inversion (`fitting.invert.invert`): curves with bands, PSED, JSON.

JSON (the contract of INTERFACES.md, ``nppsim invert -o INV.json``): ``fraction``, ``D_cm2_s``,
``D_low_cm2_s``, ``D_high_cm2_s`` (68 % band), ``valid_range``, ``parameters`` (the fit
schema), ``sed`` {``fwhm_eV``, ``fwhm_stderr_eV``, ``energy_eV``, ``density``, ...},
``wall_s``; and ``regularization`` {``lambda``, ``criterion``, ``lambda_grid``, ``gcv``},
``chi2``, ``reduced_chi2``, ``curves`` (one per case when split, each with its own arrays,
valid range and PSED), ``knots``, ``foreign_D_cm2_s``, ``profiles`` (data vs model, for plots).
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
from fitting.result import FittedParameter, _jsonable, _num, _profile_dict
from nppsim.errors import InputError
from nppsim.fileio import atomic_write
from sed.psed import populated_sed

__all__ = ["CurveResult", "InversionResult", "is_inversion_file", "load_inversion", "psed_summary"]

#: marker of an inversion JSON file
FORMAT = "nppsim-inversion"


def psed_summary(
    curve: Any,
    D_ref_cm2_s: float,
    temperature_K: float,
    n_ref: float,
    vacancy_fraction: float,
    fraction: np.ndarray | None,
    fit_fractions: np.ndarray,
) -> dict[str, Any]:
    """PSED of a curve: the Gaussian fitted over `fit_fractions` (fractions of n_ref) and, when
    `fraction` is given, ``energy_eV`` (E_F - E_F(n_ref), eV) and ``density`` (dn/dE_F,
    fraction of n_bulk per eV) at those fractions."""
    fit = populated_sed(
        curve, D_ref_cm2_s=D_ref_cm2_s, temperature_K=temperature_K, n_ref=n_ref,
        vacancy_fraction=vacancy_fraction, fractions=fit_fractions,
    )  # fmt: skip
    out: dict[str, Any] = {
        "fwhm_eV": fit.fwhm_eV,
        "fwhm_stderr_eV": math.nan,
        "center_eV": fit.center_eV,
        "n_sites": fit.n_sites,
        "vacancy_fraction": vacancy_fraction,
        "fit_fraction_range": [float(np.min(fit_fractions)), float(np.max(fit_fractions))],
        "rms": fit.rms,
    }
    if fraction is not None:
        at = populated_sed(
            curve, D_ref_cm2_s=D_ref_cm2_s, temperature_K=temperature_K, n_ref=n_ref,
            vacancy_fraction=vacancy_fraction, fractions=np.asarray(fraction),
        )  # fmt: skip
        out["energy_eV"] = at.energy_eV
        out["density"] = at.density_per_eV
    return out


@dataclass(frozen=True)
class CurveResult:
    """One inverted D(n) curve.

    case: the case it belongs to (None: shared by all cases); knots: (K,) fractions of n_ref;
    log10_D_knots, log10_D_knots_stderr: (K,) log10 D (cm^2/s) at the knots and its standard
    error; fraction: (m,) output fractions of n_ref; D_cm2_s, D_low_cm2_s, D_high_cm2_s: (m,)
    the curve and its 68 % band (cm^2/s); valid_range: (low, high) fractions the data cover;
    sed: PSED summary (`psed_summary` keys plus fwhm_stderr_eV).
    """

    case: str | None
    knots: np.ndarray
    log10_D_knots: np.ndarray
    log10_D_knots_stderr: np.ndarray
    fraction: np.ndarray
    D_cm2_s: np.ndarray
    D_low_cm2_s: np.ndarray
    D_high_cm2_s: np.ndarray
    valid_range: tuple[float, float]
    sed: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "case": self.case,
            "knots": _jsonable(self.knots),
            "log10_D_knots": _jsonable(self.log10_D_knots),
            "log10_D_knots_stderr": _jsonable(self.log10_D_knots_stderr),
            "fraction": _jsonable(self.fraction),
            "D_cm2_s": _jsonable(self.D_cm2_s),
            "D_low_cm2_s": _jsonable(self.D_low_cm2_s),
            "D_high_cm2_s": _jsonable(self.D_high_cm2_s),
            "valid_range": _jsonable(list(self.valid_range)),
            "sed": _jsonable(self.sed),
        }


@dataclass(frozen=True)
class InversionResult:
    """Outcome of `fitting.invert.invert`.

    success, message: as a fit; species: the inverted native species; temperature_K (K);
    D_ref_cm2_s: the pinned D at n_ref (cm^2/s); split_below: F or None; case_names;
    curves: one CurveResult (shared) or one per case (split); case_valid_ranges: per case;
    parameters: the freed case keys (FittedParameter); regularization: {lambda, criterion,
    lambda_grid, gcv, rounds}; band_method: "jacobian" or the bootstrap fallback; chi2 (data
    only), reduced_chi2 = chi2 / (n_points - n_parameters); n_points; n_parameters;
    n_simulations; wall_s (s); warnings; method (solver); foreign_D_cm2_s: {case: {species: D}}
    at the optimum; profiles: best-fit ModelProfile per data block.
    """

    success: bool
    message: str
    species: str
    temperature_K: float
    D_ref_cm2_s: float
    split_below: float | None
    case_names: tuple[str, ...]
    curves: tuple[CurveResult, ...]
    case_valid_ranges: tuple[tuple[float, float], ...]
    parameters: tuple[FittedParameter, ...]
    regularization: dict[str, Any]
    band_method: str
    chi2: float
    reduced_chi2: float
    n_points: int
    n_parameters: int
    n_simulations: int
    wall_s: float
    warnings: tuple[str, ...]
    method: str
    foreign_D_cm2_s: dict[str, dict[str, float]] = field(default_factory=dict)
    profiles: tuple[ModelProfile, ...] = ()

    @property
    def curve(self) -> CurveResult:
        """The top-level curve (the shared one, or the first case's when split)."""
        return self.curves[0]

    def curve_of(self, case_name: str) -> CurveResult:
        """The curve of a case (the shared curve when not split)."""
        for c in self.curves:
            if c.case == case_name:
                return c
        if self.split_below is None:
            return self.curves[0]
        raise KeyError(f"no curve for case {case_name!r}")

    def D_at(self, fraction: float | np.ndarray, case_name: str | None = None) -> np.ndarray:
        """Inverted D (cm^2/s) at fractions of n_ref, log-interpolated on the output grid."""
        c = self.curve if case_name is None else self.curve_of(case_name)
        return 10.0 ** np.interp(fraction, c.fraction, np.log10(c.D_cm2_s))

    def __getitem__(self, label: str) -> FittedParameter:
        """The freed parameter with this label (``key`` or ``key [case]``) or key (if unique)."""
        for p in self.parameters:
            if p.label == label:
                return p
        matches = [p for p in self.parameters if p.key == label]
        if len(matches) == 1:
            return matches[0]
        raise KeyError(f"no parameter {label!r}")

    def report(self) -> str:
        """A readable summary: statistics, lambda, PSED FWHM, valid range, parameters."""
        c = self.curve
        reg = self.regularization
        lines = ["[[Inversion of D(n)]]"]
        lines.append(
            f"    species            = {self.species} (D_ref {self.D_ref_cm2_s:.4g} cm^2/s)"
        )
        lines.append(f"    solver             = {self.method}")
        lines.append(f"    success            = {self.success} ({self.message})")
        lines.append(f"    simulations        = {self.n_simulations}")
        lines.append(f"    wall time          = {self.wall_s:.3g} s")
        lines.append(f"    data points        = {self.n_points}")
        lines.append(f"    parameters         = {self.n_parameters}")
        lines.append(f"    chi-square         = {self.chi2:.6g}")
        lines.append(f"    reduced chi-square = {self.reduced_chi2:.6g}")
        lines.append(f"    lambda             = {reg['lambda']:.4g} ({reg['criterion']})")
        if reg.get("at_grid_end"):
            lines.append(
                "    (lambda at the top of its grid: the data cannot tell the curve from one "
                "without second differences)"
            )
        lines.append(f"    band               = 68 %, {self.band_method}")
        lines.append("[[Curves]]")
        for c in self.curves:
            name = c.case or "all cases"
            lo, hi = c.valid_range
            s = c.sed
            lines.append(
                f"    {name}: valid range {lo:.3g} .. {hi:.3g} of n_ref; PSED FWHM "
                f"{s['fwhm_eV']:.4g} +/- {s['fwhm_stderr_eV']:.2g} eV"
            )
            knots = ", ".join(
                f"{x:.3g}: {y:.3f}" for x, y in zip(c.knots, c.log10_D_knots, strict=True)
            )
            lines.append(f"      log10 D at the knots {{{knots}}}")
        if self.parameters:
            lines.append("[[Variables]]")
            for p in self.parameters:
                lines.append(f"    {p.label} = {p.value:.6g} +/- {p.stderr:.3g}")
        if self.warnings:
            lines.append("[[Warnings]]")
            lines.extend(f"    {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (module docstring)."""
        c = self.curve
        lo = [v[0] for v in self.case_valid_ranges if math.isfinite(v[0])]
        hi = [v[1] for v in self.case_valid_ranges if math.isfinite(v[1])]
        return {
            "format": FORMAT,
            "success": self.success,
            "message": self.message,
            "species": self.species,
            "temperature_K": self.temperature_K,
            "D_ref_cm2_s": self.D_ref_cm2_s,
            "split_below": self.split_below,
            "fraction": _jsonable(c.fraction),
            "D_cm2_s": _jsonable(c.D_cm2_s),
            "D_low_cm2_s": _jsonable(c.D_low_cm2_s),
            "D_high_cm2_s": _jsonable(c.D_high_cm2_s),
            "valid_range": [_num(min(lo)) if lo else None, _num(max(hi)) if hi else None],
            "parameters": [p.to_dict() for p in self.parameters],
            "sed": _jsonable(c.sed),
            "wall_s": self.wall_s,
            "knots": _jsonable(c.knots),
            "regularization": _jsonable(self.regularization),
            "band_method": self.band_method,
            "chi2": _num(self.chi2),
            "reduced_chi2": _num(self.reduced_chi2),
            "n_points": self.n_points,
            "n_parameters": self.n_parameters,
            "n_simulations": self.n_simulations,
            "warnings": list(self.warnings),
            "method": self.method,
            "cases": list(self.case_names),
            "case_valid_ranges": [_jsonable(list(v)) for v in self.case_valid_ranges],
            "curves": [cv.to_dict() for cv in self.curves],
            "foreign_D_cm2_s": _jsonable(self.foreign_D_cm2_s),
            "profiles": [_profile_dict(p) for p in self.profiles],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON atomically (temporary file, then rename); returns the path."""
        p = Path(path)
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        with atomic_write(p, "w", newline="\n") as f:
            f.write(text + "\n")
        return p


def _arr(v: Any) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def _sed(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    for k in ("energy_eV", "density"):
        if k in out:
            out[k] = _arr(out[k])
    for k in ("fwhm_eV", "fwhm_stderr_eV", "center_eV", "rms"):
        if k in out:
            out[k] = math.nan if out[k] is None else float(out[k])
    return out


def is_inversion_file(path: str | os.PathLike[str]) -> bool:
    """True if `path` is a JSON file written by `InversionResult.save`."""
    p = Path(path)
    if p.suffix.lower() != ".json" or not p.is_file():
        return False
    try:
        with p.open(encoding="utf-8") as f:
            head = f.read(200)
    except OSError:
        return False
    return f'"format": "{FORMAT}"' in head


def load_inversion(path: str | os.PathLike[str]) -> InversionResult:
    """Read an inversion written by `InversionResult.save`; InputError (one line) otherwise."""
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        if d.get("format") != FORMAT:
            raise ValueError("no 'format': 'nppsim-inversion' marker")
        curves = tuple(
            CurveResult(
                case=q["case"],
                knots=_arr(q["knots"]),
                log10_D_knots=_arr(q["log10_D_knots"]),
                log10_D_knots_stderr=_arr(q["log10_D_knots_stderr"]),
                fraction=_arr(q["fraction"]),
                D_cm2_s=_arr(q["D_cm2_s"]),
                D_low_cm2_s=_arr(q["D_low_cm2_s"]),
                D_high_cm2_s=_arr(q["D_high_cm2_s"]),
                valid_range=tuple(_arr(q["valid_range"])),
                sed=_sed(q["sed"]),
            )
            for q in d["curves"]
        )
        params = tuple(
            FittedParameter(
                key=q["key"], case=q["case"], value=float(q["value"]),
                stderr=math.nan if q["stderr"] is None else float(q["stderr"]),
                low=float(q["low"]), high=float(q["high"]), at_bound=bool(q["at_bound"]),
                log=bool(q.get("log", False)), initial=float(q.get("initial", q["value"])),
            )
            for q in d["parameters"]
        )  # fmt: skip
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
            )
            for q in d.get("profiles", [])
        )
        return InversionResult(
            success=bool(d["success"]),
            message=str(d["message"]),
            species=str(d["species"]),
            temperature_K=float(d["temperature_K"]),
            D_ref_cm2_s=float(d["D_ref_cm2_s"]),
            split_below=None if d["split_below"] is None else float(d["split_below"]),
            case_names=tuple(d["cases"]),
            curves=curves,
            case_valid_ranges=tuple(tuple(_arr(v)) for v in d["case_valid_ranges"]),
            parameters=params,
            regularization=dict(d["regularization"]),
            band_method=str(d["band_method"]),
            chi2=math.nan if d["chi2"] is None else float(d["chi2"]),
            reduced_chi2=math.nan if d["reduced_chi2"] is None else float(d["reduced_chi2"]),
            n_points=int(d["n_points"]),
            n_parameters=int(d["n_parameters"]),
            n_simulations=int(d["n_simulations"]),
            wall_s=float(d["wall_s"]),
            warnings=tuple(d["warnings"]),
            method=str(d["method"]),
            foreign_D_cm2_s={k: dict(v) for k, v in d.get("foreign_D_cm2_s", {}).items()},
            profiles=profiles,
        )
    except OSError as exc:
        raise InputError(f"{p}: cannot read inversion file ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InputError(
            f"{p}: not an nppsim inversion file ({type(exc).__name__}: {exc})"
        ) from None
