"""``nppsim sweep``: simulate a case over a grid of values."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nppsim.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    case_inputs,
    check_hdf5_suffix,
    check_paths,
    err,
    load_case_for_run,
    one_line,
    out,
    partial_path,
)
from nppsim.errors import InputError

#: stands in the --vary list for a --log
LOG_MARKER = object()


class _LogSpacing(argparse.Action):
    """``--log``: marks the --vary given just before it for geometric spacing."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, self.dest, None) or [])
        items.append(LOG_MARKER)
        setattr(namespace, self.dest, items)


def _parse_number(text: str, option: str) -> int | float:
    text = text.strip()
    try:
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is not a number") from None


def parse_vary(items: Sequence[object]) -> dict[str, list[int | float]]:
    """The --vary options (with LOG_MARKER for each --log) as {key: values}, in order.

    ``KEY=START:STOP:NUM``: NUM values from START to STOP, evenly spaced, or geometrically when a
    --log follows; ``KEY=V1,V2,...``: the values as given. InputError naming the option if the
    syntax is wrong, a key repeats, or --log does not follow a START:STOP:NUM range.
    """
    values: dict[str, list[int | float]] = {}
    ranges: dict[str, tuple[float, float, int]] = {}
    last: str | None = None
    for item in items:
        if item is LOG_MARKER:
            if last is None:
                raise InputError("--log: must follow a --vary KEY=START:STOP:NUM")
            if last not in ranges:
                raise InputError(
                    f"--log after --vary {last}=...: --log applies to a START:STOP:NUM range, "
                    "not to a list"
                )
            start, stop, num = ranges.pop(last)
            if not (start > 0 and stop > 0):
                raise InputError(
                    f"--vary {last}={start:g}:{stop:g}:{num} --log: START and STOP must be > 0"
                )
            values[last] = np.geomspace(start, stop, num).tolist()
            last = None
            continue
        text = str(item)
        option = f"--vary {text}"
        key, sep, spec = text.partition("=")
        key, spec = key.strip(), spec.strip()
        if not sep or not key or not spec:
            raise InputError(f"{option}: expected KEY=START:STOP:NUM or KEY=V1,V2,...")
        if key in values:
            raise InputError(f"{option}: {key} is varied twice")
        if ":" in spec:
            parts = spec.split(":")
            if len(parts) != 3:
                raise InputError(f"{option}: expected KEY=START:STOP:NUM (three numbers)")
            start, stop = (float(_parse_number(x, option)) for x in parts[:2])
            num = _parse_number(parts[2], option)
            if not isinstance(num, int) or num < 1:
                raise InputError(f"{option}: NUM must be a whole number >= 1, got {parts[2]!r}")
            if not (math.isfinite(start) and math.isfinite(stop)):
                raise InputError(f"{option}: START and STOP must be finite")
            ranges[key] = (start, stop, num)
            values[key] = np.linspace(start, stop, num).tolist()
        else:
            entries = spec.split(",")
            if any(not e.strip() for e in entries):
                raise InputError(f"{option}: empty value in the list")
            values[key] = [_parse_number(e, option) for e in entries]
        last = key
    if not values:
        raise InputError("--vary: give at least one KEY=START:STOP:NUM or KEY=V1,V2,...")
    return values


def _dask_executor(address: str) -> tuple[Any, Any]:
    """(client, executor) of the Dask scheduler at `address`; InputError if it cannot be used."""
    try:
        import distributed
    except ImportError:
        raise InputError(
            f"--scheduler {address}: needs the Dask 'distributed' package "
            '(pip install "nppsim[dask]")'
        ) from None
    try:
        client = distributed.Client(address)
    except (OSError, ValueError) as exc:
        raise InputError(f"--scheduler {address}: cannot connect ({one_line(exc)})") from None
    return client, client.get_executor()


def cmd(args: argparse.Namespace) -> int:
    """``nppsim sweep``: simulate a case over a grid of values, save one HDF5 file, print a
    table of the points."""
    from nppsim.sweep import SweepInterrupted, sweep

    output = Path(args.output) if args.output else Path.cwd() / f"{Path(args.case).stem}_sweep.h5"
    plot_path = Path(args.plot) if args.plot else None
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers: must be >= 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise InputError("--workers and --scheduler: give one (the cluster has its own workers)")
    values = parse_vary(args.vary)
    case = load_case_for_run(args)
    from nppsim.errors import CaseError

    for key in values:
        try:
            case.get_value(key)
        except CaseError as exc:
            raise InputError(f"--vary {key}: {one_line(exc)}") from None

    check_paths(
        [("sweep", output), ("partial sweep", partial_path(output)), ("figure", plot_path)],
        case_inputs([case]),
    )
    # formats after the collisions: "would overwrite the case file" says more than "not .h5"
    check_hdf5_suffix(output, "sweep")
    if plot_path is not None:
        from nppsim.plot import figure_format

        figure_format(plot_path)
    client, executor = _dask_executor(args.scheduler) if args.scheduler else (None, None)
    progress = not args.quiet and sys.stderr.isatty()
    try:
        result = sweep(
            case,
            values,
            executor=executor,
            method=args.solver,
            workers=args.workers,
            progress=progress,
        )
    except SweepInterrupted as exc:
        partial = exc.partial
        path = partial_path(output)
        partial.save(path)
        done = partial.n_points - partial.n_not_run
        err(f"nppsim: interrupted: {done} of {partial.n_points} points finished; saved to {path}")
        return EXIT_INTERRUPTED
    finally:
        if client is not None:
            client.close()

    result.save(output)
    if plot_path is not None:
        from nppsim.plot import plot_sweep

        plot_sweep(result, plot_path)
    if not args.quiet:
        out(result.summary())
        out(f"{result.n_points} points in {result.wall_s:.3g} s ({result.method} solver)")
    out(f"wrote {output}")
    if plot_path is not None:
        out(f"wrote {plot_path}")
    if result.n_failed == result.n_points:
        err(f"nppsim: all {result.n_points} points failed (first: {result.messages[0]})")
        return EXIT_FAILED
    if result.n_failed:
        err(f"nppsim: {result.n_failed} of {result.n_points} points failed; see {output}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``nppsim sweep`` with the subparsers `sub`."""
    p = sub.add_parser(
        "sweep",
        help="simulate a case over a grid of values, in parallel (one HDF5 file)",
        description=(
            "Simulate CASE at every combination of the --vary values (the first --vary varies "
            "slowest) in parallel, and save all points to one HDF5 file."
        ),
    )
    p.add_argument("case", metavar="CASE", help="case file (TOML)")
    p.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=START:STOP:NUM|KEY=V1,V2,...",
        help="swept value: NUM values from START to STOP (evenly spaced; --log right after it "
        "for geometric spacing), or a list, e.g. --vary species.Li.sed.fwhm_eV=0.15:0.35:5 "
        "(repeatable: the grid is the outer product)",
    )
    p.add_argument(
        "--log",
        action=_LogSpacing,
        nargs=0,
        dest="vary",
        help="geometric spacing for the --vary just before it",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a case value at every point (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "-o", "--output", metavar="SWEEP.h5",
        help="sweep file (default: <case stem>_sweep.h5 in the current folder)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: one per CPU)"
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster, e.g. tcp://10.0.0.5:8786 (needs nppsim[dask])",
    )
    p.add_argument(
        "--solver", choices=("npp", "electroneutral"), help="override the case's solver.method"
    )
    p.add_argument("--plot", metavar="FIG.png", help="also draw the final profiles")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.set_defaults(handler=cmd)
