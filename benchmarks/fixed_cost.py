"""The fixed cost of one simulation: everything outside the compiled time loop.

    python benchmarks/fixed_cost.py [--repeats N] [--case NAME]... [--profile NAME:SOLVER]

One simulation is `nppsim.simulate` (case -> Problem -> solver -> Solution -> Result); inside,
the compiled loop (`advance` of `solvers.kernels` or `solvers.electroneutral_kernels`) does the
stepping. The solvers report the wall time inside those calls (`loop_s`) and their number
(`loop_calls`); the rest of a warm run is the fixed cost. Prints, per case, solver and
tolerance ("shipped": the case's own; "1e-3": rtol 1e-3, atol 1e-7, about 1e-3 accuracy on
lbo_k), the median over interleaved rounds (every configuration once per round, so a burst of
load on the shared machine touches all alike) of:

- total_ms: `nppsim.simulate` of the case (warm numba cache);
- loop_ms: inside the compiled loop (calls: how many calls), fixed_ms = total - loop, and its
  share of the total;
- its parts, timed alone in the same rounds: case_ms (`checked_case`: the validation of the
  case), problem_ms (`problem_from_case`, with the SED objects), table_ms (the D(n) tables of a
  new SED, as after a fit step that changed it: `kernel_table` of every species on an SED not
  seen before), solver_ms (the solver's own Python: its `solve_s` less `loop_s`: arrays, initial
  state, snapshots, Solution), result_ms (`Result.from_solution` with the case text).

Then the path of a fit (`fitting.forward.ForwardModel` on the synthetic K+ case, one snapshot
per stage): one residual evaluation after a step of the SED width (table rebuilt) and after a
step of the foreign D (table cached), total, loop and the rest; and the profile evaluation
alone (blur and sampling of a cached simulation).

--profile lbo_k:electroneutral prints the cProfile of 20 warm simulations of that
configuration (1e-3 tolerances) instead.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import nppsim  # noqa: E402
from fitting.forward import ForwardModel  # noqa: E402
from nppsim.errors import CaseError  # noqa: E402
from nppsim.result import Result  # noqa: E402
from nppsim.simulate import checked_case, problem_from_case  # noqa: E402
from sed import MonotoneLogDCurve  # noqa: E402

CASES = ROOT / "cases"
#: tolerances of the "1e-3" rows: about 1e-3 error against the converged reference on lbo_k
TOL_1E3 = {"solver.rtol": 1.0e-3, "solver.atol": 1.0e-7}
#: a galvanostatic variant of lbo_k (no shipped case is galvanostatic): 1e-7 A/cm^2
GALVANOSTATIC = {"stage.1.potential_V": None, "stage.1.current_density_A_cm2": 1.0e-7}
#: the fit of `--fit`: the synthetic K+ profile, the keys a fit frees
FIT_CASE = CASES / "synthetic" / "lbo_k_synthetic.toml"
FIT_SED_KEY = "species.Li.sed.fwhm_eV"
FIT_D_KEY = "species.K.D_cm2_s"
#: the inversion step: the synthetic inversion case with a native D(n) curve as a dense
#: D_table (as `fitting.invert` simulates it), scaled anew in every round
INV_CASE = CASES / "synthetic" / "lbo_k_inv.toml"
INV_KNOTS = np.array([0.3, 0.45, 0.6, 0.75, 0.85, 0.95])
INV_LOG10_D = np.array([-15.5, -14.8, -14.0, -13.2, -12.7, -12.3])


def load_variants(names: list[str] | None) -> dict[str, object]:
    """{label: Case}: every shipped case (cases/*.toml) and the galvanostatic lbo_k."""
    out = {}
    for path in sorted(CASES.glob("*.toml")):
        out[path.stem] = nppsim.load_case(path)
    out["lbo_k galvanostatic"] = out["lbo_k"].with_values(GALVANOSTATIC)
    if names:
        out = {k: v for k, v in out.items() if k in names}
    return out


def configurations(variants: dict[str, object]) -> list[tuple[str, str, str, object]]:
    """(case label, solver, tolerance label, Case) of every runnable combination."""
    out = []
    for label, case in variants.items():
        for solver in ("npp", "electroneutral"):
            for tol, values in (("shipped", {}), ("1e-3", TOL_1E3)):
                run = case.with_values({**values, "solver.method": solver})
                try:
                    nppsim.simulate(run)  # warm up (and compile): not timed
                except CaseError:
                    continue  # outside the electroneutral model
                out.append((label, solver, tol, run))
    return out


def timed(f: Callable[[], object]) -> tuple[float, object]:
    """(CPU seconds of this process, value) of f(): the parts are pure Python, and CPU time is
    not inflated by the other processes of a busy machine."""
    c0 = time.process_time()
    value = f()
    return time.process_time() - c0, value


def timed_both(f: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, value) of f()."""
    t0, c0 = time.perf_counter(), time.process_time()
    value = f()
    return time.perf_counter() - t0, time.process_time() - c0, value


_NEW_SED = [0]


def fresh_tables(case: object) -> float:
    """Seconds to build the kernel tables of `case` for SEDs not seen before (each SED shape's
    first parameter scaled by a new factor 1 + 1e-9 k: the cost after a fit step of the
    width)."""
    problem = problem_from_case(case)
    t = 0.0
    for sp in problem.species:
        mob = sp.mobility
        shape = getattr(mob, "shape", None)
        if shape is not None:
            _NEW_SED[0] += 1
            first = dataclasses.fields(shape)[0].name
            value = getattr(shape, first) * (1.0 + 1.0e-9 * _NEW_SED[0])
            mob = dataclasses.replace(mob, shape=dataclasses.replace(shape, **{first: value}))
        dt, _ = timed(mob.kernel_table)
        t += dt
    return t


def measure_once(case: object) -> dict[str, float]:
    """One round of a configuration: the simulation and its parts (seconds)."""
    total, total_cpu, res = timed_both(lambda: nppsim.simulate(case))
    d = res.diagnostics
    case_s, _ = timed(lambda: checked_case(case))
    problem_s, _ = timed(lambda: problem_from_case(case))
    result_s, _ = timed(lambda: _result_from(res, case))
    fixed_cpu = total_cpu - d["loop_cpu_s"]
    return {
        "total": total,
        "loop": d["loop_s"],
        "total_cpu": total_cpu,
        "loop_cpu": d["loop_cpu_s"],
        "fixed_cpu": fixed_cpu,
        "calls": d["loop_calls"],
        "steps": d["steps"],
        "n_times": res.n_times,
        "validate": case_s,
        "problem": problem_s,
        "table": fresh_tables(case),
        "result": result_s,
        "solver_glue": fixed_cpu - case_s - problem_s - result_s,
    }


def _result_from(res: Result, case: object) -> Result:
    """Result.from_solution as simulate calls it (the Result's arrays stand for the Solution's)."""

    class _Sol:
        x_faces_nm = res.x_faces_nm
        x_centers_nm = res.depth_nm
        species_names = res.species
        times_s = res.times_s
        fractions = res.fractions
        potential_V = res.potential_V
        stage_end_index = res.stage_end_index
        front_time_s = res.front.time_s
        front_current_A_cm2 = res.front.current_A_cm2
        front_potential_V = res.front.potential_V
        front_charge_C_cm2 = res.front.charge_C_cm2
        front_total_current_A_cm2 = res.front.total_current_A_cm2
        front_total_charge_C_cm2 = res.front.total_charge_C_cm2
        method = res.method
        diagnostics = res.diagnostics
        completed = res.completed
        message = res.message

    # as simulate passes it: the text itself, or (where Result writes it on demand) the method
    text = case.to_toml if "case_toml" in vars(Result) else case.to_toml()
    return Result.from_solution(_Sol, text, case.meta.name, 0.0)


def _inversion_case(base: object, rows: tuple) -> object:
    """`base` with the native D_table `rows`, made as `fitting.invert` makes its trial cases
    (dataclasses.replace of a validated case, marked valid where this version can)."""
    species = tuple(
        dataclasses.replace(sp, D_table=rows) if sp.name == "Li" else sp for sp in base.species
    )
    case = dataclasses.replace(base, species=species)
    mark = getattr(importlib.import_module("nppsim.case.reader"), "mark_validated", None)
    return mark(case) if mark is not None else case


def fit_rounds(repeats: int) -> list[tuple[str, dict[str, float]]]:
    """Residual evaluations of the fit path; medians over `repeats` (ms)."""
    base = nppsim.load_case(FIT_CASE).with_values(TOL_1E3)
    w0 = next(sp for sp in base.species if sp.name == "Li").sed.fwhm_eV
    d0 = 1.0e-16
    curve = MonotoneLogDCurve(INV_KNOTS, INV_LOG10_D, 1.0e-12, 0.9)
    rows0 = np.array(curve.table_rows())
    inv_base = nppsim.load_case(INV_CASE).with_values(
        {**TOL_1E3, "species.Li.sed": None, "species.Li.D_table": rows0.tolist()}
    )
    labels = ("SED width step", "foreign D step", "inversion step", "profiles only")
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in labels}
    for method in ("electroneutral", "npp"):
        fm = ForwardModel([base], method=method)
        fm.residuals([{}])  # warm up
        fm_inv = ForwardModel([inv_base], method=method)
        fm_inv.residuals([{}])
        for k in range(repeats):
            # a value never used before: the simulation (and the table of a new SED) is new
            eps = 1.0e-6 * (k + 1) * (1 if method == "npp" else -1)
            scaled = tuple((float(n), float(d) * (1.0 + eps)) for n, d in rows0)
            sed_values = {FIT_SED_KEY: w0 * (1.0 + eps)}
            d_values = {FIT_D_KEY: d0 * (1.0 + eps)}
            inv_case = _inversion_case(inv_base, scaled)
            for label, model, evaluate in (
                ("SED width step", fm, lambda fm=fm, v=sed_values: fm.residuals([v])),
                ("foreign D step", fm, lambda fm=fm, v=d_values: fm.residuals([v])),
                (
                    "inversion step",
                    fm_inv,
                    lambda fm=fm_inv, c=inv_case: fm.residual_vector(fm.profiles([c])),
                ),
            ):
                n0 = model.n_simulations
                total, total_cpu, _ = timed_both(evaluate)
                assert model.n_simulations == n0 + 1, model.last_error
                res = next(reversed(model._cache.values()))
                rows[label].append(
                    {
                        "method": method,
                        "total": total,
                        "loop": res.diagnostics["loop_s"],
                        "total_cpu": total_cpu,
                        "loop_cpu": res.diagnostics["loop_cpu_s"],
                        "calls": res.diagnostics["loop_calls"],
                    }
                )
            cases = fm.cases_with([{FIT_D_KEY: d0 * (1.0 + eps)}])
            prof, prof_cpu, _ = timed_both(lambda fm=fm, cases=cases: fm.profiles(cases))
            rows["profiles only"].append(
                {"method": method, "total": prof, "loop": 0.0, "total_cpu": prof_cpu,
                 "loop_cpu": 0.0, "calls": 0}
            )  # fmt: skip
    out = []
    for label, entries in rows.items():
        for method in ("electroneutral", "npp"):
            sel = [e for e in entries if e["method"] == method]
            med = {
                k: statistics.median(e[k] for e in sel) * (1 if k == "calls" else 1e3)
                for k in ("total", "loop", "total_cpu", "loop_cpu", "calls")
            }
            out.append((f"{label} ({method})", med))
    return out


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def profile(spec: str) -> None:
    """cProfile of 20 warm simulations of CASE:SOLVER at the 1e-3 tolerances."""
    name, solver = spec.split(":")
    case = load_variants([name])[name].with_values({**TOL_1E3, "solver.method": solver})
    nppsim.simulate(case)
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(20):
        nppsim.simulate(case)
    pr.disable()
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(30)
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (median)")
    parser.add_argument("--case", action="append", help="only these cases (label)")
    parser.add_argument("--profile", metavar="CASE:SOLVER", help="cProfile one configuration")
    parser.add_argument("--no-fit", action="store_true", help="skip the fit path")
    parser.add_argument("--json", metavar="OUT", help="also write the medians as JSON")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile)
        return 0
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    configs = configurations(load_variants(args.case))
    samples: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(configs))}
    for _ in range(args.repeats):
        for i, (_, _, _, case) in enumerate(configs):
            samples[i].append(measure_once(case))
    rows = []
    report: dict[str, object] = {"load_start": os.getloadavg(), "runs": [], "fit": []}
    for i, (label, solver, tol, _) in enumerate(configs):
        med = {k: statistics.median(s[k] for s in samples[i]) for k in samples[i][0]}
        report["runs"].append({"case": label, "solver": solver, "tol": tol, **med})
        rows.append(
            [label, solver, tol, f"{med['n_times']:.0f}", f"{med['steps']:.0f}",
             f"{med['calls']:.0f}", f"{1e3 * med['total']:.2f}", f"{1e3 * med['loop']:.2f}",
             f"{1e3 * med['total_cpu']:.2f}", f"{1e3 * med['loop_cpu']:.2f}",
             f"{1e3 * med['fixed_cpu']:.2f}", f"{100 * med['fixed_cpu'] / med['total_cpu']:.0f}%",
             f"{1e3 * med['validate']:.2f}", f"{1e3 * med['problem']:.2f}",
             f"{1e3 * med['table']:.2f}", f"{1e3 * med['result']:.2f}",
             f"{1e3 * med['solver_glue']:.2f}"]
        )  # fmt: skip
    print("\nOne warm simulation (nppsim.simulate), ms, median of", args.repeats, "rounds")
    print("(wall: total, loop; the rest CPU time of this process)")
    print_table(
        ["case", "solver", "tol", "snaps", "steps", "calls", "total", "loop", "total_cpu",
         "loop_cpu", "fixed_cpu", "fixed%", "validate", "problem", "table(new SED)", "result",
         "solver+glue"],
        rows,
    )  # fmt: skip
    if not args.no_fit:
        print(f"\nFit path ({FIT_CASE.name}, 1e-3 tolerances): one residual evaluation, ms")
        fit = fit_rounds(args.repeats)
        report["fit"] = [{"evaluation": label, **m} for label, m in fit]
        print_table(
            ["evaluation", "total", "loop", "total_cpu", "loop_cpu", "rest_cpu", "calls"],
            [
                [label, f"{m['total']:.2f}", f"{m['loop']:.2f}", f"{m['total_cpu']:.2f}",
                 f"{m['loop_cpu']:.2f}", f"{m['total_cpu'] - m['loop_cpu']:.2f}",
                 f"{m['calls']:.0f}"]
                for label, m in fit
            ],
        )  # fmt: skip
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        report["load_end"] = os.getloadavg()
        Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
