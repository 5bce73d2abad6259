"""The command line: ``nppsim run | info | data | fit | invert | sweep | plot | export | demo |
gui`` (also ``python -m nppsim``).

One module per subcommand, each with ``add_parser(sub)`` and ``cmd(args)``; this module builds the
parser and runs a command with the exit statuses of the contract.

Exit status: 0 success; 2 invalid input (one line ``nppsim: error: ...`` on stderr, never a
traceback); 1 the computation failed (the message, and the path of the partial result saved);
130 after Ctrl-C, 143 after SIGTERM (the partial result saved, as after a failure).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from nppsim.cli import data, demo, export, fit, gui, info, invert, plot, run, sweep
from nppsim.cli.common import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    FRONT_LEVEL,
    PLATEAU_D_RATIO,
    err,
    one_line,
    partial_path,
)
from nppsim.cli.demo import DEMOS, NON_INTERACTIVE_BACKENDS
from nppsim.cli.info import INFO_FRACTIONS
from nppsim.cli.run import DEFAULT_RUN_OUTPUT
from nppsim.cli.sweep import LOG_MARKER, parse_vary
from nppsim.errors import InputError
from solvers.interrupt import (
    Terminated,
    clear_received,
    handle_stop_signals,
    signals_received,
    stopped_by,
)

__all__ = [
    "DEFAULT_RUN_OUTPUT",
    "DEMOS",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "FRONT_LEVEL",
    "INFO_FRACTIONS",
    "LOG_MARKER",
    "NON_INTERACTIVE_BACKENDS",
    "PLATEAU_D_RATIO",
    "build_parser",
    "main",
    "parse_vary",
    "partial_path",
]

logger = logging.getLogger(__name__)

#: the subcommands, in the order ``nppsim --help`` lists them
SUBCOMMANDS = (run, info, data, fit, invert, sweep, plot, export, demo, gui)
#: loggers whose messages the command line shows on stderr
CLI_LOGGERS = ("nppsim", "solvers", "sed", "fitting")


def _version() -> str:
    from nppsim.result import package_version

    return package_version()


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``nppsim`` command."""
    parser = argparse.ArgumentParser(
        prog="nppsim",
        description="Nernst-Planck-Poisson simulation of ion transport in glasses (CAIT).",
    )
    parser.add_argument("--version", action="version", version=f"nppsim {_version()}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress messages (INFO) to stderr"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    # the global flags are accepted after the subcommand too (nppsim run -v); SUPPRESS keeps a
    # flag given before the subcommand from being reset by the subparser's default
    for subparser in sub.choices.values():
        subparser.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="log progress messages (INFO) to stderr",
        )
    return parser


def _attach_log_handler(verbose: bool) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("nppsim: %(levelname)s: %(message)s"))
    for name in CLI_LOGGERS:
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(logging.INFO if verbose else logging.WARNING)
    return handler


def _detach_log_handler(handler: logging.Handler) -> None:
    for name in CLI_LOGGERS:
        logging.getLogger(name).removeHandler(handler)


def _interrupted_status(status: int) -> int:
    """`status` after a stop signal: 143 after SIGTERM, 130 after Ctrl-C (never 0)."""
    received = signals_received()
    if signal.SIGTERM in received:
        return EXIT_TERMINATED
    if signal.SIGINT in received:
        return EXIT_INTERRUPTED
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); returns the exit status.

    Ctrl-C and SIGTERM stop a command the same way (the partial result is kept, temporary files
    are removed); the status is then 130 after Ctrl-C and 143 after SIGTERM, as a shell reports
    a process killed by the signal, whatever the command returned.
    """
    clear_received()
    with handle_stop_signals():
        return _interrupted_status(_run(argv))


def _run(argv: Sequence[str] | None) -> int:
    """Parse `argv` and run the command (stop signals already raise); the exit status."""
    handler = None
    try:
        args = build_parser().parse_args(argv)
        handler = _attach_log_handler(args.verbose)
        return args.handler(args)
    except InputError as exc:
        err(f"nppsim: error: {one_line(exc)}")
        return EXIT_INPUT
    except OSError as exc:
        # inputs are checked up front, so this is a write that failed (disk full, permissions)
        err(f"nppsim: error: {one_line(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        err(f"nppsim: interrupted by {stopped_by(exc)}")
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    finally:
        if handler is not None:
            _detach_log_handler(handler)
