"""``nppsim gui``: serve the browser app (Simulate, Fit, Sweep, Teach) with Panel."""

from __future__ import annotations

import argparse
import importlib.util
import socket
from typing import Any

from nppsim.cli.common import EXIT_INPUT, EXIT_OK, err, one_line, out
from nppsim.errors import InputError

#: default port of the app
DEFAULT_PORT = 8765
#: default interface: this machine only
DEFAULT_HOST = "127.0.0.1"


def cmd(args: argparse.Namespace) -> int:
    """``nppsim gui``: serve the app until Ctrl-C; exit 2 with a one-line hint without Panel."""
    from nppsim.gui import GUI_HINT

    if importlib.util.find_spec("panel") is None:
        err(f"nppsim: error: {GUI_HINT}")
        return EXIT_INPUT
    if not 1 <= args.port <= 65535:
        raise InputError(f"--port: must be 1..65535, got {args.port}")
    from nppsim.gui.server import serve

    shown = f"[{args.host}]" if ":" in args.host else args.host
    out(f"nppsim gui: serving on http://{shown}:{args.port}/ (Ctrl-C stops)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        out(f"nppsim gui: listening on {args.host}: every machine that reaches it can use the app")
    if args.host in ("0.0.0.0", "::", ""):
        out(f"nppsim gui: from other machines open http://{socket.gethostname()}:{args.port}/")
    try:
        serve(
            port=args.port, host=args.host, show=not args.no_browser, allow_origin=args.allow_origin
        )
    except OSError as exc:  # the port is taken, the address is not this machine's
        raise InputError(f"--host {args.host} --port {args.port}: {one_line(exc)}") from None
    except KeyboardInterrupt:
        out("nppsim gui: stopped")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``nppsim gui`` with the subparsers `sub`."""
    p = sub.add_parser(
        "gui",
        help="serve the browser app (Simulate, Fit, Sweep, Teach)",
        description=(
            "Serve nppsim's browser app at http://HOST:PORT/ (needs the extra gui: "
            'pip install "nppsim[gui]"). By default only this machine can open it; '
            "--host 0.0.0.0 serves every interface (a class on the local network)."
        ),
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"interface to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: all)",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="another name the page may be opened under (a DNS alias, a proxy; repeatable)",
    )
    p.set_defaults(handler=cmd)
