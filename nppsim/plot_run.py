"""The figure of one simulation result (`plot_result`), in the package style (`nppsim.style`).

Six panels, each with its quantity and unit on the axes:
(a) the profile of every species at the end of each stage (fractions of n_bulk vs depth; log axis
where fractions below 1 % matter), (b) one species at every stored time, coloured by time with a
colour bar, (c) the potential against depth over the whole sample (log depth axis: the
near-surface zone and the ohmic drop of the bulk), (d) the front potential against time, (e) the
front current density against time (numerical noise below 1e-6 of the peak is not drawn, and the
panel says so), (f) the charge passed through the front against time.
Each axes carries a label (``ax.get_label()``: "profiles", "snapshots", "potential",
"front potential", "current", "charge") so that scripts and tests find a panel by name.
"""

from __future__ import annotations

import logging
import os
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nppsim import style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from nppsim.result import Result

logger = logging.getLogger(__name__)

#: the depth axis ends where the foreign fraction first drops below this (a fraction of n_bulk,
#: well under what ToF-SIMS resolves) ...
PROFILE_EDGE_FRACTION = 1.0e-3
#: ... times this margin, so the tail stays visible
PROFILE_EDGE_MARGIN = 1.5
#: but never shorter than this (nm): a few Debye lengths of the space-charge zone
MIN_DEPTH_RANGE_NM = 10.0
#: snapshots drawn in the time panel (evenly picked from the stored ones); more only smear it
MAX_SNAPSHOTS = 16
#: line styles of the profiles at the ends of the earlier stages (the last stage: solid)
STAGE_END_STYLES = ("--", "-.", ":")
#: the ionic front current is drawn (dashed) besides the total one when the two differ somewhere
#: by more than this fraction of the largest current (displacement current noticeable)
IONIC_DIFFERENCE_FRACTION = 1.0e-3
#: current densities below this fraction of the peak are numerical noise of the Newton solve
#: (its tolerances are ~1e-8 of the state): not drawn, and the panel says how many points
CURRENT_NOISE_FRACTION = 1.0e-6
#: a single-stage time axis starts this many decades before the end: the dielectric transient of
#: the first nanoseconds is not what an experiment records
TIME_AXIS_DECADES = 6.0
#: height (inches) of the run figure at double-column width (3 x 2 panels)
RUN_FIGURE_HEIGHT_IN = 8.4
#: height (inches) of the run figure at single-column width (the six panels stacked)
RUN_FIGURE_HEIGHT_SINGLE_IN = 15.0
#: the figure title is wrapped at this many characters per inch of figure width
TITLE_CHARS_PER_IN = 11.0


def profile_depth_range_nm(result: Result) -> float:
    """Right end (nm) of the depth axis of the profile panels.

    1.5 times the depth where the foreign fraction (final snapshot) first drops below 1e-3,
    at least 10 nm and at most the thickness. Without foreign species: where any species
    differs from its first snapshot by more than 1e-3.
    """
    thickness = result.thickness_nm
    depth = result.depth_nm
    if result.n_times == 0 or depth.size == 0:
        return thickness
    foreign = result.foreign_species
    if foreign:
        edges = []
        for name in foreign:
            below = np.flatnonzero(result.final_fraction(name) < PROFILE_EDGE_FRACTION)
            edges.append(depth[below[0]] if below.size else thickness)
        edge = float(max(edges))
    else:
        change = np.abs(result.fractions[-1] - result.fractions[0]).max(axis=0)
        changed = np.flatnonzero(change > PROFILE_EDGE_FRACTION)
        edge = float(depth[changed[-1]]) if changed.size else thickness
    return float(min(thickness, max(MIN_DEPTH_RANGE_NM, PROFILE_EDGE_MARGIN * edge)))


def earlier_stage_ends(result: Result) -> list[tuple[int, int]]:
    """(stage number, snapshot index) of every stage end drawn apart from the final profile.

    A completed run: the ends of all stages but the last (the final profile is the last
    stage's end). A run that stopped early: the ends of all stages it completed (its final
    profile is mid-stage). Ends at the final snapshot are left to the final profile.
    """
    last = result.n_times - 1
    ends = [int(i) for i in result.stage_end_index]
    if result.completed:
        ends = ends[:-1]
    return [(m + 1, i) for m, i in enumerate(ends) if 0 <= i < last]


def snapshot_species(result: Result) -> str:
    """The species drawn at every stored time: the source (beam) ion of the last stage when the
    case says, else the species whose profile changed most."""
    import tomllib

    try:
        stages = tomllib.loads(result.case_toml).get("stage", [])
        source = stages[-1].get("source") if stages else None
    except (tomllib.TOMLDecodeError, AttributeError, TypeError):
        source = None
    if source in result.species:
        return str(source)
    change = np.abs(result.fractions[-1] - result.fractions[0]).max(axis=1)
    return result.species[int(np.argmax(change))]


def _plot_profiles(
    ax: Any, result: Result, x_max: float, log: bool, names: dict, narrow: bool = False
) -> None:
    depth = result.depth_nm
    colors = style.species_colors(result.species)
    stage_ends = earlier_stage_ends(result)
    n_done = len(result.stage_end_index)
    t_final = style.format_time(float(result.times_s[-1]))
    for name in result.species:
        c = result.fraction(name)
        for m, (stage, i) in enumerate(stage_ends):
            if np.nanmax(c[i], initial=0.0) < style.ZERO_CURVE_MAX:
                continue  # e.g. the second beam's ion at the end of the first stage
            ls = STAGE_END_STYLES[m % len(STAGE_END_STYLES)]
            label = f"{names[name]}, end of stage {stage} ({style.format_time(result.times_s[i])})"
            ax.plot(depth, c[i], color=colors[name], lw=1.1, ls=ls, label=label)
        if not result.completed:
            final = f"{names[name]}, {t_final} (stage {n_done + 1}, stopped)"
        elif stage_ends:
            final = f"{names[name]}, end of stage {n_done} ({t_final})"
        else:
            final = f"{names[name]}, {t_final}"
        ax.plot(depth, c[-1], color=colors[name], lw=1.8, label=final)
    ax.set_xlim(0.0, x_max)
    style.fraction_axis(ax, log, float(np.nanmax(result.fractions[-1], initial=1.0)))
    ax.set_xlabel("depth (nm)")
    style.panel_title(
        ax, "a", "profiles at the end of each stage" if stage_ends else "final profiles"
    )
    if narrow:
        style.legend_below(ax, ncol=1)
    else:
        style.legend_outside(ax)


def _plot_snapshots(ax: Any, fig: Figure, result: Result, x_max: float, log: bool, names) -> None:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable

    name = snapshot_species(result)
    unit, scale = style.time_unit(float(result.times_s[-1]))
    idx = np.arange(result.n_times)
    if idx.size > MAX_SNAPSHOTS:
        idx = np.unique(np.linspace(0, result.n_times - 1, MAX_SNAPSHOTS).round().astype(int))
    times = result.times_s[idx] / scale
    norm = style.time_norm(times[times > 0] if np.any(times > 0) else times)
    cmap = colormaps[style.SEQUENTIAL_CMAP]
    c = result.fraction(name)
    for i, t in zip(idx, times, strict=True):
        color = cmap(float(norm(t))) if t >= norm.vmin else cmap(0.0)
        ax.plot(result.depth_nm, c[i], color=color, lw=0.9)
    ax.set_xlim(0.0, x_max)
    style.fraction_axis(ax, log, float(np.nanmax(c, initial=1.0)))
    ax.set_xlabel("depth (nm)")
    style.panel_title(ax, "b", f"{names[name]} at {idx.size} of the {result.n_times} stored times")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=f"time ({unit})", pad=0.02)


def _plot_potential(ax: Any, result: Result, x_max: float) -> None:
    depth = result.depth_nm
    positive = depth > 0
    ax.plot(depth[positive], result.potential_V[-1][positive], color=style.NEUTRAL_COLOR)
    ax.set_xscale("log")
    ax.set_xlim(float(depth[positive][0]) if np.any(positive) else 1.0, result.thickness_nm)
    ax.axvline(x_max, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel("depth (nm, log scale)")
    ax.set_ylabel("potential (V)")
    style.panel_title(ax, "c", f"potential at {style.format_time(float(result.times_s[-1]))}")
    ax.text(x_max, 0.97, " depth range of (a), (b)", transform=ax.get_xaxis_transform(),
            fontsize=style.LEGEND_FONT_PT, color="0.4", ha="left", va="top")  # fmt: skip


def _time_axis(ax: Any, result: Result, t: np.ndarray) -> tuple[np.ndarray, str, float, bool]:
    """(mask of the drawn times, unit, seconds per unit, log axis) of a front-history panel:
    log time for a single stage (from TIME_AXIS_DECADES before the end), linear for several
    stages (so that a later stage is not squeezed into the last decade)."""
    multi = len(result.stage_end_index) > 1 or (
        not result.completed and len(result.stage_end_index) >= 1
    )
    t_end = float(t[-1]) if t.size else 1.0
    unit, scale = style.time_unit(t_end)
    if multi:
        return t >= 0, unit, scale, False
    t_lo = t_end * 10.0 ** (-TIME_AXIS_DECADES)
    return t >= t_lo, unit, scale, True


def _stage_marks(ax: Any, result: Result, scale: float) -> None:
    for i in result.stage_end_index[:-1]:
        if 0 <= i < result.n_times and result.times_s[i] > 0:
            ax.axvline(float(result.times_s[i]) / scale, color="0.5", ls=":", lw=0.9)


def _plot_front_potential(ax: Any, result: Result) -> None:
    t = np.asarray(result.front.time_s)
    unit, scale = style.time_unit(float(t[-1]) if t.size else 1.0)
    u = np.asarray(result.front.potential_V)
    ax.plot(t / scale, u, color=style.NEUTRAL_COLOR)
    if u.size:
        lo, hi = min(0.0, float(np.min(u))), max(0.0, float(np.max(u)))
        pad = 0.08 * (hi - lo) if hi > lo else 1.0
        ax.set_ylim(lo - (pad if lo < 0 else 0.0), hi + pad)
    _stage_marks(ax, result, scale)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("front potential (V)")
    style.panel_title(ax, "d", "potential at the front surface")


def _plot_current(ax: Any, result: Result) -> None:
    """Total front current (solid: ionic plus displacement, the external circuit's current) and,
    where it differs noticeably from it, the ionic current (dashed); log current axis above the
    noise floor."""
    t = np.asarray(result.front.time_s)
    total = np.asarray(result.front.total_current_A_cm2)
    ionic = np.asarray(result.front.current_A_cm2)
    shown, unit, scale, log_t = _time_axis(ax, result, t)
    peak = float(np.max(np.abs(np.concatenate([total[shown], ionic[shown]])), initial=0.0))
    differs = peak > 0 and bool(
        np.any(shown & (np.abs(total - ionic) > IONIC_DIFFERENCE_FRACTION * peak))
    )
    ionic_zero = not np.any(ionic[t > 0] != 0.0)
    total_label = "total (external circuit)"
    if differs and ionic_zero:
        total_label += "; ionic current 0"
    floor = CURRENT_NOISE_FRACTION * peak
    keep = shown & (total > floor)
    dropped = int(np.count_nonzero(shown & ~keep))
    if peak > 0 and np.any(keep):
        ax.plot(t[keep] / scale, total[keep], color=style.NEUTRAL_COLOR, label=total_label)
        if differs and not ionic_zero:
            ik = shown & (ionic > floor)
            ax.plot(
                t[ik] / scale,
                ionic[ik],
                color="#0072B2",
                ls="--",
                lw=1.0,
                label="ionic part (total minus displacement current)",
            )
        ax.set_yscale("log")
    else:
        ax.plot(t[shown] / scale, total[shown], color=style.NEUTRAL_COLOR, label=total_label)
    if log_t:
        ax.set_xscale("log")
    _stage_marks(ax, result, scale)
    style.panel_title(ax, "e", "current density at the front")
    if dropped:
        ax.text(0.02, 0.02, f"{dropped} points below {CURRENT_NOISE_FRACTION:.0e} of the peak\n"
                "(numerical noise) not drawn", transform=ax.transAxes, va="bottom",
                fontsize=style.LEGEND_FONT_PT, color="0.35")  # fmt: skip
    if log_t:
        ax.text(0.98, 0.98, f"from {style.format_time(float(t[shown][0]))}",
                transform=ax.transAxes, ha="right", va="top", fontsize=style.LEGEND_FONT_PT,
                color="0.35")  # fmt: skip
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("current density (A/cm$^2$)")
    style.legend_below(ax, ncol=1)


def _plot_charge(ax: Any, result: Result) -> None:
    t = np.asarray(result.front.time_s)
    unit, scale = style.time_unit(float(t[-1]) if t.size else 1.0)
    shown = t >= 0
    total = np.asarray(result.front.total_charge_C_cm2)
    ionic = np.asarray(result.front.charge_C_cm2)
    ax.plot(t[shown] / scale, total[shown] * 1e3, color=style.NEUTRAL_COLOR, label="total")
    if np.any(np.abs(total - ionic) > IONIC_DIFFERENCE_FRACTION * np.max(np.abs(total), initial=0)):
        ax.plot(t[shown] / scale, ionic[shown] * 1e3, color="#0072B2", ls="--", lw=1.0,
                label="ionic")  # fmt: skip
    _stage_marks(ax, result, scale)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("charge passed (mC/cm$^2$)")
    style.panel_title(ax, "f", "charge through the front")
    if len(ax.get_legend_handles_labels()[1]) > 1:
        style.legend_below(ax, ncol=2)


def plot_result(
    result: Result,
    path: str | os.PathLike[str] | None = None,
    *,
    scale: str | None = None,
    x_max_nm: float | None = None,
    width: str | float = "double",
    data: Sequence[Any] = (),
    **options: Any,
) -> Figure:
    """Six-panel overview of `result`; saved atomically to `path` (PNG/PDF/SVG by extension).

    scale: "log" or "linear" fraction axes; None: log when the profiles hold fractions below 1 %
    of n_bulk. x_max_nm: right end of the depth axes of the profile panels (nm); default: 1.5x
    the depth where the foreign fraction falls below 1e-3 (`profile_depth_range_nm`).
    width: "double" (7.2 in, panels 3 x 2), "single" (3.5 in, the six panels stacked) or inches.
    data: measured profiles (`nppsim.profiles.MeasuredProfile`) drawn as points on the profile
    panel (``nppsim run CASE --plot`` passes the case's data blocks).
    Panels: see the module docstring.
    Further keyword options are reserved for overlays and rejected when unknown.
    Returns the matplotlib Figure (not shown).
    """
    from nppsim.plot import figure_format, save_figure

    if options:
        raise TypeError(f"plot_result: unknown option(s) {', '.join(sorted(options))}")
    if path is not None:
        figure_format(path)  # fail on a bad extension before drawing
    if x_max_nm is not None and not (np.isfinite(x_max_nm) and x_max_nm > 0):
        from nppsim.errors import InputError

        raise InputError(f"--xmax: must be a depth > 0 nm, got {x_max_nm}")
    with style.styled():
        narrow = width == "single" or (
            not isinstance(width, str) and float(width) < style.DOUBLE_COLUMN_IN * 0.75
        )
        height = RUN_FIGURE_HEIGHT_SINGLE_IN if narrow else RUN_FIGURE_HEIGHT_IN
        fig = style.figure(width, height)
        grid = fig.subplots(6, 1) if narrow else fig.subplots(3, 2)
        labels = ("profiles", "snapshots", "potential", "front potential", "current", "charge")
        for ax, label in zip(grid.flat, labels, strict=True):
            ax.set_label(label)
        ax_c, ax_s, ax_u, ax_ut, ax_j, ax_q = grid.flat
        charges = style.charges_from_case_toml(result.case_toml, result.species)
        names = {s: style.ion_label(s, charges[s]) for s in result.species}
        if result.n_times == 0:
            for ax in (ax_c, ax_s, ax_u):
                ax.text(0.5, 0.5, "no snapshots", ha="center", va="center",
                        transform=ax.transAxes)  # fmt: skip
        else:
            x_max = float(x_max_nm) if x_max_nm is not None else profile_depth_range_nm(result)
            visible = result.depth_nm <= x_max
            log = style.use_log_axis(
                (result.fractions[-1][k][visible] for k in range(len(result.species))),
                scale=scale,
            )
            _plot_profiles(ax_c, result, x_max, log, names, narrow)
            if data:
                from nppsim.plot_data import overlay_data

                overlay_data(ax_c, data, result.species)
                if narrow:
                    style.legend_below(ax_c, ncol=1)
                else:
                    style.legend_outside(ax_c)
            _plot_snapshots(ax_s, fig, result, x_max, log, names)
            _plot_potential(ax_u, result, x_max)
        _plot_front_potential(ax_ut, result)
        _plot_current(ax_j, result)
        _plot_charge(ax_q, result)
        title = result.case_name
        if not result.completed:
            title += f" (incomplete: {result.message})"
        chars = int(TITLE_CHARS_PER_IN * fig.get_figwidth())
        fig.suptitle(textwrap.fill(title, chars), fontsize=style.TITLE_FONT_PT + 1)
        if path is not None:
            save_figure(fig, path)
    return fig
