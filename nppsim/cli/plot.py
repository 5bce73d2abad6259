"""``nppsim plot``: draw a saved result, fit, inversion or sweep."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from nppsim.cli.common import (
    EXIT_OK,
    check_paths,
    out,
)
from nppsim.errors import InputError


def _is_fit_file(path: Path) -> bool:
    if path.suffix.lower() == ".json":
        return True
    if path.suffix.lower() in (".h5", ".hdf5") and path.is_file():
        try:
            import h5py

            with h5py.File(path, "r") as h5:
                return "fit_json" in h5.attrs
        except (OSError, KeyError, RuntimeError, ValueError):
            return False
    return False


#: suffixes of measured-profile exports (text), which ``nppsim data`` draws
_PROFILE_SUFFIXES = (".txt", ".csv", ".tsv", ".dat", ".asc")


def _refuse_text_input(source: Path) -> None:
    """InputError with the command that draws it, for a case file or a measured profile."""
    from nppsim.errors import InputError

    suffix = source.suffix.lower()
    if suffix == ".toml":
        raise InputError(
            f"{source}: a case file, not a result: draw its simulation with "
            "`nppsim run CASE --plot FIG.png`, its data blocks with "
            "`nppsim data CASE --plot FIG.png`"
        )
    if suffix in _PROFILE_SUFFIXES:
        raise InputError(
            f"{source}: a measured profile, not a result: draw it with "
            "`nppsim data CASE --plot FIG.png` (the case's [[data]] block says how to read it)"
        )


def cmd(args: argparse.Namespace) -> int:
    """``nppsim plot``: draw a saved result, fit or sweep to a figure file."""
    from nppsim.plot import figure_format, plot_fit, plot_result
    from nppsim.result import load_result
    from nppsim.sweep import is_sweep_file

    source = Path(args.result)
    output = Path(args.output) if args.output else source.with_suffix(".png")
    figure_format(output)
    _refuse_text_input(source)
    check_paths([("figure", output)], [("plotted file", source)])
    if args.xmax is not None and not (math.isfinite(args.xmax) and args.xmax > 0):
        raise InputError(f"--xmax: must be a depth > 0 nm, got {args.xmax:g}")
    options = {"scale": args.scale, "x_max_nm": args.xmax}
    from fitting.inversion_result import is_inversion_file

    if is_inversion_file(source):
        from fitting.inversion_result import load_inversion
        from nppsim.plot_landscape import plot_inversion

        plot_inversion(load_inversion(source), output)
    elif _is_fit_file(source):
        from fitting.result import load_fit

        plot_fit(load_fit(source), output, **options)
    elif is_sweep_file(source):
        from nppsim.plot import plot_sweep
        from nppsim.sweep import load_sweep

        plot_sweep(load_sweep(source), output, **options)
    else:
        plot_result(load_result(source), output, **options)
    out(f"wrote {output}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``nppsim plot`` with the subparsers `sub`."""
    p = sub.add_parser(
        "plot",
        help="draw a saved result, fit or sweep",
        description=(
            "Draw a result file written by run, a fit written by fit (JSON or .h5), an "
            "inversion written by invert (JSON: profiles, D(n) with its band, SED and PSED), or "
            "a sweep file written by sweep."
        ),
    )
    p.add_argument(
        "result",
        metavar="RESULT.h5|FIT.json|INV.json|SWEEP.h5",
        help="file written by nppsim run, nppsim fit, nppsim invert or nppsim sweep",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FIGURE.png",
        help="figure file: .png, or .pdf/.svg for vector output (default: RESULT with .png)",
    )
    scale = p.add_mutually_exclusive_group()
    scale.add_argument(
        "--log",
        dest="scale",
        action="store_const",
        const="log",
        help="logarithmic fraction axes (default when the profiles hold fractions below 1 %%)",
    )
    scale.add_argument(
        "--linear", dest="scale", action="store_const", const="linear", help="linear fraction axes"
    )
    p.add_argument(
        "--xmax",
        type=float,
        metavar="NM",
        help="right end of the depth axes (nm; default: 1.5x the depth the front reaches)",
    )
    p.set_defaults(handler=cmd, scale=None)
