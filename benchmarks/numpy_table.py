"""Table 2 of benchmarks/run.py: the numpy baseline (benchmarks/baseline_numpy.py) against the
compiled solver, and one Newton iteration by piece."""

from __future__ import annotations

import math
import statistics
import time

import numpy as np

import nppsim
from benchmarks.baseline_numpy import solve_numpy
from benchmarks.common import CASE_PATH, SPEEDUP_TARGET, format_table, opt, warm_up
from nppsim.simulate import problem_from_case
from solvers.problem import Problem

#: the kernel profile of table 2 reports the fastest of this many batches of calls
PROFILE_BATCHES = 5
#: the numpy baseline gives up after this wall time (s)
BASELINE_MAX_WALL_S = 120.0


def baseline_comparison(solve_npp, repeats, duration_s, calls=200) -> dict:
    """Table 2: numpy baseline against the compiled solver on the shipped case."""
    case = nppsim.load_case(CASE_PATH).with_values({"stage.1.duration_s": duration_s})
    problem = problem_from_case(case)
    warm_up("npp", solve_npp, problem)
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


def report_baseline(results: dict) -> list[str]:
    """The lines of table 2."""
    out: list[str] = []
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
        f"final fractions {opt(b['max_abs_difference'], '.1e')}{status}"
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
    return out
