"""Figures of the browser app's pages (matplotlib, no pyplot), besides those of `nppsim.plot`.

The downloads use `nppsim.plot` (the command line's figures); the pages show these: profiles
with a log or linear fraction axis and the earlier times on a colour scale, the potential and
the current, a measured profile as read, and the heat maps of a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from nppsim.profiles import MeasuredProfile
    from nppsim.result import Result

#: lowest fraction of n_bulk on a log fraction axis (below what ToF-SIMS resolves)
LOG_FRACTION_MIN = 1.0e-4
#: the time colour scale is logarithmic when the stored times (> 0) span more than this ratio
LOG_TIME_RATIO = 30.0
#: snapshots drawn per species besides the final one
MAX_SNAPSHOTS = 25
#: figure sizes (inches)
PROFILE_PANEL_IN = (4.6, 3.6)
WIDE_IN = (10.0, 3.4)


def _time_norm(times: np.ndarray) -> Normalize:
    positive = times[times > 0]
    if positive.size >= 2 and positive.max() > LOG_TIME_RATIO * positive.min():
        return LogNorm(float(positive.min()), float(positive.max()))
    hi = float(times.max()) if times.size else 1.0
    return Normalize(0.0, hi if hi > 0 else 1.0)


def profiles_figure(result: Result, log_scale: bool, x_max_nm: float) -> Figure:
    """One panel per species: fraction of n_bulk vs depth (nm) at every stored time (up to
    MAX_SNAPSHOTS), earlier times coloured by time (colour bar), the final profile black.

    log_scale: logarithmic fraction axis (down to LOG_FRACTION_MIN); x_max_nm: depth axis end.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable

    n = max(1, len(result.species))
    fig = Figure(figsize=(PROFILE_PANEL_IN[0] * n + 1.0, PROFILE_PANEL_IN[1]), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    times = np.asarray(result.times_s, dtype=float)
    norm = _time_norm(times)
    cmap = colormaps["viridis"]
    picks = np.arange(max(0, result.n_times - 1))
    if picks.size > MAX_SNAPSHOTS:
        picks = np.unique(np.linspace(0, result.n_times - 2, MAX_SNAPSHOTS).round().astype(int))
    for ax, name in zip(axes, result.species, strict=False):
        c = result.fraction(name)
        for i in picks:
            t = times[i]
            if isinstance(norm, LogNorm) and t <= 0:
                continue
            ax.plot(result.depth_nm, c[i], color=cmap(norm(t)), lw=1.0)
        ax.plot(result.depth_nm, c[-1], color="k", lw=2.2, label=f"t = {times[-1]:.3g} s")
        ax.set_title(f"{name}")
        ax.set_xlim(0.0, x_max_nm)
        ax.set_xlabel("depth (nm)")
        if log_scale:
            ax.set_yscale("log")
            ax.set_ylim(LOG_FRACTION_MIN, 1.5)
        else:
            ax.set_ylim(-0.02, 1.05 * max(1.0, float(np.nanmax(result.fractions[-1]))))
        ax.legend(loc="best", fontsize="small")
    axes[0].set_ylabel("fraction of $n_\\mathrm{bulk}$")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label="time (s)")
    return fig


def potential_current_figure(result: Result, x_max_nm: float) -> Figure:
    """Potential (V) vs depth (nm) at the final time, and the front current density (A/cm^2,
    total: ionic plus displacement) vs time (s), log-log where positive."""
    fig = Figure(figsize=WIDE_IN, layout="constrained")
    ax_u, ax_j = fig.subplots(1, 2)
    if result.n_times:
        ax_u.plot(result.depth_nm, result.potential_V[-1], color="k", lw=1.8)
        visible = result.depth_nm <= x_max_nm
        u = result.potential_V[-1][visible]
        if u.size:
            pad = 0.05 * max(float(u.max() - u.min()), 1e-3)
            ax_u.set_ylim(float(u.min()) - pad, float(u.max()) + pad)
    ax_u.set_xlim(0.0, x_max_nm)
    ax_u.set_xlabel("depth (nm)")
    ax_u.set_ylabel("potential (V)")
    ax_u.set_title(
        f"potential at t = {result.times_s[-1]:.3g} s" if result.n_times else "potential"
    )
    t = np.asarray(result.front.time_s)
    j = np.asarray(result.front.total_current_A_cm2)
    ok = (t > 0) & (j > 0)
    if np.any(ok):
        ax_j.loglog(t[ok], j[ok], color="C3", lw=1.5)
    else:
        ax_j.plot(t, j, color="C3", lw=1.5)
    ax_j.set_xlabel("time (s)")
    ax_j.set_ylabel("current density (A/cm$^2$)")
    ax_j.set_title("front current (total)")
    return fig


def measured_figure(profile: MeasuredProfile) -> Figure:
    """A measured profile as read and normalised: fraction of n_bulk vs depth (nm), error bars."""
    fig = Figure(figsize=(6.0, 3.4), layout="constrained")
    ax = fig.subplots()
    for k, s in enumerate(profile.species):
        ax.errorbar(profile.depth_nm, profile.values[s], yerr=profile.sigma[s], fmt="o", ms=2.5,
                    color=f"C{k}", elinewidth=0.6, label=s)  # fmt: skip
    ax.set_xlabel("depth (nm)")
    ax.set_ylabel("fraction of $n_\\mathrm{bulk}$")
    ax.set_title(f"measured profile: {profile.n_points} depths")
    ax.legend(fontsize="small")
    return fig


def sweep_figure(
    keys: Sequence[str],
    axes_values: Sequence[np.ndarray],
    plateau: np.ndarray,
    front_nm: np.ndarray,
    log_axes: Sequence[bool],
    native: str,
    foreign: str,
) -> Figure:
    """Plateau level (native fraction) and front depth (nm) of a sweep: against the swept
    value (one key) or as heat maps over the two swept values (two keys; the arrays shaped
    (n1, n2), first key along the vertical axis)."""
    fig = Figure(figsize=WIDE_IN, layout="constrained")
    ax_p, ax_f = fig.subplots(1, 2)
    titles = (f"{native} plateau (fraction of n_bulk)", f"{foreign} front depth (nm)")
    if len(keys) == 1:
        x = axes_values[0]
        for ax, y, title in zip((ax_p, ax_f), (plateau, front_nm), titles, strict=True):
            ax.plot(x, y, "o-", color="C0")
            ax.set_xlabel(keys[0])
            ax.set_title(title)
            if log_axes[0]:
                ax.set_xscale("log")
        finite = plateau[np.isfinite(plateau) & (plateau > 0)]
        if finite.size and finite.max() > 10 * finite.min():
            ax_p.set_yscale("log")
        return fig
    y_vals, x_vals = axes_values[0], axes_values[1]
    for ax, z, title in zip((ax_p, ax_f), (plateau, front_nm), titles, strict=True):
        finite = z[np.isfinite(z) & (z > 0)]
        norm = None
        if finite.size and finite.max() > 10 * finite.min():
            norm = LogNorm(float(finite.min()), float(finite.max()))
        mesh = ax.pcolormesh(x_vals, y_vals, np.ma.masked_invalid(z), shading="nearest",
                             norm=norm, cmap="viridis")  # fmt: skip
        fig.colorbar(mesh, ax=ax)
        ax.set_xlabel(keys[1])
        ax.set_ylabel(keys[0])
        ax.set_title(title)
        if log_axes[1]:
            ax.set_xscale("log")
        if log_axes[0]:
            ax.set_yscale("log")
    return fig
