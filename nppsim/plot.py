"""Figures of results, fits and sweeps (matplotlib, no pyplot: safe without a display).

The drawing lives in one module per concept, in the style of `nppsim.style`:
`plot_result` (`nppsim.plot_run`): six panels of a run (profiles at the stage ends, every
snapshot coloured by time, potential across the sample, front potential, current and charge);
`plot_fit` (`nppsim.plot_fit`): measured profiles against the best fit, with residual bands and
the fitted values; `plot_sweep` (`nppsim.plot_sweep`): final profiles of every point and the
metrics against the swept values. This module keeps the shared file handling (`figure_format`,
`save_figure`) and the public names.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from matplotlib.figure import Figure

from nppsim.errors import InputError
from nppsim.fileio import atomic_write

logger = logging.getLogger(__name__)

#: resolution (dots per inch) of raster figures: sharp at column width when printed
RASTER_DPI = 200.0


def supported_figure_formats() -> tuple[str, ...]:
    """File extensions (without dot) that `plot_result` can write, e.g. ("png", "pdf", "svg")."""
    return tuple(sorted(Figure().canvas.get_supported_filetypes()))


def figure_format(path: str | os.PathLike[str]) -> str:
    """Image format from the extension of `path`; InputError if it is missing or unsupported."""
    suffix = Path(path).suffix.lower().lstrip(".")
    formats = supported_figure_formats()
    if suffix not in formats:
        shown = f"'.{suffix}'" if suffix else "no extension"
        raise InputError(
            f"{path}: unsupported figure format ({shown}); use one of .{', .'.join(formats)}"
        )
    if suffix == "pgf":
        # matplotlib measures the text of a .pgf figure with LaTeX: without it the figure
        # would fail only after the whole computation
        import shutil

        import matplotlib

        tex = str(matplotlib.rcParams["pgf.texsystem"])
        if shutil.which(tex) is None:
            raise InputError(
                f"{path}: a .pgf figure needs {tex} (LaTeX), which is not installed; use .pdf "
                "or .svg"
            )
    return suffix


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: float = RASTER_DPI) -> Path:
    """Save `fig` atomically, in the format named by the extension of `path` (PDF and SVG are
    vector formats with editable text).

    dpi: resolution of raster formats (dots per inch).
    """
    fmt = figure_format(path)
    target = Path(path)
    with atomic_write(target, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi)
    logger.info("saved figure to %s", target)
    return target


# the drawing modules import figure_format and save_figure from here: import them after
from nppsim.plot_fit import plot_fit  # noqa: E402
from nppsim.plot_run import (  # noqa: E402
    MIN_DEPTH_RANGE_NM,
    PROFILE_EDGE_FRACTION,
    PROFILE_EDGE_MARGIN,
    plot_result,
    profile_depth_range_nm,
)
from nppsim.plot_sweep import _sweep_norm, plot_sweep  # noqa: E402

__all__ = [
    "MIN_DEPTH_RANGE_NM",
    "PROFILE_EDGE_FRACTION",
    "PROFILE_EDGE_MARGIN",
    "RASTER_DPI",
    "_sweep_norm",
    "figure_format",
    "plot_fit",
    "plot_result",
    "plot_sweep",
    "profile_depth_range_nm",
    "save_figure",
    "supported_figure_formats",
]
