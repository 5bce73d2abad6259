"""``nppsim demo``: teaching demos."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nppsim.cli.common import (
    EXIT_OK,
    check_paths,
    one_line,
    out,
)
from nppsim.errors import InputError

#: the demos of ``nppsim demo``
DEMOS = ("sed-width",)
#: matplotlib backends that cannot open a window
NON_INTERACTIVE_BACKENDS = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")


def _interactive_pyplot() -> Any:
    """matplotlib.pyplot with a backend that can open a window; InputError otherwise."""
    try:
        import matplotlib.pyplot as plt

        backend = str(plt.get_backend())
    except ImportError as exc:
        raise InputError(
            f"demo: cannot open a window ({one_line(exc)}); use --save FIGURE.png"
        ) from None
    if backend.lower() in NON_INTERACTIVE_BACKENDS:
        raise InputError(
            f"demo: no display for an interactive window (matplotlib backend {backend!r}); "
            "use --save FIGURE.png"
        )
    return plt


def cmd(args: argparse.Namespace) -> int:
    """``nppsim demo sed-width``: the SED-width teaching figure, in a window with sliders or
    saved with --save."""
    from nppsim.demo import sed_width_figure

    if args.save:
        from nppsim.plot import figure_format, save_figure

        path = Path(args.save)
        figure_format(path)
        check_paths([("figure", path)])
        save_figure(sed_width_figure(interactive=False), path)
        out(f"wrote {path}")
        return EXIT_OK
    plt = _interactive_pyplot()
    fig = sed_width_figure(interactive=True)
    plt.show()
    plt.close(fig)
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``nppsim demo`` with the subparsers `sub`."""
    p = sub.add_parser(
        "demo",
        help="interactive teaching demos",
        description=(
            "sed-width: what the width of the site-energy distribution does to D(n), the plateau "
            "and the CAIT profiles, with sliders (or a still figure with --save)."
        ),
    )
    p.add_argument("demo", choices=DEMOS, metavar="NAME", help=f"one of: {', '.join(DEMOS)}")
    p.add_argument(
        "--save", metavar="FIGURE.png", help="write the figure (no window, no display needed)"
    )
    p.set_defaults(handler=cmd)
