"""Figures of a D(n) inversion: the energy landscape read from the profiles (``nppsim plot``).

`plot_inversion` draws the analogues of the 2024 paper's figures (Gunawan, Schäfer, Weitzel,
PCCP 26 (2024) 14430) from an `InversionResult`:

- top row (its Fig. 1): per experiment, measured fractions (points) and the best simulation
  blurred with the depth resolution (lines) against depth, on a log concentration axis;
- bottom left (its Fig. 2): D(n) of every experiment with its 68 % band, the foreign D's as
  horizontal lines, the fraction range each experiment's data cover marked;
- bottom right (its Fig. 4): the Gaussian SED fitted to the PSED, the PSED dn/dE_F read from
  D(n), and per experiment the part of the PSED its ions left (between the Fermi level at the
  lowest native fraction it reached and the pristine Fermi level).
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from fitting.inversion_result import InversionResult

__all__ = ["plot_inversion"]

#: lowest fraction shown on the log concentration axis of the profile panels
LOG_FLOOR = 1.0e-3
#: size (inches) of one panel
PANEL_IN = (4.6, 3.6)


def _short(inv: InversionResult, k: int) -> str:
    """A short label of experiment k: its number and its foreign species."""
    foreign = "/".join(inv.foreign_D_cm2_s.get(inv.case_names[k], {})) or "?"
    return f"exp. {k + 1}, {foreign}+"


def _profile_panel(ax, prof, index: int) -> None:
    for s in prof.species:
        meas = np.maximum(prof.measured[s], LOG_FLOOR)
        line = ax.plot(prof.depth_nm, prof.model[s], lw=1.6, label=f"{s} model")[0]
        ax.plot(prof.depth_nm, meas, ".", ms=3, color=line.get_color(), label=f"{s} data")
    ax.set_yscale("log")
    ax.set_ylim(LOG_FLOOR, 1.5)
    ax.set_xlabel("depth (nm)")
    ax.set_ylabel("fraction of n_bulk")
    ax.set_title(f"exp. {index + 1}: {prof.case_name}", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")


def _d_panel(ax, inv: InversionResult) -> None:
    colors = {}
    for i, name in enumerate(inv.case_names):
        colors[name] = f"C{i}"
    for c in inv.curves:
        label = c.case or "all experiments"
        col = colors.get(c.case, "k") if c.case else "k"
        ax.plot(c.fraction, c.D_cm2_s, color=col, lw=1.8, label=f"D_{inv.species}: {label}")
        ax.fill_between(c.fraction, c.D_low_cm2_s, c.D_high_cm2_s, color=col, alpha=0.2, lw=0)
        ax.plot(c.knots, 10.0**c.log10_D_knots, "o", color=col, ms=3)
    values = [v for c in inv.curves for v in np.concatenate([c.D_low_cm2_s, c.D_high_cm2_s])]
    values += [d for per in inv.foreign_D_cm2_s.values() for d in per.values()]
    finite = [v for v in values if math.isfinite(v) and v > 0.0]
    ymin, ymax = (min(finite), max(finite)) if finite else (1e-20, 1e-10)
    for k, name in enumerate(inv.case_names):
        col = colors[name]
        for sp, d in inv.foreign_D_cm2_s.get(name, {}).items():
            ax.axhline(d, color=col, ls="--", lw=1.0, label=f"D_{sp} ({_short(inv, k)})")
        lo, hi = inv.case_valid_ranges[k]
        if math.isfinite(lo) and math.isfinite(hi):
            y = 10 ** (math.log10(ymin) + 0.04 * (k + 1) * math.log10(ymax / ymin))
            ax.plot([lo, hi], [y, y], color=col, lw=3, alpha=0.6, solid_capstyle="butt")
    ax.set_yscale("log")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel(f"{inv.species} fraction n / n_ref")
    ax.set_ylabel("D (cm$^2$/s)")
    ax.set_title("D(n) with 68 % band; bars: fraction range of each experiment's data", fontsize=8)
    ax.legend(fontsize=6, loc="upper left")


def _sed_panel(ax, inv: InversionResult) -> None:
    c0 = inv.curve
    s = c0.sed
    E = np.asarray(s.get("energy_eV", []), dtype=float)
    sigma = s["fwhm_eV"] / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    grid = np.linspace(s["center_eV"] - 4 * sigma, s["center_eV"] + 4 * sigma, 400)
    gauss = (
        s["n_sites"]
        * np.exp(-0.5 * ((grid - s["center_eV"]) / sigma) ** 2)
        / (sigma * math.sqrt(2 * math.pi))
    )
    ax.plot(grid, gauss, "k-", lw=1.2, label=f"Gaussian SED, FWHM {s['fwhm_eV'] * 1e3:.0f} meV")
    for i, c in enumerate(inv.curves):
        cs = c.sed
        Ec = np.asarray(cs["energy_eV"], dtype=float)
        dens = np.asarray(cs["density"], dtype=float)
        col = f"C{i}" if c.case else "C0"
        ax.plot(Ec, dens, color=col, lw=1.8, label=f"PSED {c.case or ''}".strip())
    for k, name in enumerate(inv.case_names):
        c = inv.curve_of(name)
        Ec = np.asarray(c.sed["energy_eV"], dtype=float)
        dens = np.asarray(c.sed["density"], dtype=float)
        lo = inv.case_valid_ranges[k][0]
        if not math.isfinite(lo):
            continue
        e_lo = float(np.interp(lo, c.fraction, Ec))
        part = (Ec >= e_lo) & np.isfinite(dens)
        ax.fill_between(
            Ec[part], 0.0, dens[part], color=f"C{k}", alpha=0.25, lw=0,
            label=f"emptied (mobile) in {_short(inv, k)}",
        )  # fmt: skip
    ax.axvline(0.0, color="0.5", lw=0.8, ls=":")
    if E.size:
        ax.set_xlim(min(grid[0], float(np.nanmin(E))), grid[-1])
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("E - E_F(n_ref) (eV)")
    ax.set_ylabel("sites per eV (fraction of n_bulk / eV)")
    ax.set_title("SED, populated SED (PSED) and the part each experiment emptied", fontsize=8)
    ax.legend(fontsize=6, loc="upper left")


def plot_inversion(inv: InversionResult, path: str | os.PathLike[str] | None = None) -> Figure:
    """Draw the landscape figure of an inversion; save it to `path` when given (atomically).

    Returns the matplotlib Figure (no pyplot: safe without a display).
    """
    profiles = list(inv.profiles)
    ncols = max(len(profiles), 2)
    fig = Figure(figsize=(PANEL_IN[0] * ncols, PANEL_IN[1] * 2), layout="constrained")
    grid = fig.add_gridspec(2, ncols)
    for i, prof in enumerate(profiles):
        index = inv.case_names.index(prof.case_name) if prof.case_name in inv.case_names else i
        _profile_panel(fig.add_subplot(grid[0, i]), prof, index)
    half = ncols // 2
    _d_panel(fig.add_subplot(grid[1, :half]), inv)
    _sed_panel(fig.add_subplot(grid[1, half:]), inv)
    fig.suptitle(
        f"Inversion of D({inv.species}): chi2/dof {inv.reduced_chi2:.3g}, "
        f"lambda {inv.regularization['lambda']:.3g} ({inv.regularization['criterion']})",
        fontsize=10,
    )
    if path is not None:
        from nppsim.plot import save_figure

        save_figure(fig, path)
    return fig
