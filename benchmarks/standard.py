"""Tables 1 (standard cases x solvers) and 4 (work-precision) of benchmarks/run.py."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import nppsim
from benchmarks.common import (
    ATOL_PER_RTOL,
    CASE_PATH,
    CASE_VARIANTS,
    REFERENCE_SETTINGS,
    ROOT,
    SCAN_RTOLS,
    SOLVER_MODULES,
    TARGET_ERROR,
    TIME_REFERENCE_TOLERANCES,
    WORK_PRECISION_RTOLS,
    failures,
    fastest_within,
    format_table,
    opt,
    pad,
    solution_error,
    timed,
    tolerance_scan,
    warm_up,
)
from nppsim.simulate import problem_from_case
from solvers.problem import Solution

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
                warm_up(name, solve, problem)
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


def report_standard(results: dict) -> list[str]:
    """The lines of table 1."""
    out: list[str] = []
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
            opt(r["compile_cold_s"], ".1f"), f"{r['error']:.2e}",
            opt(r["error_vs_npp"], ".2e"), opt(r["rtol_for_target"], "g"),
            opt(r["wall_for_target_s"]),
            f"{r['reference_cells']}/{r['reference_steps']}/{r['reference_wall_s']:.1f}",
        ])  # fmt: skip
    out.append(format_table(
        ["case", "solver", "cells", "steps", "newton", "wall_s", "compile_s", "error",
         "err_vs_npp", "tol@1e-3", "wall@tol_s", "ref"],
        pad(rows, 12),
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
    out += failures(results["standard"], lambda r: f"{r['case']} / {r['solver']}")
    return out


def report_work_precision(results: dict) -> list[str]:
    """The lines of table 4."""
    out: list[str] = []
    dur = results["durations_s"]["standard"]
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
                         opt(r.get("error_time"), ".2e")])  # fmt: skip
        out.append(f"   solver {name}")
        out.append(format_table(
            ["rtol", "atol", "steps", "newton", "wall_s", "error", "error_time"], pad(rows, 7)
        ))  # fmt: skip
        out += failures(scan, lambda r: f"rtol {r['rtol']:g}")
    return out
