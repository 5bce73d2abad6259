"""The Teach page: what the width of the site-energy distribution (SED) does, for students.

The same model as ``nppsim demo sed-width`` (`nppsim.demo`: the default K+ CAIT case, the
electroneutral solver, the SED, D(n) and plateau estimate of the `sed` package), drawn with
Bokeh so that a slider move only sends new data to the browser: four panels with fixed axes,
each with one line saying what to notice, and four sliders (FWHM, vacancy fraction,
temperature, D of the foreign ion). `TeachPage.update` is what a slider release runs; it
records its own duration (`last_update_s`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from nppsim import demo
from nppsim.errors import InputError, SimulationError
from nppsim.gui.common import fmt, one_line

#: fixed axes (so that nothing jumps when a slider moves)
#: (a) site energy (eV): the demo's own +-4 sigma of the widest SED; sites per eV on a log axis
#: from a thousandth of n_bulk per eV (the tail that holds the plateau) to above the peak of the
#: narrowest SED of the slider range (37 n_bulk/eV at 0.05 eV and vacancy fraction 0.5)
SED_Y_RANGE = (1.0e-3, 60.0)
#: (b) native fraction (log: plateaus span 1e-4 .. 0.5) and D / D_ref (log): D_foreign / 10 of
#: the slider range lies between 1e-7 and 1e-3 of the default D_ref (1e-12 cm^2/s)
FRACTION_RANGE = (1.0e-4, 1.0)
D_RATIO_RANGE = (1.0e-10, 3.0)
#: (c) depth (nm): the front of the default case (1.5 V, 4e4 s) reaches 17-720 nm across the
#: slider range (measured: D_K = 1e-18 at 500 K .. 1e-14 cm^2/s at 250 K)
DEPTH_RANGE_NM = (0.0, 800.0)
FRACTION_Y_RANGE = (-0.02, 1.05)
#: (d) plateau (fraction of n_bulk, log)
PLATEAU_RANGE = (1.0e-5, 1.0)
#: energy grid of panel (a) and fraction grid of panel (b)
N_ENERGIES = 400
N_FRACTIONS = 300
#: slider steps
FWHM_STEP_EV = 0.01
VACANCY_STEP = 0.01
TEMPERATURE_STEP_K = 5.0
LOG_D_STEP = 0.1
#: plot size (pixels)
PLOT_W, PLOT_H = 520, 330

#: what to notice, one line under each panel (plain words, for students)
CAPTIONS = (
    "Blue: the sites Li+ fills in the fresh glass, from the lowest energy up. Red: the few "
    "deepest sites Li+ still holds at the plateau.",
    "As Li+ leaves, D(Li+) (blue) falls steeply. Where it drops below D(K+)/10 (orange dashed; "
    "solid: D(K+)), the last Li+ is stuck: that fraction (red dotted) is the plateau.",
    "K+ (orange) replaces Li+ (blue) behind the front, but a plateau of immobile Li+ stays; "
    "the dotted line is the estimate from panel (b).",
    "A wider SED has a longer low-energy tail, so more Li+ is left behind: the plateau rises "
    "steeply with the FWHM.",
)


def _figure(title: str, x_range: tuple, y_range: tuple, x_label: str, y_label: str, **kw: Any):
    from bokeh.models import Range1d
    from bokeh.plotting import figure

    fig = figure(
        title=title,
        width=PLOT_W,
        height=PLOT_H,
        x_range=Range1d(*x_range),
        y_range=Range1d(*y_range),
        tools="pan,wheel_zoom,box_zoom,reset,save",
        **kw,
    )
    fig.xaxis.axis_label = x_label
    fig.yaxis.axis_label = y_label
    fig.toolbar.logo = None
    return fig


class TeachPage:
    """The Teach page of one session: sliders, four Bokeh panels, captions, a status line."""

    def __init__(self) -> None:
        import panel as pn
        from bokeh.models import ColumnDataSource, Span

        case = demo.demo_case(demo.DemoSettings())
        self.native = case.native.name
        self.foreign = next(sp.name for sp in case.species if sp.role == "foreign")
        s = demo.DemoSettings()
        self.fwhm = pn.widgets.FloatSlider(
            label="SED width, FWHM (eV)", start=demo.FWHM_RANGE_EV[0], end=demo.FWHM_RANGE_EV[1],
            step=FWHM_STEP_EV, value=s.fwhm_eV, format="0.00",
        )  # fmt: skip
        self.vacancy = pn.widgets.FloatSlider(
            label="vacancy fraction (empty sites)", start=demo.VACANCY_RANGE[0],
            end=demo.VACANCY_RANGE[1], step=VACANCY_STEP, value=s.vacancy_fraction, format="0.00",
        )  # fmt: skip
        self.temperature = pn.widgets.FloatSlider(
            label="temperature (K)", start=demo.TEMPERATURE_RANGE_K[0],
            end=demo.TEMPERATURE_RANGE_K[1], step=TEMPERATURE_STEP_K, value=s.temperature_K,
            format="0",
        )  # fmt: skip
        self.log_d = pn.widgets.FloatSlider(
            label=f"log10 D({self.foreign}+) (cm²/s)", start=demo.LOG10_D_FOREIGN_RANGE[0],
            end=demo.LOG10_D_FOREIGN_RANGE[1], step=LOG_D_STEP,
            value=round(math.log10(s.D_foreign_cm2_s), 1), format="0.0",
        )  # fmt: skip
        self.sliders = (self.fwhm, self.vacancy, self.temperature, self.log_d)
        for w in self.sliders:
            w.param.watch(self._on_slider, "value_throttled")
        self.status = pn.pane.Markdown("", name="teach-status", css_classes=["teach-status"])
        self.last_update_s = math.nan
        self.n_updates = 0

        nat, fo = self.native, self.foreign
        self.src_sed = ColumnDataSource({"E": [], "g": [], "fill0": [], "fillp": [], "floor": []})
        self.src_d = ColumnDataSource({"c": [], "ratio": []})
        self.src_prof = ColumnDataSource({"x": [], "nat": [], "fo": []})
        self.src_sim = ColumnDataSource({"x": [], "y": []})
        self.src_curve = ColumnDataSource({"fwhm": [], "plateau": []})
        self.src_est = ColumnDataSource({"fwhm": [], "y": []})
        self.src_simd = ColumnDataSource({"fwhm": [], "y": []})

        e_max = demo.ENERGY_AXIS_EV
        self.fig_sed = _figure(
            f"(a) site energies of {nat}+", (-e_max, e_max), SED_Y_RANGE, "site energy E (eV)",
            "sites per eV (of n_bulk)", y_axis_type="log",
        )  # fmt: skip
        f = self.fig_sed
        f.varea("E", y1="floor", y2="fill0", source=self.src_sed, color="#1f77b4", alpha=0.3,
                legend_label="filled, fresh glass")  # fmt: skip
        f.varea("E", y1="floor", y2="fillp", source=self.src_sed, color="#d62728", alpha=0.5,
                legend_label="filled at the plateau")  # fmt: skip
        f.line("E", "g", source=self.src_sed, color="black", line_width=2, legend_label="sites")
        self.span_ef = Span(location=0.0, dimension="height", line_color="#1f77b4", line_width=2)
        self.span_efp = Span(location=0.0, dimension="height", line_color="#d62728",
                             line_width=2, line_dash="dashed")  # fmt: skip
        f.add_layout(self.span_ef)
        f.add_layout(self.span_efp)
        f.legend.location = "top_left"

        self.fig_d = _figure(
            f"(b) diffusivity of {nat}+", FRACTION_RANGE, D_RATIO_RANGE,
            f"{nat} fraction of n_bulk", "D / D_ref", x_axis_type="log", y_axis_type="log",
        )  # fmt: skip
        self.fig_d.line("c", "ratio", source=self.src_d, color="#1f77b4", line_width=2,
                        legend_label=f"D({nat}+)")  # fmt: skip
        self.span_df = Span(location=1.0, dimension="width", line_color="#ff7f0e", line_width=2)
        self.span_df10 = Span(location=0.1, dimension="width", line_color="#ff7f0e",
                              line_width=2, line_dash="dashed")  # fmt: skip
        self.span_plateau = Span(location=0.1, dimension="height", line_color="#d62728",
                                 line_width=2, line_dash="dotted")  # fmt: skip
        for span in (self.span_df, self.span_df10, self.span_plateau):
            self.fig_d.add_layout(span)
        self.fig_d.legend.location = "bottom_right"

        self.fig_prof = _figure(
            "(c) depth profiles after the CAIT run", DEPTH_RANGE_NM, FRACTION_Y_RANGE,
            "depth (nm)", "fraction of n_bulk",
        )  # fmt: skip
        self.fig_prof.line("x", "nat", source=self.src_prof, color="#1f77b4", line_width=2.5,
                           legend_label=f"{nat}+")  # fmt: skip
        self.fig_prof.line("x", "fo", source=self.src_prof, color="#ff7f0e", line_width=2.5,
                           legend_label=f"{fo}+")  # fmt: skip
        self.fig_prof.scatter("x", "y", source=self.src_sim, size=9, color="black",
                              legend_label="simulated plateau")  # fmt: skip
        self.span_est = Span(location=0.0, dimension="width", line_color="#d62728",
                             line_width=2, line_dash="dotted")  # fmt: skip
        self.fig_prof.add_layout(self.span_est)
        self.fig_prof.legend.location = "center_right"

        self.fig_plateau = _figure(
            "(d) plateau vs SED width", demo.FWHM_RANGE_EV, PLATEAU_RANGE, "SED FWHM (eV)",
            f"{nat} plateau (fraction of n_bulk)", y_axis_type="log",
        )  # fmt: skip
        g = self.fig_plateau
        g.line("fwhm", "plateau", source=self.src_curve, color="#d62728", line_width=2,
               legend_label="estimate")  # fmt: skip
        g.scatter("fwhm", "y", source=self.src_est, marker="square", size=10, color="#d62728",
                  legend_label="now (estimate)")  # fmt: skip
        g.scatter("fwhm", "y", source=self.src_simd, size=9, color="black",
                  legend_label="now (simulated)")  # fmt: skip
        g.legend.location = "bottom_right"

        self.energy = np.linspace(-e_max, e_max, N_ENERGIES)
        self.fractions = np.geomspace(*FRACTION_RANGE, N_FRACTIONS)
        self.update()

    # ------------------------------------------------------------------ layout

    def layout(self) -> Any:
        """The page's Panel layout."""
        import panel as pn

        intro = pn.pane.Markdown(
            "### What the SED width does\n"
            f"A beam of {self.foreign}+ ions charges the front of a {self.native}+ glass; the "
            f"field drives {self.native}+ out and {self.foreign}+ in. Each {self.native}+ sits "
            "on a site with its own energy: the site-energy distribution (SED). Move a slider "
            "and watch the four panels (the CAIT run uses the fast electroneutral solver)."
        )

        def card(fig: Any, caption: str) -> Any:
            return pn.Column(
                pn.pane.Bokeh(fig), pn.pane.Markdown(caption, width=PLOT_W, margin=(0, 10))
            )

        panels = pn.GridBox(
            card(self.fig_sed, CAPTIONS[0]),
            card(self.fig_d, CAPTIONS[1]),
            card(self.fig_prof, CAPTIONS[2]),
            card(self.fig_plateau, CAPTIONS[3]),
            ncols=2,
        )
        controls = pn.Column(*self.sliders, self.status, width=330)
        return pn.Row(controls, pn.Column(intro, panels), name="Teach")

    # ------------------------------------------------------------------ update

    def settings(self) -> demo.DemoSettings:
        """The slider values as the demo's settings."""
        return demo.DemoSettings(
            float(self.fwhm.value),
            float(self.vacancy.value),
            float(self.temperature.value),
            10.0 ** float(self.log_d.value),
        )

    def _on_slider(self, _event: Any) -> None:
        self.update()

    def update(self) -> float:
        """Recompute for the current slider values and update the panels; returns (and stores
        in `last_update_s`) the time it took (s)."""
        t0 = time.perf_counter()
        s = self.settings()
        mob = demo.native_mobility(s.fwhm_eV, s.vacancy_fraction, s.temperature_K)
        plateau = demo.plateau_estimate(mob, s.D_foreign_cm2_s)
        try:
            result = demo.demo_run(s)
            failure = ""
        except (SimulationError, InputError) as exc:
            result, failure = None, one_line(exc)
        with np.errstate(all="ignore"):
            self._update_sed(mob, plateau)
            self._update_diffusivity(mob, plateau, s.D_foreign_cm2_s)
            sim = self._update_profiles(result, failure, plateau)
            self._update_curve(s, plateau, sim)
        self.last_update_s = time.perf_counter() - t0
        self.n_updates += 1
        run = (
            failure if result is None else f"front at {result.front_depth_nm(self.foreign):.0f} nm"
        )
        self.status.object = (
            f"**plateau estimate {fmt(100 * plateau, '.3g')} %**, simulated "
            f"{fmt(100 * sim, '.3g')} %; {run}.  \n"
            f"update #{self.n_updates} took {self.last_update_s:.2f} s"
        )
        return self.last_update_s

    def _update_sed(self, mob: Any, plateau: float) -> None:
        E = self.energy
        floor = SED_Y_RANGE[0]
        g = np.maximum(np.asarray(mob.sed_eV(E)), floor)
        fill0 = np.maximum(np.asarray(mob.psed_eV(E, mob.n_ref)), floor)
        self.span_ef.location = float(mob.fermi_level_ref_eV)
        if math.isfinite(plateau) and plateau > 0:
            n_p = plateau * mob.n_ref
            fillp = np.maximum(np.asarray(mob.psed_eV(E, n_p)), floor)
            self.span_efp.location = float(mob.fermi_level_eV(n_p))
            self.span_efp.visible = True
        else:
            fillp = np.full_like(E, floor)
            self.span_efp.visible = False
        self.src_sed.data = {"E": E, "g": g, "fill0": fill0, "fillp": fillp,
                             "floor": np.full_like(E, floor)}  # fmt: skip

    def _update_diffusivity(self, mob: Any, plateau: float, D_foreign: float) -> None:
        ratio = np.asarray(mob.D(self.fractions * mob.n_ref)) / mob.D_ref_cm2_s
        self.src_d.data = {"c": self.fractions, "ratio": np.maximum(ratio, D_RATIO_RANGE[0] / 10)}
        r_f = D_foreign / mob.D_ref_cm2_s
        self.span_df.location = r_f
        self.span_df10.location = r_f / 10.0
        ok = math.isfinite(plateau) and plateau > 0
        self.span_plateau.visible = ok
        if ok:
            self.span_plateau.location = plateau

    def _update_profiles(self, result: Any, failure: str, plateau: float) -> float:
        self.span_est.visible = math.isfinite(plateau)
        if math.isfinite(plateau):
            self.span_est.location = plateau
        if result is None:
            self.src_prof.data = {"x": [], "nat": [], "fo": []}
            self.src_sim.data = {"x": [], "y": []}
            self.fig_prof.title.text = f"(c) run failed: {failure[:70]}"
            return math.nan
        self.src_prof.data = {
            "x": result.depth_nm,
            "nat": result.final_fraction(self.native),
            "fo": result.final_fraction(self.foreign),
        }
        x, c = demo.simulated_plateau(result, self.native, self.foreign)
        self.src_sim.data = {
            "x": [x] if math.isfinite(x) else [],
            "y": [c] if math.isfinite(x) else [],
        }
        self.fig_prof.title.text = (
            f"(c) depth profiles after {result.times_s[-1]:.3g} s (run {result.wall_s:.2f} s)"
        )
        return c

    def _update_curve(self, s: demo.DemoSettings, plateau: float, sim: float) -> None:
        fwhm, frac = demo.plateau_vs_fwhm(s.vacancy_fraction, s.temperature_K, s.D_foreign_cm2_s)
        keep = np.isfinite(frac) & (frac > 0)
        self.src_curve.data = {
            "fwhm": fwhm[keep],
            "plateau": np.maximum(frac[keep], PLATEAU_RANGE[0] / 10),
        }
        est = math.isfinite(plateau) and plateau > 0
        self.src_est.data = {"fwhm": [s.fwhm_eV] if est else [], "y": [plateau] if est else []}
        ok = math.isfinite(sim) and sim > 0
        self.src_simd.data = {"fwhm": [s.fwhm_eV] if ok else [], "y": [sim] if ok else []}
