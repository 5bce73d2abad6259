"""The figure of a fit (`plot_fit`): measured profiles against the best fit, with residuals.

One column per data block: on top the measured fractions of n_bulk with their error bars, the
best-fit model blurred with the depth resolution (solid) and the simulated profile before the
blurring (dashed), each named in the legend; below, the weighted residuals (model - data)/sigma
with bands at +-1 and +-2 sigma. A text box lists the fitted values with their standard errors;
every species has its colour of `nppsim.style` (K and Cs never share one in a joint fit).
"""

from __future__ import annotations

import math
import os
import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

from nppsim import style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fitting.result import FitResult

#: height (inches) of the fit figure
FIT_FIGURE_HEIGHT_IN = 4.6
#: case names in panel titles are wrapped at this many characters
TITLE_WRAP_CHARS = 34
#: grey of the residual bands at +-1 and +-2 sigma
BAND_1SIGMA, BAND_2SIGMA = "0.78", "0.91"


def _significant(value: float, error: float) -> str:
    """'0.2503 +- 0.0012' with the error to two significant digits (the value to match)."""
    if not math.isfinite(error) or error <= 0:
        return f"{value:.4g} (error undetermined)"
    exp_err = math.floor(math.log10(abs(error)))
    if abs(value) >= 1e-3 and abs(value) < 1e4:
        digits = max(0, 1 - exp_err)
        return f"{value:.{digits}f} $\\pm$ {error:.{digits}f}"
    exp = math.floor(math.log10(abs(value))) if value != 0 else exp_err
    m, e = value / 10.0**exp, error / 10.0**exp
    digits = max(0, 1 - (exp_err - exp))
    return f"({m:.{digits}f} $\\pm$ {e:.{digits}f})$\\times 10^{{{exp}}}$"


def parameter_line(key: str, case: str | None, value: float, stderr: float) -> str:
    """One line of the text box: plain name, species, value +- error and unit."""
    name, unit = style.key_words(key)
    unit = "" if unit == "1" else unit
    text = f"{name}: {_significant(value, stderr)}" + (f" {unit}" if unit else "")
    if case is not None:
        text += f" [{case}]"
    return text


def plot_fit(
    fit: FitResult,
    path: str | os.PathLike[str] | None = None,
    *,
    scale: str | None = None,
    x_max_nm: float | None = None,
    **options: Any,
) -> Figure:
    """Data vs fit, one column per measured profile: measured fractions of n_bulk with error
    bars, the best-fit model blurred with the depth resolution (solid) and unblurred (dashed)
    against depth (nm) on top, weighted residuals (model - data) / sigma with +-1 and +-2 sigma
    bands below, and the fitted values with their standard errors in a text box.

    scale: "log" | "linear" fraction axes (default: log where the data go below 1 %);
    x_max_nm: right end of the depth axes (nm; default: the deepest measured point).
    Saved atomically to `path` (PNG/PDF/SVG by extension); returns the Figure (not shown).
    Unknown keyword options are rejected (reserved for later options).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from nppsim.plot import figure_format, save_figure

    if options:
        raise TypeError(f"plot_fit: unknown option(s) {', '.join(sorted(options))}")
    if path is not None:
        figure_format(path)
    profiles = list(fit.profiles)
    n = max(1, len(profiles))
    all_species = [s for prof in profiles for s in prof.species]
    colors = style.species_colors(all_species)
    with style.styled():
        fig = style.figure("double", FIT_FIGURE_HEIGHT_IN)
        grid = fig.add_gridspec(2, n + 1, height_ratios=(3, 1.3), width_ratios=[1.0] * n + [0.85])
        axes = np.empty((2, n), dtype=object)
        for j in range(n):
            axes[0, j] = fig.add_subplot(grid[0, j])
            axes[1, j] = fig.add_subplot(grid[1, j], sharex=axes[0, j])
            axes[0, j].tick_params(labelbottom=False)
        ax_info = fig.add_subplot(grid[:, n])
        ax_info.set_axis_off()
        ax_info.set_label("legend and fitted values")
        if not profiles:
            axes[0, 0].text(0.5, 0.5, "no best-fit profiles", ha="center", va="center")
        for j, prof in enumerate(profiles):
            ax, ax_r = axes[0, j], axes[1, j]
            ax.set_label(f"profile {j + 1}")
            ax_r.set_label(f"residuals {j + 1}")
            for s in prof.species:
                color = colors[s]
                ax.errorbar(
                    prof.depth_nm, prof.measured[s], yerr=prof.sigma[s], fmt="o", ms=2.0,
                    color=color, alpha=0.45, elinewidth=0.5, label=f"{style.ion_label(s)} measured",
                )  # fmt: skip
                label = f"{style.ion_label(s)} fit (blurred by the depth resolution)"
                ax.plot(prof.depth_nm, prof.model[s], color=color, lw=1.6, label=label)
                if prof.sim_depth_nm.size:
                    ax.plot(prof.sim_depth_nm, prof.sim[s], color=color, lw=0.9, ls="--",
                            label=f"{style.ion_label(s)} fit before blurring")  # fmt: skip
                resid = (prof.model[s] - prof.measured[s]) / prof.sigma[s]
                ax_r.plot(prof.depth_nm, resid, "o", ms=2.0, color=color)
            ax_r.axhspan(-2.0, 2.0, color=BAND_2SIGMA, lw=0, zorder=0)
            ax_r.axhspan(-1.0, 1.0, color=BAND_1SIGMA, lw=0, zorder=0)
            ax_r.axhline(0.0, color="0.35", lw=0.7)
            finite = np.concatenate(
                [np.asarray(prof.residuals()[s]) for s in prof.species] or [np.zeros(1)]
            )
            finite = finite[np.isfinite(finite)]
            lim = max(3.0, 1.1 * float(np.max(np.abs(finite), initial=0.0)))
            ax_r.set_ylim(-lim, lim)
            if x_max_nm is not None:
                ax.set_xlim(0.0, float(x_max_nm))
            elif prof.depth_nm.size:
                ax.set_xlim(0.0, float(np.max(prof.depth_nm)) * 1.02)
            log = style.use_log_axis((prof.measured[s] for s in prof.species), scale=scale)
            top = max(float(np.nanmax(prof.measured[s], initial=0.0)) for s in prof.species)
            style.fraction_axis(ax, log, top)
            title = textwrap.fill(prof.case_name, TITLE_WRAP_CHARS)
            style.panel_title(ax, "abcdefgh"[j % 8], f"{title}\n(after stage {prof.after_stage})")
            ax_r.set_xlabel("depth (nm)")
            ax_r.set_ylabel("(fit - data)/$\\sigma$ (1)")
        # the legend: every kind of line and marker, then a colour per species
        kinds = [
            (Line2D([], [], color="0.3", marker="o", ls="none", ms=3, alpha=0.6),
             "measured ($\\pm 1\\sigma$ error bars)"),
            (Line2D([], [], color="0.3", lw=1.6), "fit, blurred by the depth resolution"),
            (Line2D([], [], color="0.3", lw=0.9, ls="--"), "fit before blurring"),
            (Patch(color=BAND_1SIGMA), "residuals within $\\pm 1\\sigma$"),
            (Patch(color=BAND_2SIGMA), "residuals within $\\pm 2\\sigma$"),
        ]  # fmt: skip
        kinds += [(Patch(color=colors[s]), style.ion_label(s)) for s in colors]
        ax_info.legend(*zip(*kinds, strict=True), loc="upper left", frameon=False,
                       borderaxespad=0.0)  # fmt: skip
        labels = [p.key if p.case is None else f"{p.key} [{p.case}]" for p in fit.parameters]
        ambiguous = len({style.key_words(p.key)[0] for p in fit.parameters}) < len(labels)
        box = ["fitted values", "($\\pm$ 1 standard error):"]
        box += [
            parameter_line(p.key, p.case if ambiguous else None, p.value, p.stderr)
            for p in fit.parameters
        ]
        box.append(f"reduced $\\chi^2$ = {fit.reduced_chi2:.3g}")
        box.append(f"({fit.n_points} points)")
        ax_info.text(0.0, 0.0, "\n".join(box), transform=ax_info.transAxes, va="bottom",
                     ha="left", fontsize=style.LEGEND_FONT_PT,
                     bbox={"boxstyle": "round", "fc": "white", "ec": "0.6"})  # fmt: skip
        status = "" if fit.success else f" - did NOT converge: {fit.message}"
        fig.suptitle(
            f"Best fit to the measured profiles ({fit.n_simulations} simulations){status}",
            fontsize=style.TITLE_FONT_PT + 1,
        )
        if path is not None:
            save_figure(fig, path)
    return fig
