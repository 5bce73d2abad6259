"""Make the SYNTHETIC IONTOF SurfaceLab-style export lbo_k_surfacelab.txt (not a measurement).

A K+ CAIT profile on the Li3B7O12-like glass, computed with the full NPP solver from a known truth
(TRUTH below), then passed through everything a real ToF-SIMS export does to it:

- depth resolution: Gaussian, sigma = 2 nm (true depth);
- sputter time instead of depth: the true sputter rate is TRUE_RATE_NM_S; the case file states a
  nominal rate 6 % higher (the usual crater-depth error), so the true depth_scale is 1 / 1.06;
- raw counts per data point: Li+, K+ and the 11B+ matrix signal, each with its own sensitivity;
- primary-current drift: every signal scales with the primary current, which falls by 18 %
  over the profile;
- a surface transient: the first few nm, before sputter equilibrium, every secondary-ion yield
  is enhanced, by a different amount for each ion (so it does not cancel in the matrix ratio);
- a constant background of a few counts (detector dark counts) on Li+ and K+;
- Poisson counting noise (seeded);
- a preamble without comment marks, a units row under the header, tab-separated, CRLF line
  ends, Latin-1 text (the "µ" and "°" of the preamble).

Run from the repository root (takes about a minute):

    python cases/synthetic/make_surfacelab.py
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import nppsim  # noqa: E402
from fitting.resolution import GaussianResolution, measured_profile  # noqa: E402
from nppsim.case import case_from_dict  # noqa: E402
from nppsim.fileio import atomic_write  # noqa: E402

#: the true values behind the file
TRUTH = {"species.Li.sed.fwhm_eV": 0.22, "species.K.D_cm2_s": 3.0e-16}
SIGMA_RES_NM = 2.0
#: true sputter rate (nm/s); the case's nominal rate is NOMINAL_RATE_FACTOR times it
TRUE_RATE_NM_S = 0.125
NOMINAL_RATE_FACTOR = 1.06
#: sputter time between data points (s): 2 nm of true depth
TIME_STEP_S = 16.0
#: counts per data point of each ion at fraction 1 of n_bulk (the matrix: its full signal)
SENSITIVITY = {"Li": 3.0e4, "K": 8.0e4, "B": 2.0e5}
#: dark counts per data point
BACKGROUND = {"Li": 2.0, "K": 4.0, "B": 0.0}
#: primary current relative to its start value at the end of the profile (linear drift)
DRIFT_END = 0.82
#: surface transient: yield enhanced by 1 + A exp(-x / TRANSIENT_NM) at true depth x
TRANSIENT_AMPLITUDE = {"Li": 1.5, "K": 0.6, "B": 1.0}
TRANSIENT_NM = 3.0
SEED = 20261207
FILE = HERE / "lbo_k_surfacelab.txt"
PREAMBLE = (
    "IONTOF SurfaceLab 7 - Depth profile export",
    "Sample:\tLBO-K-07 (Li3B7O12 glass, K+ CAIT 1.5 V, 4e4 s, 77 °C)",
    "Analysis:\tBi3+ 30 keV, 0.35 pA, 100 x 100 µm² raster",
    "Sputter:\tO2+ 1 keV, 300 x 300 µm² crater",
    "Polarity:\tpositive",
    "Interval:\t16 s per data point",
    "",
)


def truth_case() -> nppsim.Case:
    """The true case (full NPP solver, fine grid, tight tolerance)."""
    doc = tomllib.loads((HERE / "lbo_k_surfacelab.toml").read_text(encoding="utf-8"))
    del doc["data"]  # the file this script writes
    base = case_from_dict(doc)
    values = dict(TRUTH)
    values.update(
        {
            "solver.method": "npp",
            "solver.rtol": 1.0e-6,
            "solver.atol": 1.0e-10,
            "grid.fine_spacing_nm": 0.25,
            "solver.n_output": 1,
        }
    )
    return base.with_values(values)


def counts(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sputter times (s) and Poisson counts per data point of Li+, 11B+ and K+."""
    res = nppsim.simulate(truth_case())
    front = res.front_depth_nm("K")
    t = np.arange(1.0, (1.5 * front + 60.0) / TRUE_RATE_NM_S, TIME_STEP_S)
    x = TRUE_RATE_NM_S * t
    drift = 1.0 + (DRIFT_END - 1.0) * t / t[-1]
    fraction = {
        s: measured_profile(
            res.depth_nm, res.final_fraction(s), x, GaussianResolution(SIGMA_RES_NM)
        )
        for s in ("Li", "K")
    }
    fraction["B"] = np.ones_like(x)
    out = {}
    for s, f in fraction.items():
        transient = 1.0 + TRANSIENT_AMPLITUDE[s] * np.exp(-x / TRANSIENT_NM)
        mean = SENSITIVITY[s] * np.clip(f, 0.0, None) * drift * transient + BACKGROUND[s]
        out[s] = rng.poisson(mean).astype(float)
    print(f"{FILE.name}: {t.size} points, true depth to {x[-1]:.0f} nm, front {front:.1f} nm")
    return t, out


def main() -> None:
    rng = np.random.default_rng(SEED)
    t, c = counts(rng)
    lines = list(PREAMBLE)
    lines.append("Time\t7Li+\t11B+\t39K+")
    lines.append("(s)\t(counts)\t(counts)\t(counts)")
    for i in range(t.size):
        lines.append(f"{t[i]:.1f}\t{c['Li'][i]:.0f}\t{c['B'][i]:.0f}\t{c['K'][i]:.0f}")
    with atomic_write(FILE, "wb") as f:
        f.write(("\r\n".join(lines) + "\r\n").encode("latin-1"))


if __name__ == "__main__":
    main()
