"""Draw the figures of the README: the case gallery, a fit, two sweeps and the teaching demo.

``python cases/make_gallery.py [NAME ...]`` (NAME: a case file stem, or fit, sweep, sweep2,
demo; all when none is given). Every figure is made exactly as a user would from the command
line, e.g. for a case::

    nppsim run cases/NAME.toml -o NAME.h5 --quiet
    nppsim plot NAME.h5 -o cases/figures/NAME.png

(result files go to a temporary folder). The extra figures: ``fit_k_cs.png`` (the joint fit of
the synthetic K+ and Cs+ profiles), ``sweep_fwhm.png`` (five SED widths), ``sweep_fwhm_d.png``
(SED width x D of K+, heat maps) and ``demo_sed_width.png`` (``nppsim demo sed-width``).
Takes about a minute on an idle 2-core machine with a warm numba cache.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from nppsim.cli import main as nppsim_main

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"
SYNTHETIC = HERE / "synthetic"


def _extra_commands(tmp: Path) -> dict[str, list[list[str]]]:
    """The commands of the figures that are not a plain case run, by name."""
    k, cs = SYNTHETIC / "lbo_k_synthetic.toml", SYNTHETIC / "lbo_cs_synthetic.toml"
    fit = tmp / "fit_k_cs.json"
    case = str(HERE / "lbo_k.toml")
    fast = ["--solver", "electroneutral", "--quiet", "--workers", "2"]
    return {
        "fit": [
            ["fit", str(k), str(cs), "--free", "species.Li.sed.fwhm_eV", "--free",
             "species.K.D_cm2_s", "--free", "species.Cs.D_cm2_s", "--shared",
             "species.Li.sed.fwhm_eV", "-o", str(fit), "--quiet"],
            ["plot", str(fit), "-o", str(FIGURES / "fit_k_cs.png")],
        ],
        "sweep": [
            ["sweep", case, "--vary", "species.Li.sed.fwhm_eV=0.15:0.35:5", "-o",
             str(tmp / "sweep.h5"), *fast],
            ["plot", str(tmp / "sweep.h5"), "-o", str(FIGURES / "sweep_fwhm.png")],
        ],
        "sweep2": [
            ["sweep", case, "--vary", "species.Li.sed.fwhm_eV=0.15:0.35:5", "--vary",
             "species.K.D_cm2_s=1e-16:1e-15:4", "--log", "-o", str(tmp / "sweep2.h5"), *fast],
            ["plot", str(tmp / "sweep2.h5"), "-o", str(FIGURES / "sweep_fwhm_d.png")],
        ],
        "demo": [["demo", "sed-width", "--save", str(FIGURES / "demo_sed_width.png")]],
    }  # fmt: skip


def main(names: list[str]) -> int:
    """Draw the figures named in `names` (all when empty); returns the exit status (that of the
    first command that failed, else 0)."""
    FIGURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        jobs: dict[str, list[list[str]]] = {}
        for path in sorted(HERE.glob("*.toml")):
            h5 = tmp / f"{path.stem}.h5"
            jobs[path.stem] = [
                ["run", str(path), "-o", str(h5), "--quiet"],
                ["plot", str(h5), "-o", str(FIGURES / f"{path.stem}.png")],
            ]
        jobs.update(_extra_commands(tmp))
        unknown = sorted(set(names) - set(jobs))
        if unknown:
            print(f"unknown figure(s): {', '.join(unknown)}; known: {', '.join(jobs)}")
            return 2
        for name, commands in jobs.items():
            if names and name not in names:
                continue
            t0 = time.perf_counter()
            for argv in commands:
                status = nppsim_main(argv)
                if status != 0:
                    print(f"nppsim {' '.join(argv)}: exit status {status}", file=sys.stderr)
                    return status
            print(f"{name}  ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
