"""nppsim in the browser: a Panel app with four pages (Simulate, Fit, Sweep, Teach).

``nppsim gui`` serves it (localhost by default); in a Jupyter notebook ``nppsim.gui.app()``
returns the same layout to display inline. Needs the extra ``gui`` (``pip install
"nppsim[gui]"``: Panel); nothing in the rest of nppsim imports this package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GUI_HINT", "app", "serve"]

#: the one-line hint shown when Panel is not installed
GUI_HINT = 'the browser app needs Panel: pip install "nppsim[gui]"'


def app() -> Any:
    """The app's layout (a Panel object): display it in a notebook cell, or ``.servable()``.

    Every call builds new pages with their own state (one per browser session when served).
    """
    from nppsim.gui.server import build_app

    return build_app()


def serve(port: int = 8765, host: str = "127.0.0.1", show: bool = True, **kwargs: Any) -> Any:
    """Serve the app at http://HOST:PORT/ until interrupted (see `nppsim.gui.server.serve`)."""
    from nppsim.gui.server import serve as _serve

    return _serve(port=port, host=host, show=show, **kwargs)
