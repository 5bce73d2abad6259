"""The Fit page: upload a measured profile, see it read and normalised, choose the free
parameters and their bounds, fit with live progress, read the report, download the fit JSON.

The upload is attached to the chosen case as its one ``[[data]]`` block and read by the same
code as ``nppsim fit`` (the case reader, then `nppsim.profiles.profile_from_spec`); the bytes
are written to a private temporary folder of this page first, since the reader takes a path
(never a path the visitor typed). The fit is `nppsim.fit` in a worker thread; its progress
callbacks report the simulations, the best chi-square and the best parameters, and Cancel stops
it as Ctrl-C does (the best point so far is reported).
"""

from __future__ import annotations

import io
import logging
import tempfile
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nppsim.errors import InputError
from nppsim.gui.common import (
    JobRunner,
    JobState,
    case_from_upload,
    check_upload,
    figure_pane,
    fmt,
    load_shipped,
    one_line,
    safe_name,
    shipped_cases,
    show_figure,
)
from nppsim.gui.simulate_page import common_values, parse_value

if TYPE_CHECKING:
    from nppsim.case import Case

logger = logging.getLogger(__name__)

#: the case picked first: the synthetic K+ profile's case, if the source tree is there
PREFERRED_CASE = "synthetic/lbo_k_synthetic.toml"
#: value keys never offered as free parameters (they set the protocol, not the physics)
NOT_FITTED = (".duration_s",)


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """``"Li=Li, K=K"`` -> {"Li": "Li", "K": "K"}; InputError (one line) if malformed."""
    out: dict[str, str] = {}
    for item in text.replace(";", ",").split(","):
        if not item.strip():
            continue
        species, sep, column = item.partition("=")
        if not sep or not species.strip() or not column.strip():
            raise InputError(f"{what}: expected SPECIES=COLUMN pairs, got {item.strip()!r}")
        out[species.strip()] = column.strip()
    return out


def fit_candidates(case: Case) -> list[tuple[str, str, float]]:
    """(key, label, value) of the case values offered as free parameters."""
    out = [
        (key, f"{label} ({unit})" if unit else label, value)
        for key, label, unit, _lo, _hi, value in common_values(case)
        if not key.endswith(NOT_FITTED)
    ]
    out.append(("data.1.depth_resolution_nm", "depth resolution (nm)", 0.0))
    return out


class FitPage:
    """The Fit page of one session."""

    def __init__(self) -> None:
        import panel as pn

        self.cases = {**shipped_cases(), **shipped_cases("synthetic")}
        first = PREFERRED_CASE if PREFERRED_CASE in self.cases else next(iter(self.cases))
        self.case_select = pn.widgets.Select(
            label="case the profile was measured on", options=list(self.cases), value=first
        )
        self.case_upload = pn.widgets.FileInput(accept=".toml", label="or upload a case (TOML)")
        self.data_upload = pn.widgets.FileInput(
            accept=".csv,.txt,.tsv,.dat", label="measured profile (delimited text)"
        )
        self.columns = pn.widgets.TextInput(label="columns: species=column, ...")
        self.unc_columns = pn.widgets.TextInput(label="uncertainty columns (optional)")
        self.depth_column = pn.widgets.TextInput(label="depth column", value="depth_nm")
        self.normalize = pn.widgets.Select(label="values are", options=["none", "bulk"])
        self.rel_unc = pn.widgets.TextInput(label="relative uncertainty (no column)", value="0.05")
        self.floor = pn.widgets.TextInput(label="uncertainty floor (fraction)", value="0.005")
        self.resolution = pn.widgets.TextInput(label="depth resolution, sigma (nm)", value="2")
        self.after_stage = pn.widgets.IntInput(label="measured after stage", value=1, start=1)
        self.solver = pn.widgets.RadioButtonGroup(options=["npp", "electroneutral"], value="npp")
        self.check = pn.widgets.Checkbox(label="check the optimum with the full solver", value=True)
        self.free_box = pn.Column()
        self.free: dict[str, tuple[Any, Any, Any]] = {}
        self.run_button = pn.widgets.Button(label="Fit", color="primary")
        self.cancel_button = pn.widgets.Button(label="Cancel", color="warning", disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=100, active=False, width=300)
        self.status = pn.pane.Markdown("", css_classes=["fit-status"])
        self.message = pn.pane.Alert(
            "", alert_type="light", visible=False, css_classes=["fit-message"]
        )
        self.measured_info = pn.pane.Markdown("", css_classes=["fit-measured"])
        self.measured_pane = figure_pane()
        self.report = pn.pane.Markdown("", css_classes=["fit-report"])
        self.fit_pane = figure_pane()
        self.download_button = pn.widgets.FileDownload(
            callback=lambda: io.BytesIO(self.fit_json()), filename="fit.json",
            label="Download fit JSON", disabled=True, color="success",
        )  # fmt: skip
        self._tmp = tempfile.TemporaryDirectory(prefix="nppsim-gui-fit-")
        self.data_path: Path | None = None
        self.case: Case = load_shipped(self.cases[first])
        self.fit_case: Case | None = None
        self.fit = None
        self.best: dict[str, float] = {}
        self.runner = JobRunner(self._on_progress, self._on_done)

        self.case_select.param.watch(self._on_select, "value")
        self.case_upload.param.watch(self._on_case_upload, "value")
        self.data_upload.param.watch(self._on_data_upload, "value")
        for w in (self.columns, self.unc_columns, self.depth_column, self.normalize,
                  self.rel_unc, self.floor, self.resolution, self.after_stage):  # fmt: skip
            w.param.watch(lambda _e: self.read_measured(), "value")
        self.run_button.on_click(self._clicked_run)
        self.cancel_button.on_click(lambda _e: self.runner.cancel())
        self._set_case(self.case)

    def layout(self) -> Any:
        """The page's Panel layout."""
        import panel as pn

        data = pn.Column(
            self.case_select, self.case_upload, pn.pane.Markdown("**Measured profile**"),
            self.data_upload, self.columns, self.unc_columns, self.depth_column, self.normalize,
            self.rel_unc, self.floor, self.resolution, self.after_stage, width=360,
        )  # fmt: skip
        fitting = pn.Column(
            pn.pane.Markdown("**Free parameters and bounds**"), self.free_box,
            pn.pane.Markdown("**Solver during the fit**"), self.solver, self.check,
            pn.Row(self.run_button, self.cancel_button), self.progress, self.status, width=420,
        )  # fmt: skip
        out = pn.Column(
            self.message, self.measured_info, self.measured_pane, self.report, self.fit_pane,
            self.download_button, sizing_mode="stretch_width",
        )  # fmt: skip
        return pn.Row(data, fitting, out, name="Fit")

    def show_message(self, text: str, kind: str = "danger") -> None:
        """One line in the page ("" hides it)."""
        self.message.object = text
        self.message.alert_type = kind
        self.message.visible = bool(text)

    def _clean(self, exc: BaseException) -> str:
        """One line, without the page's private temporary folder in file names."""
        return one_line(exc).replace(f"{self._tmp.name}/", "")

    # ------------------------------------------------------------------ case

    def _set_case(self, case: Case) -> None:
        import panel as pn

        self.case = case
        if case.data:
            d = case.data[0]
            self.columns.value = ", ".join(f"{s}={c}" for s, c in d.columns)
            unc = d.uncertainty_columns or ()
            self.unc_columns.value = ", ".join(f"{s}={c}" for s, c in unc)
            self.depth_column.value = d.depth_column or "depth_nm"
            self.normalize.value = d.normalize
            self.rel_unc.value = f"{d.relative_uncertainty:g}"
            self.floor.value = f"{d.uncertainty_floor:g}"
            self.resolution.value = f"{d.depth_resolution_nm:g}"
            self.after_stage.value = d.after_stage
        else:
            self.columns.value = ", ".join(f"{s}={s}" for s in case.species_names)
            self.unc_columns.value = ""
        native = case.native.name
        foreign = [s.name for s in case.species if s.role == "foreign"]
        default_free = {f"species.{native}.sed.fwhm_eV"} | {f"species.{f}.D_cm2_s" for f in foreign}
        from fitting.parameters import default_bounds

        self.free = {}
        rows = []
        for key, label, value in fit_candidates(case):
            lo, hi = default_bounds(key, value) if value > 0 else (0.0, 10.0)
            box = pn.widgets.Checkbox(label=label, value=key in default_free, width=190)
            low = pn.widgets.TextInput(value=f"{lo:.4g}", width=90)
            high = pn.widgets.TextInput(value=f"{hi:.4g}", width=90)
            self.free[key] = (box, low, high)
            rows.append(pn.Row(box, low, high))
        self.free_box.objects = rows
        self.read_measured()

    def _on_select(self, event: Any) -> None:
        try:
            self._set_case(load_shipped(self.cases[event.new]))
        except InputError as exc:
            self.show_message(self._clean(exc))

    def _on_case_upload(self, _event: Any) -> None:
        try:
            data = check_upload(self.case_upload.value, self.case_upload.filename, "case upload")
            case, _note = case_from_upload(data, self.case_upload.filename)
        except InputError as exc:
            self.show_message(self._clean(exc))
            return
        self._set_case(case)

    # ------------------------------------------------------------------ measured profile

    def _on_data_upload(self, _event: Any) -> None:
        try:
            data = check_upload(self.data_upload.value, self.data_upload.filename, "profile upload")
        except InputError as exc:
            self.data_path = None
            self.show_message(self._clean(exc))
            return
        path = Path(self._tmp.name) / safe_name(self.data_upload.filename, "profile.csv")
        path.write_bytes(data)
        self.data_path = path
        self.read_measured()

    def case_with_data(self) -> Case:
        """The chosen case with the uploaded profile as its one ``[[data]]`` block (validated
        by the case reader); InputError (one line) for a bad setting."""
        from nppsim.case import case_from_dict

        if self.data_path is None:
            raise InputError("measured profile: upload a file first")
        block: dict[str, Any] = {
            "file": self.data_path.name,
            "after_stage": int(self.after_stage.value),
            "depth_column": self.depth_column.value.strip() or "depth_nm",
            "columns": parse_pairs(self.columns.value, "columns"),
            "normalize": self.normalize.value,
            "relative_uncertainty": parse_value(
                self.rel_unc.value, "relative uncertainty", "", 0.0, 10.0
            ),
            "uncertainty_floor": parse_value(self.floor.value, "uncertainty floor", "", 1e-12, 10),
            "depth_resolution_nm": parse_value(
                self.resolution.value, "depth resolution", "nm", 0.0, 1e4
            ),
        }
        unc = parse_pairs(self.unc_columns.value, "uncertainty columns")
        if unc:
            block["uncertainty_columns"] = unc
        doc = tomllib.loads(self.case.to_toml())
        doc["data"] = [block]
        return case_from_dict(doc, source=self.case.source_label, base_dir=Path(self._tmp.name))

    def read_measured(self) -> None:
        """Read the uploaded profile with the current settings and show it (or the error)."""
        if self.data_path is None:
            return
        from nppsim.gui.figures import measured_figure
        from nppsim.profiles import profile_from_spec

        try:
            case = self.case_with_data()
            prof = profile_from_spec(case.data[0], case.native.name)
        except (InputError, ValueError) as exc:
            self.fit_case = None
            self.measured_info.object = ""
            show_figure(self.measured_pane, None)
            self.show_message(self._clean(exc))
            return
        self.fit_case = case
        self.show_message("")
        self.measured_info.object = (
            f"**{self.data_path.name}** read: {prof.n_points} depths, "
            f"{prof.depth_nm[0]:.4g} .. {prof.depth_nm[-1]:.4g} nm, species "
            f"{', '.join(prof.species)} (normalize = {case.data[0].normalize})"
        )
        show_figure(self.measured_pane, measured_figure(prof))

    # ------------------------------------------------------------------ fitting

    def free_parameters(self) -> tuple[list[str], dict[str, tuple[float, float]]]:
        """The ticked keys and their bounds; InputError for bounds that are not numbers."""
        keys, bounds = [], {}
        for key, (box, low, high) in self.free.items():
            if box.value:
                lo = parse_value(low.value, f"{key} lower bound", "", -1e300, 1e300)
                hi = parse_value(high.value, f"{key} upper bound", "", -1e300, 1e300)
                keys.append(key)
                bounds[key] = (lo, hi)
        if not keys:
            raise InputError("free parameters: tick at least one")
        return keys, bounds

    def run(self) -> bool:
        """Start the fit (a click on Fit)."""
        if self.runner.running:
            return False
        try:
            if self.fit_case is None:
                self.read_measured()
                if self.fit_case is None:
                    raise InputError("measured profile: upload a file that reads without error")
            keys, bounds = self.free_parameters()
        except InputError as exc:
            self.show_message(self._clean(exc))
            return False
        case, method, check = self.fit_case, self.solver.value, self.check.value
        self.show_message("")
        self.best = {}
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.progress.value, self.progress.active = -1, True
        self.status.object = "fitting (the first run compiles the solver: up to a minute)"

        def work(state: JobState) -> Any:
            from fitting.fit import fit

            def progress(n_sim: int, chi2: float) -> None:
                best = ", ".join(f"{k.split('.', 1)[1]} = {v:.4g}" for k, v in self.best.items())
                state.text = f"{n_sim} simulations, best chi² {chi2:.5g}; {best}"
                state.checkpoint()

            def on_best(values: dict[str, float], _chi2: float) -> None:
                self.best = dict(values)

            return fit(case, keys, bounds=bounds, method=method, check=check,
                       progress=progress, on_best=on_best)  # fmt: skip

        self.runner.start(work)
        return True

    async def _clicked_run(self, _event: Any) -> None:
        if self.run():
            await self.runner.follow()

    def _on_progress(self, state: JobState) -> None:
        if state.text:
            self.status.object = state.text

    def _on_done(self, state: JobState) -> None:
        self.run_button.disabled, self.cancel_button.disabled = False, True
        self.progress.value, self.progress.active = 0, False  # no longer "running"
        err = state.error
        if err is not None:
            if not isinstance(err, InputError):
                logger.error("fit failed", exc_info=err)
            self.status.object = "not fitted"
            self.show_message(self._clean(err))
            return
        from nppsim.plot import plot_fit

        self.fit = state.result
        f = self.fit
        show_figure(self.fit_pane, plot_fit(f) if f.profiles else None)
        self.report.object = f"```text\n{f.report()}\n```"
        if not f.success:
            self.show_message(f"fit did not succeed: {one_line(f.message)}", "warning")
        self.download_button.disabled = False
        # the status last: when it says "done", the report and the figure are in the page
        self.status.object = (
            f"{'done' if f.success else f.message}: reduced chi² {fmt(f.reduced_chi2)}, "
            f"{f.n_simulations} simulations, {f.wall_s:.1f} s"
        )

    def close(self) -> None:
        """Stop a running fit and remove the uploaded profile (the session ended)."""
        self.runner.cancel()
        self.runner.wait(timeout=0)
        self._tmp.cleanup()

    def fit_json(self) -> bytes:
        """The fit as the JSON of ``nppsim fit -o FIT.json`` (bytes)."""
        if self.fit is None:
            raise InputError("no fit yet")
        with tempfile.TemporaryDirectory(prefix="nppsim-gui-") as tmp:
            path = Path(tmp) / "fit.json"
            self.fit.save(path)
            return path.read_bytes()
