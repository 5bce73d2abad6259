"""``nppsim plot``: draw a saved result, fit, inversion or sweep."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nppsim.cli.common import (
    EXIT_OK,
    check_output_path,
    out,
)


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


def cmd(args: argparse.Namespace) -> int:
    """``nppsim plot``: draw a saved result, fit or sweep to a figure file."""
    from nppsim.plot import figure_format, plot_fit, plot_result
    from nppsim.result import load_result
    from nppsim.sweep import is_sweep_file

    source = Path(args.result)
    output = Path(args.output) if args.output else source.with_suffix(".png")
    check_output_path(output, "figure")
    figure_format(output)
    from fitting.inversion_result import is_inversion_file

    if is_inversion_file(source):
        from fitting.inversion_result import load_inversion
        from nppsim.plot_landscape import plot_inversion

        plot_inversion(load_inversion(source), output)
    elif _is_fit_file(source):
        from fitting.result import load_fit

        plot_fit(load_fit(source), output)
    elif is_sweep_file(source):
        from nppsim.plot import plot_sweep
        from nppsim.sweep import load_sweep

        plot_sweep(load_sweep(source), output)
    else:
        plot_result(load_result(source), output)
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
        "-o", "--output", metavar="FIGURE.png", help="figure file (default: RESULT with .png)"
    )
    p.set_defaults(handler=cmd)
