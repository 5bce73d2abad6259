"""Figures of simulation results (matplotlib, no pyplot: safe without a display).

`plot_result` draws three panels: the species fractions against depth at the stored times, the
potential against depth at the final time, and the front current density against time (total
current solid, the ionic part dashed where it differs).
`plot_fit` draws measured profiles against the best fit, with weighted residuals.
`plot_sweep` draws the final profiles of every point of a sweep, coloured by the swept value.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from nppsim.errors import InputError
from nppsim.fileio import atomic_write

if TYPE_CHECKING:
    from fitting.result import FitResult
    from nppsim.result import Result
    from nppsim.sweep import SweepResult

logger = logging.getLogger(__name__)

#: the depth axis ends where the foreign fraction first drops below this (a fraction of n_bulk,
#: well under what ToF-SIMS resolves) ...
PROFILE_EDGE_FRACTION = 1.0e-3
#: ... times this margin, so the tail stays visible
PROFILE_EDGE_MARGIN = 1.5
#: but never shorter than this (nm): a few Debye lengths of the space-charge zone
MIN_DEPTH_RANGE_NM = 10.0
#: earlier snapshots drawn besides the final one; more would only smear the panel
MAX_EARLIER_PROFILES = 12
#: figure size (inches) for the three panels side by side
FIGURE_SIZE_IN = (14.0, 4.2)
#: a sweep's colour scale is logarithmic when its (positive) values span more than this ratio
LOG_COLOR_RATIO = 10.0
#: ... beyond rounding: 5e-16 / 5e-17 is 10.000000000000002 in floating point
LOG_COLOR_RTOL = 1.0e-9
#: points a sweep figure names as not drawn; more are counted only, to keep the title short
MAX_LISTED_POINTS = 8


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


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: float = 150.0) -> Path:
    """Save `fig` atomically, in the format named by the extension of `path`.

    dpi: resolution of raster formats (dots per inch).
    """
    fmt = figure_format(path)
    target = Path(path)
    with atomic_write(target, "wb") as f:
        fig.savefig(f, format=fmt, dpi=dpi)
    logger.info("saved figure to %s", target)
    return target


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


def _earlier_indices(n_times: int) -> np.ndarray:
    if n_times <= 1:
        return np.empty(0, dtype=int)
    earlier = np.arange(n_times - 1)
    if earlier.size > MAX_EARLIER_PROFILES:
        pick = np.linspace(0, n_times - 2, MAX_EARLIER_PROFILES).round().astype(int)
        earlier = np.unique(pick)
    return earlier


#: line styles of the profiles at the ends of the earlier stages (the last stage: solid, bold)
STAGE_END_STYLES = ("--", "-.", ":")


def _earlier_stage_ends(result: Result) -> list[tuple[int, int]]:
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


def _plot_profiles(ax, result: Result, x_max: float) -> None:
    depth = result.depth_nm
    stage_ends = _earlier_stage_ends(result)
    end_indices = {i for _, i in stage_ends}
    earlier = [i for i in _earlier_indices(result.n_times) if i not in end_indices]
    t_final = f"t = {result.times_s[-1]:.3g} s"
    n_done = len(result.stage_end_index)
    for k, name in enumerate(result.species):
        color = f"C{k % 10}"
        c = result.fraction(name)
        for j, i in enumerate(earlier):
            alpha = 0.15 + 0.45 * (j + 1) / (len(earlier) + 1)
            ax.plot(depth, c[i], color=color, lw=0.7, alpha=alpha)
        for m, (stage, i) in enumerate(stage_ends):
            ls = STAGE_END_STYLES[m % len(STAGE_END_STYLES)]
            label = f"{name}, end of stage {stage} (t = {result.times_s[i]:.3g} s)"
            ax.plot(depth, c[i], color=color, lw=1.6, ls=ls, label=label)
        if not result.completed:
            final = f"{name}, {t_final} (stage {n_done + 1}, stopped)"
        elif stage_ends:
            final = f"{name}, end of stage {n_done} ({t_final})"
        else:
            final = f"{name}, {t_final}"
        ax.plot(depth, c[-1], color=color, lw=2.2, label=final)
    ax.set_xlim(0.0, x_max)
    ax.set_ylim(-0.02, 1.05 * max(1.0, float(np.nanmax(result.fractions[-1], initial=0.0))))
    ax.set_xlabel("depth (nm)")
    ax.set_ylabel("fraction of $n_\\mathrm{bulk}$")
    title = "profiles (thin: earlier times"
    title += "; broken: ends of earlier stages)" if stage_ends else ")"
    ax.set_title(title)
    if result.species:
        ax.legend(loc="best", fontsize="small")


def _plot_potential(ax, result: Result, x_max: float) -> None:
    ax.plot(result.depth_nm, result.potential_V[-1], color="k", lw=1.8)
    ax.set_xlim(0.0, x_max)
    visible = result.depth_nm <= x_max
    if np.any(visible):
        lo = float(np.min(result.potential_V[-1][visible]))
        hi = float(np.max(result.potential_V[-1][visible]))
        pad = 0.05 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("depth (nm)")
    ax.set_ylabel("potential (V)")
    ax.set_title(f"potential, t = {result.times_s[-1]:.3g} s")


#: the ionic front current is drawn (dashed) besides the total one when the two differ somewhere
#: by more than this fraction of the largest current (displacement current noticeable)
IONIC_DIFFERENCE_FRACTION = 1.0e-3


def _plot_current(ax, result: Result) -> None:
    """Total front current (solid: ionic plus displacement, the external circuit's current) and,
    where it differs noticeably from it, the ionic current (dashed), log-log where positive."""
    t = result.front.time_s
    total = np.asarray(result.front.total_current_A_cm2)
    ionic = np.asarray(result.front.current_A_cm2)
    scale = float(np.max(np.abs(np.concatenate([total, ionic])), initial=0.0))
    after = t > 0
    differs = bool(
        np.any(after & (np.abs(total - ionic) > IONIC_DIFFERENCE_FRACTION * scale))
    ) if scale > 0 else False  # fmt: skip
    ionic_zero = not np.any(ionic[after] != 0.0)
    total_label = "total (external circuit)"
    if differs and ionic_zero:
        total_label += "; ionic current 0"
    positive = after & (total > 0)
    if np.any(positive):
        ax.loglog(t[positive], total[positive], color="C3", lw=1.5, label=total_label)
        if differs:
            ip = after & (ionic > 0)
            if np.any(ip):
                ax.loglog(t[ip], ionic[ip], color="C0", lw=1.2, ls="--", label="ionic")
        n_other = int(np.count_nonzero(after & ~(total > 0)))
        if n_other:
            ax.set_title(f"front current ({n_other} non-positive points not shown)")
        else:
            ax.set_title("front current")
    else:
        ax.plot(t, total, color="C3", lw=1.5, label=total_label)
        if differs:
            ax.plot(t, ionic, color="C0", lw=1.2, ls="--", label="ionic")
        ax.set_title("front current")
    for i in result.stage_end_index[:-1]:
        if 0 <= i < result.n_times and result.times_s[i] > 0:
            ax.axvline(float(result.times_s[i]), color="0.5", ls=":", lw=1.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("current density (A/cm$^2$)")
    if t.size:
        ax.legend(loc="best", fontsize="small")


def plot_result(result: Result, path: str | os.PathLike[str] | None = None) -> Figure:
    """Three-panel overview of `result`; saved atomically to `path` (PNG/PDF/SVG by extension).

    Panels: fractions of n_bulk vs depth (nm) at the stored times (final bold, earlier thin and
    faded; in a multi-stage run the profile at the end of each earlier stage broken, labelled
    with its stage), the potential (V) vs depth at the final time, and the front current density
    (A/cm^2) vs time (s), log-log where positive: the total current (ionic plus displacement, the
    current of the external circuit) solid, the ionic current dashed where it differs by more
    than 1e-3 of the largest current (at a blocking front it is 0 and the total current alone
    is drawn). Returns the matplotlib Figure (not shown).
    """
    if path is not None:
        figure_format(path)  # fail on a bad extension before drawing
    fig = Figure(figsize=FIGURE_SIZE_IN, layout="constrained")
    ax_c, ax_u, ax_j = fig.subplots(1, 3)
    if result.n_times == 0:
        for ax in (ax_c, ax_u):
            ax.text(0.5, 0.5, "no snapshots", ha="center", va="center", transform=ax.transAxes)
    else:
        x_max = profile_depth_range_nm(result)
        _plot_profiles(ax_c, result, x_max)
        _plot_potential(ax_u, result, x_max)
    _plot_current(ax_j, result)
    title = f"{result.case_name} ({result.method})"
    if not result.completed:
        title += f", incomplete: {result.message}"
    fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_fit(fit: FitResult, path: str | os.PathLike[str] | None = None) -> Figure:
    """Data vs fit, one column per measured profile: measured fractions of n_bulk with error
    bars and the best-fit model (blurred with the depth resolution; the unblurred simulation
    dashed) against depth (nm) on top, weighted residuals (model - data) / sigma below.

    Saved atomically to `path` (PNG/PDF/SVG by extension); returns the Figure (not shown).
    """
    if path is not None:
        figure_format(path)
    profiles = list(fit.profiles)
    n = max(1, len(profiles))
    fig = Figure(figsize=(5.0 * n, 6.0), layout="constrained")
    axes = fig.subplots(2, n, sharex="col", height_ratios=(3, 1), squeeze=False)
    if not profiles:
        axes[0, 0].text(0.5, 0.5, "no best-fit profiles", ha="center", va="center")
    for j, prof in enumerate(profiles):
        ax, ax_r = axes[0, j], axes[1, j]
        for k, s in enumerate(prof.species):
            color = f"C{k}"
            ax.errorbar(
                prof.depth_nm, prof.measured[s], yerr=prof.sigma[s], fmt="o", ms=2.5,
                color=color, alpha=0.5, elinewidth=0.6, label=f"{s} data",
            )  # fmt: skip
            ax.plot(prof.depth_nm, prof.model[s], color=color, lw=1.8, label=f"{s} fit")
            if prof.sim_depth_nm.size:
                ax.plot(prof.sim_depth_nm, prof.sim[s], color=color, lw=0.8, ls="--")
            resid = (prof.model[s] - prof.measured[s]) / prof.sigma[s]
            ax_r.plot(prof.depth_nm, resid, "o", ms=2.5, color=color)
        ax_r.axhline(0.0, color="0.4", lw=0.8)
        if prof.depth_nm.size:
            ax.set_xlim(0.0, float(np.max(prof.depth_nm)) * 1.02)
        ax.set_ylabel("fraction of $n_{bulk}$")
        ax.set_title(f"{prof.case_name}\n(data block {prof.data_index}, after stage "
                     f"{prof.after_stage})", fontsize=9)  # fmt: skip
        ax.legend(fontsize=8)
        ax_r.set_xlabel("depth (nm)")
        ax_r.set_ylabel("(fit - data) / $\\sigma$")
    status = "" if fit.success else f" - NOT CONVERGED: {fit.message}"
    fig.suptitle(
        f"fit ({fit.method}): reduced $\\chi^2$ = {fit.reduced_chi2:.3g}, "
        f"{fit.n_simulations} simulations{status}"
    )
    if path is not None:
        save_figure(fig, path)
    return fig


def _sweep_norm(values: np.ndarray) -> Any:
    """Colour normalisation of the swept values: log if all > 0 and they span > 1 decade."""
    from matplotlib.colors import LogNorm, Normalize

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Normalize(0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and hi > LOG_COLOR_RATIO * (1.0 + LOG_COLOR_RTOL) * lo:
        return LogNorm(lo, hi)
    if lo == hi:
        pad = 0.05 * abs(lo) if lo != 0 else 1.0
        return Normalize(lo - pad, hi + pad)
    return Normalize(lo, hi)


def plot_sweep(sweep: SweepResult, path: str | os.PathLike[str] | None = None) -> Figure:
    """Final profiles of every finished point of a sweep, one panel per species.

    Fractions of n_bulk against depth (nm), coloured by the value of the first swept key
    (colour bar; logarithmic when its values are positive and span more than a decade). Points
    that failed or were not run are skipped and named in the title. Saved atomically to `path`
    (PNG/PDF/SVG by extension); returns the Figure (not shown).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable

    if path is not None:
        figure_format(path)
    drawn = [
        i
        for i, (status, res) in enumerate(zip(sweep.status, sweep.results, strict=True))
        if status == "ok" and res is not None and res.n_times > 0
    ]
    species: list[str] = []
    for i in drawn:
        species += [s for s in sweep.results[i].species if s not in species]  # type: ignore[union-attr]
    n_panels = max(1, len(species))
    fig = Figure(figsize=(5.0 * n_panels + 1.2, 4.4), layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    key = sweep.keys[0] if sweep.keys else None
    values = sweep.values(key) if key is not None else np.zeros(sweep.n_points)
    norm = _sweep_norm(values[drawn]) if drawn else _sweep_norm(values)
    cmap = colormaps["viridis"]
    if not drawn:
        axes[0].text(0.5, 0.5, "no finished points", ha="center", va="center",
                     transform=axes[0].transAxes)  # fmt: skip
    else:
        x_max = max(profile_depth_range_nm(sweep.results[i]) for i in drawn)  # type: ignore[arg-type]
        for ax, name in zip(axes, species, strict=False):
            for i in drawn:
                res = sweep.results[i]
                if res is None or name not in res.species:
                    continue
                v = values[i]
                color = cmap(norm(v)) if np.isfinite(v) else "0.5"
                ax.plot(res.depth_nm, res.final_fraction(name), color=color, lw=1.4)
            ax.set_xlim(0.0, x_max)
            ax.set_ylim(-0.02, 1.05)
            ax.set_xlabel("depth (nm)")
            ax.set_ylabel("fraction of $n_\\mathrm{bulk}$")
            ax.set_title(f"{name}, final profiles")
        if key is not None:
            fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label=key)
    skipped = [i for i in range(sweep.n_points) if i not in set(drawn)]
    title = f"sweep of {sweep.n_points} points ({sweep.method})"
    if len(sweep.keys) > 1:
        title += f"; colour: {key}, also varied: {', '.join(sweep.keys[1:])}"
    if skipped:
        listed = ", ".join(f"#{i} ({sweep.status[i]})" for i in skipped[:MAX_LISTED_POINTS])
        more = len(skipped) - MAX_LISTED_POINTS
        listed += f" and {more} more" if more > 0 else ""
        title += f"\nnot drawn: {listed}"
        logger.info("sweep plot: points not drawn: %s", listed)
    fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig
