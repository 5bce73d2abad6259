"""Kernel table: the form in which the compiled solver evaluates D(n) fast.

A :class:`KernelTable` holds ln D at nodes uniformly spaced in u = ln n together with the exact
slopes d ln D / du, and :func:`evaluate_table` interpolates it by cubic Hermite in u. The solver's
numba kernel is a line-by-line twin of :func:`evaluate_table`; this numpy version is the reference
the twin is tested against, so keep the two identical.

Interpolation rule (n in the unit of the model's n_ref; D in cm^2/s):

- kind 0: D = D_const, dD/dn = 0 for every n.
- kind 1, n <= 0: D = 0, dD/dn = exp(logD[0]) / n_lo.
- kind 1, 0 < n < n_lo: D = exp(logD[0]) * n / n_lo (evaluated left to right), dD/dn =
  exp(logD[0]) / n_lo (linear to zero).
- kind 1, n >= n_lo: u = ln n, s = (u - u0) / du, i = max(0, min(floor(s), m - 2)), t = s - i.
  If t > 1 (beyond the last node): y = logD[m-1] + slope[m-1] (u - u_last), dy/du = slope[m-1];
  else the cubic Hermite y = h00 logD[i] + h10 du slope[i] + h01 logD[i+1] + h11 du slope[i+1]
  (evaluated as logD[i] + h01 (logD[i+1] - logD[i]) + ..., since h00 = 1 - h01).
  Then y is capped at logD[m-1] + LN_OVERFULL_GAIN_MAX (dy/du = 0 where capped), and
  D = exp(y), dD/dn = D (dy/du) / n.

The two safeguards beyond the plain rule: ``i`` is clamped at 0 because ln(n_lo) may round one ulp
below u0, and the cap keeps exp(y) finite when the overfull tail (n beyond the last node, more ions
than sites) is extrapolated with a steep slope.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "KIND_CONSTANT",
    "KIND_LOG_TABLE",
    "LN_OVERFULL_GAIN_MAX",
    "KernelTable",
    "build_log_table",
    "evaluate_table",
]

FloatArray = NDArray[np.float64]

KIND_CONSTANT = 0
"""KernelTable.kind for a constant D (D_const used, tables empty)."""
KIND_LOG_TABLE = 1
"""KernelTable.kind for ln D tabulated at nodes uniform in u = ln n."""

# Largest rise of ln D above its value at the last node in the extrapolated (overfull) tail:
# n beyond the last node means (almost) more ions than sites, a state that only occurs transiently
# inside Newton iterations. 1e30 above D(n_cap) already relaxes such a state instantly, and the cap
# keeps D, dD/dn and the solver's Jacobian far from float64 overflow (exp overflows at 709.8).
LN_OVERFULL_GAIN_MAX = math.log(1e30)


@dataclass(frozen=True, eq=False)
class KernelTable:
    """Tabulated D(n) for the compiled solver (see the module docstring for the exact rule).

    kind: 0 = constant D (``D_const`` used), 1 = tabulated in u = ln n.
    D_const: the constant diffusivity (cm^2/s), kind 0 only (0.0 for kind 1).
    u0: ln(n_lo), the first node (n in the unit of the model's n_ref).
    du: node spacing in u (dimensionless).
    logD: (m,) ln(D / (cm^2/s)) at the nodes u0 + k du.
    slope: (m,) d ln D / d u at the nodes (analytic, not finite differences).
    n_lo: exp(u0) (unit of n); below it D = exp(logD[0]) n / n_lo, and D = 0 for n <= 0.
    For kind 0 the arrays have length 0 and u0, du, n_lo are unused.
    """

    kind: int
    D_const: float
    u0: float
    du: float
    logD: FloatArray
    slope: FloatArray
    n_lo: float

    @classmethod
    def constant(cls, D_cm2_s: float) -> KernelTable:
        """Kind-0 table for the constant diffusivity ``D_cm2_s`` (cm^2/s)."""
        empty = np.zeros(0)
        empty.setflags(write=False)
        return cls(
            kind=KIND_CONSTANT,
            D_const=float(D_cm2_s),
            u0=0.0,
            du=1.0,
            logD=empty,
            slope=empty,
            n_lo=1.0,
        )

    @property
    def m(self) -> int:
        """Number of nodes (0 for kind 0)."""
        return int(self.logD.size)

    @property
    def u_last(self) -> float:
        """u of the last node, u0 + (m - 1) du (kind 1)."""
        return self.u0 + (self.m - 1) * self.du


#: node sets kept by `log_nodes` (a fit or a sweep rebuilds tables on the same nodes)
NODE_CACHE_SIZE = 8


@functools.lru_cache(maxsize=NODE_CACHE_SIZE)
def log_nodes(ln_n_lo: float, ln_n_hi: float, m: int) -> tuple[float, FloatArray]:
    """(du, u): the m nodes u = ln n of a kind-1 table, uniform from ``ln_n_lo`` to ``ln_n_hi``.

    Cached and read-only: every table on the same range shares them (a model must not write to
    the u it is given).
    """
    du = (ln_n_hi - ln_n_lo) / (m - 1)
    u = ln_n_lo + du * np.arange(m)
    u.setflags(write=False)
    return du, u


@functools.lru_cache(maxsize=NODE_CACHE_SIZE)
def node_densities(ln_n_lo: float, ln_n_hi: float, m: int) -> FloatArray:
    """n = exp(u) at the `log_nodes` (read-only, cached like them)."""
    n = np.exp(log_nodes(ln_n_lo, ln_n_hi, m)[1])
    n.setflags(write=False)
    return n


def build_log_table(
    ln_n_lo: float,
    ln_n_hi: float,
    m: int,
    log_model: Callable[[FloatArray], tuple[FloatArray, FloatArray]],
) -> KernelTable:
    """Kind-1 table with m nodes uniform in u = ln n from ``ln_n_lo`` to ``ln_n_hi``.

    log_model(u) returns (ln(D / (cm^2/s)), d ln D / d u) at the nodes u (ln of n in the model's
    unit); u is `log_nodes` (read-only, shared). The table's first node is n_lo = exp(ln_n_lo).
    """
    if m < 2:
        raise ValueError(f"a kernel table needs at least 2 nodes, got m={m}")
    if not (math.isfinite(ln_n_lo) and math.isfinite(ln_n_hi) and ln_n_hi > ln_n_lo):
        raise ValueError("need finite ln_n_lo < ln_n_hi")
    du, u = log_nodes(ln_n_lo, ln_n_hi, m)
    logD, slope = log_model(u)
    logD = np.array(logD, dtype=float)
    slope = np.array(slope, dtype=float)
    if not (np.all(np.isfinite(logD)) and np.all(np.isfinite(slope))):
        raise ValueError("the mobility model gave a non-finite ln D or slope at a table node")
    logD.setflags(write=False)
    slope.setflags(write=False)
    return KernelTable(
        kind=KIND_LOG_TABLE,
        D_const=0.0,
        u0=float(ln_n_lo),
        du=float(du),
        logD=logD,
        slope=slope,
        n_lo=math.exp(ln_n_lo),
    )


def evaluate_table(table: KernelTable, n: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """D (cm^2/s) and dD/dn (cm^2/s per unit of n) from a kernel table at densities n.

    n: densities in the unit of the model's n_ref (any real values). Numpy reference of the
    solver's compiled kernel; the rule is in the module docstring. Always returns arrays shaped
    like ``n``; finite for every finite n, without floating-point warnings.
    """
    n_arr = np.asarray(n, dtype=float)
    if table.kind == KIND_CONSTANT:
        return np.full(n_arr.shape, table.D_const), np.zeros(n_arr.shape)
    logD = table.logD
    slope = table.slope
    m = logD.size
    D0 = math.exp(logD[0])
    # NaN input stays NaN (it is in neither branch)
    D = np.full(n_arr.shape, np.nan)
    dD = np.full(n_arr.shape, np.nan)
    low = n_arr < table.n_lo
    D[low] = np.where(n_arr[low] > 0.0, D0 * n_arr[low] / table.n_lo, 0.0)
    dD[low] = D0 / table.n_lo
    hi = n_arr >= table.n_lo
    if np.any(hi):
        nh = n_arr[hi]
        u = np.log(nh)
        s = (u - table.u0) / table.du
        i = np.clip(np.floor(s), 0, m - 2).astype(np.intp)
        t = s - i
        t2 = t * t
        t3 = t2 * t
        # h00 = 1 - h01 and d00 = -d01: use the difference of the nodal values, which avoids
        # cancelling two large ln D values (the derivative would lose ~5 digits otherwise)
        h10 = t3 - 2 * t2 + t
        h01 = -2 * t3 + 3 * t2
        h11 = t3 - t2
        d10 = 3 * t2 - 4 * t + 1
        d01 = -6 * t2 + 6 * t
        d11 = 3 * t2 - 2 * t
        y0, dl = logD[i], logD[i + 1] - logD[i]
        y = y0 + h01 * dl + h10 * table.du * slope[i] + h11 * table.du * slope[i + 1]
        dy = d01 * dl / table.du + d10 * slope[i] + d11 * slope[i + 1]
        beyond = t > 1.0
        u_last = table.u0 + (m - 1) * table.du
        y = np.where(beyond, logD[m - 1] + slope[m - 1] * (u - u_last), y)
        dy = np.where(beyond, slope[m - 1], dy)
        y_cap = logD[m - 1] + LN_OVERFULL_GAIN_MAX
        capped = y > y_cap
        y = np.where(capped, y_cap, y)
        dy = np.where(capped, 0.0, dy)
        Dh = np.exp(y)
        D[hi] = Dh
        dD[hi] = Dh * dy / nh
    return D, dD
