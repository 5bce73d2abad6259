"""Wall time and accuracy of fits to the synthetic profiles of cases/synthetic.

    python benchmarks/fit.py            # single K fit and the joint K/Rb/Cs fit, one run each
    python benchmarks/fit.py --repeats 3
    python benchmarks/fit.py --solver npp [--jacobian differences] [--no-prefit]

Prints a table: fit, solver, free parameters, simulations, wall and CPU time (median of the
repeats, numba cache warm: one untimed simulation first; the CPU time counts this process only,
which is steadier than the wall time on a shared machine), reduced chi^2, and the recovered
values against the truth the synthetic data were made with (cases/synthetic/README.md). The
full-solver check of the optimum is included in the wall time (it is part of what `nppsim fit`
does). --solver npp fits with the full solver (Jacobian from forward sensitivities unless
--jacobian differences), after an electroneutral prefit unless --no-prefit (`fit`'s prefit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nppsim  # noqa: E402
from fitting.fit import fit  # noqa: E402

SYNTH = ROOT / "cases" / "synthetic"
TRUTH = {
    "species.Li.sed.fwhm_eV": 0.25,
    "species.K.D_cm2_s": 2.0e-16,
    "species.Rb.D_cm2_s": 6.0e-17,
    "species.Cs.D_cm2_s": 2.0e-17,
}


def _case(ion: str) -> nppsim.Case:
    return nppsim.load_case(SYNTH / f"lbo_{ion}_synthetic.toml")


def runs() -> list[tuple[str, list, list[str], list[str]]]:
    """(name, cases, free, shared) of each benchmarked fit."""
    d_keys = ["species.K.D_cm2_s", "species.Rb.D_cm2_s", "species.Cs.D_cm2_s"]
    fwhm = "species.Li.sed.fwhm_eV"
    return [
        ("K single", [_case("k")], [fwhm, d_keys[0]], []),
        ("K/Rb/Cs joint", [_case(i) for i in ("k", "rb", "cs")], [fwhm, *d_keys], [fwhm]),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--solver", default="electroneutral", choices=("electroneutral", "npp"))
    ap.add_argument("--jacobian", default="auto", choices=("auto", "differences"))
    ap.add_argument("--no-prefit", action="store_true", help="no electroneutral prefit")
    args = ap.parse_args(argv)
    for method in ("electroneutral", args.solver):
        nppsim.simulate(_case("k").with_values({"stage.1.duration_s": 10.0}), method=method)
    print(
        f"fit benchmarks: {os.cpu_count()} cores, solver {args.solver}, jacobian "
        f"{args.jacobian}, prefit {not args.no_prefit}, repeats {args.repeats}, load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    header = (
        f"{'fit':<15} {'free':>4} {'sims':>5} {'wall_s':>7} {'cpu_s':>7} {'red_chi2':>8}  "
        "recovered / truth"
    )
    print(header)
    print("-" * len(header))
    for name, cases, free, shared in runs():
        walls = []
        cpus = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            c0 = time.process_time()
            res = fit(
                cases, free, shared, method=args.solver, jacobian=args.jacobian,
                prefit=not args.no_prefit,
            )  # fmt: skip
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        ratios = ", ".join(
            f"{p.key.split('.')[-2] if 'D_cm2_s' in p.key else 'FWHM'} {p.value / TRUTH[p.key]:.4f}"
            f" (+-{p.stderr / p.value:.4f})"
            for p in res.parameters
        )
        stages = " + ".join(f"{s.get('solver', res.method)} {s['nfev']}" for s in res.starts)
        print(
            f"{name:<15} {len(res.parameters):>4} {res.n_simulations:>5} "
            f"{statistics.median(walls):>7.2f} {statistics.median(cpus):>7.2f} "
            f"{res.reduced_chi2:>8.3f}  {ratios}  [evaluations: {stages}]"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
