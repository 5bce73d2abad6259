"""The figure of a sweep (`plot_sweep`): final profiles per species and a summary of the metrics.

Top row: the final profile of every finished point, one panel per species, coloured by the value
of the first swept key: a discrete legend (one entry per value, with its unit) when there are at
most 8 values, a colour bar otherwise. Bottom row: the metrics of `nppsim.tables` against the
swept value (front depth, plateau level, charge passed), or for two swept keys on a full grid
heat maps of front depth and plateau level over both.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from nppsim import style
from nppsim.tables import grid_axes, sweep_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from nppsim.sweep import SweepResult

logger = logging.getLogger(__name__)

#: a sweep's colour scale is logarithmic when its (positive) values span more than this ratio
LOG_COLOR_RATIO = 10.0
#: ... beyond rounding: 5e-16 / 5e-17 is 10.000000000000002 in floating point
LOG_COLOR_RTOL = 1.0e-9
#: points a sweep figure names as not drawn; more are counted only, to keep the title short
MAX_LISTED_POINTS = 8
#: at most this many distinct values get a discrete legend; more get a colour bar
DISCRETE_MAX = 8
#: the metric panels: (metric, axis label, scale factor)
METRIC_PANELS = (
    ("front_depth_nm", "front depth (nm)", 1.0),
    ("plateau_fraction", "native plateau (% of $n_\\mathrm{bulk}$)", 100.0),
    ("charge_C_cm2", "charge passed (mC/cm$^2$)", 1.0e3),
)


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


def _value_text(key: str, v: float) -> str:
    unit = style.key_words(key)[1]
    unit = "" if unit == "1" else f" {unit}"
    return f"{v:.3g}{unit}"


def _summary_lines(axes: Any, sweep: SweepResult, metrics: dict, key: str, norm: Any) -> None:
    x = sweep.values(key)
    order = np.argsort(x)
    log_x = type(norm).__name__ == "LogNorm"
    other = sweep.keys[1:] if len(sweep.keys) > 1 else ()
    for ax, (metric, label, factor) in zip(axes, METRIC_PANELS, strict=False):
        y = metrics[metric] * factor
        if other:
            # several keys off a grid: one point per sweep point
            ax.plot(x, y, "o", ms=3.5, color=style.NEUTRAL_COLOR)
        else:
            good = np.isfinite(y[order])
            ax.plot(x[order][good], y[order][good], "o-", ms=3.5, color=style.NEUTRAL_COLOR)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(style.key_label(key))
        ax.set_ylabel(label)
        ax.set_label(metric)
        missing = int(np.count_nonzero(~np.isfinite(y)))
        ax.set_title(label.split(" (")[0] + (f" ({missing} points without)" if missing else ""))


def _summary_heatmaps(axes: Any, fig: Figure, sweep: SweepResult, metrics: dict, grid) -> None:
    from matplotlib import colormaps

    values, pos = grid
    kx, ky = sweep.keys[0], sweep.keys[1]
    for ax, (metric, label, factor) in zip(axes, METRIC_PANELS[:2], strict=False):
        z = np.full((values[1].size, values[0].size), np.nan)
        z[pos[:, 1], pos[:, 0]] = metrics[metric] * factor
        mesh = ax.pcolormesh(
            _edges(values[0]), _edges(values[1]), np.ma.masked_invalid(z),
            cmap=colormaps[style.SEQUENTIAL_CMAP], shading="flat",
        )  # fmt: skip
        for axis, vals in ((ax.xaxis, values[0]), (ax.yaxis, values[1])):
            if _is_log(vals):
                (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
        ax.set_xlabel(style.key_label(kx))
        ax.set_ylabel(style.key_label(ky))
        ax.set_title(label.split(" (")[0])
        ax.set_label(metric)
        fig.colorbar(mesh, ax=ax, label=label, pad=0.02)


def _is_log(values: np.ndarray) -> bool:
    """A log axis for these grid values: positive, and spanning more than a decade or evenly
    spaced in log (a ``--log`` sweep) rather than linearly."""
    v = np.sort(np.asarray(values, dtype=float))
    if v.size < 2 or v[0] <= 0:
        return False
    if type(_sweep_norm(v)).__name__ == "LogNorm":
        return True
    if v.size < 3:
        return False
    lin, geo = np.diff(v), np.diff(np.log(v))
    return bool(np.ptp(geo) / np.mean(geo) < 1e-6 < np.ptp(lin) / np.mean(lin))


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted grid values (geometric midpoints on a log grid)."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if v[0] > 0 else np.array([v[0] - 1, v[0] + 1])
    if _is_log(v):
        lv = np.log(v)
        mid = 0.5 * (lv[1:] + lv[:-1])
        return np.exp(np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]]))
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def plot_sweep(
    sweep: SweepResult,
    path: str | os.PathLike[str] | None = None,
    *,
    scale: str | None = None,
    x_max_nm: float | None = None,
    **options: Any,
) -> Figure:
    """Final profiles of every finished point of a sweep (one panel per species, coloured by the
    first swept key: discrete legend for at most 8 values, else a colour bar, logarithmic when
    the positive values span more than a decade) above a summary: front depth, plateau level
    and charge against the swept value, or heat maps of front depth and plateau over two swept
    keys on a full grid. Points that failed or were not run are skipped and named in the title.

    scale: "log" | "linear" fraction axes (default: log where fractions below 1 % matter);
    x_max_nm: right end of the depth axes (nm). Saved atomically to `path` (PNG/PDF/SVG by
    extension); returns the Figure (not shown).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable

    from nppsim.plot import figure_format, save_figure
    from nppsim.plot_run import profile_depth_range_nm

    if options:
        raise TypeError(f"plot_sweep: unknown option(s) {', '.join(sorted(options))}")
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
    key = sweep.keys[0] if sweep.keys else None
    values = sweep.values(key) if key is not None else np.zeros(sweep.n_points)
    norm = _sweep_norm(values[drawn]) if drawn else _sweep_norm(values)
    cmap = colormaps[style.SEQUENTIAL_CMAP]
    distinct = np.unique(values[drawn][np.isfinite(values[drawn])]) if drawn else np.empty(0)
    discrete = 0 < distinct.size <= DISCRETE_MAX
    grid = grid_axes(sweep) if len(sweep.keys) == 2 else None
    n_top = max(1, len(species))
    n_bottom = 2 if grid is not None else 3
    with style.styled():
        fig = style.figure("double", 6.4)
        sub = fig.subfigures(2, 1, height_ratios=(1.1, 1.0))
        top = sub[0].subplots(1, n_top, squeeze=False)[0]
        bottom = sub[1].subplots(1, n_bottom, squeeze=False)[0]
        if not drawn:
            top[0].text(0.5, 0.5, "no finished points", ha="center", va="center",
                        transform=top[0].transAxes)  # fmt: skip
        else:
            x_max = x_max_nm or max(profile_depth_range_nm(sweep.results[i]) for i in drawn)  # type: ignore[arg-type]
            visible_all = [
                sweep.results[i].final_fraction(s)[sweep.results[i].depth_nm <= x_max]  # type: ignore[union-attr]
                for i in drawn
                for s in sweep.results[i].species  # type: ignore[union-attr]
            ]
            log = style.use_log_axis(visible_all, scale=scale)
            for ax, name in zip(top, species, strict=False):
                ax.set_label(f"profiles {name}")
                labelled: set[float] = set()
                for i in drawn:
                    res = sweep.results[i]
                    if res is None or name not in res.species:
                        continue
                    v = values[i]
                    color = cmap(norm(v)) if np.isfinite(v) else "0.5"
                    label = None
                    if discrete and key is not None and v not in labelled:
                        label = _value_text(key, v)
                        labelled.add(v)
                    ax.plot(res.depth_nm, res.final_fraction(name), color=color, lw=1.2,
                            label=label)  # fmt: skip
                ax.set_xlim(0.0, x_max)
                style.fraction_axis(ax, log)
                ax.set_xlabel("depth (nm)")
                ax.set_title(f"{style.ion_label(name)}, final profiles")
            if key is not None and discrete:
                handles, labels = top[0].get_legend_handles_labels()
                value_of = {_value_text(key, d): float(d) for d in distinct}
                order = sorted(range(len(labels)), key=lambda k: value_of.get(labels[k], np.inf))
                sub[0].legend([handles[k] for k in order], [labels[k] for k in order],
                              loc="outside right upper", frameon=False,
                              title=style.key_words(key)[0])  # fmt: skip
            elif key is not None:
                sub[0].colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(top),
                                label=style.key_label(key))  # fmt: skip
        metrics = sweep_metrics(sweep)
        if key is None:
            bottom[0].text(0.5, 0.5, "no swept key", ha="center", va="center")
        elif grid is not None:
            _summary_heatmaps(bottom, sub[1], sweep, metrics, grid)
        else:
            _summary_lines(bottom, sweep, metrics, key, _sweep_norm(values))
        skipped = [i for i in range(sweep.n_points) if i not in set(drawn)]
        title = f"Sweep of {sweep.n_points} points"
        if len(sweep.keys) > 1:
            title += f"; colour: {style.key_words(key)[0]}"  # type: ignore[arg-type]
            title += f", also varied: {', '.join(style.key_words(k)[0] for k in sweep.keys[1:])}"
        if skipped:
            listed = ", ".join(f"#{i} ({sweep.status[i]})" for i in skipped[:MAX_LISTED_POINTS])
            more = len(skipped) - MAX_LISTED_POINTS
            listed += f" and {more} more" if more > 0 else ""
            title += f"\nnot drawn: {listed}"
            logger.info("sweep plot: points not drawn: %s", listed)
        fig.suptitle(title, fontsize=style.TITLE_FONT_PT + 1)
        if path is not None:
            save_figure(fig, path)
    return fig
