"""Benchmarks of nppsim: speed, accuracy, scaling and start-up cost of the solvers.

    python benchmarks/run.py [--quick] [--json OUT.json] [--repeats N] [--tables 1,2,...]

Prints five plain-text tables (see benchmarks/README.md for what each one means), each measured
and printed by a module of its own (common.py holds the shared pieces):
1. standard cases x solvers: cells, steps, Newton iterations, warm wall time, cold compile time,
   error against a converged reference, and the fastest tolerance that reaches 1e-3 (standard.py);
2. baseline: nppsim against scipy solve_ivp (BDF, LSODA) as a method of lines on the same scheme
   (benchmarks/baseline_scipy.py), each at its fastest rtol that reaches 1e-3, timed in
   interleaved rounds (scipy_table.py);
3. scaling of the cost per step and per Newton iteration with the number of cells (scaling.py);
4. work-precision: error against wall time over a range of tolerances (standard.py);
5. a fresh `nppsim run` process, with a warm and with an empty numba cache (cli_timing.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    # run as a script: make the `benchmarks` modules importable from the repository root
    sys.path.insert(0, str(ROOT))

from benchmarks.cli_timing import cli_timing, report_cli  # noqa: E402
from benchmarks.common import (  # noqa: E402
    REFERENCE_SETTINGS,
    TARGET_ERROR,
    available_solvers,
    jsonable,
    machine_info,
    opt,
)
from benchmarks.scaling import SCALING_CELLS, report_scaling, scaling  # noqa: E402
from benchmarks.scipy_table import equal_accuracy, report_equal_accuracy  # noqa: E402
from benchmarks.standard import report_standard, report_work_precision, standard_cases  # noqa: E402

#: the tables of the report, by number
ALL_TABLES = (1, 2, 3, 4, 5)


def report(results: dict) -> str:
    """The plain-text report of `results` (the dict `main` writes as JSON)."""
    m = results["machine"]
    tables = results["tables"]
    out = [
        f"nppsim benchmarks, {m['date']}{' (--quick)' if results['quick'] else ''}",
        f"machine: {m['cpu_count']} cores (os.cpu_count), {m['processor']}; load average "
        f"{opt(m['load_average_1min'], '.2f')} at start, "
        f"{opt(results.get('load_average_end'), '.2f')} at the end",
        "versions: nppsim " + m["nppsim"] + ", "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"source: git {m['git']}",
        "sha256 of solvers/: "
        + ", ".join(f"{k} {v}" for k, v in m["solver_sources_sha256"].items()),
        f"timings: median of {results['repeats']} (tolerance scans and scaling: "
        f"{min(results['repeats'], 3)}; table 2: {results['repeats']} interleaved rounds), "
        "numba cache warm unless stated",
    ]  # fmt: skip
    if tables != list(ALL_TABLES):
        out.append(f"tables: {', '.join(map(str, tables))} (--tables)")
    out += [f"skipped solver {k}: {v}" for k, v in results["skipped_solvers"].items()]
    for number, lines in (
        (1, report_standard),
        (2, report_equal_accuracy),
        (3, report_scaling),
        (4, report_work_precision),
        (5, report_cli),
    ):
        if number in tables:
            out += lines(results)
    out += ["", f"total benchmark time {results['total_s']:.0f} s"]
    return "\n".join(out)


def _tables(text: str) -> list[int]:
    """--tables: a comma-separated list of table numbers."""
    try:
        tables = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of table numbers: {text!r}") from None
    if not tables or not set(tables) <= set(ALL_TABLES):
        raise argparse.ArgumentTypeError(f"tables are numbered 1 to 5, not {text!r}")
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced run (< 60 s)")
    parser.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    parser.add_argument(
        "--tables", type=_tables, default=list(ALL_TABLES), metavar="1,2,...",
        help="only these tables (default: all five)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    tables = args.tables
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

    results = {
        "machine": machine,
        "quick": args.quick,
        "repeats": repeats,
        "tables": tables,
        "skipped_solvers": skipped,
        "durations_s": {"standard": standard_duration},
        "reference_settings": REFERENCE_SETTINGS,
        "target_error": TARGET_ERROR,
    }
    if 1 in tables or 4 in tables:
        progress("standard cases, references, tolerance scans")
        results["standard"], results["work_precision"] = standard_cases(
            solvers, repeats, args.quick, common
        )
    if 2 in tables:
        progress("baseline at equal accuracy")
        results["equal_accuracy"] = equal_accuracy(
            solvers, values=common, rounds=repeats, progress=progress
        )
    if 3 in tables:
        progress("scaling")
        cells = (1_000, 10_000, 50_000) if args.quick else SCALING_CELLS
        results["scaling"] = scaling(solvers, min(repeats, 3), cells)
    if 5 in tables:
        progress("fresh-process command line")
        results["cli"] = cli_timing(1 if args.quick else 3, cold=not args.quick, values=common)
    results["total_s"] = time.perf_counter() - t_start
    results["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(report(results))
    if args.json:
        text = json.dumps(jsonable(results), indent=1, allow_nan=False)
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
