"""``python -m nppsim``: the command line."""

from __future__ import annotations

from nppsim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
