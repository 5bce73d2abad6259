"""Make the SYNTHETIC "measured" ToF-SIMS profiles of cases/synthetic (not measurements).

For K+, Rb+ and Cs+ CAIT on a Li3B7O12-like glass (one Li SED for all three), each profile is
computed with the full NPP solver on a fine grid (0.25 nm cells, rtol 1e-6), blurred with a
Gaussian depth resolution of sigma = 2 nm, sampled every 2 nm, and given 3 % Gaussian noise
(relative, floored at 0.002 in fractions of n_bulk; seeded). The true parameters are in TRUTH
and in README.md; the fitted cases start elsewhere.

The K+/Rb+ pair ``lbo_k_inv`` and ``lbo_rb_inv`` tests the D(n) inversion (``nppsim invert``):
made the same way from the same Gaussian SED (INV_TRUTH) with 2 % noise (INV_RELATIVE_NOISE,
seed INV_SEED). Run from the repository root:

    python cases/synthetic/make_synthetic.py          # all five profiles
    python cases/synthetic/make_synthetic.py inv      # only the inversion pair
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import nppsim  # noqa: E402
from fitting.resolution import GaussianResolution, measured_profile  # noqa: E402
from nppsim.fileio import write_csv_atomic  # noqa: E402

#: the true values behind the synthetic data
TRUTH = {
    "species.Li.sed.fwhm_eV": 0.25,
    "species.K.D_cm2_s": 2.0e-16,
    "species.Rb.D_cm2_s": 6.0e-17,
    "species.Cs.D_cm2_s": 2.0e-17,
}
SIGMA_RES_NM = 2.0
RELATIVE_NOISE = 0.03
NOISE_FLOOR = 0.002
DEPTH_STEP_NM = 2.0
SEED = 20261122
#: the inversion pair: truth, noise and seed
INV_TRUTH = {
    "species.Li.sed.fwhm_eV": 0.25,
    "species.Li.sed.vacancy_fraction": 0.10,
    "species.K.D_cm2_s": 2.0e-16,
    "species.Rb.D_cm2_s": 6.0e-17,
}
INV_RELATIVE_NOISE = 0.02
INV_SEED = 20261207


def truth_case(ion: str, truth: dict | None = None) -> nppsim.Case:
    """The true case of one experiment (full NPP solver, fine grid, tight tolerance).

    The glass, protocol and grid are those of lbo_<ion>_synthetic.toml, also for the inversion
    pair (its case files differ only in their data files and comments)."""
    truth = TRUTH if truth is None else truth
    base = nppsim.load_case(HERE / f"lbo_{ion.lower()}_synthetic.toml")
    values = {
        "species.Li.sed.fwhm_eV": truth["species.Li.sed.fwhm_eV"],
        f"species.{ion}.D_cm2_s": truth[f"species.{ion}.D_cm2_s"],
        "solver.method": "npp",
        "solver.rtol": 1.0e-6,
        "solver.atol": 1.0e-10,
        "grid.fine_spacing_nm": 0.25,
        "solver.n_output": 1,
    }
    return base.with_values(values)


def make(
    ion: str,
    rng: np.random.Generator,
    stem: str = "synthetic",
    truth: dict | None = None,
    relative_noise: float = RELATIVE_NOISE,
) -> Path:
    """Simulate, blur, sample, add noise and write cases/synthetic/lbo_<ion>_<stem>.csv."""
    case = truth_case(ion, truth)
    if truth is not None and "species.Li.sed.vacancy_fraction" in truth:
        case = case.with_values(
            {"species.Li.sed.vacancy_fraction": truth["species.Li.sed.vacancy_fraction"]}
        )
    res = nppsim.simulate(case)
    front = res.front_depth_nm(ion)
    depth = np.arange(1.0, 1.5 * front + 60.0, DEPTH_STEP_NM)
    cols = {"depth_nm": depth}
    for s in ("Li", ion):
        true = measured_profile(
            res.depth_nm, res.final_fraction(s), depth, GaussianResolution(SIGMA_RES_NM)
        )
        sigma = np.maximum(relative_noise * np.abs(true), NOISE_FLOOR)
        cols[s] = true + sigma * rng.standard_normal(depth.size)
        cols[f"d{s}"] = sigma
    path = HERE / f"lbo_{ion.lower()}_{stem}.csv"
    header = list(cols)
    write_csv_atomic(path, header, [cols[h] for h in header])
    print(f"{path.name}: {depth.size} depths, front at {front:.1f} nm")
    return path


def main(argv: list[str]) -> None:
    if "inv" not in argv:
        rng = np.random.default_rng(SEED)
        for ion in ("K", "Rb", "Cs"):
            make(ion, rng)
    rng = np.random.default_rng(INV_SEED)
    for ion in ("K", "Rb"):
        make(ion, rng, "inv", INV_TRUTH, INV_RELATIVE_NOISE)


if __name__ == "__main__":
    main(sys.argv[1:])
