"""A free-form monotone D(n): log D at knots, interpolated by PCHIP (MODEL.md section 10).

This is the D(n) that ``nppsim invert`` fits to measured profiles. With f = n / n_ref the
density as a fraction of the pristine density n_ref, knots f_1 < ... < f_K < 1 carry
y_k = log10(D(f_k) / (cm^2/s)), and the pinned node f_{K+1} = 1 carries y = log10 D_ref:

- f_1 <= f <= 1: y(f) is the monotone cubic (PCHIP, Fritsch-Carlson as in scipy's
  ``PchipInterpolator``) through the nodes; non-decreasing nodes give a non-decreasing curve;
- 0 < f < f_1: log-linear extrapolation, y = y_1 + s_1 (f - f_1), s_1 the PCHIP slope at f_1
  (so D is C1 at f_1 and stays positive down to f = 0);
- f > 1: D = D_ref (a fuller-than-pristine state only occurs transiently at a front);
- n <= 0: D = 0.

The solver sees the curve through a dense ``D_table`` (`table_rows`): ln D linear in n between
more points per knot interval where D changes more (the extrapolated part is exactly linear, so
its two end points suffice), which reproduces the PCHIP curve to better than
TABLE_LN_D_ACCURACY in ln D (tested).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import PchipInterpolator

from .mobility import DEFAULT_TABLE_NODES, TabulatedMobility
from .table import KernelTable

__all__ = ["TABLE_POINTS_SCALE", "MonotoneLogDCurve"]

FloatArray = NDArray[np.float64]

#: table points per knot interval of `MonotoneLogDCurve.table_rows`: ceil(sqrt(TABLE_POINTS_SCALE
#: * |change of ln D over the interval|)) + TABLE_POINTS_MIN. A cubic segment that changes ln D by
#: Delta over an interval H has |d2 ln D/df2| <~ 6 Delta / H^2, so piecewise-linear ln D with
#: m points errs by <~ 6 Delta / (8 m^2): 150 keeps that below 5e-3 (0.5 % in D). Fewer rows
#: cost less in every simulation of an inversion (the case carries the table).
TABLE_POINTS_SCALE = 150.0
TABLE_POINTS_MIN = 2
#: the accuracy (in ln D) the tests demand of the table against the curve
TABLE_LN_D_ACCURACY = 1.0e-2


@dataclass(frozen=True, eq=False)
class MonotoneLogDCurve:
    """Monotone D(n) from log10 D at knots (fractions of n_ref), pinned to D_ref at n_ref.

    knots: (K,) fractions f_1 < ... < f_K of n_ref, in (0, 1); log10_D_cm2_s: (K,) log10 of D
    (cm^2/s) at the knots, non-decreasing and <= log10(D_ref_cm2_s); D_ref_cm2_s: D at n_ref
    (cm^2/s); n_ref: pristine density (unit of n the solver uses, fractions of n_bulk).
    Implements the `sed.Mobility` protocol (``D``, ``dD_dn``, ``kernel_table``).
    """

    knots: FloatArray
    log10_D_cm2_s: FloatArray
    D_ref_cm2_s: float
    n_ref: float = 1.0
    _pchip: PchipInterpolator = field(init=False, repr=False)
    _s1: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        x = np.array(self.knots, dtype=float)
        y = np.array(self.log10_D_cm2_s, dtype=float)
        if x.ndim != 1 or x.size < 1 or y.shape != x.shape:
            raise ValueError("knots and log10_D_cm2_s must be 1-D arrays of the same length >= 1")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("knots and log10_D_cm2_s must be finite")
        if x[0] <= 0.0 or x[-1] >= 1.0 or np.any(np.diff(x) <= 0.0):
            raise ValueError("knots must increase strictly inside (0, 1)")
        if not (math.isfinite(self.D_ref_cm2_s) and self.D_ref_cm2_s > 0.0):
            raise ValueError("D_ref_cm2_s must be positive and finite")
        if not (math.isfinite(self.n_ref) and self.n_ref > 0.0):
            raise ValueError("n_ref must be positive and finite")
        y_ref = math.log10(self.D_ref_cm2_s)
        nodes_y = np.append(y, y_ref)
        if np.any(np.diff(nodes_y) < -1e-12 * max(1.0, abs(y_ref))):
            raise ValueError("log10 D must not decrease towards n_ref (monotone D(n))")
        nodes_y = np.maximum.accumulate(nodes_y)
        for arr in (x, y):
            arr.setflags(write=False)
        put = object.__setattr__
        put(self, "knots", x)
        put(self, "log10_D_cm2_s", y)
        pchip = PchipInterpolator(np.append(x, 1.0), nodes_y, extrapolate=False)
        put(self, "_pchip", pchip)
        put(self, "_s1", float(pchip.derivative()(x[0])))

    # ------------------------------------------------------------------ the curve in fractions
    def log10_D_of_fraction(self, f: ArrayLike) -> FloatArray:
        """log10(D / (cm^2/s)) at fractions f = n / n_ref > 0 (array)."""
        f = np.atleast_1d(np.asarray(f, dtype=float))
        x1, y1 = float(self.knots[0]), float(self.log10_D_cm2_s[0])
        out = np.full(f.shape, math.log10(self.D_ref_cm2_s))
        low = f < x1
        out[low] = y1 + self._s1 * (f[low] - x1)
        mid = (f >= x1) & (f <= 1.0)
        out[mid] = self._pchip(f[mid])
        return out

    def dlog10_D_df(self, f: ArrayLike) -> FloatArray:
        """d log10 D / d f at fractions f (left-hand derivative at f = 1, 0 above)."""
        f = np.atleast_1d(np.asarray(f, dtype=float))
        x1 = float(self.knots[0])
        out = np.zeros(f.shape)
        out[f < x1] = self._s1
        mid = (f >= x1) & (f <= 1.0)
        out[mid] = self._pchip.derivative()(f[mid])
        return out

    # ------------------------------------------------------------------ Mobility protocol
    def D(self, n: ArrayLike) -> FloatArray | float:
        """Diffusivity D(n) (cm^2/s) at density n (unit of n_ref); 0 for n <= 0."""
        n_arr = np.asarray(n, dtype=float)
        flat = np.atleast_1d(n_arr)
        out = np.zeros(flat.shape)
        pos = flat > 0.0
        out[pos] = 10.0 ** self.log10_D_of_fraction(flat[pos] / self.n_ref)
        return float(out[0]) if n_arr.ndim == 0 else out.reshape(n_arr.shape)

    def dD_dn(self, n: ArrayLike) -> FloatArray | float:
        """dD/dn (cm^2/s per unit of n); D ln(10) (d log10 D / d f) / n_ref, 0 for n <= 0."""
        n_arr = np.asarray(n, dtype=float)
        flat = np.atleast_1d(n_arr)
        out = np.zeros(flat.shape)
        pos = flat > 0.0
        f = flat[pos] / self.n_ref
        out[pos] = (
            10.0 ** self.log10_D_of_fraction(f) * math.log(10.0) * self.dlog10_D_df(f) / self.n_ref
        )
        return float(out[0]) if n_arr.ndim == 0 else out.reshape(n_arr.shape)

    def table_rows(self) -> tuple[tuple[float, float], ...]:
        """The curve as ``D_table`` rows ((n in the unit of n_ref, D in cm^2/s), ...).

        From n = 0 (the extrapolated D(0)) through the knots to n_ref, with more points in the
        knot intervals where D changes more (TABLE_POINTS_SCALE).
        """
        nodes = np.append(self.knots, 1.0)
        y_nodes = self.log10_D_of_fraction(nodes)
        parts = [np.array([0.0])]
        for k, (a, b) in enumerate(itertools.pairwise(nodes)):
            change = abs(y_nodes[k + 1] - y_nodes[k]) * math.log(10.0)
            m = math.ceil(math.sqrt(TABLE_POINTS_SCALE * change)) + TABLE_POINTS_MIN
            parts.append(np.linspace(a, b, m + 1)[:-1])
        parts.append(np.array([1.0]))
        f = np.concatenate(parts)
        y = self.log10_D_of_fraction(f)
        y[-1] = math.log10(self.D_ref_cm2_s)
        D = 10.0**y
        return tuple((float(a * self.n_ref), float(d)) for a, d in zip(f, D, strict=True))

    def tabulated(self) -> TabulatedMobility:
        """The `TabulatedMobility` of `table_rows` (what the solver simulates)."""
        rows = np.array(self.table_rows())
        return TabulatedMobility(rows[:, 0], rows[:, 1])

    def kernel_table(self, m: int = DEFAULT_TABLE_NODES) -> KernelTable:
        """Kernel table of the tabulated curve (`tabulated`)."""
        return self.tabulated().kernel_table(m)
