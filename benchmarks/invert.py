"""Wall time and accuracy of the D(n) inversion of the synthetic K+/Rb+ pair (issue 15).

    python benchmarks/invert.py                 # one run
    python benchmarks/invert.py --repeats 3     # median of three

Prints a table: solver, knots, parameters, simulations, wall time (median of the repeats, numba
cache warm: one untimed simulation first), reduced chi^2, the chosen lambda, the largest error
of log10 D at n = 0.3 ... 0.9 against the true Gaussian SED, the PSED FWHM and the recovered
foreign D's against the truth (cases/synthetic/README.md). Target: <= 20 s for the pair on a
2-core machine (measured here, not asserted in a test).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nppsim  # noqa: E402
from fitting.invert import invert  # noqa: E402
from sed import GaussianSED, SEDMobility  # noqa: E402

SYNTH = ROOT / "cases" / "synthetic"
TRUE_FWHM_EV = 0.25
TRUE_D = {"K": 2.0e-16, "Rb": 6.0e-17}
TRUTH = SEDMobility(GaussianSED(TRUE_FWHM_EV), 1e-12, 1.0, 350.0, vacancy_fraction=0.10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--solver", default="electroneutral", choices=("electroneutral", "npp"))
    ap.add_argument("--knots", type=int, default=6)
    args = ap.parse_args(argv)
    cases = [nppsim.load_case(SYNTH / f"lbo_{i}_inv.toml") for i in ("k", "rb")]
    nppsim.simulate(cases[0].with_values({"stage.1.duration_s": 10.0}), method=args.solver)
    free = ["species.K.D_cm2_s", "species.Rb.D_cm2_s"]
    print(f"inversion benchmark: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    header = (
        f"{'solver':<14} {'knots':>5} {'par':>3} {'sims':>5} {'wall_s':>7} {'red_chi2':>8} "
        f"{'lambda':>8} {'max dlog10D':>11} {'FWHM_eV':>8}  D_K, D_Rb / truth"
    )
    print(header)
    print("-" * len(header))
    walls = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = invert(cases, "Li", knots=args.knots, free=free, method=args.solver)
        walls.append(time.perf_counter() - t0)
    f = np.linspace(0.3, 0.9, 13)
    err = float(np.max(np.abs(np.log10(res.D_at(f)) - np.log10(TRUTH.D(f)))))
    ratios = ", ".join(f"{p.value / TRUE_D[p.key.split('.')[1]]:.4f}" for p in res.parameters)
    print(
        f"{args.solver:<14} {args.knots:>5} {res.n_parameters:>3} {res.n_simulations:>5} "
        f"{statistics.median(walls):>7.2f} {res.reduced_chi2:>8.3f} "
        f"{res.regularization['lambda']:>8.3g} {err:>11.3f} {res.curve.sed['fwhm_eV']:>8.4f}  "
        f"{ratios}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
