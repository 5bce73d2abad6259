"""Benchmarks of nppsim: speed, accuracy, scaling and start-up cost of the solvers.

    python benchmarks/run.py [--quick] [--json OUT.json] [--repeats N]

Prints five plain-text tables (see benchmarks/README.md for what each one means):
1. standard cases x solvers: cells, steps, Newton iterations, warm wall time, cold compile time,
   error against a converged reference, and the fastest tolerance that reaches 1e-3;
2. the numpy baseline (benchmarks/baseline_numpy.py) against the compiled solver;
3. scaling of the cost per step and per Newton iteration with the number of cells;
4. work-precision: error against wall time over a range of tolerances;
5. a fresh `nppsim run` process, with a warm and with an empty numba cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import importlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    # run as a script: make `benchmarks.baseline_numpy` importable from the repository root
    sys.path.insert(0, str(ROOT))

import nppsim  # noqa: E402
from benchmarks.baseline_numpy import solve_numpy  # noqa: E402
from nppsim.result import library_versions, package_version  # noqa: E402
from nppsim.simulate import problem_from_case  # noqa: E402
from solvers.problem import Problem, Solution  # noqa: E402

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
#: cell counts of the scaling table (approximate: the graded part adds ~200 cells)
SCALING_CELLS = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
#: stage duration of the scaling runs (s): about 100 steps growing from dt_initial_s
SCALING_DURATION_S = 1.0
#: targets stated in the issue
SPEEDUP_TARGET = 30.0
SLOPE_TARGET = 1.15
#: the kernel profile of table 2 reports the fastest of this many batches of calls
PROFILE_BATCHES = 5
#: the numpy baseline gives up after this wall time (s)
BASELINE_MAX_WALL_S = 120.0

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


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
def _warm_up(name: str, solve: Callable[[Problem], Solution], problem: Problem) -> None:
    """One untimed call per solver and process: loads the compiled code from the cache."""
    if name not in _warm:
        solve(dataclasses.replace(problem, n_output=1))
        _warm.add(name)


_FIRST_CALL_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import importlib
import nppsim
from nppsim.simulate import problem_from_case
solve = importlib.import_module(sys.argv[1]).solve
problem = problem_from_case(nppsim.load_case(sys.argv[2]).with_values(json.loads(sys.argv[3])))
t1 = time.perf_counter()
sol = solve(problem)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_call_s": t2 - t1, "completed": sol.completed}))
"""


def first_call_cold(module: str, values: dict) -> dict:
    """Import and first-call times (s) of `module`.solve in a fresh process whose numba cache
    (NUMBA_CACHE_DIR) is an empty temporary folder: the first call compiles every kernel."""
    with tempfile.TemporaryDirectory(prefix="nppsim-numba-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_CALL_SCRIPT, module, str(CASE_PATH), json.dumps(values)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def standard_cases(solvers, repeats, quick, values_common) -> tuple[list[dict], dict]:
    """Table 1 (rows) and the work-precision scans of the shipped case (table 4)."""
    base = nppsim.load_case(CASE_PATH)
    rows = []
    work_precision = {}
    scan_repeats = min(repeats, 3)
    cold: dict[str, float | str] = {}
    variants = {"lbo_k": {}} if quick else CASE_VARIANTS
    rtols = SCAN_RTOLS if not quick else (1.0e-2, 1.0e-3, 1.0e-4)
    wp_rtols = WORK_PRECISION_RTOLS if not quick else (1.0e-2, 1.0e-3, 1.0e-4)
    for label, values in variants.items():
        case = base.with_values({**values_common, **values})
        problem = problem_from_case(case)
        ref_problem = problem_from_case(case.with_values(REFERENCE_SETTINGS))
        refs: dict[str, Solution] = {}
        for name, solve in solvers.items():
            row = {"case": label, "solver": name, "cells": len(problem.x_faces_nm) - 1}
            rows.append(row)
            try:
                _warm_up(name, solve, problem)
                wall, walls, sol = timed(solve, problem, repeats)
                t0 = time.perf_counter()
                ref = solve(ref_problem)
                ref_wall = time.perf_counter() - t0
                if not ref.completed:
                    raise RuntimeError(f"reference run: {ref.message}")
                refs[name] = ref
                # the compile time does not depend on the case: measured once per solver
                if name not in cold:
                    try:
                        first = first_call_cold(SOLVER_MODULES[name], {**values_common, **values})
                        cold[name] = first["first_call_s"] - wall
                    except Exception as exc:
                        cold[name] = f"{type(exc).__name__}: {exc}"
                row.update(
                    solved_cells=int(sol.diagnostics.get("n_cells", row["cells"])),
                    steps=int(sol.diagnostics.get("steps", -1)),
                    newton_iterations=int(sol.diagnostics.get("newton_iterations", -1)),
                    wall_s=wall,
                    walls_s=walls,
                    compile_cold_s=cold[name],
                    error=solution_error(sol, ref),
                    error_vs_npp=solution_error(sol, refs["npp"]) if "npp" in refs else None,
                    reference_cells=len(ref_problem.x_faces_nm) - 1,
                    reference_steps=int(ref.diagnostics.get("steps", -1)),
                    reference_wall_s=ref_wall,
                )
                if label == "lbo_k":
                    time_ref = solve(dataclasses.replace(problem, **TIME_REFERENCE_TOLERANCES))
                    scan = tolerance_scan(
                        solve, problem, ref, wp_rtols, repeats=scan_repeats, time_reference=time_ref
                    )
                    work_precision[name] = scan
                    scan = [r for r in scan if r["rtol"] in rtols]
                else:
                    scan = tolerance_scan(solve, problem, ref, rtols, repeats=scan_repeats)
                best = fastest_within(scan)
                row["scan"] = scan
                row["rtol_for_target"] = best["rtol"] if best else None
                row["wall_for_target_s"] = best["wall_s"] if best else None
            except Exception as exc:
                row["failed"] = f"{type(exc).__name__}: {exc}"
    return rows, work_precision


def baseline_comparison(solve_npp, repeats, duration_s, calls=200) -> dict:
    """Table 2: numpy baseline against the compiled solver on the shipped case."""
    case = nppsim.load_case(CASE_PATH).with_values({"stage.1.duration_s": duration_s})
    problem = problem_from_case(case)
    _warm_up("npp", solve_npp, problem)
    # interleaved: each baseline run between runs of the compiled solver, so that a slow
    # phase of a shared machine (20-40 % swings in a minute on the 2-core test machine) hits
    # both; the speed-up of each round is reported as a range beside the ratio of the medians
    walls, base_walls, rounds = [], [], []
    base = sol = None
    for _ in range(min(repeats, 3)):
        round_walls = []
        for _ in range(max(1, repeats // 2)):
            t0 = time.perf_counter()
            sol = solve_npp(problem)
            round_walls.append(time.perf_counter() - t0)
        base = solve_numpy(problem, max_wall_s=BASELINE_MAX_WALL_S)
        base_walls.append(base["wall_s"])
        walls += round_walls
        rounds.append(base["wall_s"] / statistics.median(round_walls))
        if not base["completed"]:
            break
    wall = statistics.median(walls)
    base_wall = statistics.median(base_walls)
    return {
        "duration_s": duration_s,
        "cells": len(problem.x_faces_nm) - 1,
        "numba": {
            "wall_s": wall,
            "runs": len(walls),
            "steps": int(sol.diagnostics["steps"]),
            "newton_iterations": int(sol.diagnostics["newton_iterations"]),
        },
        "numpy": {
            "wall_s": base_wall,
            "steps": base["steps"],
            "newton_iterations": base["newton_iterations"],
            "completed": base["completed"],
            "message": base["message"],
            "repeats": len(base_walls),
        },
        "speedup": base_wall / wall,
        "speedup_rounds": rounds,
        "kernels": kernel_profile(problem, sol.state, calls),
        "max_abs_difference": float(np.max(np.abs(base["fractions"] - sol.fractions[-1])))
        if base["completed"]
        else math.nan,
    }


def kernel_profile(problem: Problem, state: np.ndarray, calls: int) -> dict:
    """Time (s) per call of the pieces of one Newton iteration, numba and numpy twins, at
    `state` (interleaved scaled unknowns) of `problem`: where the time of a step goes.

    Uses the kernels' current signatures; returns {"failed": message} if they changed.
    """
    from solvers import kernels as K
    from solvers import kernels_numpy as KN
    from solvers.npp import kernel_arrays

    try:
        ka = kernel_arrays(problem)
        y = np.array(state, dtype=float)
        n_species = len(problem.species)
        nb = n_species + 1
        n, n_cells = y.size, y.size // nb
        kl, ku = K.band_widths(n_species)
        hist = -y.copy()  # backward Euler from the same state
        hist[n_species::nb] = 0.0
        stage = problem.stages[-1]
        src = -1 if stage.source is None else int(stage.source)
        psi = stage.value_at(stage.duration_s) / ka.thermal_voltage_V
        # per-cell reference fractions (used by species of kind 2 only; none in this case)
        cref = np.ones((n_species, n_cells))
        args = (y, hist, 1.0, 10.0, psi, ka.h, ka.d, ka.lam2, ka.z, ka.cfix, src,
                stage.surface_fraction, ka.back_kind, ka.back_c, ka.kind, ka.d_const, ka.u0,
                ka.du, ka.logd, ka.slope, ka.n_lo, cref, ka.c_imm)  # fmt: skip
        ab = np.zeros((n, 2 * kl + ku + 1))
        res = np.zeros(n)
        ipiv = np.zeros(n, dtype=np.int64)
        # the last five: face-flux workspace and a D(c) memo that never matches (every cell
        # evaluated, as in the first iteration after a change of every fraction)
        work = (np.zeros((n_species, n_cells)), np.zeros((n_species, n_cells)), res, ab,
                np.zeros(nb), np.zeros(nb + 2),
                *[np.zeros((n_species, n_cells + 1)) for _ in range(4)],
                np.full((n_species, n_cells), np.nan))  # fmt: skip
        K.assemble(*args, *work)
        ab_assembled = ab.copy()
        b = -res

        def per_call(f, k=calls):
            # the best of PROFILE_BATCHES batches: other processes only ever add time
            f()
            k = max(1, k // PROFILE_BATCHES)
            best = math.inf
            for _ in range(PROFILE_BATCHES):
                t0 = time.perf_counter()
                for _ in range(k):
                    f()
                best = min(best, (time.perf_counter() - t0) / k)
            return best

        def lu():
            ab[:] = ab_assembled
            K.banded_lu(ab, kl, ku, ipiv)

        copy = per_call(lambda: ab.__setitem__(slice(None), ab_assembled))
        out = {
            "numba_assemble_s": per_call(lambda: (work[-1].fill(np.nan), K.assemble(*args, *work))),
            "numba_banded_lu_s": per_call(lu) - copy,
            "numba_banded_solve_s": per_call(lambda: K.banded_solve(ab, kl, ku, ipiv, b.copy())),
        }
        if n_species == 2:
            # the block path of two species: face fluxes (D(c) in every cell, or only where the
            # fraction changed: here none, the upper bound of the memo's saving), then the
            # block elimination and back substitution
            faces = [np.zeros((n_species, n_cells + 1)) for _ in range(4)]
            dval, dder = work[0].copy(), work[1].copy()
            seen = np.full((n_species, n_cells), np.nan)
            fargs = (y, psi, ka.d, ka.z, src, stage.surface_fraction, ka.back_kind, ka.back_c,
                     ka.kind, ka.d_const, ka.u0, ka.du, ka.logd, ka.slope, ka.n_lo, cref,
                     ka.c_imm, dval, dder)  # fmt: skip
            cold = np.full((n_species, n_cells), np.nan)
            out["numba_face_fluxes_s"] = per_call(
                lambda: K.face_fluxes(*fargs, cold.copy(), *faces)
            ) - per_call(cold.copy)
            out["numba_face_fluxes_memo_s"] = per_call(lambda: K.face_fluxes(*fargs, seen, *faces))
            bargs = (y, hist, 1.0, 10.0, psi, ka.h, ka.d, ka.lam2, ka.z, ka.cfix, *faces,
                     np.zeros(n), np.zeros(n), False, np.zeros(n),
                     np.zeros((n_cells, 9)))  # fmt: skip
            out["numba_block_solve_s"] = per_call(lambda: K.block_solve_2(*bargs))
        res_np, ab_np, _, _ = KN.assemble(*args)
        k = max(PROFILE_BATCHES, calls // 10)
        out["numpy_assemble_s"] = per_call(lambda: KN.assemble(*args), k)
        out["scipy_solve_banded_s"] = per_call(lambda: KN.banded_solve(ab_np, kl, ku, -res_np), k)
        return out
    except Exception as exc:  # the kernels are being tuned: a changed signature is not fatal
        return {"failed": f"{type(exc).__name__}: {exc}"}


def _grid_for_cells(n_cells: int) -> dict:
    """Grid settings with about n_cells cells: the shipped 0.5 nm fine spacing over a fine
    region n_cells * 0.5 nm deep (plus ~200 graded cells to the back).

    Not finer cells: below ~0.1 nm they resolve the Debye-scale Li+ accumulation at the front,
    which reaches the Li+ site density within the first second, and the solver rightly stops
    there (the dilute model is outside its validity); until 2026-12-06 this table scaled the
    spacing down to 0.055 nm at 1e5 cells and timed such runs."""
    return {"grid.fine_depth_nm": 0.5 * n_cells, "grid.fine_spacing_nm": 0.5}


def scaling(solvers, repeats, cells_list) -> dict:
    """Table 3: wall time per step and per Newton iteration against the number of cells."""
    base = nppsim.load_case(CASE_PATH).with_values(
        {"stage.1.duration_s": SCALING_DURATION_S, "solver.n_output": 1}
    )
    out = {}
    for name, solve in solvers.items():
        rows = []
        for target in cells_list:
            problem = problem_from_case(base.with_values(_grid_for_cells(target)))
            row = {"cells": len(problem.x_faces_nm) - 1}
            try:
                _warm_up(name, solve, problem)
                wall, _, sol = timed(solve, problem, repeats)
            except Exception as exc:
                row["failed"] = f"{type(exc).__name__}: {exc}"
                rows.append(row)
                continue
            steps = int(sol.diagnostics.get("steps", 0))
            newton = int(sol.diagnostics.get("newton_iterations", 0))
            row.update(
                solved_cells=int(sol.diagnostics.get("n_cells", row["cells"])),
                steps=steps,
                newton_iterations=newton,
                wall_s=wall,
                per_step_s=wall / max(steps, 1),
                per_newton_s=wall / max(newton, 1) if newton > 0 else math.nan,
            )
            rows.append(row)
        good = [r for r in rows if "wall_s" in r]
        slopes = {}
        if len(good) >= 2:
            cells = [r["cells"] for r in good]
            slopes["per_step"] = loglog_slope(cells, [r["per_step_s"] for r in good])
            if all(math.isfinite(r["per_newton_s"]) for r in good):
                slopes["per_newton"] = loglog_slope(cells, [r["per_newton_s"] for r in good])
        out[name] = {"rows": rows, "slopes": slopes}
    return out


def cli_timing(repeats: int, cold: bool, values: dict) -> dict:
    """Table 5: wall time of a fresh `nppsim run cases/lbo_k.toml -o tmp.h5 --quiet` process."""
    exe = shutil.which("nppsim")
    cmd = [exe] if exe else [sys.executable, "-m", "nppsim"]
    sets = [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
    out = {"command": " ".join(["nppsim", "run", "cases/lbo_k.toml", "-o", "tmp.h5", "--quiet"])}
    if sets:
        out["command"] += " " + " ".join(sets)

    def once(env: dict) -> float:
        with tempfile.TemporaryDirectory(prefix="nppsim-bench-") as tmp:
            t0 = time.perf_counter()
            subprocess.run(
                [*cmd, "run", str(CASE_PATH), "-o", str(Path(tmp) / "tmp.h5"), "--quiet", *sets],
                env=env,
                cwd=tmp,
                check=True,
                capture_output=True,
            )
            return time.perf_counter() - t0

    once(dict(os.environ))  # makes sure the on-disk cache is warm
    warm = [once(dict(os.environ)) for _ in range(repeats)]
    out["warm_s"] = warm
    out["warm_median_s"] = statistics.median(warm)
    if cold:
        with tempfile.TemporaryDirectory(prefix="nppsim-numba-") as cache:
            out["cold_s"] = once(dict(os.environ, NUMBA_CACHE_DIR=cache))
    return out


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


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def _opt(v, spec: str = ".3f") -> str:
    """v formatted with spec, or "-" for None / NaN / a failure message."""
    if v is None or isinstance(v, str) or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def _failures(rows: Sequence[dict], label: Callable[[dict], str]) -> list[str]:
    return [f"   * {label(r)}: {r['failed']}" for r in rows if "failed" in r]


def report(results: dict) -> str:
    """The plain-text report of `results` (the dict `main` writes as JSON)."""
    m = results["machine"]
    out = [
        f"nppsim benchmarks, {m['date']}{' (--quick)' if results['quick'] else ''}",
        f"machine: {m['cpu_count']} cores (os.cpu_count), {m['processor']}; load average "
        f"{_opt(m['load_average_1min'], '.2f')} at start, "
        f"{_opt(results.get('load_average_end'), '.2f')} at the end",
        "versions: nppsim " + m["nppsim"] + ", "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"source: git {m['git']}",
        "sha256 of solvers/: "
        + ", ".join(f"{k} {v}" for k, v in m["solver_sources_sha256"].items()),
        f"timings: median of {results['repeats']} (tolerance scans, scaling and the numpy "
        f"baseline: {min(results['repeats'], 3)}), numba cache warm unless stated",
    ]  # fmt: skip
    out += [f"skipped solver {k}: {v}" for k, v in results["skipped_solvers"].items()]
    ref = ", ".join(f"{k} = {v:g}" for k, v in REFERENCE_SETTINGS.items())
    dur = results["durations_s"]["standard"]

    out += [
        "",
        f"1. Standard cases (cases/lbo_k.toml, stage duration {dur:g} s)",
        f"   converged reference: the same solver with {ref} (ref: its cells/steps/wall_s)",
        "   error: max |c - c_ref| over all species and reference cells, the final profile",
        "     interpolated linearly onto the reference cell centres (centres outside the run's",
        "     first/last centre skipped); err_vs_npp: the same against the npp reference",
        "   compile_s: first call in a fresh process with an empty NUMBA_CACHE_DIR minus wall_s",
        "     (measured once per solver: it does not depend on the case)",
        f"   tol@1e-3: fastest rtol in {list(SCAN_RTOLS)} (atol = {ATOL_PER_RTOL:g} rtol) with",
        f"     error <= {TARGET_ERROR:g}, and its wall time",
    ]
    rows = []
    for r in results["standard"]:
        if "failed" in r:
            rows.append([r["case"], r["solver"], r["cells"], "failed (*)"])
            continue
        cells = str(r["cells"]) + (
            f" ({r['solved_cells']})" if r["solved_cells"] != r["cells"] else ""
        )
        rows.append([
            r["case"], r["solver"], cells, r["steps"], r["newton_iterations"], r["wall_s"],
            _opt(r["compile_cold_s"], ".1f"), f"{r['error']:.2e}",
            _opt(r["error_vs_npp"], ".2e"), _opt(r["rtol_for_target"], "g"),
            _opt(r["wall_for_target_s"]),
            f"{r['reference_cells']}/{r['reference_steps']}/{r['reference_wall_s']:.1f}",
        ])  # fmt: skip
    out.append(format_table(
        ["case", "solver", "cells", "steps", "newton", "wall_s", "compile_s", "error",
         "err_vs_npp", "tol@1e-3", "wall@tol_s", "ref"],
        _pad(rows, 12),
    ))  # fmt: skip
    if any(r.get("solved_cells", r["cells"]) != r["cells"] for r in results["standard"]):
        out.append("   cells (n): grid cells (cells the solver had active at the end)")
    out += [
        f"   * compile time of {k} not measured: {v}"
        for k, v in {
            r["solver"]: r["compile_cold_s"]
            for r in results["standard"]
            if isinstance(r.get("compile_cold_s"), str)
        }.items()
    ]
    out += _failures(results["standard"], lambda r: f"{r['case']} / {r['solver']}")

    b = results["baseline"]
    out += [
        "",
        f"2. numpy baseline vs numba (cases/lbo_k.toml, duration {b['duration_s']:g} s, "
        f"{b['cells']} cells)",
        "   baseline: benchmarks/baseline_numpy.py, the same scheme with a Python time loop",
        "   around solvers.kernels_numpy.assemble and scipy.linalg.solve_banded (LAPACK gbsv)",
    ]
    rows = []
    for key, label in (("numpy", "numpy baseline"), ("numba", "npp (numba)")):
        s = b[key]
        rows.append([label, s["steps"], s["newton_iterations"], s["wall_s"],
                     1e3 * s["wall_s"] / max(s["newton_iterations"], 1)])  # fmt: skip
    out.append(format_table(["solver", "steps", "newton", "wall_s", "ms/newton"], rows))
    status = "" if b["numpy"]["completed"] else f" (baseline stopped: {b['numpy']['message']})"
    out.append(
        f"   speed-up {b['speedup']:.1f}x (target >= {SPEEDUP_TARGET:g}x: "
        f"{'met' if b['speedup'] >= SPEEDUP_TARGET else 'NOT met'}); max |difference| of the "
        f"final fractions {_opt(b['max_abs_difference'], '.1e')}{status}"
    )
    rounds = b.get("speedup_rounds") or []
    if rounds:
        out.append(
            f"   per round (a baseline run over the median of the compiled runs before it): "
            f"{min(rounds):.1f}x to {max(rounds):.1f}x;\n   wall_s: medians of "
            f"{b['numba'].get('runs', '?')} compiled and {b['numpy']['repeats']} baseline runs, "
            "interleaved"
        )
    kp = b["kernels"]
    if "failed" in kp:
        out.append(f"   kernel profile unavailable: {kp['failed']}")
    else:
        lu_solve = kp["numba_banded_lu_s"] + kp["numba_banded_solve_s"]
        banded_total = kp["numba_assemble_s"] + lu_solve
        numpy_total = kp["numpy_assemble_s"] + kp["scipy_solve_banded_s"]
        out.append(
            "   one Newton iteration by piece (us per call at the final state, best of "
            f"{PROFILE_BATCHES} batches):"
        )
        rows = []
        if "numba_block_solve_s" in kp:
            block_total = kp["numba_face_fluxes_s"] + kp["numba_block_solve_s"]
            rows += [
                ["residual + Jacobian: face fluxes", 1e6 * kp["numba_face_fluxes_s"],
                 1e6 * kp["numpy_assemble_s"]],
                ["  D(c) memo warm (no cell changed)", 1e6 * kp["numba_face_fluxes_memo_s"], ""],
                ["block elimination + substitution", 1e6 * kp["numba_block_solve_s"],
                 1e6 * kp["scipy_solve_banded_s"]],
                ["sum (block path, used by 2 species)", 1e6 * block_total, 1e6 * numpy_total],
            ]  # fmt: skip
        rows += [
            ["banded path: assemble", 1e6 * kp["numba_assemble_s"], ""],
            ["  banded LU", 1e6 * kp["numba_banded_lu_s"], ""],
            ["  banded solve", 1e6 * kp["numba_banded_solve_s"], ""],
            ["sum (banded path)", 1e6 * banded_total, ""],
        ]
        out.append(format_table(["piece", "numba_us", "numpy_us"], rows))

    out += [
        "",
        f"3. Scaling (cases/lbo_k.toml, duration {SCALING_DURATION_S:g} s, one output; 0.5 nm",
        "   cells over a fine region cells x 0.5 nm deep; wall = median of the whole solve call)",
    ]
    for name, sc in results["scaling"].items():
        rows = []
        for r in sc["rows"]:
            if "failed" in r:
                rows.append([r["cells"], "failed (*)"])
                continue
            rows.append([r["cells"], r["solved_cells"], r["steps"], r["newton_iterations"],
                         r["wall_s"], 1e3 * r["per_step_s"], 1e3 * r["per_newton_s"],
                         1e9 * r["per_newton_s"] / r["solved_cells"]])  # fmt: skip
        out.append(f"   solver {name}")
        out.append(format_table(
            ["cells", "solved", "steps", "newton", "wall_s", "ms/step", "ms/newton",
             "ns/(newton*cell)"],
            _pad(rows, 8),
        ))  # fmt: skip
        sl = sc["slopes"]
        windowed = any(r.get("solved_cells", r["cells"]) != r["cells"] for r in sc["rows"])
        if sl and windowed:
            out.append(
                f"   log-log slope against grid cells: per step {_opt(sl.get('per_step'))} "
                "(not comparable: this solver works on an active window of cells, not the grid)"
            )
        elif sl:
            verdict = "met" if sl.get("per_step", math.inf) <= SLOPE_TARGET else "NOT met"
            out.append(
                f"   log-log slope against cells: per step {_opt(sl.get('per_step'))}, per "
                f"Newton iteration {_opt(sl.get('per_newton'))} (target <= {SLOPE_TARGET:g} "
                f"per step: {verdict})"
            )
        out += _failures(sc["rows"], lambda r: f"{r['cells']} cells")

    out += [
        "",
        f"4. Work-precision (cases/lbo_k.toml, duration {dur:g} s, atol = {ATOL_PER_RTOL:g} rtol)",
        "   error: against the converged reference of table 1 (time + space); error_time:",
        "   against the same solver on the same grid with rtol "
        f"{TIME_REFERENCE_TOLERANCES['rtol']:g}, atol {TIME_REFERENCE_TOLERANCES['atol']:g} "
        "(time integration only)",
    ]
    for name, scan in results["work_precision"].items():
        rows = []
        for r in scan:
            if "failed" in r:
                rows.append([f"{r['rtol']:g}", f"{r['atol']:g}", "failed (*)"])
                continue
            rows.append([f"{r['rtol']:g}", f"{r['atol']:g}", r["steps"], r["newton_iterations"],
                         r["wall_s"], f"{r['error']:.2e}",
                         _opt(r.get("error_time"), ".2e")])  # fmt: skip
        out.append(f"   solver {name}")
        out.append(format_table(
            ["rtol", "atol", "steps", "newton", "wall_s", "error", "error_time"], _pad(rows, 7)
        ))  # fmt: skip
        out += _failures(scan, lambda r: f"rtol {r['rtol']:g}")

    c = results["cli"]
    out += ["", f"5. Fresh process: {c['command']}", "   (wall time including imports and I/O)"]
    rows = [["warm cache", len(c["warm_s"]), c["warm_median_s"], min(c["warm_s"]),
             max(c["warm_s"])]]  # fmt: skip
    if "cold_s" in c:
        rows.append(["empty NUMBA_CACHE_DIR", 1, c["cold_s"], c["cold_s"], c["cold_s"]])
    else:
        rows.append(["empty NUMBA_CACHE_DIR", 0, "skipped (--quick)", "-", "-"])
    out.append(format_table(["numba cache", "runs", "median_s", "min_s", "max_s"], rows))
    out += ["", f"total benchmark time {results['total_s']:.0f} s"]
    return "\n".join(out)


def _pad(rows: list[list], width: int) -> list[list]:
    return [r + [""] * (width - len(r)) for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (< 60 s)")
    parser.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    t_start = time.perf_counter()
    machine = machine_info()
    solvers, skipped = available_solvers()
    if "npp" not in solvers:
        print(f"solvers.npp cannot be imported: {skipped.get('npp')}", file=sys.stderr)
        return 1
    standard_duration = 1.0e3 if args.quick else 4.0e4
    common = {"stage.1.duration_s": standard_duration} if args.quick else {}

    def progress(text: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f} s] {text}", file=sys.stderr, flush=True)

    progress("standard cases, references, tolerance scans")
    standard, work_precision = standard_cases(solvers, repeats, args.quick, common)
    progress("numpy baseline")
    baseline = baseline_comparison(solvers["npp"], repeats, 1.0e3 if args.quick else 4.0e4)
    progress("scaling")
    cells = (1_000, 10_000, 50_000) if args.quick else SCALING_CELLS
    scale = scaling(solvers, min(repeats, 3), cells)
    progress("fresh-process command line")
    cli = cli_timing(1 if args.quick else 3, cold=not args.quick, values=common)
    results = {
        "machine": machine,
        "quick": args.quick,
        "repeats": repeats,
        "skipped_solvers": skipped,
        "durations_s": {"standard": standard_duration},
        "reference_settings": REFERENCE_SETTINGS,
        "target_error": TARGET_ERROR,
        "standard": standard,
        "baseline": baseline,
        "scaling": scale,
        "work_precision": work_precision,
        "cli": cli,
        "total_s": time.perf_counter() - t_start,
        "load_average_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    print(report(results))
    if args.json:
        text = json.dumps(_jsonable(results), indent=1, allow_nan=False)
        Path(args.json).write_text(text + "\n")
    return 0


def _jsonable(v):
    """`v` with numpy scalars and arrays as Python values and NaN/inf as None (strict JSON)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, bool | int | float | str):
        return v
    raise TypeError(f"not serialisable as JSON: {type(v).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
