"""Compiled tridiagonal linear algebra of the electroneutral reduced solver (numba, cache=True):
LU factorisation without pivoting (Thomas algorithm) and its solve, for the tridiagonal part of
the Newton matrix (dimensionless entries: d(residual)/d(fraction)). The time loop does not call
them: `solvers.electroneutral_assembly.newton_system` performs the same elimination while it
assembles the rows. The tests check this pair against LAPACK's gtsv.

Split out of `solvers.electroneutral_kernels` (which re-exports every name here).
"""

from __future__ import annotations

import math

from numba import njit


# ---------------------------------------------------------------------------------------------
# Tridiagonal LU (Thomas algorithm, no pivoting)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def tridiag_factor(lo, di, up, n, piv, gam):
    """LU of the tridiagonal (lo, di, up)[:n] without pivoting: the matrix of a conservative
    implicit step is diagonally dominant by (h-weighted) columns, for which elimination without
    pivoting is stable. Returns 0, or k+1 if pivot k is zero or not finite."""
    for k in range(n):
        w = di[k] if k == 0 else di[k] - lo[k] * gam[k - 1]
        if w == 0.0 or not math.isfinite(w):
            return k + 1
        piv[k] = 1.0 / w
        gam[k] = up[k] * piv[k] if k < n - 1 else 0.0
    return 0


@njit(cache=True)
def tridiag_solve(lo, piv, gam, n, b):
    """Solve A x = b in place with the factors of `tridiag_factor` (piv: inverse pivots)."""
    b[0] *= piv[0]
    for k in range(1, n):
        b[k] = (b[k] - lo[k] * b[k - 1]) * piv[k]
    for k in range(n - 2, -1, -1):
        b[k] -= gam[k] * b[k + 1]
