"""CPU cost of forward sensitivities: one simulation plain and with each sensitivity.

    python benchmarks/sensitivities.py                       # lbo_k, electroneutral
    python benchmarks/sensitivities.py --solver npp --rounds 7
    python benchmarks/sensitivities.py cases/synthetic/lbo_k_synthetic.toml

Prints per key set: the CPU time of one simulation (this process, median of interleaved
rounds, numba cache warm: one untimed run of each set first), steps, Newton iterations, the
extra CPU time per accepted step over the plain run (us) and that extra per step in units of the
plain run's cost per Newton iteration (plain CPU time / Newton iterations, which includes the
step's share of everything else).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nppsim  # noqa: E402

FWHM = "species.Li.sed.fwhm_eV"
KEY_SETS = (
    (),
    ("species.K.D_cm2_s",),
    ("species.Li.D_cm2_s",),
    (FWHM,),
    ("stage.1.potential_V",),
    (FWHM, "species.K.D_cm2_s"),
)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", nargs="?", default=str(ROOT / "cases" / "lbo_k.toml"))
    ap.add_argument("--solver", default="electroneutral", choices=("electroneutral", "npp"))
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    case = nppsim.load_case(args.case)
    runs = {}
    for keys in KEY_SETS:
        runs[keys] = nppsim.simulate(case, method=args.solver, sensitivities=keys)
    cpu: dict[tuple, list[float]] = {keys: [] for keys in KEY_SETS}
    for _ in range(args.rounds):
        for keys in KEY_SETS:
            c0 = time.process_time()
            nppsim.simulate(case, method=args.solver, sensitivities=keys)
            cpu[keys].append(time.process_time() - c0)
    med = {keys: statistics.median(v) for keys, v in cpu.items()}
    plain = runs[()].diagnostics
    per_newton = med[()] / plain["newton_iterations"]
    print(
        f"{Path(args.case).name}, solver {args.solver}: CPU s per simulation, median of "
        f"{args.rounds} interleaved rounds"
    )
    header = f"{'sensitivities':<44} {'cpu_s':>8} {'steps':>6} {'newton':>6} {'+us/step':>9} {'+newton':>8}"  # noqa: E501
    print(header)
    print("-" * len(header))
    for keys in KEY_SETS:
        d = runs[keys].diagnostics
        extra = (med[keys] - med[()]) / d["steps"]
        name = ", ".join(k.replace("species.", "").replace("stage.1.", "") for k in keys)
        print(
            f"{name or 'plain':<44} {med[keys]:8.4f} {d['steps']:6d} {d['newton_iterations']:6d} "
            f"{extra * 1e6:9.2f} {extra / per_newton:8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
