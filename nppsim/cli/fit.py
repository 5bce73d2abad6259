"""``nppsim fit``: fit cases to their measured profiles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nppsim.cli.common import case_inputs, check_paths, finish_optimisation
from nppsim.errors import InputError

#: what ``nppsim fit -o`` writes: the fit result (JSON or HDF5) or the fitted curves (CSV)
FIT_SUFFIXES = (".json", ".h5", ".hdf5", ".csv")
#: columns of the CSV of fitted curves, one row per (block, species, depth)
FIT_CSV_COLUMNS = ("case", "data_block", "species", "depth_nm", "measured", "sigma", "model")


def write_fit_csv(result: Any, path: Path) -> Path:
    """The fitted curves as CSV (atomically): one row per data block, species and measured
    depth with the measured fraction, its uncertainty and the best-fit model (fractions of
    n_bulk, the model blurred with the depth resolution)."""
    import csv

    from nppsim.fileio import atomic_write

    with atomic_write(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIT_CSV_COLUMNS)
        for p in result.profiles:
            for s in p.species:
                for x, m, e, y in zip(
                    p.depth_nm, p.measured[s], p.sigma[s], p.model[s], strict=True
                ):
                    w.writerow([p.case_name, p.data_index, s, repr(float(x)), repr(float(m)),
                                repr(float(e)), repr(float(y))])  # fmt: skip
    return path


class _FitProgress:
    """One self-updating line on stderr: simulations run and the best chi^2 so far."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, n_simulations: int, best_chi2: float) -> None:
        if not self.enabled:
            return
        sys.stderr.write(f"\rfit: {n_simulations} simulations, best chi-square {best_chi2:.6g}  ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def cmd(args: argparse.Namespace) -> int:
    """``nppsim fit``: fit cases to their data, write the fit (JSON/HDF5), print the report."""
    from fitting.fit import fit
    from nppsim.case import load_case, parse_assignment

    output = (
        Path(args.output) if args.output else Path.cwd() / f"{Path(args.cases[0]).stem}_fit.json"
    )
    plot_path = Path(args.plot) if args.plot else None
    if args.starts < 1:
        raise InputError(f"--starts: must be >= 1, got {args.starts}")
    values = dict(parse_assignment(a) for a in args.set)
    cases = [load_case(c) for c in args.cases]
    if values:
        cases = [c.with_values(values) for c in cases]
    check_paths([("fit", output), ("figure", plot_path)], case_inputs(cases))
    # formats after the collisions: "would overwrite the data file" says more than "not .json"
    suffix = output.suffix.lower()
    if suffix not in FIT_SUFFIXES:
        raise InputError(
            f"{output}: cannot write a fit as {suffix or 'a file without suffix'!r}: use .json "
            "(the fit result), .h5 (the same in HDF5) or .csv (the fitted curves)"
        )
    if plot_path is not None:
        from nppsim.plot import figure_format

        figure_format(plot_path)
    progress = _FitProgress(not args.quiet and sys.stderr.isatty())
    try:
        result = fit(
            cases,
            args.free,
            args.shared,
            method=args.solver,
            starts=args.starts,
            check=not args.no_check,
            profile=args.profile,
            progress=progress,
            jacobian=args.jacobian,
            prefit=not args.no_prefit,
        )
    finally:
        progress.close()
    if suffix == ".csv":
        write_fit_csv(result, output)
    else:
        result.save(output)
    if plot_path is not None and result.profiles:
        from nppsim.plot import plot_fit

        plot_fit(result, plot_path)
    drawn = plot_path if result.profiles else None
    return finish_optimisation(result, [output, drawn], "fit", "best point", args.quiet)


def add_parser(sub: Any) -> None:
    """Register ``nppsim fit`` with the subparsers `sub`."""
    p = sub.add_parser(
        "fit",
        help="fit cases to their measured profiles ([[data]] blocks)",
        description=(
            "Vary the --free case values until the simulated profiles match the measured ones "
            "of every [[data]] block; several cases make a joint fit (--shared keys take one "
            "value for all)."
        ),
    )
    p.add_argument("cases", nargs="+", metavar="CASE", help="case files (TOML) with [[data]]")
    p.add_argument(
        "--free",
        action="append",
        default=[],
        required=True,
        metavar="KEY[=LOW:HIGH]",
        help="free parameter, e.g. species.K.D_cm2_s=1e-18:1e-14; '*' stands for any species "
        "name (repeatable)",
    )
    p.add_argument(
        "--shared",
        action="append",
        default=[],
        metavar="KEY",
        help="fit KEY with one value across all cases (repeatable)",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a value in every case before fitting (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "-o", "--output", metavar="FIT.json",
        help="fit result, .json or .h5, or .csv for the fitted curves (default: <first case "
        "stem>_fit.json here)",
    )  # fmt: skip
    p.add_argument(
        "--solver",
        choices=("electroneutral", "npp"),
        default="npp",
        help="solver during the fit (default npp, the full solver, after an electroneutral "
        "prefit; electroneutral: the reduced model throughout, faster, its optimum checked "
        "with npp)",
    )
    p.add_argument(
        "--no-prefit",
        action="store_true",
        help="with --solver npp, search with the full solver from the start (no electroneutral "
        "prefit)",
    )
    p.add_argument(
        "--jacobian",
        choices=("auto", "differences"),
        default="auto",
        help="auto: from forward sensitivities (one simulation per point "
        "instead of one more per parameter) when every free key allows them; differences: "
        "finite differences",
    )
    p.add_argument("--starts", type=int, default=1, metavar="N", help="number of starts")
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="KEY",
        help="also compute the profile-likelihood interval of KEY (repeatable; slow)",
    )
    p.add_argument(
        "--no-check", action="store_true", help="skip the full-solver check of the optimum"
    )
    p.add_argument("--plot", metavar="FIG.png", help="also draw data vs fit")
    p.add_argument("--quiet", action="store_true", help="no progress display and no report")
    p.set_defaults(handler=cmd)
