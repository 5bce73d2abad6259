"""``nppsim export``: write the tables of a saved result, fit or sweep as CSV files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nppsim.cli.common import EXIT_OK, out


def cmd(args: argparse.Namespace) -> int:
    """``nppsim export FILE --csv DIR``: every table of FILE as CSV in DIR; prints the paths."""
    from nppsim.cli.plot import _is_fit_file
    from nppsim.export import export_fit, export_result, export_sweep
    from nppsim.sweep import is_sweep_file

    source = Path(args.source)
    folder = Path(args.csv)
    if folder.exists() and not folder.is_dir():
        from nppsim.errors import InputError

        # an existing file (the exported file itself, say) is never replaced by a folder
        raise InputError(f"{folder}: --csv must name a folder, and this is a file")
    if _is_fit_file(source):
        from fitting.result import load_fit

        written = export_fit(load_fit(source), args.csv)
    elif is_sweep_file(source):
        from nppsim.sweep import load_sweep

        written = export_sweep(load_sweep(source), args.csv)
    else:
        from nppsim.result import load_result

        written = export_result(load_result(source), args.csv)
    for path in written:
        out(f"wrote {path}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``nppsim export`` with the subparsers `sub`."""
    p = sub.add_parser(
        "export",
        help="write every table of a result, fit or sweep as CSV",
        description=(
            "Write the tables of a result (all snapshots, the final profile, the front "
            "history), a fit (fitted values, measured and fitted profiles) or a sweep (the "
            "table of points with their metrics, the final profiles) as CSV files with the "
            "units in the column names, for spreadsheets, Origin or pandas."
        ),
    )
    p.add_argument(
        "source",
        metavar="RESULT.h5|FIT.json|SWEEP.h5",
        help="file written by nppsim run, nppsim fit or nppsim sweep",
    )
    p.add_argument(
        "--csv",
        required=True,
        metavar="DIR",
        help="folder for the CSV files (created if missing; files of the same name replaced)",
    )
    p.set_defaults(handler=cmd)
