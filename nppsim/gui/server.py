"""The app: four pages in tabs, built anew for every browser session, and the server.

`build_app` makes the layout (also what ``nppsim.gui.app()`` shows in a notebook); `serve`
runs a Panel (Bokeh/Tornado) server with it. By default the server listens on 127.0.0.1 only;
another host (e.g. 0.0.0.0 to serve a class) is used only when asked, and the browser origins
the websocket accepts are then the names and addresses of this machine (plus any given).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

#: the browser tab's title
TITLE = "nppsim"
#: hosts that mean "this machine only"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
#: hosts that mean "every interface"
ANY_HOSTS = ("0.0.0.0", "::", "")


#: the pages, in tab order: (tab name, module, class)
PAGES = (
    ("Simulate", "nppsim.gui.simulate_page", "SimulatePage"),
    ("Fit", "nppsim.gui.fit_page", "FitPage"),
    ("Sweep", "nppsim.gui.sweep_page", "SweepPage"),
    ("Teach", "nppsim.gui.teach_page", "TeachPage"),
)


class App:
    """The pages of one session, each built when its tab is first opened (a new session
    answers fast: only the first page is built at once).

    layout: the Panel layout (a title and the tabs); pages: the pages built so far
    {tab name: page object}; `page(name)` builds one on demand.
    """

    def __init__(self) -> None:
        import panel as pn

        from nppsim.result import package_version

        pn.extension()
        self.pages: dict[str, Any] = {}
        self._holders = {name: pn.Column(sizing_mode="stretch_width") for name, *_ in PAGES}
        self.tabs = pn.Tabs(*self._holders.items(), dynamic=False)
        self.tabs.param.watch(self._on_tab, "active")
        header = pn.pane.Markdown(
            f"## nppsim {package_version()}: ion transport in glass (CAIT), in the browser",
            margin=(0, 10),
        )
        self.layout = pn.Column(header, self.tabs, sizing_mode="stretch_width")
        self.layout.app = self  # reachable from the layout (notebooks, tests)
        self.page(PAGES[0][0])
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            pn.state.on_session_destroyed(lambda _context: self.close())

    def page(self, name: str) -> Any:
        """The page of tab `name`, built (and shown in its tab) on first use."""
        if name not in self.pages:
            import importlib

            _, module, cls = next(p for p in PAGES if p[0] == name)
            page = getattr(importlib.import_module(module), cls)()
            self.pages[name] = page
            self._holders[name].objects = [page.layout()]
        return self.pages[name]

    def _on_tab(self, event: Any) -> None:
        self.page(PAGES[event.new][0])

    def close(self) -> None:
        """Cancel the pages' running jobs and drop their uploads (the session ended)."""
        for page in self.pages.values():
            if hasattr(page, "close"):
                page.close()
            elif getattr(page, "runner", None) is not None:
                page.runner.cancel()


def build_app() -> Any:
    """The app layout of a new session: a title and the tabs Simulate, Fit, Sweep, Teach
    (its `App` is ``layout.app``). In a server session the pages' running jobs are cancelled
    when the session ends."""
    return App().layout


def websocket_origins(host: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """Origins ("name:port") whose pages may open the app's websocket.

    Local hosts: localhost and 127.0.0.1. Every interface (0.0.0.0, ::): also this machine's
    host name, fully qualified name and addresses. Another host: that host. `extra` names (with
    or without a port) are added as given (default port: `port`).
    """
    names = {host}
    if host in LOCAL_HOSTS or host in ANY_HOSTS:
        names |= {"localhost", "127.0.0.1"}
    if host in ANY_HOSTS:
        hostname = socket.gethostname()
        names |= {hostname, socket.getfqdn()}
        try:
            names |= set(socket.gethostbyname_ex(hostname)[2])
        except OSError:
            pass
    origins = sorted(f"{n}:{port}" for n in names if n)
    origins += [e if ":" in e else f"{e}:{port}" for e in extra]
    return origins


def serve(
    port: int = 8765,
    host: str = "127.0.0.1",
    show: bool = True,
    allow_origin: Sequence[str] = (),
    start: bool = True,
) -> Any:
    """Serve the app at http://HOST:PORT/ (one independent app per browser session).

    port: TCP port (0: any free one); host: interface to listen on (127.0.0.1: this machine
    only; 0.0.0.0: every interface, e.g. for a class); show: open a browser tab;
    allow_origin: further names the pages may be loaded from (a DNS alias, a proxy).
    start: run the server's event loop (blocks until Ctrl-C); False returns the started
    server object for tests.
    """
    import panel as pn

    address = "0.0.0.0" if host == "" else host
    origins = websocket_origins(address, port, allow_origin)
    logger.info("serving nppsim on http://%s:%d/ (origins %s)", address, port, origins)
    return pn.serve(
        {"/": build_app},
        port=port,
        address=address,
        show=show,
        title=TITLE,
        websocket_origin=origins,
        start=start,
        threaded=not start,
        print_url=False,
    )
