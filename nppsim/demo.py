"""Teaching demo: what the width of the site-energy distribution (SED) does to a CAIT profile.

``nppsim demo sed-width`` (or `sed_width_figure`) draws four panels for the default case (K+ into
a Li3B7O12-like glass, 1.5 V for 4e4 s):

(a) the Gaussian SED N_s g(E) of the native ion (Li+) with its occupied part: filled up to the
    Fermi level E_F of the pristine glass, and (darker) up to E_F at the plateau estimate;
(b) D(n)/D_ref of the native ion against its fraction of n_bulk (log-log), with D_foreign and
    D_foreign/10: the plateau estimate is the fraction where D_native = D_foreign/10;
(c) the depth profiles (native and foreign fraction vs depth, log fractions) of the CAIT run,
    computed with the fast electroneutral solver;
(d) the plateau estimate against the SED width (FWHM) at the current vacancy fraction,
    temperature and D_foreign, with the current point and the simulated plateau (the native
    fraction at half the front depth), labelled with why the two differ (`plateau_note`).

Every axis is fixed (the slider ranges set the limits), so moving a slider moves the curves and
never the axes; legends sit below the panels. Words, not symbols, in titles and labels.

Interactive (``interactive=True``): sliders for FWHM (0.05-0.5 eV), vacancy fraction (0.01-0.5),
temperature (250-500 K) and log10 D_foreign (-18 to -14, cm^2/s). Changing the temperature changes
the thermal energy of the SED model and the thermal voltage of the run; D_ref of the native ion
stays the case's value.

The SED, its Fermi level, D(n) and the plateau estimate come from the `sed` package; the case ->
model translation is `nppsim.simulate.mobility_for`, so the demo shows the model the solver uses.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

import sed

from .errors import InputError, SimulationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .case import Case
    from .result import Result

logger = logging.getLogger(__name__)

#: slider ranges: SED FWHM (eV), vacancy fraction, temperature (K), log10 D_foreign (cm^2/s)
FWHM_RANGE_EV = (0.05, 0.5)
VACANCY_RANGE = (0.01, 0.5)
TEMPERATURE_RANGE_K = (250.0, 500.0)
LOG10_D_FOREIGN_RANGE = (-18.0, -14.0)
#: the demo run: the default case with the fast electroneutral solver, only the final profile
#: stored, and a fine grid 2000 nm deep at 1 nm (the default is 600 nm at 0.5 nm): D_foreign up to
#: 1e-14 cm^2/s carries K+ ~500 nm deep, and one run stays under ~0.2 s across the slider ranges
DEMO_RUN_VALUES: dict[str, object] = {
    "solver.method": "electroneutral",
    "solver.n_output": 1,
    "grid.fine_depth_nm": 2000.0,
    "grid.fine_spacing_nm": 1.0,
}
#: energy axis of panel (a), fixed so that widths can be compared by eye: +-4 sigma of the
#: widest slider FWHM (eV)
ENERGY_AXIS_EV = 4.0 * sed.fwhm_to_sigma(FWHM_RANGE_EV[1])
#: native fractions of panel (b), on a log axis: down to 1e-5 of n_bulk, so that the crossing
#: D_native = D_foreign/10 stays on the axes across the slider ranges (6.8e-5 at FWHM 0.15 eV)
FRACTION_MIN = 1.0e-5
#: fixed axes, so that moving a slider moves the curves, not the axes: panel (a) sites per eV
#: (the peak of a 0.1 eV wide SED with 10 % vacancies is 10.5; narrower SEDs are clipped)
SED_AXIS_MAX = 12.0
#: top of the Fermi-level lines of panel (a) (axes fraction): below their values' text
FERMI_LINE_TOP = 0.5
#: legends sit below their panels, never on the curves that move with the sliders
LEGEND_BELOW = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.19), "ncol": 2,
                "frameon": False}  # fmt: skip
#: panel (b) D_native/D_ref: D_foreign/D_ref/10 spans 1e-7 .. 1e-3 over the slider range
D_RATIO_AXIS = (1.0e-8, 3.0)
#: panel (c): depth (nm; the front reaches 20-530 nm over the slider ranges) and fractions
DEPTH_AXIS_NM = 600.0
PROFILE_AXIS = (1.0e-5, 1.5)
#: FWHM values (eV) of the plateau-vs-width curve of panel (d)
FWHM_CURVE_POINTS = 31
#: plateau axis of panel (d) (fraction of n_bulk): its lower end far below what ToF-SIMS
#: resolves (~1e-3)
PLATEAU_AXIS = (1.0e-5, 1.0)
#: runs and SED models kept, so that moving a slider back costs nothing
CACHE_SIZE = 64
#: legend label of the simulated plateau in panel (d) (the note of `plateau_note` follows)
SIMULATED_LABEL = "simulated, at half the front depth"
#: colour of the plateau (estimate lines, Fermi level at the plateau)
PLATEAU_COLOR = "#882255"
#: labels of the four data axes (matplotlib Axes.get_label), in panel order
AXIS_LABELS = ("sed", "diffusivity", "profiles", "plateau")


@dataclass(frozen=True)
class DemoSettings:
    """The slider values.

    fwhm_eV: full width at half maximum of the native ion's Gaussian SED (eV);
    vacancy_fraction: fraction of native sites empty in the pristine glass;
    temperature_K: sample temperature (K); D_foreign_cm2_s: diffusivity of the foreign ion
    (cm^2/s).
    """

    fwhm_eV: float = 0.25
    vacancy_fraction: float = 0.10
    temperature_K: float = 350.0
    D_foreign_cm2_s: float = 2.0e-16

    def __post_init__(self) -> None:
        for name in ("fwhm_eV", "temperature_K", "D_foreign_cm2_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"demo: {name} must be a finite number > 0, got {value!r}")
        if not 0.0 < self.vacancy_fraction < 1.0:
            raise InputError(
                f"demo: vacancy_fraction must lie in (0, 1), got {self.vacancy_fraction!r}"
            )


@functools.lru_cache(maxsize=1)
def _base_case() -> Case:
    from .case import default_case

    return default_case().with_values(DEMO_RUN_VALUES)


def _species_names() -> tuple[str, str]:
    case = _base_case()
    foreign = next(s.name for s in case.species if s.role == "foreign")
    return case.native.name, foreign


def demo_case(settings: DemoSettings) -> Case:
    """The default case with the demo run settings (DEMO_RUN_VALUES) and the slider values."""
    native, foreign = _species_names()
    return _base_case().with_values(
        {
            f"species.{native}.sed.fwhm_eV": settings.fwhm_eV,
            f"species.{native}.sed.vacancy_fraction": settings.vacancy_fraction,
            "sample.temperature_K": settings.temperature_K,
            f"species.{foreign}.D_cm2_s": settings.D_foreign_cm2_s,
        }
    )


@functools.lru_cache(maxsize=CACHE_SIZE)
def native_mobility(fwhm_eV: float, vacancy_fraction: float, temperature_K: float) -> Any:
    """The native ion's `sed.SEDMobility` (D in cm^2/s vs fraction of n_bulk) of the demo case
    at SED FWHM `fwhm_eV` (eV), `vacancy_fraction` and `temperature_K` (K)."""
    from .simulate import mobility_for

    case = demo_case(DemoSettings(fwhm_eV, vacancy_fraction, temperature_K))
    return mobility_for(case, case.native)


def plateau_estimate(mobility: Any, D_foreign_cm2_s: float) -> float:
    """Native fraction of n_bulk where D_native = D_foreign / 10 (`plateau_fraction` of the
    model, divided by its reference fraction); NaN if D_native never falls that low."""
    try:
        return float(mobility.plateau_fraction(D_foreign_cm2_s)) / float(mobility.n_ref)
    except ValueError:
        return math.nan


@functools.lru_cache(maxsize=CACHE_SIZE)
def plateau_vs_fwhm(
    vacancy_fraction: float, temperature_K: float, D_foreign_cm2_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Plateau estimate (native fraction of n_bulk) at FWHM_CURVE_POINTS SED widths (eV) across
    the slider range; returns (fwhm_eV, fraction), NaN where there is no plateau."""
    case = _base_case()
    native = case.native
    fwhm = np.linspace(*FWHM_RANGE_EV, FWHM_CURVE_POINTS)
    fraction = np.array(
        [
            plateau_estimate(
                sed.SEDMobility(
                    sed.GaussianSED(float(f)),
                    D_ref_cm2_s=native.D_cm2_s,
                    n_ref=native.initial_fraction,
                    temperature_K=temperature_K,
                    vacancy_fraction=vacancy_fraction,
                    filling=native.sed.filling,
                ),
                D_foreign_cm2_s,
            )
            for f in fwhm
        ]
    )
    return fwhm, fraction


@functools.lru_cache(maxsize=CACHE_SIZE)
def demo_run(settings: DemoSettings) -> Result:
    """The CAIT run of the demo case at `settings` (electroneutral solver, cached).

    Raises SimulationError or CaseError (an InputError) when the run is not possible.
    """
    from .simulate import simulate

    return simulate(demo_case(settings))


def simulated_plateau(result: Result, native: str, foreign: str) -> tuple[float, float]:
    """(depth in nm, native fraction) at half the foreign front depth (fraction 0.5) of the final
    profile: where the replaced zone's plateau is read off; NaNs if there is no front."""
    front = result.front_depth_nm(foreign, 0.5)
    if not math.isfinite(front):
        return math.nan, math.nan
    x = 0.5 * front
    return x, float(np.interp(x, result.depth_nm, result.final_fraction(native)))


# ---------------------------------------------------------------------- drawing

#: NaN pair: the data of a line that is hidden (no plateau, no run)
_HIDDEN = (math.nan, math.nan)


class SEDWidthDemo:
    """The four panels and (when interactive) the sliders; `update` redraws for new settings.

    The artists are made once and updated in place (set_data), so that a slider move costs one
    cached-or-new run and a redraw, not a rebuild of axes and ticks.
    fig: the matplotlib Figure; axes: the four data axes (a)-(d), labelled AXIS_LABELS;
    sliders: the four matplotlib Slider widgets (empty when not interactive).
    """

    def __init__(self, fig: Figure, settings: DemoSettings, interactive: bool) -> None:
        self.fig = fig
        self.native, self.foreign = _species_names()
        bottom = 0.33 if interactive else 0.16
        grid = fig.add_gridspec(
            2, 2, left=0.09, right=0.965, bottom=bottom, top=0.93, hspace=0.68, wspace=0.3
        )
        self.axes: tuple[Axes, ...] = tuple(
            fig.add_subplot(grid[i // 2, i % 2], label=label) for i, label in enumerate(AXIS_LABELS)
        )
        self.sliders: list[Any] = []
        self.settings = settings
        self._build()
        if interactive:
            self._add_sliders(settings)
        self.update(settings)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        from . import style as fs

        ax_a, ax_b, ax_c, ax_d = self.axes
        nat, fo = self.native, self.foreign
        ion_n, ion_f = fs.ion_label(nat), fs.ion_label(fo)
        c_n, c_f = fs.species_color(nat), fs.species_color(fo)
        c_p = PLATEAU_COLOR
        self.energy_eV = np.linspace(-ENERGY_AXIS_EV, ENERGY_AXIS_EV, 600)
        self.fractions = np.logspace(math.log10(FRACTION_MIN), 0.0, 400)
        small = {"fontsize": fs.LEGEND_FONT_PT}

        (self.l_sed,) = ax_a.plot(*_HIDDEN, color="k", lw=1.3, label="all sites")
        self.fills: list[Any] = []
        # the Fermi levels end below the legend, so that it covers no data
        self.l_ef = ax_a.axvline(math.nan, ymax=FERMI_LINE_TOP, color=c_n, lw=1.3,
                                 label="Fermi level, pristine glass")  # fmt: skip
        self.l_ef_p = ax_a.axvline(math.nan, ymax=FERMI_LINE_TOP, color=c_p, lw=1.3, ls="--",
                                   label="Fermi level at the plateau")  # fmt: skip
        ax_a.fill_between([], [], color=c_n, alpha=0.3, label="occupied in the pristine glass")
        ax_a.fill_between([], [], color=c_p, alpha=0.45, label="still occupied at the plateau")
        self.t_a = ax_a.text(0.02, 0.62, "", transform=ax_a.transAxes, va="top", **small)
        ax_a.set_xlim(-ENERGY_AXIS_EV, ENERGY_AXIS_EV)
        ax_a.set_ylim(0.0, SED_AXIS_MAX)
        ax_a.set_xlabel("site energy (eV)")
        ax_a.set_ylabel("sites ($n_\\mathrm{bulk}$ per eV)")
        ax_a.set_title(f"(a) site energies of {ion_n}", loc="left")
        ax_a.legend(**LEGEND_BELOW, **small)

        ax_b.set_xscale("log")
        ax_b.set_yscale("log")
        (self.l_d,) = ax_b.plot(*_HIDDEN, color=c_n, lw=1.8, label=f"D({ion_n})")
        self.l_df = ax_b.axhline(1.0, color=c_f, lw=1.3, label=f"D({ion_f})")
        self.l_df10 = ax_b.axhline(1.0, color=c_f, lw=1.1, ls="--", label=f"D({ion_f}) / 10")
        self.l_plateau = ax_b.axvline(math.nan, color=c_p, lw=1.2, ls=":", label="plateau estimate")
        self.l_plateau.set_gid("plateau")
        self.t_b = ax_b.text(0.02, 0.97, "", transform=ax_b.transAxes, va="top", **small)
        ax_b.set_xlim(FRACTION_MIN, 1.0)
        ax_b.set_ylim(*D_RATIO_AXIS)
        ax_b.set_xlabel(f"{ion_n} fraction of $n_\\mathrm{{bulk}}$ (1)")
        ax_b.set_ylabel("D / D of the pristine glass (1)")
        ax_b.set_title(f"(b) how fast {ion_n} moves", loc="left")
        ax_b.legend(**LEGEND_BELOW, **small)

        (self.l_nat,) = ax_c.plot(*_HIDDEN, color=c_n, lw=1.8, label=ion_n)
        (self.l_fo,) = ax_c.plot(*_HIDDEN, color=c_f, lw=1.8, label=ion_f)
        self.l_c_est = ax_c.axhline(math.nan, color=c_p, lw=1.0, ls=":", label="plateau estimate")
        (self.m_c_sim,) = ax_c.plot(*_HIDDEN, "o", color="k", ms=5, label="simulated plateau")
        self.t_c = ax_c.text(0.5, 0.5, "", transform=ax_c.transAxes, ha="center", va="center",
                             wrap=True, **small)  # fmt: skip
        ax_c.set_yscale("log")
        ax_c.set_xlim(0.0, DEPTH_AXIS_NM)
        ax_c.set_ylim(*PROFILE_AXIS)
        ax_c.set_xlabel("depth (nm)")
        ax_c.set_ylabel("fraction of $n_\\mathrm{bulk}$ (1)")
        ax_c.legend(**LEGEND_BELOW, **small)

        ax_d.set_yscale("log")
        est_label = f"estimate: where D({ion_n}) = D({ion_f})/10"
        (self.l_curve,) = ax_d.plot(*_HIDDEN, color=c_p, lw=1.4, label=est_label)
        (self.m_d_est,) = ax_d.plot(*_HIDDEN, "s", color=c_p, ms=6, label="estimate, this width")
        (self.m_d_sim,) = ax_d.plot(*_HIDDEN, "o", color="k", ms=5, label=SIMULATED_LABEL)
        ax_d.set_xlim(*FWHM_RANGE_EV)
        ax_d.set_ylim(*PLATEAU_AXIS)
        ax_d.set_xlabel("SED width, FWHM (eV)")
        ax_d.set_ylabel(f"{ion_n} plateau (fraction of $n_\\mathrm{{bulk}}$)")
        ax_d.set_title("(d) plateau against the SED width", loc="left")
        ax_d.legend(**{**LEGEND_BELOW, "ncol": 1}, **small)

    def _add_sliders(self, s: DemoSettings) -> None:
        from matplotlib.widgets import Slider

        from .style import ion_label

        d_label = f"log10 D({ion_label(self.foreign)}) (cm$^2$/s)"

        log_d = math.log10(s.D_foreign_cm2_s)
        specs = [
            ("SED width, FWHM (eV)", FWHM_RANGE_EV, s.fwhm_eV, "%.3f"),
            ("fraction of sites empty", VACANCY_RANGE, s.vacancy_fraction, "%.3f"),
            ("temperature (K)", TEMPERATURE_RANGE_K, s.temperature_K, "%.0f"),
            (d_label, LOG10_D_FOREIGN_RANGE, log_d, "%.2f"),
        ]
        for k, (label, (lo, hi), value, fmt) in enumerate(specs):
            ax = self.fig.add_axes((0.2, 0.13 - 0.035 * k, 0.6, 0.022))
            slider = Slider(ax, label, min(lo, value), max(hi, value), valinit=value, valfmt=fmt)
            slider.on_changed(self._on_slider)
            self.sliders.append(slider)

    def _on_slider(self, _value: float) -> None:
        fwhm, vac, temp, log_d = (float(s.val) for s in self.sliders)
        self.update(DemoSettings(fwhm, vac, temp, 10.0**log_d))
        self.fig.canvas.draw_idle()

    # ------------------------------------------------------------------ update

    def update(self, settings: DemoSettings) -> None:
        """Recompute what `settings` changes (SED models, curves and runs are cached) and
        update the artists; the caller redraws (``fig.canvas.draw_idle()``)."""
        self.settings = settings
        mob = native_mobility(settings.fwhm_eV, settings.vacancy_fraction, settings.temperature_K)
        plateau = plateau_estimate(mob, settings.D_foreign_cm2_s)
        try:
            result: Result | None = demo_run(settings)
            failure = ""
        except (SimulationError, InputError) as exc:
            result, failure = None, " ".join(str(exc).split())
        self._update_sed(mob, plateau)
        self._update_diffusivity(mob, plateau, settings.D_foreign_cm2_s)
        sim_plateau = self._update_profiles(result, failure, plateau)
        self._update_plateau_curve(settings, plateau, sim_plateau, mob)
        from . import style as fs

        self.fig.suptitle(
            f"What the width of the site energies does: {fs.ion_label(self.native)} sites with "
            f"FWHM {settings.fwhm_eV:.3g} eV, {100 * settings.vacancy_fraction:.3g} % empty, "
            f"{settings.temperature_K:.4g} K, D({fs.ion_label(self.foreign)}) = "
            f"{settings.D_foreign_cm2_s:.3g} cm$^2$/s",
            fontsize=fs.TITLE_FONT_PT + 0.5,
        )

    def _update_sed(self, mob: Any, plateau: float) -> None:
        ax = self.axes[0]
        E = self.energy_eV
        g = np.asarray(mob.sed_eV(E))
        self.l_sed.set_data(E, g)
        for fill in self.fills:
            fill.remove()
        E_F = mob.fermi_level_ref_eV
        color = self.l_ef.get_color()
        self.fills = [ax.fill_between(E, mob.psed_eV(E, mob.n_ref), color=color, alpha=0.3)]
        self.l_ef.set_xdata([E_F, E_F])
        text = f"Fermi level, pristine: {E_F:+.3f} eV"
        if math.isfinite(plateau):
            n_plateau = plateau * mob.n_ref
            E_p = float(mob.fermi_level_eV(n_plateau))
            self.fills.append(
                ax.fill_between(E, mob.psed_eV(E, n_plateau), color=PLATEAU_COLOR, alpha=0.45)
            )
            self.l_ef_p.set_xdata([E_p, E_p])
            text += f"\nat the plateau: {E_p:+.3f} eV"
        else:
            self.l_ef_p.set_xdata(_HIDDEN)
        self.t_a.set_text(text)

    def _update_diffusivity(self, mob: Any, plateau: float, D_foreign: float) -> None:
        ratio = np.asarray(mob.D(self.fractions * mob.n_ref)) / mob.D_ref_cm2_s
        self.l_d.set_data(self.fractions, ratio)
        r_f = D_foreign / mob.D_ref_cm2_s
        self.l_df.set_ydata([r_f, r_f])
        self.l_df10.set_ydata([r_f / 10.0, r_f / 10.0])
        self.l_plateau.set_xdata([plateau, plateau] if math.isfinite(plateau) else _HIDDEN)
        shown = f"{plateau:.3g}" if math.isfinite(plateau) else "none"
        self.t_b.set_text(
            f"D of the pristine glass: {mob.D_ref_cm2_s:.3g} cm$^2$/s\nplateau estimate: {shown}"
        )

    def _update_profiles(self, result: Result | None, failure: str, plateau: float) -> float:
        """Profiles of panel (c); returns the simulated plateau (NaN without one)."""
        ax = self.axes[2]
        self.l_c_est.set_ydata([plateau, plateau] if math.isfinite(plateau) else _HIDDEN)
        if result is None:
            for line in (self.l_nat, self.l_fo, self.m_c_sim):
                line.set_data(*_HIDDEN)
            self.t_c.set_text(f"run failed:\n{failure[:200]}")
            ax.set_title("(c) depth profiles of the CAIT run", loc="left")
            return math.nan
        from .style import format_time

        self.t_c.set_text("")
        self.l_nat.set_data(result.depth_nm, result.final_fraction(self.native))
        self.l_fo.set_data(result.depth_nm, result.final_fraction(self.foreign))
        x_sim, c_sim = simulated_plateau(result, self.native, self.foreign)
        self.m_c_sim.set_data([x_sim], [c_sim])
        ax.set_title(
            f"(c) depth profiles after {format_time(float(result.times_s[-1]))} at "
            f"{float(result.front.potential_V[-1]):.3g} V",
            loc="left",
        )
        return c_sim

    def _update_plateau_curve(
        self, settings: DemoSettings, plateau: float, sim_plateau: float, mob: Any
    ) -> None:
        fwhm, fraction = plateau_vs_fwhm(
            settings.vacancy_fraction, settings.temperature_K, settings.D_foreign_cm2_s
        )
        self.l_curve.set_data(fwhm, fraction)
        self.m_d_est.set_data([settings.fwhm_eV], [plateau])
        shown_sim = sim_plateau if math.isfinite(sim_plateau) and sim_plateau > 0 else math.nan
        self.m_d_sim.set_data([settings.fwhm_eV], [shown_sim])
        note = plateau_note(mob, settings, plateau, shown_sim, self.native, self.foreign)
        self.m_d_sim.set_label(SIMULATED_LABEL + (f",\n{note}" if note else ""))
        from .style import LEGEND_FONT_PT

        self.axes[3].legend(**{**LEGEND_BELOW, "ncol": 1}, fontsize=LEGEND_FONT_PT)


def plateau_note(
    mob: Any, settings: DemoSettings, estimate: float, simulated: float, native: str, foreign: str
) -> str:
    """Why the simulated plateau differs from the estimate, in words and numbers (panel (d)).

    The estimate takes the native fraction where D_native = D_foreign/10. In the run, the native
    ions left behind the front keep drifting out (at D_native/D_foreign times the speed of the
    foreign ions) for as long as the front has passed them, so what is left at half the front
    depth sits where D_native is a few times (not exactly ten times) below D_foreign; the note
    gives that factor. Where D_native changes slowly with the fraction (a narrow SED, deep in
    its tail) a small change of D is a large change of fraction, hence the wider gap there.
    """
    from .style import ion_label

    if not (math.isfinite(estimate) and math.isfinite(simulated) and estimate > 0):
        return ""
    d_sim = float(mob.D(simulated * mob.n_ref))
    factor = settings.D_foreign_cm2_s / d_sim if d_sim > 0 else math.inf
    n, f = ion_label(native), ion_label(foreign)
    return (
        f"{simulated / estimate:.2g} x the estimate: {n} behind the front keeps\n"
        f"drifting out until D({n}) = D({f})/{factor:.2g}, not /10"
    )


def sed_width_figure(
    fwhm_eV: float = 0.25,
    vacancy_fraction: float = 0.10,
    temperature_K: float = 350.0,
    D_foreign_cm2_s: float = 2.0e-16,
    interactive: bool = False,
) -> Figure:
    """The four-panel SED-width demo (module docstring) at the given values.

    fwhm_eV: FWHM of the native ion's Gaussian SED (eV); vacancy_fraction: fraction of native
    sites empty in the pristine glass; temperature_K: temperature (K); D_foreign_cm2_s: constant
    diffusivity of the foreign ion (cm^2/s). interactive: build the figure with pyplot and add
    sliders (call ``matplotlib.pyplot.show()`` to use them); otherwise a plain Figure that needs
    no display (save it with `nppsim.plot.save_figure`). InputError for values out of range.
    """
    settings = DemoSettings(fwhm_eV, vacancy_fraction, temperature_K, D_foreign_cm2_s)
    from .style import DOUBLE_COLUMN_IN, styled

    size = (10.0, 10.0) if interactive else (DOUBLE_COLUMN_IN, 7.6)
    with styled():
        if interactive:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=size)
        else:
            from matplotlib.figure import Figure

            fig = Figure(figsize=size)
        demo = SEDWidthDemo(fig, settings, interactive)
    # the sliders stop responding once garbage-collected: the figure keeps the demo alive
    fig._nppsim_demo = demo  # type: ignore[attr-defined]
    return fig
