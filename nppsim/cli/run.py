"""``nppsim run``: simulate a case, save the result (HDF5, CSV, figure), print a summary."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from nppsim.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    FRONT_LEVEL,
    announce_cold_compile,
    case_inputs,
    check_hdf5_suffix,
    check_paths,
    err,
    load_case_for_run,
    one_line,
    out,
    partial_path,
)
from nppsim.errors import SimulationError

#: output file of ``nppsim run`` without a case file (in the current directory)
DEFAULT_RUN_OUTPUT = "nppsim_default.h5"
#: compile times (s) below this are not worth a word in the summary (loading from the cache)
COMPILE_REPORT_MIN_S = 0.5


def _run_output_path(args: argparse.Namespace) -> Path:
    if args.output:
        return Path(args.output)
    if args.case:
        return Path.cwd() / f"{Path(args.case).stem}.h5"
    return Path.cwd() / DEFAULT_RUN_OUTPUT


def _print_summary(case: Any, result: Any) -> None:
    diag = result.diagnostics
    out(f"case: {result.case_name}")
    out(
        f"solver: {result.method}, {result.n_cells} cells, {len(case.stages)} stage(s), "
        f"{result.n_times} snapshots"
    )
    out(
        f"steps: {diag.get('steps', '?')} accepted, {diag.get('rejected_steps', '?')} rejected; "
        f"Newton iterations: {diag.get('newton_iterations', '?')}"
    )
    compile_s = float(diag.get("compile_s", 0.0) or 0.0)
    if compile_s >= COMPILE_REPORT_MIN_S:
        out(
            f"wall time: {result.wall_s:.3g} s, of which {compile_s:.3g} s compiling the numba "
            "kernels (once: they are cached for later runs)"
        )
    else:
        out(f"wall time: {result.wall_s:.3g} s")
    if result.n_times:
        for sp in case.species:
            if sp.role != "foreign" or sp.name not in result.species:
                continue
            depth = result.front_depth_nm(sp.name, FRONT_LEVEL)
            shown = "not reached" if math.isnan(depth) else f"{depth:.4g} nm"
            out(
                f"front ({sp.name} fraction = {FRONT_LEVEL:g}) at t = "
                f"{result.times_s[-1]:.4g} s: {shown}"
            )


def _save_partial(result: Any, output: Path) -> None:
    path = partial_path(output)
    try:
        result.save(path)
    except OSError as exc:
        err(f"nppsim: could not save the partial result to {path}: {one_line(exc)}")
        return
    err(f"nppsim: partial result saved to {path}")


def cmd(args: argparse.Namespace) -> int:
    """``nppsim run``: simulate, save HDF5 (and optionally CSV and a figure), print a summary."""
    output = _run_output_path(args)
    csv_path = Path(args.csv) if args.csv else None
    plot_path = Path(args.plot) if args.plot else None
    case = load_case_for_run(args)
    data = ()
    if plot_path is not None and getattr(case, "data", ()):
        from nppsim.profiles import profile_from_spec
        from nppsim.quantify import check_fractions, site_density_limit

        # read before simulating: a broken data block is an input error (exit 2)
        data = tuple(profile_from_spec(d, case.native.name) for d in case.data)
        for d, prof in zip(case.data, data, strict=True):
            check_fractions(
                str(prof.file), prof.values, prof.species, d.normalize, site_density_limit(case)
            )
    # a result file that is missing, damaged or does not fit the case: InputError (exit 2)
    initial = Path(args.initial) if args.initial else None
    check_paths(
        [
            ("result", output),
            ("partial result", partial_path(output)),
            ("profile", csv_path),
            ("figure", plot_path),
        ],
        [*case_inputs([case]), ("initial result", initial)],
    )
    # formats after the collisions: "would overwrite the case file" says more than "not .h5"
    check_hdf5_suffix(output, "result")
    if plot_path is not None:
        from nppsim.plot import figure_format

        figure_format(plot_path)
    from nppsim.simulate import simulate

    progress = not args.quiet and sys.stderr.isatty()
    if not args.quiet:
        announce_cold_compile(args.solver or case.solver.method)
    try:
        result = simulate(case, method=args.solver, progress=progress, initial=initial)
    except SimulationError as exc:
        partial = exc.partial
        if partial is not None and getattr(partial, "diagnostics", {}).get("interrupted"):
            err(f"nppsim: {one_line(exc)}")
            _save_partial(partial, output)
            return EXIT_INTERRUPTED
        err(f"nppsim: simulation failed: {one_line(exc)}")
        if partial is not None:
            _save_partial(partial, output)
        return EXIT_FAILED

    if not result.completed:
        err(f"nppsim: simulation stopped early: {one_line(result.message)}")
        _save_partial(result, output)
        return EXIT_FAILED

    written = [result.save(output)]
    if csv_path is not None:
        written.append(result.save_csv(csv_path))
    if plot_path is not None:
        from nppsim.plot import plot_result

        plot_result(result, plot_path, data=data)
        written.append(plot_path)
    if not args.quiet:
        _print_summary(case, result)
    for path in written:
        out(f"wrote {path}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``nppsim run`` with the subparsers `sub`."""
    p = sub.add_parser(
        "run",
        help="simulate a case and save the result (HDF5)",
        description="Simulate CASE (default: the embedded K+ on Li3B7O12-like case).",
    )
    p.add_argument("case", nargs="?", metavar="CASE", help="case file (TOML)")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.h5",
        help="result file (default: <case stem>.h5, or nppsim_default.h5, in the current folder)",
    )
    p.add_argument("--csv", metavar="PROFILE.csv", help="also write the final profile as CSV")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a case value, e.g. --set sample.temperature_K=400 (repeatable)",
    )
    p.add_argument(
        "--solver", choices=("npp", "electroneutral"), help="override the case's solver.method"
    )
    p.add_argument(
        "--initial",
        metavar="RESULT.h5",
        help=(
            "start from the last snapshot of a saved result instead of the pristine sample "
            "(e.g. the second CAIT of a sequential Double-CAIT on the first one's result)"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--plot", metavar="FIG.png", help="also draw the result (png, pdf, svg)")
    p.set_defaults(handler=cmd)
