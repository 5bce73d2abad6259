"""BASELINE: what a capable user writes instead of nppsim, for the speed comparison only.

The same spatial scheme as the compiled solver (cell-centred finite volumes, Scharfetter-Gummel
fluxes with the arithmetic-mean face D, the SED D(c) table; the residual and its analytic Jacobian
come from the numpy twins in `solvers.kernels_numpy`), integrated in time by scipy's
`solve_ivp` as a method of lines: the species rows are the ODEs dc/dt = -div F, and Poisson's
equation, an algebraic constraint that `solve_ivp` cannot hold, is relaxed as the stiff ODE
dpsi/dt = P(c, psi) / TAU_RELAX (P: the Poisson residual in the solver's scaled form). The
analytic Jacobian is handed over as a sparse matrix, as a user who reads the scipy docs would.

Only single-stage potentiostatic problems (the shipped lbo_k case and the shared reference case).
It is not part of the package and never used for production runs.

    python benchmarks/baseline_scipy.py [--methods BDF LSODA] [--rtols 1e-3 1e-4 ...]

prints, per method and rtol: steps, right-hand-side and Jacobian evaluations, LU factorisations,
wall time, and the max abs profile error against the shared reference profile
(../shared/data/reference) when present, else against a tight nppsim run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import scipy.integrate
import scipy.sparse

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import nppsim  # noqa: E402
from solvers import kernels_numpy as KN  # noqa: E402
from solvers.grid import cell_centers_nm  # noqa: E402
from solvers.npp import initial_state, kernel_arrays  # noqa: E402
from solvers.problem import Problem  # noqa: E402

#: relaxation time of the Poisson constraint in the scaled units of the kernels (s per unit of the
#: scaled Poisson residual). Linearised, a mode of wavenumber k couples the potential relaxation
#: (rate lam2 k^2 / TAU) with the ionic response (rate D k^2); unless lam2 k^2 / TAU exceeds
#: sqrt(D k^2 / TAU) for the longest wave (k ~ 1/L), the pair oscillates at ~sqrt(D k^2 / TAU),
#: which BDF must resolve: with TAU = 1e-12 s a 100 s run of lbo_k did not finish in 10 minutes.
#: That needs TAU << lam2^2 / (D L^2) ~ 3e-20 s (lam2 ~ 8e-4 nm^2, D ~ 100 nm^2/s, L = 5e5 nm);
#: then the slow eigenvalue is the physical dielectric relaxation -D / lam2 and the constraint
#: holds to round-off. 1e-20 and 1e-24 s gave the same steps (50) on a 100 s run.
TAU_RELAX_S = 1.0e-22
#: the relaxation time per method where it differs from TAU_RELAX_S: LSODA stops with "repeated
#: error test failures" at t ~ 1300-2500 s of lbo_k for every rtol tried (1e-3, 1e-4) with
#: TAU <= 1e-20 s; with 1e-18, 1e-17 and 1e-16 s it completes at rtol 1e-2 ... 3e-4, within
#: 2.5e-4 ... 1.8e-3 of the shared reference (measured 2026-12-07, benchmarks/README.md). The
#: oscillation of the longest wave that TAU_RELAX_S avoids is then present but LSODA's step
#: control follows it; the accuracy is judged against the reference like every other setting.
TAU_LSODA_S = 1.0e-17
TAU_BY_METHOD_S = {"LSODA": TAU_LSODA_S}
#: the first step of the integrator (s): the compiled solver's default dt_initial_s; LSODA starts
#: with its non-stiff (Adams) method, which fails at once ("repeated convergence failures")
#: unless the first step is far shorter
FIRST_STEP_S = {"BDF": 1.0e-9, "Radau": 1.0e-9, "LSODA": 1.0e-12}
#: atol / rtol, as along the compiled solver's tolerance scans (benchmarks/run.py)
ATOL_PER_RTOL = 1.0e-4
REFERENCE_DIR = ROOT.parent / "shared" / "data" / "reference"


@dataclass(frozen=True)
class MolRun:
    """One method-of-lines run: final fractions (n_species, n_cells), counters, wall time (s)."""

    method: str
    rtol: float
    fractions: np.ndarray
    depth_nm: np.ndarray
    species: tuple[str, ...]
    steps: int
    nfev: int
    njev: int
    nlu: int
    wall_s: float
    success: bool
    message: str


class MethodOfLines:
    """Right-hand side and sparse Jacobian of the semi-discrete NPP system of `problem`, the
    Poisson rows relaxed with the time tau_s (s; see TAU_RELAX_S)."""

    def __init__(self, problem: Problem, tau_s: float = TAU_RELAX_S) -> None:
        if len(problem.stages) != 1 or problem.stages[0].control != "potential":
            raise NotImplementedError("the scipy baseline runs one potentiostatic stage")
        self.problem = problem
        self.ka = ka = kernel_arrays(problem)
        stage = problem.stages[0]
        self.n_species = len(problem.species)
        self.nb = self.n_species + 1
        self.n_cells = len(ka.h)
        self.n = self.n_cells * self.nb
        self.src = -1 if stage.source is None else int(stage.source)
        self.c_src = stage.surface_fraction
        if len(stage.table_value) != 1:
            raise NotImplementedError("the scipy baseline runs a constant potential")
        self.psi_front = float(stage.table_value[0]) / ka.thermal_voltage_V
        self.duration_s = stage.duration_s
        self.kl, self.ku = self.n_species + 1, 2 * self.n_species + 1
        # species rows: -(residual with a0 = 0, hist = 0, dt = 1) is dc/dt; Poisson rows / TAU
        sign = -np.ones(self.n)
        sign[self.n_species :: self.nb] = 1.0 / tau_s
        self.row_scale = sign
        self._zeros = np.zeros(self.n)
        # band layout (transposed gbtrf, as KN.assemble fills it) -> sparse index pattern
        kv = self.kl + self.ku
        width = 2 * self.kl + self.ku + 1
        col, off = np.meshgrid(np.arange(self.n), np.arange(width), indexing="ij")
        row = col + off - kv
        keep = (row >= 0) & (row < self.n) & (off >= self.kl)
        self._band_index = (col[keep], off[keep])
        self._rows, self._cols = row[keep], col[keep]
        self._g_right = ka.lam2 / (ka.h * ka.d[1:])
        self._g_left = ka.lam2 / (ka.h * ka.d[:-1])

    def _assemble(self, y: np.ndarray):
        ka = self.ka
        return KN.assemble(
            y, self._zeros, 0.0, 1.0, self.psi_front, ka.h, ka.d, ka.lam2, ka.z, ka.cfix,
            self.src, self.c_src, ka.back_kind, ka.back_c, ka.kind, ka.d_const, ka.u0, ka.du,
            ka.logd, ka.slope, ka.n_lo,
        )  # fmt: skip

    def residual(self, y: np.ndarray) -> np.ndarray:
        """The residual of `KN.assemble` (a0 = 0, hist = 0, dt = 1) without its Jacobian: the
        scattered Jacobian costs ~5x the residual, and solve_ivp needs the residual far more
        often (as a user who profiles would write it)."""
        ka, ns, nb = self.ka, self.n_species, self.nb
        c = np.stack([y[i::nb] for i in range(ns)])
        psi = y[ns::nb]
        res = np.empty(self.n)
        psi_ext = np.concatenate([[self.psi_front], psi, [0.0]])
        poisson = ka.z @ c - ka.cfix
        poisson += self._g_right * (psi_ext[2:] - psi) - self._g_left * (psi - psi_ext[:-2])
        res[ns::nb] = poisson
        tab = (ka.kind, ka.d_const, ka.u0, ka.du, ka.logd, ka.slope, ka.n_lo)
        h = ka.h
        for i in range(ns):
            dv, _ = KN.species_mobility(c[i], i, *tab, None)
            zi = ka.z[i]
            flux = np.zeros(self.n_cells + 1)  # flux through each face, positive into +x
            df = 0.5 * (dv[:-1] + dv[1:])
            flux[1:-1] = KN._sg(df, ka.d[1:-1], zi, c[i, :-1], c[i, 1:], psi[:-1], psi[1:])[0]
            if self.src == i:
                dsrc, _ = KN.species_mobility(np.array([self.c_src]), i, *tab, None)
                flux[0] = KN._sg(
                    np.array([0.5 * (dsrc[0] + dv[0])]), ka.d[0], zi, np.array([self.c_src]),
                    c[i, :1], np.array([self.psi_front]), psi[:1],
                )[0][0]  # fmt: skip
            if ka.back_kind[i] != 1:
                cb = ka.back_c[i] if ka.back_kind[i] == 0 else 0.0
                dbk, _ = KN.species_mobility(np.array([cb]), i, *tab, None)
                flux[-1] = KN._sg(
                    np.array([0.5 * (dv[-1] + dbk[0])]), ka.d[-1], zi, c[i, -1:],
                    np.array([cb]), psi[-1:], np.array([0.0]),
                )[0][0]  # fmt: skip
            res[i::nb] = (flux[1:] - flux[:-1]) / h
        return res

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """dy/dt (scaled units per second)."""
        return self.row_scale * self.residual(y)

    def _jacobian_state(self, y: np.ndarray) -> np.ndarray:
        """y with negative fractions set to 0, where the Jacobians are evaluated.

        solve_ivp does not keep fractions >= 0: the K+ fraction of the bulk (0) takes values
        of order -atol. The kernels' Jacobian moves the mobile part max(c - c_imm, 0)
        (MODEL.md section 10) and has a zero derivative below the kink, while `residual` moves
        c itself; at c < 0 the two disagree and Newton fails, so BDF took 5000 steps instead
        of ~300 on lbo_k. At the clipped state the kernels' Jacobian is that of `residual`
        (up to D(c) at c = 0 instead of c ~ -atol)."""
        y = y.copy()
        for i in range(self.n_species):
            np.maximum(y[i :: self.nb], 0.0, out=y[i :: self.nb])
        return y

    def jac(self, t: float, y: np.ndarray) -> scipy.sparse.csc_matrix:
        """d(dy/dt)/dy as a sparse matrix (analytic, from the kernels' banded Jacobian)."""
        _, ab, *_ = self._assemble(self._jacobian_state(y))
        vals = ab[self._band_index] * self.row_scale[self._rows]
        return scipy.sparse.csc_matrix((vals, (self._rows, self._cols)), shape=(self.n, self.n))

    def jac_banded(self, t: float, y: np.ndarray) -> np.ndarray:
        """The Jacobian in LSODA's packed band format: out[ku + i - j, j] = J[i, j]."""
        _, ab, *_ = self._assemble(self._jacobian_state(y))
        packed = ab[:, self.kl :].T.copy()  # packed[ku + i - j, j] = ab[j, kl + ku + i - j]
        rows = np.arange(-self.ku, self.kl + 1)[:, None] + np.arange(self.n)[None, :]
        valid = (rows >= 0) & (rows < self.n)
        packed[valid] *= self.row_scale[rows[valid]]
        packed[~valid] = 0.0
        return packed

    def initial(self) -> np.ndarray:
        """The pristine state with the linear potential, as the compiled solver starts."""
        return initial_state(self.problem, self.ka)


class _WallTimeCap(Exception):
    """Raised from the right-hand side when a run passes its wall-time cap."""


def run_mol(
    problem: Problem, method: str = "BDF", rtol: float = 1.0e-4, max_wall_s: float = math.inf
) -> MolRun:
    """Integrate `problem` with `solve_ivp(method)` at rtol (atol = rtol * ATOL_PER_RTOL).

    A run that takes longer than max_wall_s (s), or in which solve_ivp raises, comes back with
    success False and the reason in `message` (steps and evaluations then count 0).
    """
    t0 = time.perf_counter()  # the set-up counts, as nppsim's solve counts its own
    mol = MethodOfLines(problem, TAU_BY_METHOD_S.get(method, TAU_RELAX_S))
    y0 = mol.initial()
    deadline = t0 + max_wall_s

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        if time.perf_counter() > deadline:
            raise _WallTimeCap
        return mol.rhs(t, y)

    # LSODA takes a banded Jacobian (its dense one would be 4263^2); BDF and Radau a sparse one
    jac_options = (
        {"jac": mol.jac_banded, "lband": mol.kl, "uband": mol.ku}
        if method == "LSODA"
        else {"jac": mol.jac}
    )
    try:
        sol = scipy.integrate.solve_ivp(
            rhs,
            (0.0, mol.duration_s),
            y0,
            method=method,
            rtol=rtol,
            atol=rtol * ATOL_PER_RTOL,
            first_step=FIRST_STEP_S.get(method, 1.0e-9),
            **jac_options,
        )
    except Exception as exc:  # the cap, or a failure inside solve_ivp: a result, not a crash
        why = (
            f"stopped at the wall-time cap of {max_wall_s:g} s"
            if isinstance(exc, _WallTimeCap)
            else f"{type(exc).__name__}: {exc}"
        )
        sol = SimpleNamespace(
            t=np.zeros(1), y=np.zeros((0, 0)), nfev=0, njev=0, nlu=0, success=False, message=why
        )
    wall = time.perf_counter() - t0
    y = sol.y[:, -1] if sol.y.size else y0
    fractions = np.stack([y[i :: mol.nb] for i in range(mol.n_species)])
    depth = cell_centers_nm(np.asarray(problem.x_faces_nm, dtype=float))
    return MolRun(
        method=method,
        rtol=rtol,
        fractions=fractions,
        depth_nm=depth,
        species=tuple(sp.name for sp in problem.species),
        steps=len(sol.t) - 1,
        nfev=int(sol.nfev),
        njev=int(sol.njev),
        nlu=int(sol.nlu),
        wall_s=wall,
        success=bool(sol.success),
        message=str(sol.message),
    )


def reference_profile() -> tuple[np.ndarray, tuple[str, ...], np.ndarray] | None:
    """(depth_nm, species, fractions (n_species, n_points)) of the shared reference, or None."""
    path = REFERENCE_DIR / "lbo_k_potentiostatic_profile.csv"
    if not path.is_file():
        return None
    table = np.loadtxt(path, delimiter=",", skiprows=2)
    return table[:, 0], ("Li", "K"), table[:, 1:3].T


def profile_error(depth, species, fractions, ref) -> float:
    """Max abs difference (fractions of n_bulk) to the reference profile, over its depths."""
    ref_depth, ref_species, ref_fractions = ref
    err = 0.0
    for k, name in enumerate(ref_species):
        ours = np.interp(ref_depth, depth, fractions[species.index(name)])
        err = max(err, float(np.max(np.abs(ours - ref_fractions[k]))))
    return err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["BDF", "LSODA"])
    parser.add_argument("--rtols", nargs="+", type=float, default=[1e-2, 3e-3, 1e-3, 3e-4, 1e-4])
    args = parser.parse_args(argv)
    case = nppsim.load_case(ROOT / "cases" / "lbo_k.toml")
    from nppsim.simulate import problem_from_case

    problem = problem_from_case(case)
    ref = reference_profile()
    if ref is None:
        tight = nppsim.simulate(case.with_values({"solver.rtol": 1e-7, "solver.atol": 1e-11}))
        ref = (
            tight.depth_nm,
            ("Li", "K"),
            np.stack([tight.final_fraction(s) for s in "Li K".split()]),
        )
        print("reference: nppsim at rtol 1e-7 (shared reference profile not found)")
    else:
        print("reference: the shared independent reference profile (lbo_k_potentiostatic)")
    print(f"{'method':>6} {'rtol':>8} {'steps':>6} {'nfev':>6} {'njev':>5} {'nlu':>5} "
          f"{'wall_s':>8} {'error':>9}  ok")  # fmt: skip
    for method in args.methods:
        for rtol in args.rtols:
            r = run_mol(problem, method, rtol)
            err = profile_error(r.depth_nm, r.species, r.fractions, ref) if r.success else math.nan
            print(f"{method:>6} {rtol:>8.0e} {r.steps:>6} {r.nfev:>6} {r.njev:>5} {r.nlu:>5} "
                  f"{r.wall_s:>8.3f} {err:>9.2e}  {r.success}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
