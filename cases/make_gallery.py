"""Draw the case gallery: one figure per case in cases/ (`python cases/make_gallery.py [NAME]`).

Each case is run and drawn exactly as a user would from the command line::

    nppsim run cases/NAME.toml -o NAME.h5 --quiet
    nppsim plot NAME.h5 -o cases/figures/NAME.png

(the result files go to a temporary folder). The figures show each species' profile vs depth
at the end of every stage and are linked from the README's case gallery. Takes ~10 s warm.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from nppsim.cli import main as nppsim_main

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"


def main(names: list[str]) -> int:
    """Run and draw the cases named in `names` (file stems; all cases when empty); returns the
    exit status (that of the first command that failed, else 0)."""
    FIGURES.mkdir(exist_ok=True)
    paths = sorted(HERE.glob("*.toml"))
    if names:
        paths = [p for p in paths if p.stem in names]
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            t0 = time.perf_counter()
            h5 = Path(tmp) / f"{path.stem}.h5"
            out = FIGURES / f"{path.stem}.png"
            for argv in (
                ["run", str(path), "-o", str(h5), "--quiet"],
                ["plot", str(h5), "-o", str(out)],
            ):
                status = nppsim_main(argv)
                if status != 0:
                    print(f"nppsim {' '.join(argv)}: exit status {status}", file=sys.stderr)
                    return status
            print(f"{out.relative_to(HERE.parent)}  ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
