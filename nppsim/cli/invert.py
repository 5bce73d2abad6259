"""``nppsim invert``: invert measured profiles for the native D(n) and its PSED."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nppsim.cli.common import case_inputs, check_paths, finish_optimisation
from nppsim.cli.fit import _FitProgress
from nppsim.errors import InputError


def parse_knots(text: str) -> int | list[float]:
    """``--knots``: a number of knots (``8``) or comma-separated fractions (``0.1,0.3,0.6``)."""
    t = text.strip()
    try:
        if "," not in t and "." not in t and "e" not in t.lower():
            return int(t)
        return [float(x) for x in t.split(",") if x.strip()]
    except ValueError:
        raise InputError(
            f"--knots {text!r}: expected a number of knots or comma-separated fractions"
        ) from None


def cmd(args: argparse.Namespace) -> int:
    """``nppsim invert``: invert the cases' profiles, write INV.json, print the report."""
    from fitting.invert import invert
    from nppsim.case import load_case, parse_assignment

    output = (
        Path(args.output) if args.output else Path.cwd() / f"{Path(args.cases[0]).stem}_inv.json"
    )
    plot_path = Path(args.plot) if args.plot else None
    knots = parse_knots(args.knots)
    values = dict(parse_assignment(a) for a in args.set)
    cases = [load_case(c) for c in args.cases]
    if values:
        cases = [c.with_values(values) for c in cases]
    check_paths([("inversion", output), ("figure", plot_path)], case_inputs(cases))
    # formats after the collisions: "would overwrite the data file" says more than "not .json"
    if output.suffix.lower() != ".json":
        raise InputError(f"{output}: the inversion is written as JSON (use a .json name)")
    if plot_path is not None:
        from nppsim.plot import figure_format

        figure_format(plot_path)
    progress = _FitProgress(not args.quiet and sys.stderr.isatty())
    try:
        result = invert(
            cases,
            args.species,
            knots,
            args.split_below,
            args.free,
            args.shared,
            regularization=args.lam,
            method=args.solver,
            progress=progress,
        )
    finally:
        progress.close()
    result.save(output)
    if plot_path is not None:
        from nppsim.plot_landscape import plot_inversion

        plot_inversion(result, plot_path)
    return finish_optimisation(result, [output, plot_path], "inversion", "best curve", args.quiet)


def add_parser(sub: Any) -> None:
    """Register ``nppsim invert`` with the subparsers `sub`."""
    p = sub.add_parser(
        "invert",
        help="invert measured profiles for the native D(n) and its populated SED",
        description=(
            "Fit D(n) of the native species as a free-form monotone curve (log D at knots, "
            "pinned to D_ref at the pristine density) jointly to every [[data]] block of every "
            "case, with the --free case values; report the curve with its 68 %% band, the "
            "fraction range the data cover and the populated SED (PSED) with its FWHM."
        ),
    )
    p.add_argument("cases", nargs="+", metavar="CASE", help="case files (TOML) with [[data]]")
    p.add_argument(
        "--species", default="Li", metavar="X", help="native species to invert (default Li)"
    )
    p.add_argument(
        "--knots",
        default="6",
        metavar="N|F1,F2,...",
        help="number of knots (default 6, uniform in the Gaussian quantile of the filling from "
        "the lowest native fraction of the data) or their fractions of n_ref in (0, 1]",
    )
    p.add_argument(
        "--split-below",
        type=float,
        default=None,
        metavar="F",
        help="give each case its own curve below the fraction F (default: one curve)",
    )
    p.add_argument(
        "--free",
        action="append",
        default=[],
        metavar="KEY[=LOW:HIGH]",
        help="case value fitted with the curve, e.g. species.K.D_cm2_s (repeatable)",
    )
    p.add_argument(
        "--shared",
        action="append",
        default=[],
        metavar="KEY",
        help="fit KEY with one value across all cases (repeatable)",
    )
    p.add_argument(
        "--lambda",
        dest="lam",
        type=float,
        default=None,
        metavar="L",
        help="fixed smoothness weight (default: chosen by GCV, one-standard-error rule)",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a value in every case before inverting (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "-o", "--output", metavar="INV.json",
        help="inversion result, JSON (default: <first case stem>_inv.json here)",
    )  # fmt: skip
    p.add_argument(
        "--solver",
        choices=("electroneutral", "npp"),
        default="electroneutral",
        help="solver of the forward model (default electroneutral, fast)",
    )
    p.add_argument("--plot", metavar="FIG.png", help="also draw the landscape figure")
    p.add_argument("--quiet", action="store_true", help="no progress display and no report")
    p.set_defaults(handler=cmd)
