"""The figure style of the whole package: sizes, colours, ion names, axes, legends, time labels.

Every figure nppsim draws (`nppsim.plot`, the teaching demo) takes its look from here, so that
a species has one colour in every plot, ion names carry their charge (Li$^+$), concentration axes
are logarithmic where the profiles hold fractions below 1 % (what ToF-SIMS readers expect), and
legends sit beside the axes, never on the data. Sizes follow journal columns (single 3.5 in,
double 7.2 in); vector output (PDF, SVG) comes from the file extension.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

#: width (inches) of a single journal column (89 mm) and of a full page width (183 mm)
SINGLE_COLUMN_IN = 3.5
DOUBLE_COLUMN_IN = 7.2
#: font sizes (points) readable at column width once printed
BASE_FONT_PT = 8.0
TITLE_FONT_PT = 8.5
LEGEND_FONT_PT = 7.0
#: rc settings of every nppsim figure (applied per figure through `figure`)
RC = {
    "font.size": BASE_FONT_PT,
    "axes.titlesize": TITLE_FONT_PT,
    "axes.labelsize": BASE_FONT_PT,
    "xtick.labelsize": BASE_FONT_PT - 0.5,
    "ytick.labelsize": BASE_FONT_PT - 0.5,
    "legend.fontsize": LEGEND_FONT_PT,
    "lines.linewidth": 1.3,
    "axes.linewidth": 0.7,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "pdf.fonttype": 42,  # TrueType in PDF: text stays editable in Illustrator/Inkscape
    "svg.fonttype": "none",
}

#: one fixed colour per ion, the same in every figure (colour-blind-safe Okabe-Ito and Tol hues);
#: alkali ions in order of size from blue to red, protons and others apart
SPECIES_COLORS = {
    "Li": "#0072B2",  # blue
    "Na": "#009E73",  # green
    "K": "#D55E00",  # vermilion
    "Rb": "#CC79A7",  # purple
    "Cs": "#E69F00",  # orange
    "H": "#56B4E9",  # sky blue
    "Ag": "#7F7F7F",  # grey
    "Cu": "#8C564B",  # brown
    "Ca": "#332288",  # indigo
    "Mg": "#117733",  # dark green
    "Ba": "#AA4499",  # wine
    "Tl": "#44AA99",  # teal
}
#: colours of species the map does not name (in order of appearance), distinct from the map
EXTRA_COLORS = ("#882255", "#999933", "#661100", "#6699CC", "#888888", "#000000")
#: colour of non-species lines (potential, current, charge)
NEUTRAL_COLOR = "#222222"
#: colour map of times (snapshots) and of swept values
SEQUENTIAL_CMAP = "viridis"

#: profiles whose visible fractions go below this (1 % of n_bulk) get a log axis by default:
#: plateaus of 0.5-7 % and backgrounds vanish on a linear one
LOG_AXIS_BELOW = 1.0e-2
#: lower end of a logarithmic fraction axis: four decades, about what ToF-SIMS resolves
LOG_AXIS_MIN = 1.0e-4
#: a curve whose largest value stays below this is not drawn or listed in a legend (zero curves)
ZERO_CURVE_MAX = 1.0e-6


def figure(width: str | float = "double", height_in: float | None = None, **kw: Any) -> Figure:
    """A matplotlib Figure (no pyplot) in the package style.

    width: "single" (3.5 in), "double" (7.2 in) or a width in inches; height_in: height in
    inches (default: 0.62 of the width). Extra keywords go to `Figure`. Constrained layout.
    """
    import matplotlib

    w = {"single": SINGLE_COLUMN_IN, "double": DOUBLE_COLUMN_IN}.get(width, width)  # type: ignore[arg-type]
    w = float(w)
    h = float(height_in) if height_in is not None else 0.62 * w
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(w, h), layout="constrained", **kw)
    return fig


def styled() -> Any:
    """Context manager: the package rc settings while a figure is drawn (fonts, line widths)."""
    import matplotlib

    return matplotlib.rc_context(RC)


def species_colors(names: Iterable[str]) -> dict[str, str]:
    """{name: colour} for `names`: the fixed map for known ions, extra colours in order for
    the others (never a colour of the map), so a species has one colour in every figure."""
    colors: dict[str, str] = {}
    extra = iter(EXTRA_COLORS * 4)
    for name in names:
        if name in colors:
            continue
        colors[name] = SPECIES_COLORS.get(name) or next(extra)
    return colors


def species_color(name: str) -> str:
    """The colour of ion `name` (the fixed map; a stable extra colour for an unknown name)."""
    if name in SPECIES_COLORS:
        return SPECIES_COLORS[name]
    return EXTRA_COLORS[sum(map(ord, name)) % len(EXTRA_COLORS)]


def ion_label(name: str, charge: int = 1) -> str:
    """Mathtext name of an ion with its charge: Li$^{+}$, Ca$^{2+}$, F$^{-}$ (mathtext)."""
    if charge == 0:
        return name
    sign = "+" if charge > 0 else "-"
    n = abs(int(charge))
    return f"{name}$^{{{'' if n == 1 else n}{sign}}}$"


def charges_from_case_toml(case_toml: str, names: Sequence[str]) -> dict[str, int]:
    """{species: charge number} from a case as TOML text (1 when the text does not say)."""
    charges = dict.fromkeys(names, 1)
    try:
        species = tomllib.loads(case_toml).get("species", {})
    except (tomllib.TOMLDecodeError, TypeError):
        return charges
    for name in names:
        entry = species.get(name, {})
        if isinstance(entry, dict) and isinstance(entry.get("charge", 1), int):
            charges[name] = int(entry.get("charge", 1))
    return charges


#: plain names and units of the dotted keys that fits and sweeps vary most (suffix -> words)
KEY_WORDS = {
    "sed.fwhm_eV": ("SED width (FWHM)", "eV"),
    "sed.vacancy_fraction": ("vacancy fraction", "1"),
    "D0_cm2_s": ("D$_0$", "cm$^2$/s"),
    "D_cm2_s": ("D", "cm$^2$/s"),
    "activation_energy_eV": ("activation energy", "eV"),
    "immobile_fraction": ("immobile fraction", "1"),
    "initial_fraction": ("initial fraction", "1"),
    "surface_fraction": ("surface fraction", "1"),
    "depth_resolution_nm": ("depth resolution", "nm"),
    "current_density_A_cm2": ("current density", "A/cm$^2$"),
    "potential_V": ("potential", "V"),
    "duration_s": ("duration", "s"),
    "temperature_K": ("temperature", "K"),
    "thickness_um": ("thickness", "$\\mu$m"),
    "n_bulk_cm3": ("$n_\\mathrm{bulk}$", "cm$^{-3}$"),
    "eps_r": ("relative permittivity", "1"),
    "depth_scale": ("depth scale", "1"),
    "depth_offset_nm": ("depth offset", "nm"),
}


def key_words(key: str) -> tuple[str, str]:
    """(plain name, unit) of a dotted case key: 'species.Li.sed.fwhm_eV' -> ('SED width (FWHM)
    of Li$^+$', 'eV'), 'stage.2.potential_V' -> ('potential of stage 2', 'V'); unknown keys:
    (key, '')."""
    parts = key.split(".")
    for suffix, (word, unit) in KEY_WORDS.items():
        if key.endswith(suffix):
            if parts[0] == "species" and len(parts) > 2:
                word = f"{word} of {ion_label(parts[1])}"
            elif parts[0] in ("stage", "data") and len(parts) > 2:
                word = f"{word} of {parts[0]} {parts[1]}"
            return word, unit
    return key, ""


def key_label(key: str) -> str:
    """Axis label of a dotted case key: plain name and unit in parentheses."""
    word, unit = key_words(key)
    return f"{word} ({unit})" if unit else word


def use_log_axis(profiles: Iterable[np.ndarray], *, scale: str | None = None) -> bool:
    """Whether a fraction axis is logarithmic.

    scale: "log" or "linear" forces it; None (default): log when a drawn profile (one whose
    largest value is at least LOG_AXIS_BELOW) goes below LOG_AXIS_BELOW somewhere, i.e. holds
    a plateau, a tail or a depleted layer that a linear axis would flatten.
    """
    if scale is not None:
        if scale not in ("log", "linear"):
            raise ValueError(f"scale must be 'log' or 'linear', got {scale!r}")
        return scale == "log"
    for values in profiles:
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size and v.max() >= LOG_AXIS_BELOW and v.min() < LOG_AXIS_BELOW:
            return True
    return False


def fraction_axis(ax: Any, log: bool, top: float = 1.0) -> None:
    """Label and limits of a fraction-of-n_bulk axis: log (1e-4 .. 1.5 top) or linear (0 .. 1.05
    top)."""
    top = max(float(top), 1.0) if np.isfinite(top) else 1.0
    if log:
        ax.set_yscale("log")
        ax.set_ylim(LOG_AXIS_MIN, 1.5 * top)
    else:
        ax.set_ylim(-0.02 * top, 1.05 * top)
    ax.set_ylabel(r"fraction of $n_\mathrm{bulk}$ (1)")


def time_unit(t_max_s: float) -> tuple[str, float]:
    """(unit name, seconds per unit) for a time axis running to t_max_s: s, min or h."""
    if t_max_s >= 2 * 3600.0:
        return "h", 3600.0
    if t_max_s >= 2 * 60.0:
        return "min", 60.0
    return "s", 1.0


def format_time(t_s: float) -> str:
    """A time in words people read: '35 s', '12.5 min', '11.1 h' (not '4e+04 s')."""
    if not math.isfinite(t_s):
        return "?"
    unit, scale = time_unit(abs(t_s))
    value = t_s / scale
    text = f"{value:.3g}"
    if "e" in text:
        text = f"{value:.0f}"
    return f"{text} {unit}"


def legend_outside(ax: Any, *, title: str | None = None, ncol: int = 1) -> Any:
    """A legend to the right of `ax`, outside the axes (never on the data); None if no labels."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        frameon=False,
        title=title,
        ncol=ncol,
    )


def legend_below(ax: Any, *, ncol: int = 3, title: str | None = None) -> Any:
    """A legend below `ax`, outside the axes (for wide legends); None if no labels."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        frameon=False,
        ncol=ncol,
        title=title,
    )


def legend_covers_data(fig: Figure, legend: Any, ax: Any) -> bool:
    """Whether `legend` overlaps any data point of the lines of `ax` (in display coordinates;
    draws the figure once). Used to check placements, and by the tests."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if hasattr(fig.canvas, "get_renderer") else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    fig.draw_without_rendering()
    box = legend.get_window_extent(renderer)
    for line in ax.get_lines():
        xy = line.get_xydata()
        if xy.size == 0:
            continue
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        pts = ax.transData.transform(xy)
        inside = (
            (pts[:, 0] >= box.x0)
            & (pts[:, 0] <= box.x1)
            & (pts[:, 1] >= box.y0)
            & (pts[:, 1] <= box.y1)
        )
        clip = ax.get_window_extent(renderer)
        visible = (
            (pts[:, 0] >= clip.x0)
            & (pts[:, 0] <= clip.x1)
            & (pts[:, 1] >= clip.y0)
            & (pts[:, 1] <= clip.y1)
        )
        if np.any(inside & visible):
            return True
    return False


def panel_title(ax: Any, letter: str, text: str) -> None:
    """Title '(a) text' at the upper left of `ax`, as journals label panels."""
    ax.set_title(f"({letter}) {text}", loc="left", fontsize=TITLE_FONT_PT)


def time_norm(times_s: np.ndarray) -> Any:
    """Colour normalisation of snapshot times (in the unit of `time_unit`): log when all are
    positive and span more than two decades, else linear."""
    from matplotlib.colors import LogNorm, Normalize

    t = np.asarray(times_s, dtype=float)
    t = t[np.isfinite(t)]
    if t.size == 0:
        return Normalize(0.0, 1.0)
    lo, hi = float(t.min()), float(t.max())
    if lo > 0 and hi > 100.0 * lo:
        return LogNorm(lo, hi)
    if hi <= lo:
        return Normalize(lo - 1.0, hi + 1.0)
    return Normalize(lo, hi)
