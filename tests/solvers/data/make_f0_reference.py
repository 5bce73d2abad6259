"""Write the reference of tests/solvers/test_immobile.py: final profiles of lbo2024_rb as it was
before issue 15 (F0_VALUES), shortened to 1500 s (first 400 cells), with the NPP and the
electroneutral solver, to 17 digits.

Usage, from the repository root: python tests/solvers/data/make_f0_reference.py OUT.csv
"""

from __future__ import annotations

import sys

import nppsim

N_CELLS = 400
#: the case as it was before issue 15 (no immobile fraction, D(Rb+) 3.3e-16 cm^2/s), shortened
F0_VALUES = {
    "species.Li.immobile_fraction": None,
    "species.Rb.D_cm2_s": 3.3e-16,
    "stage.1.duration_s": 1500.0,
    "solver.n_output": 3,
}


def main(out: str) -> None:
    rows = []
    for solver in ("npp", "electroneutral"):
        case = nppsim.load_case("cases/lbo2024_rb.toml").with_values(
            F0_VALUES | {"solver.method": solver}
        )
        r = nppsim.simulate(case)
        li, rb = r.fraction("Li")[-1], r.fraction("Rb")[-1]
        for k in range(N_CELLS):
            rows.append(f"{solver},{r.depth_nm[k]:.17g},{li[k]:.17g},{rb[k]:.17g}")
        rows.append(
            f"{solver}-current,{r.times_s[-1]:.17g},{r.front.current_A_cm2[-1]:.17g},"
            f"{len(r.front.time_s)}"
        )
    with open(out, "w") as fh:
        fh.write("solver,depth_nm,Li,Rb\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
