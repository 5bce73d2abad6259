"""Steps and Newton iterations of every shipped case with both solvers (issue 19's before/after
table of the time integrator).

    python benchmarks/steps.py [--json OUT.json]

Prints per case and solver: cells, accepted and rejected steps, Newton iterations, steps per
BDF order (orders 1..5; "-" before the variable-order integrator) and the CPU time of one warm
run (s, the median of three; process time, so that other work on the machine counts less).
Cases the electroneutral solver cannot run (several stages with another control, a
stage_start reference) show its reason. Run it on two commits to compare them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nppsim  # noqa: E402
from nppsim.errors import InputError, SimulationError  # noqa: E402

CASES = sorted((ROOT / "cases").glob("*.toml")) + sorted(
    (ROOT / "cases" / "synthetic").glob("*.toml")
)
SOLVERS = ("npp", "electroneutral")
REPEATS = 3


def measure(path: Path, method: str) -> dict:
    """One row: counters of a warm run and the median CPU time of REPEATS runs."""
    case = nppsim.load_case(path)
    try:
        res = nppsim.simulate(case, method=method)  # warm-up (compiles on a cold cache)
    except (SimulationError, InputError) as exc:
        return {"case": path.stem, "solver": method, "error": str(exc).splitlines()[0][:60]}
    cpu = []
    for _ in range(REPEATS):
        t0 = time.process_time()
        res = nppsim.simulate(case, method=method)
        cpu.append(time.process_time() - t0)
    d = res.diagnostics
    return {
        "case": path.stem,
        "solver": method,
        "cells": res.n_cells,
        "steps": d["steps"],
        "rejected": d["rejected_steps"],
        "newton": d["newton_iterations"],
        "per_order": d.get("steps_per_order"),
        "cpu_s": statistics.median(cpu),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    rows = [measure(p, m) for p in CASES for m in SOLVERS]
    print(f"{'case':<24} {'solver':<15} {'cells':>6} {'steps':>6} {'rej':>4} {'newton':>7} "
          f"{'orders 1-5':<24} {'cpu_s':>7}")  # fmt: skip
    for r in rows:
        if "error" in r:
            print(f"{r['case']:<24} {r['solver']:<15} not run: {r['error']}")
            continue
        orders = "-" if r["per_order"] is None else "/".join(str(v) for v in r["per_order"])
        print(f"{r['case']:<24} {r['solver']:<15} {r['cells']:>6} {r['steps']:>6} "
              f"{r['rejected']:>4} {r['newton']:>7} {orders:<24} {r['cpu_s']:>7.3f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
