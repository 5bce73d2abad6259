"""Figures of measured profiles: the ``[[data]]`` blocks of a case after reading and
normalisation (``nppsim data CASE --plot``), and their overlay on a run's profile panel
(``nppsim run CASE --plot``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from nppsim import style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from nppsim.profiles import MeasuredProfile

#: the log axis of `plot_data` starts this far below the smallest positive value drawn
LOG_AXIS_MARGIN = 0.5
#: ... and never below this fraction of n_bulk (ToF-SIMS does not resolve less)
LOG_AXIS_FLOOR = 1.0e-5
#: figure size (inches) per data block
PANEL_SIZE_IN = (6.5, 4.2)
#: marker size of measured points
MARKER_SIZE = 3.0


def data_label(index: int, profile: MeasuredProfile) -> str:
    """A short legend label of data block `index` (1-based)."""
    name = profile.file.name if profile.file is not None else "data"
    return f"data.{index} ({name})"


def overlay_data(
    ax: Axes, profiles: Sequence[MeasuredProfile], species: Sequence[str], linear: bool = True
) -> None:
    """Draw measured fractions (points, in each species' colour of `nppsim.style`) on `ax`;
    `species`: the simulated species (kept for the call's contract: colours no longer depend
    on their order)."""

    markers = "osD^v<>"
    for k, prof in enumerate(profiles, 1):
        for s in prof.species:
            ax.plot(
                prof.depth_nm,
                prof.values[s],
                ls="none",
                marker=markers[(k - 1) % len(markers)],
                ms=MARKER_SIZE,
                mfc="none",
                color=style.species_color(s),
                label=f"{s}, {data_label(k, prof)}",
            )
    if not linear:
        ax.set_yscale("log")


def plot_data(
    profiles: Sequence[MeasuredProfile],
    path: str | os.PathLike[str] | None = None,
    title: str = "",
) -> Figure:
    """One panel per data block: measured fractions of n_bulk (log axis) with their uncertainty
    (error bars) against depth (nm, after the depth calibration); saved atomically to `path`."""
    from nppsim.plot import figure_format, save_figure

    if path is not None:
        figure_format(path)
    n = max(1, len(profiles))
    fig = Figure(figsize=(PANEL_SIZE_IN[0] * n, PANEL_SIZE_IN[1]), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    for k, (ax, prof) in enumerate(zip(axes, profiles, strict=False), 1):
        low = np.inf
        for s in prof.species:
            v, e = prof.values[s], prof.sigma[s]
            ax.errorbar(
                prof.depth_nm, v, yerr=e, ls="none", marker="o", ms=MARKER_SIZE,
                color=style.species_color(s), elinewidth=0.6, label=s,
            )  # fmt: skip
            positive = v[v > 0.0]
            if positive.size:
                low = min(low, float(positive.min()))
        ax.set_yscale("log")
        bottom = max(LOG_AXIS_FLOOR, LOG_AXIS_MARGIN * low) if np.isfinite(low) else LOG_AXIS_FLOOR
        ax.set_ylim(bottom=bottom)
        ax.set_xlabel("depth (nm)")
        ax.set_ylabel("fraction of $n_\\mathrm{bulk}$")
        info = prof.info
        sub = f"normalize = {info.get('normalize', '?')}"
        if info.get("depth_scale", 1.0) != 1.0 or info.get("depth_offset_nm", 0.0) != 0.0:
            sub += f", depth x {info['depth_scale']:.4g} + {info['depth_offset_nm']:.3g} nm"
        ax.set_title(f"{data_label(k, prof)}\n{sub}", fontsize="medium")
        ax.legend(loc="best", fontsize="small")
    if not profiles:
        axes[0].text(0.5, 0.5, "no [[data]] blocks", ha="center", va="center")
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig
