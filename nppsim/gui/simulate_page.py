"""The Simulate page: pick a shipped case or upload one, edit its common values, run, look,
download (HDF5, CSV, PNG).

The run is `nppsim.simulate` in a worker thread (`JobRunner`) with a progress callback that
reports the simulated time and, after a click on Cancel, raises KeyboardInterrupt: the solver
stops as after Ctrl-C and the page shows the partial result, as the command line saves it.
"""

from __future__ import annotations

import io
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nppsim.errors import InputError, SimulationError
from nppsim.gui.common import (
    JobRunner,
    JobState,
    case_from_upload,
    check_upload,
    figure_pane,
    figure_png,
    load_shipped,
    one_line,
    safe_name,
    shipped_cases,
    show_figure,
)

if TYPE_CHECKING:
    from nppsim.case import Case
    from nppsim.result import Result

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValueSpec:
    """A common case value the page offers: dotted key (``{s}`` a species, ``{i}`` a stage),
    label, unit and the range accepted here (the case's own validation applies as well)."""

    key: str
    label: str
    unit: str
    low: float
    high: float


#: the common values, in the order shown; those the case does not have are left out
#: (ranges: what a CAIT, APS or poling experiment uses, with margin)
VALUE_SPECS = (
    ValueSpec("sample.temperature_K", "temperature", "K", 100.0, 1500.0),
    ValueSpec("stage.{i}.duration_s", "stage {i}: duration", "s", 1.0e-3, 1.0e8),
    ValueSpec("stage.{i}.potential_V", "stage {i}: potential", "V", -1.0e4, 1.0e4),
    ValueSpec("stage.{i}.current_density_A_cm2", "stage {i}: current density", "A/cm²", -1.0, 1.0),
    ValueSpec("species.{s}.sed.fwhm_eV", "{s}: SED FWHM", "eV", 0.005, 2.0),
    ValueSpec("species.{s}.sed.vacancy_fraction", "{s}: vacancy fraction", "", 0.0, 0.99),
    ValueSpec("species.{s}.D_cm2_s", "{s}: D", "cm²/s", 1.0e-30, 1.0),
    ValueSpec("species.{s}.immobile_fraction", "{s}: immobile fraction", "", 0.0, 1.0),
)


def common_values(case: Case) -> list[tuple[str, str, str, float, float, float]]:
    """(key, label, unit, low, high, current value) of every VALUE_SPECS entry the case has."""
    out = []
    for spec in VALUE_SPECS:
        for i in range(1, len(case.stages) + 1) if "{i}" in spec.key else [0]:
            for s in case.species_names if "{s}" in spec.key else [""]:
                key = spec.key.format(i=i, s=s)
                try:
                    value = case.get_value(key)
                except InputError:
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                label = spec.label.format(i=i, s=s)
                out.append((key, label, spec.unit, spec.low, spec.high, float(value)))
    return out


def parse_value(text: str, label: str, unit: str, low: float, high: float) -> float:
    """The number typed for `label`; InputError (one line) unless it lies in [low, high]."""
    shown = f" {unit}" if unit else ""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise InputError(f"{label}: {text.strip()[:40]!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(f"{label}: must lie in {low:g} .. {high:g}{shown}, got {value:g}")
    return value


def result_bytes(result: Result, kind: str) -> bytes:
    """The result as a file's bytes: kind "h5" (the HDF5 of `Result.save`), "csv" (the final
    profile, `Result.save_csv`) or "png" (`nppsim.plot.plot_result`)."""
    if kind == "png":
        from nppsim.plot import plot_result

        return figure_png(plot_result(result))
    with tempfile.TemporaryDirectory(prefix="nppsim-gui-") as tmp:
        path = Path(tmp) / f"result.{kind}"
        if kind == "h5":
            result.save(path)
        elif kind == "csv":
            result.save_csv(path)
        else:
            raise ValueError(f"unknown kind {kind!r}")
        return path.read_bytes()


def css_class(key: str) -> str:
    """The CSS class of the input of dotted `key` (browser tests find it by this name)."""
    return "value-" + key.replace(".", "-")


def result_summary(result: Result) -> str:
    """One line: the front depth of each foreign species (fraction 0.5) and the fraction of
    every species at the surface, at the final time."""
    parts = []
    for name in result.foreign_species:
        depth = result.front_depth_nm(name)
        parts.append(f"{name} front at {depth:.1f} nm" if math.isfinite(depth) else
                     f"{name} front not reached")  # fmt: skip
    parts += [f"{s} at the surface {result.final_fraction(s)[0]:.4g}" for s in result.species]
    return "; ".join(parts)


class SimulatePage:
    """The Simulate page of one session."""

    def __init__(self) -> None:
        import panel as pn

        self.cases = shipped_cases()
        self.case_select = pn.widgets.Select(label="shipped case", options=list(self.cases))
        self.upload = pn.widgets.FileInput(accept=".toml", label="or upload a case (TOML)")
        self.solver = pn.widgets.RadioButtonGroup(
            label="solver", options=["npp", "electroneutral"], value="npp"
        )
        self.inputs: dict[str, tuple[Any, str, str, float, float]] = {}
        self.values_box = pn.Column(sizing_mode="stretch_width")
        self.run_button = pn.widgets.Button(label="Run", color="primary")
        self.cancel_button = pn.widgets.Button(label="Cancel", color="warning", disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=1000, active=False, width=300)
        self.message = pn.pane.Alert(
            "", alert_type="light", visible=False, css_classes=["sim-message"]
        )
        self.status = pn.pane.Markdown("", css_classes=["sim-status"])
        self.scale = pn.widgets.RadioButtonGroup(
            label="fraction axis", options=["linear", "log"], value="linear"
        )
        self.profile_pane = figure_pane()
        self.pu_pane = figure_pane()
        self.downloads = [
            pn.widgets.FileDownload(
                callback=lambda k=kind: io.BytesIO(self.download(k)),
                filename=f"result.{kind}",
                label=f"Download {label}",
                disabled=True,
                color="success",
            )
            for kind, label in (("h5", "HDF5"), ("csv", "CSV"), ("png", "PNG"))
        ]
        self.case: Case = load_shipped(None)
        self.case_name = "default case"
        self.result: Result | None = None
        self.runner = JobRunner(self._on_progress, self._on_done)

        self.case_select.param.watch(self._on_select, "value")
        self.upload.param.watch(self._on_upload, "value")
        self.run_button.on_click(self._clicked_run)
        self.cancel_button.on_click(lambda _e: self.runner.cancel())
        self.scale.param.watch(lambda _e: self._draw(), "value")
        self._set_case(self.case, "default case")

    def layout(self) -> Any:
        """The page's Panel layout."""
        import panel as pn

        controls = pn.Column(
            self.case_select, self.upload, pn.pane.Markdown("**Common values**"), self.values_box,
            pn.pane.Markdown("**Solver**"), self.solver,
            pn.Row(self.run_button, self.cancel_button), self.progress, self.status,
            width=380,
        )  # fmt: skip
        results = pn.Column(
            self.message,
            pn.Row(pn.pane.Markdown("**Fraction axis**"), self.scale),
            self.profile_pane,
            self.pu_pane,
            pn.Row(*self.downloads),
            sizing_mode="stretch_width",
        )
        return pn.Row(controls, results, name="Simulate")

    # ------------------------------------------------------------------ case and values

    def show_message(self, text: str, kind: str = "danger") -> None:
        """One line in the page (kind: "danger" for errors, "warning", "info"); "" hides it."""
        self.message.object = text
        self.message.alert_type = kind
        self.message.visible = bool(text)

    def _set_case(self, case: Case, name: str) -> None:
        import panel as pn

        self.case, self.case_name = case, name
        self.solver.value = case.solver.method
        self.inputs = {}
        widgets = []
        for key, label, unit, low, high, value in common_values(case):
            shown = f"{label} ({unit})" if unit else label
            w = pn.widgets.TextInput(
                label=f"{shown}, {low:g} .. {high:g}", value=f"{value:.6g}", width=340,
                css_classes=[css_class(key)],
            )  # fmt: skip
            self.inputs[key] = (w, label, unit, low, high)
            widgets.append(w)
        self.values_box.objects = widgets

    def _on_select(self, event: Any) -> None:
        try:
            self._set_case(load_shipped(self.cases[event.new]), event.new)
            self.show_message("")
        except InputError as exc:
            self.show_message(one_line(exc))

    def _on_upload(self, _event: Any) -> None:
        try:
            data = check_upload(self.upload.value, self.upload.filename, "case upload")
            case, note = case_from_upload(data, self.upload.filename)
        except InputError as exc:
            self.show_message(one_line(exc))
            return
        self._set_case(case, safe_name(self.upload.filename))
        self.show_message(f"{self.case_name}: loaded" + (f"; {note}" if note else ""), "info")

    def edited_case(self) -> Case:
        """The case with the values typed in the page; InputError naming the value."""
        values = {
            key: parse_value(w.value, label, unit, low, high)
            for key, (w, label, unit, low, high) in self.inputs.items()
        }
        return self.case.with_values(values)

    # ------------------------------------------------------------------ running

    def run(self) -> bool:
        """Start the simulation of the edited case (a click on Run)."""
        if self.runner.running:
            return False
        try:
            case = self.edited_case()
        except InputError as exc:
            self.show_message(one_line(exc))
            return False
        method = self.solver.value
        self.show_message("")
        self.run_button.disabled = True
        self.cancel_button.disabled = False
        self.progress.value, self.progress.active = 0, True
        self.status.object = "starting (the first run compiles the solver: up to a minute)"

        def work(state: JobState) -> Result:
            from nppsim.simulate import simulate

            def progress(t_s: float, t_end_s: float) -> None:
                state.progress = t_s / t_end_s if t_end_s > 0 else 1.0
                state.text = f"t = {t_s:.4g} s of {t_end_s:.4g} s"
                state.checkpoint()

            return simulate(case, method=method, progress=progress)

        self.runner.start(work)
        return True

    async def _clicked_run(self, _event: Any) -> None:
        if self.run():
            await self.runner.follow()

    def _on_progress(self, state: JobState) -> None:
        self.progress.value = int(1000 * min(1.0, state.progress))
        if state.text:
            self.status.object = state.text

    def _on_done(self, state: JobState) -> None:
        err = state.error
        message, kind = "", "danger"
        if err is None:
            self.result = state.result
            r = self.result
            status = f"done: {r.n_times} snapshots, {r.wall_s:.2f} s ({r.method}); " + (
                result_summary(r)
            )
        elif isinstance(err, SimulationError) and err.partial is not None:
            self.result = err.partial
            stopped = "cancelled" if state.cancelled else "stopped"
            status = f"{stopped}: partial result up to t = {err.partial.times_s[-1]:.4g} s"
            message, kind = one_line(err), "warning" if state.cancelled else "danger"
        elif isinstance(err, InputError | SimulationError):
            status, message = "not run", one_line(err)
        else:
            logger.error("simulation failed", exc_info=err)
            status = "failed"
            message = f"simulation failed: {type(err).__name__}: {one_line(err)}"
        for d in self.downloads:
            d.disabled = self.result is None
            d.filename = f"{_stem(self.case_name)}.{d.filename.rsplit('.', 1)[-1]}"
        self._draw()
        # the status last: when it says "done", the figures are in the page
        self.show_message(message, kind)
        self.run_button.disabled = False
        self.cancel_button.disabled = True
        self.progress.active = False
        if err is None:
            self.progress.value = 1000
        self.status.object = status

    # ------------------------------------------------------------------ output

    def _draw(self) -> None:
        r = self.result
        if r is None or r.n_times == 0:
            return
        from nppsim.gui.figures import potential_current_figure, profiles_figure
        from nppsim.plot import profile_depth_range_nm

        x_max = profile_depth_range_nm(r)
        show_figure(self.profile_pane, profiles_figure(r, self.scale.value == "log", x_max))
        show_figure(self.pu_pane, potential_current_figure(r, x_max))

    def download(self, kind: str) -> bytes:
        """The current result as "h5", "csv" or "png" bytes (the download buttons)."""
        if self.result is None:
            raise InputError("no result yet: run a simulation first")
        return result_bytes(self.result, kind)


def _stem(name: str) -> str:
    stem = Path(safe_name(name, "result")).stem
    return stem.replace(" ", "_") or "result"
