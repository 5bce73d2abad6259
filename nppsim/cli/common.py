"""What every subcommand of the command line shares: exit statuses, output lines, path checks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nppsim.errors import InputError

#: exit statuses
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
#: status after Ctrl-C, as a shell reports a SIGINT
EXIT_INTERRUPTED = 130
#: status after SIGTERM (kill, timeout, batch schedulers), as a shell reports it: 128 + 15
EXIT_TERMINATED = 143
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
    """InputError unless the `what` can be written to `path` (`nppsim.fileio.check_writable`)."""
    from nppsim.fileio import check_writable

    check_writable(path, what)


def _same_file(a: Path, b: Path) -> bool:
    """True if `a` and `b` name one file: the same resolved path (symlinks and relative paths
    followed), or, both existing, the same inode (hard links)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_paths(
    outputs: Sequence[tuple[str, Path | None]],
    inputs: Sequence[tuple[str, Path | None]] = (),
) -> None:
    """InputError (exit 2) before any work unless every output can be written and is neither
    an input nor another output.

    outputs, inputs: (what, path) pairs, e.g. ("result", OUT.h5), ("case file", CASE.toml);
    None paths are skipped. Every command lists all it reads (case files, their data files,
    --initial results, the file it plots or exports) and all it may write (including the
    partial result written after a failure), so that no output replaces an input.
    """
    outs = [(what, Path(p)) for what, p in outputs if p is not None]
    ins = [(what, Path(p)) for what, p in inputs if p is not None]
    for k, (what, path) in enumerate(outs):
        for in_what, source in ins:
            if _same_file(path, source):
                raise InputError(
                    f"{path}: the {what} would overwrite the {in_what} {source}: choose another "
                    "output name"
                )
        for other_what, other in outs[:k]:
            if _same_file(path, other):
                raise InputError(
                    f"{path}: the {what} and the {other_what} would be the same file: give them "
                    "different names"
                )
    for what, path in outs:
        check_output_path(path, what)


def case_inputs(cases: Sequence[Any]) -> list[tuple[str, Path | None]]:
    """(what, path) of the files `cases` were read from: each case file and the data file of
    each [[data]] block."""
    found: list[tuple[str, Path | None]] = []
    for case in cases:
        found.append(("case file", getattr(case, "path", None)))
        for k, block in enumerate(getattr(case, "data", ()) or (), start=1):
            found.append((f"data file of [[data]] {k}", getattr(block, "file", None)))
    return found


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


def finish_optimisation(
    result: Any, written: Sequence[Path | None], what: str, kept: str, quiet: bool
) -> int:
    """The end of ``nppsim fit`` and ``nppsim invert``: print the report of `result` (unless
    `quiet`) and each written file, then the exit status (0; 130 when interrupted; 1 when the
    optimiser did not succeed, saying that the `kept` (best point, best curve) was saved)."""
    if not quiet:
        out(result.report())
    for path in written:
        if path is not None:
            out(f"wrote {path}")
    if not result.success:
        err(f"nppsim: {what} did not succeed: {one_line(result.message)}; {kept} saved")
        return EXIT_INTERRUPTED if "interrupted" in result.message else EXIT_FAILED
    return EXIT_OK


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
