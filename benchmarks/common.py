"""Shared pieces of the benchmark suite (benchmarks/run.py and its tables): the case, the
reference settings, the targets, the error measure against a reference profile, timing,
tolerance scans, plain-text tables and the machine description.

Importable and tested in tests/test_benchmarks.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nppsim.result import library_versions, package_version
from solvers.problem import Problem, Solution

ROOT = Path(__file__).resolve().parents[1]
CASE_PATH = ROOT / "cases" / "lbo_k.toml"
#: solver name -> module with `solve(problem) -> Solution`; missing modules are skipped
SOLVER_MODULES = {"npp": "solvers.npp", "electroneutral": "solvers.electroneutral"}
#: the standard cases: the shipped case and two SED widths around it
CASE_VARIANTS = {
    "lbo_k": {},
    "lbo_k fwhm 0.15": {"species.Li.sed.fwhm_eV": 0.15},
    "lbo_k fwhm 0.35": {"species.Li.sed.fwhm_eV": 0.35},
}
#: the converged reference: the same solver, tolerances 1000x tighter than the default and the
#: fine cells halved; the error of a run is measured against it
REFERENCE_SETTINGS = {"solver.rtol": 1.0e-7, "solver.atol": 1.0e-11, "grid.fine_spacing_nm": 0.25}
#: the time-only reference of the work-precision table: the run's own grid at these tolerances
TIME_REFERENCE_TOLERANCES = {"rtol": 1.0e-7, "atol": 1.0e-11}
#: accuracy target of the tolerance scan (max abs error in fractions of n_bulk): well below the
#: scatter of ToF-SIMS profiles (a few per cent)
TARGET_ERROR = 1.0e-3
#: atol / rtol along every scan; the default case (rtol 1e-4, atol 1e-8) lies on this line
ATOL_PER_RTOL = 1.0e-4
SCAN_RTOLS = (1.0e-2, 3.0e-3, 1.0e-3, 3.0e-4, 1.0e-4)
WORK_PRECISION_RTOLS = (1.0e-2, 3.0e-3, 1.0e-3, 3.0e-4, 1.0e-4, 3.0e-5, 1.0e-5, 3.0e-6, 1.0e-6)
#: targets stated in the issue
SPEEDUP_TARGET = 30.0
SLOPE_TARGET = 1.15

_warm: set[str] = set()


# ---------------------------------------------------------------------------------------------
# Pieces (importable, tested in tests/test_benchmarks.py)
# ---------------------------------------------------------------------------------------------
def available_solvers() -> tuple[dict[str, Callable[[Problem], Solution]], dict[str, str]]:
    """({name: solve}, {name: why it is skipped}) for the solvers of SOLVER_MODULES."""
    found, skipped = {}, {}
    for name, module in SOLVER_MODULES.items():
        try:
            solve = importlib.import_module(module).solve
        except Exception as exc:  # a missing or half-written module is skipped, not fatal
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        found[name] = solve
    return found, skipped


def profile_error(
    x_nm: np.ndarray, fractions: np.ndarray, x_ref_nm: np.ndarray, fractions_ref: np.ndarray
) -> float:
    """Max abs difference (fractions of n_bulk) over all species and reference cells.

    fractions (S, n) at cell centres x_nm are interpolated linearly onto the reference cell
    centres x_ref_nm and compared with fractions_ref (S, n_ref). Reference cells outside
    [x_nm[0], x_nm[-1]] are skipped, not extrapolated: the first reference cell lies closer to
    the surface than the first cell of a coarser run, and the profiles change there on the
    scale of the Debye length (0.03 nm), which no grid resolves and no SIMS measurement sees.
    """
    fractions = np.atleast_2d(fractions)
    fractions_ref = np.atleast_2d(fractions_ref)
    if fractions.shape[0] != fractions_ref.shape[0]:
        raise ValueError("the two profiles have different numbers of species")
    inside = (x_ref_nm >= x_nm[0]) & (x_ref_nm <= x_nm[-1])
    return max(
        float(np.max(np.abs(np.interp(x_ref_nm[inside], x_nm, c) - c_ref[inside])))
        for c, c_ref in zip(fractions, fractions_ref, strict=True)
    )


def solution_error(sol: Solution, ref: Solution) -> float:
    """`profile_error` of the final profiles of two Solutions."""
    return profile_error(sol.x_centers_nm, sol.fractions[-1], ref.x_centers_nm, ref.fractions[-1])


def timed(
    solve: Callable[[Problem], Solution], problem: Problem, repeats: int
) -> tuple[float, list[float], Solution]:
    """(median wall time (s), all wall times, last Solution) of `repeats` calls of solve.

    Raises RuntimeError when the solver does not complete.
    """
    walls = []
    sol = None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        sol = solve(problem)
        walls.append(time.perf_counter() - t0)
        if not sol.completed:
            raise RuntimeError(sol.message)
    return statistics.median(walls), walls, sol


def tolerance_scan(
    solve: Callable[[Problem], Solution],
    problem: Problem,
    reference: Solution,
    rtols: Sequence[float],
    *,
    atol_per_rtol: float = ATOL_PER_RTOL,
    repeats: int = 1,
    time_reference: Solution | None = None,
) -> list[dict]:
    """Run `problem` at each rtol (atol = rtol * atol_per_rtol); one row per tolerance.

    Row keys: rtol, atol, wall_s (median of repeats), steps, newton_iterations, error (against
    `reference`, see `solution_error`) and, if time_reference is given, error_time (against
    it: a run on the same grid, so only the time-integration error); or rtol, atol, failed
    (message) if the run failed.
    """
    rows = []
    for rtol in rtols:
        p = dataclasses.replace(problem, rtol=rtol, atol=rtol * atol_per_rtol)
        try:
            wall, _, sol = timed(solve, p, repeats)
        except Exception as exc:
            rows.append({"rtol": rtol, "atol": p.atol, "failed": str(exc)})
            continue
        rows.append(
            {
                "rtol": rtol,
                "atol": p.atol,
                "wall_s": wall,
                "steps": int(sol.diagnostics.get("steps", -1)),
                "newton_iterations": int(sol.diagnostics.get("newton_iterations", -1)),
                "error": solution_error(sol, reference),
            }
        )
        if time_reference is not None:
            rows[-1]["error_time"] = solution_error(sol, time_reference)
    return rows


def fastest_within(rows: Sequence[dict], target: float = TARGET_ERROR) -> dict | None:
    """The row of `tolerance_scan` with the smallest wall time whose error is <= target."""
    ok = [r for r in rows if "error" in r and r["error"] <= target]
    return min(ok, key=lambda r: r["wall_s"]) if ok else None


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(np.asarray(x)), np.log(np.asarray(y)), 1)[0])


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows as a plain-text table with right-aligned columns."""

    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "-"
        if isinstance(v, float):
            if v == 0.0:
                return "0"
            return f"{v:.3g}" if (abs(v) >= 1e4 or abs(v) < 1e-2) else f"{v:.3f}"
        return str(v)

    text = [[cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(lines)


def warm_up(name: str, solve: Callable[[Problem], Solution], problem: Problem) -> None:
    """One untimed call per solver and process: loads the compiled code from the cache."""
    if name not in _warm:
        solve(dataclasses.replace(problem, n_output=1))
        _warm.add(name)


def machine_info() -> dict:
    """Core count, load, versions and the state of the solver sources being measured."""
    info = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.platform(),
        "nppsim": package_version(),
        "versions": library_versions(),
        # the solvers are being tuned: which source the numbers belong to, file by file
        "solver_sources_sha256": {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10]
            for p in sorted((ROOT / "solvers").glob("*.py"))
            if p.name not in ("__init__.py", "problem.py")
        },
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "solvers", "sed", "nppsim"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.split()[1::2]
        info["git"] = commit + (f" (uncommitted: {', '.join(dirty)})" if dirty else "")
    except OSError:
        info["git"] = "unknown"
    return info


def opt(v, spec: str = ".3f") -> str:
    """v formatted with spec, or "-" for None / NaN / a failure message."""
    if v is None or isinstance(v, str) or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def failures(rows: Sequence[dict], label: Callable[[dict], str]) -> list[str]:
    """One report line per row with a "failed" message, named by label(row)."""
    return [f"   * {label(r)}: {r['failed']}" for r in rows if "failed" in r]


def pad(rows: list[list], width: int) -> list[list]:
    """rows padded with empty cells to `width` columns (a failed row has fewer)."""
    return [r + [""] * (width - len(r)) for r in rows]


def jsonable(v):
    """`v` with numpy scalars and arrays as Python values and NaN/inf as None (strict JSON)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, bool | int | float | str):
        return v
    raise TypeError(f"not serialisable as JSON: {type(v).__name__}")
