"""The least-squares core of the fits (`fitting.fit`): residuals in internal coordinates
u in [0, 1] with the best point tracked (`Objective`), its Jacobian from forward sensitivities
or forward differences, the trust-region-reflective minimisation (`run_least_squares`) and
the covariance from the Jacobian (`covariance`). Split out of `fitting.fit`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.optimize import least_squares

from fitting.forward import FAILED_RESIDUAL, ForwardModel
from fitting.parameters import FreeParameter, case_values
from nppsim.errors import InputError, SimulationError

#: finite-difference step of the Jacobian in internal coordinates (1 = the whole bound range):
#: large against the solver's tolerance noise (~1e-5 in fractions), small against curvature
DIFF_STEP = 2.0e-3
#: optimiser tolerances on the relative change of chi^2 and of u
FTOL = 1.0e-8
XTOL = 1.0e-6
#: singular values below this fraction of the largest mean an undetermined direction
SINGULAR_RTOL = 1.0e-8


class Objective:
    """Residuals in internal coordinates; tracks the best point and counts evaluations."""

    def __init__(
        self,
        model: ForwardModel,
        params: Sequence[FreeParameter],
        fixed: Mapping[int, float] | None = None,
        progress: Callable[[int, float], None] | None = None,
        on_best: Callable[[dict[str, float], float], None] | None = None,
    ) -> None:
        self.model = model
        self.params = list(params)
        self.fixed = dict(fixed or {})  # index -> internal value held fixed (profiles)
        self.free_idx = [i for i in range(len(params)) if i not in self.fixed]
        self.progress = progress
        self.on_best = on_best
        self.best_u: np.ndarray | None = None
        self.best_chi2 = math.inf
        self.nfev = 0

    def full_u(self, u_free: np.ndarray) -> np.ndarray:
        u = np.empty(len(self.params))
        for i, v in self.fixed.items():
            u[i] = v
        u[self.free_idx] = u_free
        return u

    def values(self, u: np.ndarray) -> list[float]:
        return [p.from_internal(x) for p, x in zip(self.params, u, strict=True)]

    def __call__(self, u_free: np.ndarray) -> np.ndarray:
        u = self.full_u(np.asarray(u_free, dtype=float))
        per_case = case_values(self.params, self.values(u), len(self.model.cases))
        r = self.model.residuals(per_case)
        self.nfev += 1
        chi2 = float(r @ r)
        if chi2 < self.best_chi2:
            self.best_chi2 = chi2
            self.best_u = u.copy()
            if self.on_best is not None:
                labels = [p.label for p in self.params]
                self.on_best(dict(zip(labels, self.values(u), strict=True)), chi2)
        if self.progress is not None:
            self.progress(self.model.n_simulations, self.best_chi2)
        return r

    def jacobian(self, u_free: np.ndarray) -> np.ndarray:
        """d residuals / d u_free from the forward sensitivities of the simulations at u
        (`ForwardModel.residual_derivatives`; the simulations are those of the residuals at u,
        from the cache); forward differences (DIFF_STEP) where they are not available."""
        u_free = np.asarray(u_free, dtype=float)
        u = self.full_u(u_free)
        per_case = case_values(self.params, self.values(u), len(self.model.cases))
        try:
            derivs = self.model.residual_derivatives(per_case)
        except (SimulationError, InputError):
            return self._differences(u_free)
        n = self.model.n_points
        jac = np.zeros((n, len(self.free_idx)))
        for col, i in enumerate(self.free_idx):
            p = self.params[i]
            dv_du = value_per_internal(p, float(u[i]))
            for c in p.cases:
                jac[:, col] += derivs[(c, p.key)] * dv_du
        if not np.all(np.isfinite(jac)):
            return self._differences(u_free)
        return jac

    def _differences(self, u_free: np.ndarray) -> np.ndarray:
        """Forward-difference Jacobian (steps DIFF_STEP, backwards at the upper bound)."""
        r0 = self(u_free)
        jac = np.zeros((r0.size, u_free.size))
        for j in range(u_free.size):
            h = DIFF_STEP * max(1.0, abs(u_free[j]))
            if u_free[j] + h > 1.0:
                h = -h
            u1 = u_free.copy()
            u1[j] += h
            jac[:, j] = (self(u1) - r0) / h
        return jac


def value_per_internal(p: FreeParameter, u: float) -> float:
    """d value / d u of a parameter at internal coordinate u (the key's unit)."""
    if p.log:
        return p.from_internal(u) * math.log(10.0) * (math.log10(p.high) - math.log10(p.low))
    return p.high - p.low


def run_least_squares(
    obj: Objective, u0: np.ndarray, max_nfev: int
) -> tuple[np.ndarray, str, np.ndarray | None]:
    """Minimise from u0 (free coordinates); returns (u_free, message, Jacobian at u_free).

    KeyboardInterrupt passes through.
    """
    n = len(u0)
    if n == 0:
        obj(u0)
        return u0, "no free parameter", None
    use_sens = any(obj.model.sensitivity_keys)
    res = least_squares(
        obj,
        np.clip(u0, 0.0, 1.0),
        jac=obj.jacobian if use_sens else "2-point",
        bounds=(np.zeros(n), np.ones(n)),
        method="trf",
        diff_step=DIFF_STEP,
        x_scale=1.0,
        ftol=FTOL,
        xtol=XTOL,
        gtol=1.0e-10,
        max_nfev=max_nfev,
    )
    return res.x, str(res.message), np.asarray(res.jac, dtype=float)


def covariance(jac: np.ndarray, scale: float) -> tuple[np.ndarray, list[int]]:
    """Covariance (internal coordinates) = scale (J^T J)^-1 by SVD; indices of undetermined
    parameters (those in a singular direction) get NaN rows and columns."""
    p = jac.shape[1]
    if p == 0:
        return np.zeros((0, 0)), []
    _, s, vt = np.linalg.svd(jac, full_matrices=False)
    tol = SINGULAR_RTOL * (s[0] if s.size and s[0] > 0 else 1.0)
    good = s > tol
    cov = (vt[good].T / s[good] ** 2) @ vt[good] * scale
    bad: list[int] = []
    if not np.all(good):
        null = vt[~good]
        bad = [i for i in range(p) if np.any(np.abs(null[:, i]) > 1e-3)]
        cov[bad, :] = np.nan
        cov[:, bad] = np.nan
    return cov, bad


def safe_eval(obj: Objective, u: np.ndarray) -> np.ndarray:
    """Residuals at u after an interrupt (a cached point costs nothing); a second Ctrl-C
    gives the failed-residual vector instead of a traceback."""
    try:
        return obj(u)
    except KeyboardInterrupt:
        return np.full(obj.model.n_points, FAILED_RESIDUAL)
