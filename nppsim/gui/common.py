"""What the pages of the browser app share: shipped cases, uploads, figures, and background jobs.

Uploads are read from memory (the bytes the browser sent), limited to MAX_UPLOAD_BYTES, and
validated by the same code as files on disk; the app never opens a path a visitor typed: cases
come from the shipped list (`shipped_cases`) or from an upload.

Long work (simulations, fits, sweeps) runs in a worker thread (`JobRunner`), one per page and
session, so the server's event loop stays free; the page's async click handler polls the job's
progress every POLL_MS (awaiting between polls), and Cancel asks the work to raise
KeyboardInterrupt at its next progress report (the solvers and the fit keep what they computed,
as after Ctrl-C).
"""

from __future__ import annotations

import io
import logging
import re
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nppsim.errors import CaseError, InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from nppsim.case import Case

logger = logging.getLogger(__name__)

#: largest upload accepted (bytes): measured profiles and case files are a few kB to a few
#: hundred kB; 5 MB leaves room for long raw exports and keeps a visitor from filling memory
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: how often a page asks its running job for progress (ms)
POLL_MS = 250
#: label of the case shipped inside the package (always available)
DEFAULT_CASE_LABEL = "default case (K+ CAIT on Li3B7O12-like glass)"
#: the repository's case folder (present in a source checkout or an editable install)
CASES_DIR = Path(__file__).resolve().parents[2] / "cases"
#: resolution of the figures shown in the pages (dots per inch)
SCREEN_DPI = 96
#: characters kept of an uploaded file's name (shown in messages only)
MAX_NAME_CHARS = 60


def one_line(message: object) -> str:
    """`message` (an exception or text) folded into one line."""
    return " ".join(str(message).split()) or type(message).__name__


def safe_name(filename: str | None, default: str = "upload") -> str:
    """The base name of an uploaded file, reduced to letters, digits and ``._-`` (for messages
    and temporary files; never used to open anything the visitor names)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:MAX_NAME_CHARS]
    return base or default


def check_upload(data: bytes | None, filename: str | None, what: str) -> bytes:
    """The uploaded bytes, or InputError (one line) when nothing was uploaded or the upload is
    larger than MAX_UPLOAD_BYTES."""
    if not data:
        raise InputError(f"{what}: choose a file first")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(
            f"{safe_name(filename)}: {len(data) / 1e6:.1f} MB is more than the "
            f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB an upload may have"
        )
    return bytes(data)


def shipped_cases(folder: str = "") -> dict[str, Path | None]:
    """Cases a visitor can pick: {label: path}; the packaged default case (path None) first,
    then the TOML files of ``cases/<folder>`` of the source tree, if it is there."""
    found: dict[str, Path | None] = {DEFAULT_CASE_LABEL: None}
    where = CASES_DIR / folder if folder else CASES_DIR
    if where.is_dir():
        for path in sorted(where.glob("*.toml")):
            label = f"{folder}/{path.name}" if folder else path.name
            found[label] = path
    return found


def load_shipped(path: Path | None) -> Case:
    """The shipped case at `path` (a value of `shipped_cases`), or the default case."""
    from nppsim.case import default_case, load_case

    return default_case() if path is None else load_case(path)


def case_from_upload(data: bytes, filename: str | None) -> tuple[Case, str]:
    """(case, note) from the bytes of an uploaded TOML file, validated like a case file.

    Its ``[[data]]`` blocks are dropped (the note says so): they name files on the server,
    which a visitor's upload must not open; measured profiles are uploaded on the Fit page.
    Raises CaseError (one line naming the upload and the key) for an invalid case.
    """
    from nppsim.case import case_from_dict, loads_case

    name = safe_name(filename, "case.toml")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CaseError(
            f"{name}: not UTF-8 text ({exc.reason}); TOML files must be UTF-8"
        ) from None
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        loads_case(text, source=name)  # raises the loader's own one-line message
        raise CaseError(f"{name}: invalid TOML") from None
    note = ""
    if "data" in doc:
        doc.pop("data")
        note = "its [[data]] blocks are ignored here (upload measured profiles on the Fit page)"
    return case_from_dict(doc, source=name), note


def figure_pane() -> Any:
    """A pane for a page's figure, hidden until `show_figure` fills it: an HTML pane holding
    the figure as a PNG drawn at SCREEN_DPI (the figure object stays in ``pane.figure``)."""
    import panel as pn

    pane = pn.pane.HTML("", visible=False, sizing_mode="stretch_width")
    pane.figure = None  # the matplotlib Figure shown (for tests and scripts)
    return pane


def show_figure(pane: Any, fig: Figure | None) -> None:
    """Show `fig` in a pane of `figure_pane` (None hides it)."""
    import base64

    pane.figure = fig
    if fig is None:
        pane.visible = False
        return
    b64 = base64.b64encode(figure_png(fig, SCREEN_DPI)).decode("ascii")
    pane.object = f'<img src="data:image/png;base64,{b64}" style="max-width: 100%">'
    pane.visible = True


def figure_png(fig: Figure, dpi: float = 150.0) -> bytes:
    """The matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def fmt(value: float, spec: str = ".4g") -> str:
    """`value` formatted with `spec`; "-" for None or NaN."""
    if value is None or value != value:
        return "-"
    return format(value, spec)


# --------------------------------------------------------------------------------------------
# Background jobs
# --------------------------------------------------------------------------------------------


@dataclass
class JobState:
    """What a running job shares with its page: progress in [0, 1], a one-line status text,
    and on completion the result or the exception. Written by the worker, read by the page."""

    progress: float = 0.0
    text: str = ""
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    _stopped: bool = False

    def checkpoint(self) -> None:
        """Called by the work at every progress report: raises KeyboardInterrupt once after a
        cancel request (the solvers and the fit then stop as after Ctrl-C and keep their
        results; later checkpoints pass, so the fit can finish its bookkeeping)."""
        if self.cancel.is_set() and not self._stopped:
            self._stopped = True
            raise KeyboardInterrupt

    @property
    def cancelled(self) -> bool:
        """True if a cancel was requested."""
        return self.cancel.is_set()


class JobRunner:
    """Runs one job at a time in a worker thread and reports to its page on the event loop.

    on_progress(state) is called every POLL_MS while the job runs, on_done(state) once when it
    has finished (result or error set), both from `poll`, which `follow` calls on the event
    loop (the pages' async click handlers await it); tests call `wait` and `poll` themselves.
    """

    def __init__(
        self, on_progress: Callable[[JobState], None], on_done: Callable[[JobState], None]
    ) -> None:
        self.on_progress = on_progress
        self.on_done = on_done
        self.state: JobState | None = None
        self._thread: threading.Thread | None = None
        self._reported = True

    @property
    def running(self) -> bool:
        """True from `start` until on_done has been called."""
        return not self._reported

    def start(self, work: Callable[[JobState], Any]) -> JobState:
        """Run work(state) in a new thread; its return value becomes state.result, an exception
        state.error. Refused (RuntimeError) while a job runs."""
        if self.running:
            raise RuntimeError("a job is already running")
        state = JobState()
        self.state = state
        self._reported = False

        def target() -> None:
            try:
                state.result = work(state)
            except BaseException as exc:  # reported on the page, never lost in a thread
                state.error = exc
            finally:
                state.done = True

        self._thread = threading.Thread(target=target, name="nppsim-gui-job", daemon=True)
        self._thread.start()
        return state

    async def follow(self) -> None:
        """Poll the running job every POLL_MS until it has been reported (awaited by the
        pages' async click handlers on the server's or the notebook's event loop, so the
        loop stays free and the page's updates go out with the callback)."""
        import asyncio

        while self.running:
            self.poll()
            if self.running:
                await asyncio.sleep(POLL_MS / 1000.0)

    def cancel(self) -> None:
        """Ask the running job to stop at its next progress report."""
        if self.state is not None:
            self.state.cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread ends (tests, scripts); True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def poll(self) -> None:
        """Report progress, or the end of the job (once), to the page."""
        state = self.state
        if state is None or self._reported:
            return
        if not state.done:
            self.on_progress(state)
            return
        self._reported = True
        self.on_done(state)
