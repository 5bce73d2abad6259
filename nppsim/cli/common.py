"""What every subcommand of the command line shares: exit statuses, output lines, path checks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nppsim.errors import InputError

#: exit statuses
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
#: status after Ctrl-C, as a shell reports a SIGINT
EXIT_INTERRUPTED = 130
#: the front depth reported after a run is where the foreign fraction crosses this level
FRONT_LEVEL = 0.5
#: plateau estimate: the native fraction where D_native = D_foreign / PLATEAU_D_RATIO
PLATEAU_D_RATIO = 10.0


def out(line: str = "") -> None:
    """Print one line on stdout."""
    print(line, file=sys.stdout, flush=True)


def err(line: str) -> None:
    """Print one line on stderr."""
    print(line, file=sys.stderr, flush=True)


def one_line(message: object) -> str:
    """`message` (an exception or text) folded into one line."""
    return " ".join(str(message).split()) or type(message).__name__


def check_output_path(path: Path, what: str) -> None:
    """InputError unless `path` can be created: its folder exists and it is not a folder."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{path}: cannot write the {what}: folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"{path}: cannot write the {what}: it is a folder")


#: suffixes of the HDF5 files that run and sweep write
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def check_hdf5_suffix(path: Path, what: str) -> None:
    """InputError unless `path` ends in an HDF5 suffix (.h5, .hdf5, .hdf): a result is never
    written in another format than its name says (``-o r.csv`` is refused, not written as HDF5).
    """
    if path.suffix.lower() not in HDF5_SUFFIXES:
        shown = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise InputError(
            f"{path}: cannot write the {what} with {shown}: it is written as HDF5, use "
            f"{' or '.join(HDF5_SUFFIXES[:2])} (for CSV tables: nppsim export FILE.h5 --csv DIR)"
        )


def announce_cold_compile(method: str) -> None:
    """One line on stderr before the first run of solver `method` compiles its numba kernels
    (only when the disk cache is cold; nothing when it is warm or cannot be told)."""
    from nppsim.compiling import cold_compile_message, kernels_cached

    if kernels_cached(method) is False:
        err(f"nppsim: {cold_compile_message(method)}")


def partial_path(output: Path) -> Path:
    """Where a partial result goes: OUT.h5 -> OUT.partial.h5."""
    return output.with_suffix(".partial.h5")


def fmt_g(value: Any, spec: str = ".4g") -> str:
    """`value` formatted with `spec`, or "?" when it is not a number."""
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return "?"


def load_case_for_run(args: argparse.Namespace) -> Any:
    """The case of ``args.case`` (or the default case) with the ``--set`` values applied."""
    from nppsim.case import default_case, load_case, parse_assignment

    case = load_case(args.case) if args.case else default_case()
    if args.set:
        values = dict(parse_assignment(a) for a in args.set)
        case = case.with_values(values)
    return case
