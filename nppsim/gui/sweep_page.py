"""The Sweep page: one or two case values over ranges; plateau level and front depth as curves
or heat maps; the table as CSV.

The sweep is `nppsim.sweep` in a worker thread, its points run one after the other by a
one-thread executor of this page (a process pool per visitor would outgrow a shared server);
Cancel makes the points not yet started raise KeyboardInterrupt, so the sweep ends as after
Ctrl-C with the finished points kept.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from nppsim.errors import InputError
from nppsim.gui.common import (
    JobRunner,
    JobState,
    figure_pane,
    load_shipped,
    one_line,
    shipped_cases,
    show_figure,
)
from nppsim.gui.simulate_page import common_values, parse_value

if TYPE_CHECKING:
    from nppsim.case import Case
    from nppsim.sweep import SweepResult

logger = logging.getLogger(__name__)

#: most points of one sweep from the browser (each takes 0.02-2 s on this machine)
MAX_POINTS = 400
#: most values per key
MAX_VALUES = 40
#: the "no second key" choice
NONE = "(none)"


def value_range(start: float, stop: float, num: int, log: bool, key: str) -> np.ndarray:
    """`num` values from `start` to `stop` (logarithmic if `log`); InputError if impossible."""
    if not 1 <= num <= MAX_VALUES:
        raise InputError(f"{key}: number of values must be 1 .. {MAX_VALUES}, got {num}")
    if log:
        if start <= 0 or stop <= 0:
            raise InputError(f"{key}: a logarithmic range needs values > 0")
        return np.geomspace(start, stop, num)
    return np.linspace(start, stop, num)


class _CancellableExecutor(ThreadPoolExecutor):
    """One worker thread; once `state` is cancelled, tasks not yet started raise
    KeyboardInterrupt (the sweep records them as not run and stops); counts finished tasks."""

    def __init__(self, state: JobState, total: int) -> None:
        super().__init__(max_workers=1, thread_name_prefix="nppsim-gui-sweep")
        self.state, self.total, self.finished = state, total, 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        def task() -> Any:
            if self.state.cancelled:
                raise KeyboardInterrupt
            try:
                return fn(*args, **kwargs)
            finally:
                self.finished += 1
                self.state.progress = self.finished / max(1, self.total)
                self.state.text = f"{self.finished} of {self.total} points"

        return super().submit(task)


def sweep_table(sw: SweepResult, native: str, foreign: str | None) -> tuple[list[str], list[list]]:
    """(header, rows) of a sweep: the swept values, status, front depth (nm) and plateau
    (native fraction at half the front depth, `nppsim.demo.simulated_plateau`) per point."""
    from nppsim.demo import simulated_plateau

    header = [*sw.keys, "status", "front_depth_nm", "plateau_fraction", "message"]
    front = sw.front_depth_nm(foreign) if foreign else np.full(sw.n_points, math.nan)
    rows = []
    for i in range(sw.n_points):
        res = sw.results[i]
        plateau = math.nan
        if foreign and sw.status[i] == "ok" and res is not None and res.n_times:
            plateau = simulated_plateau(res, native, foreign)[1]
        rows.append([*sw.parameters[i].tolist(), sw.status[i], front[i], plateau, sw.messages[i]])
    return header, rows


def table_csv(header: list[str], rows: list[list]) -> bytes:
    """The table as CSV text (UTF-8 bytes; NaN as empty cells)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in row])
    return buf.getvalue().encode("utf-8")


class SweepPage:
    """The Sweep page of one session."""

    def __init__(self) -> None:
        import panel as pn

        self.cases = shipped_cases()
        self.case_select = pn.widgets.Select(label="case", options=list(self.cases))
        self.key1 = pn.widgets.Select(label="first value")
        self.key2 = pn.widgets.Select(label="second value (optional)", css_classes=["sweep-key2"])
        self.range1 = [pn.widgets.TextInput(label=n, width=100) for n in ("from", "to")]
        self.range2 = [pn.widgets.TextInput(label=n, width=100) for n in ("from", "to")]
        self.num1, self.num2 = (
            pn.widgets.IntInput(
                label="values", value=v, start=1, end=MAX_VALUES, width=90, css_classes=[c]
            )
            for v, c in ((5, "sweep-num1"), (4, "sweep-num2"))
        )
        self.log1 = pn.widgets.Checkbox(label="log")
        self.log2 = pn.widgets.Checkbox(label="log")
        self.solver = pn.widgets.RadioButtonGroup(options=["electroneutral", "npp"])
        self.run_button = pn.widgets.Button(label="Run sweep", color="primary")
        self.cancel_button = pn.widgets.Button(label="Cancel", color="warning", disabled=True)
        self.progress = pn.indicators.Progress(value=0, max=1000, active=False, width=300)
        self.status = pn.pane.Markdown("", css_classes=["sweep-status"])
        self.message = pn.pane.Alert(
            "", alert_type="light", visible=False, css_classes=["sweep-message"]
        )
        self.figure_pane = figure_pane()
        self.table_pane = pn.pane.DataFrame(None, index=False, max_rows=50)
        self.download_button = pn.widgets.FileDownload(
            callback=lambda: io.BytesIO(self.table_bytes()), filename="sweep.csv",
            label="Download table (CSV)", disabled=True, color="success",
        )  # fmt: skip
        self.case: Case = load_shipped(None)
        self.values: dict[str, float] = {}
        self.table: tuple[list[str], list[list]] | None = None
        self.runner = JobRunner(self._on_progress, self._on_done)
        self.case_select.param.watch(self._on_select, "value")
        self.key1.param.watch(lambda e: self._fill_range(e.new, self.range1, self.log1), "value")
        self.key2.param.watch(lambda e: self._fill_range(e.new, self.range2, self.log2), "value")
        self.run_button.on_click(self._clicked_run)
        self.cancel_button.on_click(lambda _e: self.runner.cancel())
        self._set_case(self.case)

    def layout(self) -> Any:
        """The page's Panel layout."""
        import panel as pn

        controls = pn.Column(
            self.case_select,
            self.key1, pn.Row(*self.range1, self.num1, self.log1),
            self.key2, pn.Row(*self.range2, self.num2, self.log2),
            pn.pane.Markdown("**Solver**"), self.solver,
            pn.Row(self.run_button, self.cancel_button), self.progress, self.status, width=440,
        )  # fmt: skip
        out = pn.Column(self.message, self.figure_pane, self.download_button, self.table_pane,
                        sizing_mode="stretch_width")  # fmt: skip
        return pn.Row(controls, out, name="Sweep")

    def show_message(self, text: str, kind: str = "danger") -> None:
        """One line in the page ("" hides it)."""
        self.message.object = text
        self.message.alert_type = kind
        self.message.visible = bool(text)

    def _set_case(self, case: Case) -> None:
        self.case = case
        self.values = {k: v for k, _l, _u, _lo, _hi, v in common_values(case)}
        keys = list(self.values)
        native = case.native.name
        self.key1.options = keys
        self.key2.options = [NONE, *keys]
        fwhm = f"species.{native}.sed.fwhm_eV"
        self.key1.value = fwhm if fwhm in keys else keys[0]
        self.key2.value = NONE
        self._fill_range(self.key1.value, self.range1, self.log1)

    def _fill_range(self, key: str, inputs: list, log: Any) -> None:
        if key not in self.values:
            return
        v = self.values[key]
        log.value = key.endswith("D_cm2_s") and v > 0
        lo, hi = (v / 10, v * 10) if log.value else (0.6 * v, 1.4 * v) if v else (0.0, 1.0)
        inputs[0].value, inputs[1].value = f"{lo:.4g}", f"{hi:.4g}"

    def _on_select(self, event: Any) -> None:
        try:
            self._set_case(load_shipped(self.cases[event.new]))
            self.show_message("")
        except InputError as exc:
            self.show_message(one_line(exc))

    def grid(self) -> dict[str, np.ndarray]:
        """{key: values} of the sweep as set in the page; InputError (one line) if invalid."""
        out = {}
        rows = (
            (self.key1.value, self.range1, self.num1, self.log1),
            (self.key2.value, self.range2, self.num2, self.log2),
        )
        for key, rng, num, log in rows:
            if key == NONE or key is None:
                continue
            if key in out:
                raise InputError(f"{key}: chosen twice")
            lo = parse_value(rng[0].value, f"{key} from", "", -1e300, 1e300)
            hi = parse_value(rng[1].value, f"{key} to", "", -1e300, 1e300)
            out[key] = value_range(lo, hi, int(num.value), bool(log.value), key)
        n = int(np.prod([len(v) for v in out.values()]))
        if n > MAX_POINTS:
            raise InputError(f"sweep: {n} points is more than the {MAX_POINTS} allowed here")
        return out

    def run(self) -> bool:
        """Start the sweep (a click on Run sweep)."""
        if self.runner.running:
            return False
        try:
            grid = self.grid()
        except InputError as exc:
            self.show_message(one_line(exc))
            return False
        case, method = self.case, self.solver.value
        total = int(np.prod([len(v) for v in grid.values()]))
        self.show_message("")
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.progress.value, self.progress.active = 0, True
        self.status.object = f"0 of {total} points"

        def work(state: JobState) -> Any:
            from nppsim.sweep import SweepInterrupted, sweep

            with _CancellableExecutor(state, total) as pool:
                try:
                    return grid, sweep(case, grid, executor=pool, method=method)
                except SweepInterrupted as exc:
                    return grid, exc.partial

        self.runner.start(work)
        return True

    async def _clicked_run(self, _event: Any) -> None:
        if self.run():
            await self.runner.follow()

    def _on_progress(self, state: JobState) -> None:
        self.progress.value = int(1000 * state.progress)
        self.status.object = state.text

    def _on_done(self, state: JobState) -> None:
        self.run_button.disabled, self.cancel_button.disabled = False, True
        self.progress.value, self.progress.active = int(1000 * state.progress), False
        if state.error is not None:
            if not isinstance(state.error, InputError):
                logger.error("sweep failed", exc_info=state.error)
            self.status.object = "not run"
            self.show_message(one_line(state.error))
            return
        grid, sw = state.result
        self.show_result(grid, sw)
        done = "cancelled" if state.cancelled else "done"
        self.status.object = f"{done}: {sw.n_ok} of {sw.n_points} points ok, {sw.wall_s:.1f} s"
        if sw.n_failed:
            self.show_message(f"{sw.n_failed} point(s) failed: see the table", "warning")

    def show_result(self, grid: dict[str, np.ndarray], sw: SweepResult) -> None:
        """Draw the sweep and fill the table."""
        import pandas as pd

        from nppsim.gui.figures import sweep_figure

        native = self.case.native.name
        foreign = next((s.name for s in self.case.species if s.role == "foreign"), None)
        header, rows = sweep_table(sw, native, foreign)
        self.table = (header, rows)
        shape = tuple(len(v) for v in grid.values())
        front = np.array([r[-3] for r in rows], dtype=float).reshape(shape)
        plateau = np.array([r[-2] for r in rows], dtype=float).reshape(shape)
        logs = [bool(self.log1.value), bool(self.log2.value)]
        fig = sweep_figure(
            list(grid), list(grid.values()), plateau, front, logs, native, foreign or "-"
        )
        show_figure(self.figure_pane, fig)
        self.table_pane.object = pd.DataFrame(rows, columns=header)
        self.download_button.disabled = False

    def table_bytes(self) -> bytes:
        """The sweep table as CSV bytes (the download button)."""
        if self.table is None:
            raise InputError("no sweep yet")
        return table_csv(*self.table)
