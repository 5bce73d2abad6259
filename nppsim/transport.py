"""Transport utilities: Nernst-Einstein, Haven ratio, Arrhenius fits of sigma T, carrier density.

Units live in names (see `nppsim.units`): ``_S_cm`` siemens per centimetre, ``_cm2_s`` square
centimetres per second, ``_cm3`` per cubic centimetre, ``_K`` kelvin, ``_eV`` electronvolts.

Scalar-or-array functions return a ``float`` for scalar inputs and a numpy array otherwise.
Every function checks its inputs and raises `ValueError` with a one-line message.

Diffusion coefficients:

- ``D_sigma`` (conductivity diffusion coefficient) is the one the Nernst-Einstein relation gives
  from the dc conductivity, ``D_sigma = sigma k_B T / (n (z e)^2)``.
- ``D*`` (tracer diffusion coefficient) is what a tracer experiment measures. The Haven ratio
  ``H_R = D* / D_sigma`` holds both the tracer correlation factor and the cross-correlations of
  different ions, so no separate correlation factor appears here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from nppsim.units import (
    AVOGADRO_PER_MOL,
    K_B_EV_K,
    conductivity_S_cm,
    diffusion_from_conductivity_cm2_s,
)

FloatOrArray: TypeAlias = float | npt.NDArray[np.float64]

#: Avogadro constant (1/mol); not in `nppsim.units`
#: cubic centimetres per cubic angstrom; not in `nppsim.units`
CM3_PER_A3: float = 1.0e-24

#: Haven ratio D*/D_sigma of Li3B7O12 glass: Gunawan, Schäfer, Weitzel, PCCP 26 (2024) 14430
#: relate the tracer coefficient to the conductivity one by D* = D_sigma / 2.
HAVEN_RATIO_LI3B7O12: float = 0.5

#: A straight line through 2 points leaves no degree of freedom for its standard errors, so every
#: Arrhenius segment needs at least 3 points (and 2 distinct temperatures, for a defined slope).
MIN_POINTS_PER_SEGMENT: int = 3


# ---- input checks -------------------------------------------------------------------------------


def _positive(name: str, value: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """value as a float array, after checking that it is finite and > 0."""
    arr = np.asarray(value, dtype=float)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~(np.isfinite(arr) & (arr > 0.0))
    if np.any(bad):
        raise ValueError(f"{name} must be finite and > 0, got {_show(arr, bad)}")
    return arr


def _non_negative(name: str, value: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """value as a float array, after checking that it is finite and >= 0."""
    arr = np.asarray(value, dtype=float)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~(np.isfinite(arr) & (arr >= 0.0))
    if np.any(bad):
        raise ValueError(f"{name} must be finite and >= 0, got {_show(arr, bad)}")
    return arr


def _charge(charge: int) -> int:
    if isinstance(charge, bool) or not isinstance(charge, int | np.integer) or charge == 0:
        raise ValueError(f"charge must be a non-zero integer, got {charge!r}")
    return int(charge)


def _show(arr: npt.NDArray[np.float64], bad: npt.NDArray[np.bool_]) -> str:
    """The offending value(s) on one line."""
    if arr.ndim == 0:
        return repr(float(arr))
    return np.array2string(arr[bad][:5], separator=", ", max_line_width=10**6)


def _out(arr: npt.NDArray[np.float64]) -> FloatOrArray:
    return float(arr) if arr.ndim == 0 else arr


# ---- Nernst-Einstein ----------------------------------------------------------------------------


def D_sigma_from_conductivity(
    sigma_S_cm: npt.ArrayLike, n_cm3: npt.ArrayLike, T_K: npt.ArrayLike, charge: int = 1
) -> FloatOrArray:
    """Conductivity diffusion coefficient D_sigma = sigma k_B T / (n (z e)^2) (cm^2/s).

    sigma_S_cm: dc conductivity (S/cm, >= 0); n_cm3: mobile-ion density (cm^-3, > 0);
    T_K: temperature (K, > 0); charge: charge number z of the mobile ion (non-zero integer).
    Arrays broadcast.
    """
    sigma = _non_negative("sigma_S_cm", sigma_S_cm)
    n = _positive("n_cm3", n_cm3)
    T = _positive("T_K", T_K)
    return _out(np.asarray(diffusion_from_conductivity_cm2_s(sigma, n, T, _charge(charge))))


def conductivity_from_D_sigma(
    D_cm2_s: npt.ArrayLike, n_cm3: npt.ArrayLike, T_K: npt.ArrayLike, charge: int = 1
) -> FloatOrArray:
    """Nernst-Einstein conductivity sigma = n (z e)^2 D_sigma / (k_B T) (S/cm).

    D_cm2_s: conductivity diffusion coefficient D_sigma (cm^2/s, >= 0); n_cm3: mobile-ion density
    (cm^-3, > 0); T_K: temperature (K, > 0); charge: charge number z (non-zero integer).
    Arrays broadcast.
    """
    D = _non_negative("D_cm2_s", D_cm2_s)
    n = _positive("n_cm3", n_cm3)
    T = _positive("T_K", T_K)
    return _out(np.asarray(conductivity_S_cm(n, D, T, _charge(charge))))


# ---- Haven ratio --------------------------------------------------------------------------------


def haven_ratio(D_tracer_cm2_s: npt.ArrayLike, D_sigma_cm2_s: npt.ArrayLike) -> FloatOrArray:
    """Haven ratio H_R = D* / D_sigma (dimensionless).

    D_tracer_cm2_s: tracer diffusion coefficient D* (cm^2/s, > 0); D_sigma_cm2_s: conductivity
    diffusion coefficient (cm^2/s, > 0). H_R includes the tracer correlation factor.
    """
    D_t = _positive("D_tracer_cm2_s", D_tracer_cm2_s)
    D_s = _positive("D_sigma_cm2_s", D_sigma_cm2_s)
    return _out(D_t / D_s)


def D_tracer_from_D_sigma(
    D_sigma_cm2_s: npt.ArrayLike, haven_ratio: float = HAVEN_RATIO_LI3B7O12
) -> FloatOrArray:
    """Tracer diffusion coefficient D* = H_R D_sigma (cm^2/s).

    D_sigma_cm2_s: conductivity diffusion coefficient (cm^2/s, >= 0); haven_ratio: H_R = D*/D_sigma
    (> 0), which includes the correlation factor. The default 0.5 is the relation D* = D_sigma / 2
    used for Li3B7O12 glass by Gunawan, Schäfer, Weitzel, PCCP 26 (2024) 14430.
    """
    D_s = _non_negative("D_sigma_cm2_s", D_sigma_cm2_s)
    h = _positive("haven_ratio", haven_ratio)
    return _out(h * D_s)


def D_sigma_from_D_tracer(
    D_tracer_cm2_s: npt.ArrayLike, haven_ratio: float = HAVEN_RATIO_LI3B7O12
) -> FloatOrArray:
    """Conductivity diffusion coefficient D_sigma = D* / H_R (cm^2/s).

    D_tracer_cm2_s: tracer diffusion coefficient D* (cm^2/s, >= 0); haven_ratio: H_R = D*/D_sigma
    (> 0), which includes the correlation factor. The default 0.5 is the relation D* = D_sigma / 2
    used for Li3B7O12 glass by Gunawan, Schäfer, Weitzel, PCCP 26 (2024) 14430.
    """
    D_t = _non_negative("D_tracer_cm2_s", D_tracer_cm2_s)
    h = _positive("haven_ratio", haven_ratio)
    return _out(D_t / h)


# ---- carrier density and conductivity from a measurement ----------------------------------------


def carrier_density_from_cell(
    n_ions_per_cell: npt.ArrayLike, cell_volume_A3: npt.ArrayLike
) -> FloatOrArray:
    """Mobile-ion density n = N / V (cm^-3) of N ions in a unit cell of volume V.

    n_ions_per_cell: number of mobile ions per cell (> 0, need not be an integer for partial
    occupancy); cell_volume_A3: unit-cell volume (cubic angstrom, > 0).
    """
    N = _positive("n_ions_per_cell", n_ions_per_cell)
    V = _positive("cell_volume_A3", cell_volume_A3)
    return _out(N / (V * CM3_PER_A3))


def carrier_density_from_density(
    density_g_cm3: npt.ArrayLike,
    molar_mass_g_mol: npt.ArrayLike,
    ions_per_formula_unit: npt.ArrayLike,
) -> FloatOrArray:
    """Mobile-ion density n = N_A rho / M * ions (cm^-3).

    density_g_cm3: mass density rho (g/cm^3, > 0); molar_mass_g_mol: molar mass M of one formula
    unit (g/mol, > 0); ions_per_formula_unit: mobile ions per formula unit (> 0), e.g. 3 for Li in
    Li3B7O12.
    """
    rho = _positive("density_g_cm3", density_g_cm3)
    M = _positive("molar_mass_g_mol", molar_mass_g_mol)
    ions = _positive("ions_per_formula_unit", ions_per_formula_unit)
    return _out(AVOGADRO_PER_MOL * rho / M * ions)


def conductivity_from_resistance(
    R_ohm: npt.ArrayLike, thickness_cm: npt.ArrayLike, area_cm2: npt.ArrayLike
) -> FloatOrArray:
    """Conductivity sigma = L / (R A) (S/cm) of a plate with parallel electrodes.

    R_ohm: bulk resistance (ohm, > 0); thickness_cm: sample thickness L between the electrodes
    (cm, > 0); area_cm2: electrode area A (cm^2, > 0).
    """
    R = _positive("R_ohm", R_ohm)
    L = _positive("thickness_cm", thickness_cm)
    A = _positive("area_cm2", area_cm2)
    return _out(L / (R * A))


# ---- Arrhenius analysis of sigma T --------------------------------------------------------------


@dataclass(frozen=True)
class ArrheniusFit:
    """Piecewise Arrhenius fit ln(sigma T) = ln(A) - E_a / (k_B T) of conductivity data.

    Segments are ordered from cold to hot; every per-segment field is a tuple of length
    `n_segments`. A temperature T belongs to segment k when breaks_K[k-1] <= T < breaks_K[k]
    (a temperature exactly at a break belongs to the hotter segment); below the first break and
    above the last one the coldest and hottest segments extrapolate, so `sigma_S_cm` is defined at
    any T > 0; outside the measured range it extrapolates the nearest segment.

    activation_energies_eV: E_a per segment (eV); activation_energies_stderr_eV: their standard
    errors (eV); ln_prefactors: ln(A / (S K/cm)); ln_prefactors_stderr: their standard errors;
    correlations: correlation coefficient of E_a and ln(A) per segment (close to +1 for data far
    from 1/T = 0); T_ranges_K: (lowest, highest) data temperature per segment (K); breaks_K: the
    n_segments - 1 break temperatures (K), strictly increasing; n_points: data points per segment;
    ssr: residual sum of squares of ln(sigma T) per segment.

    Standard errors are the usual least-squares ones, s^2 (X^T X)^-1 with s^2 = ssr / (n - 2); they
    assume independent errors of equal size in ln(sigma T), i.e. equal relative errors in sigma.
    """

    activation_energies_eV: tuple[float, ...]
    activation_energies_stderr_eV: tuple[float, ...]
    ln_prefactors: tuple[float, ...]
    ln_prefactors_stderr: tuple[float, ...]
    correlations: tuple[float, ...]
    T_ranges_K: tuple[tuple[float, float], ...]
    breaks_K: tuple[float, ...]
    n_points: tuple[int, ...]
    ssr: tuple[float, ...]

    def __post_init__(self) -> None:
        k = len(self.activation_energies_eV)
        per_segment = (
            self.activation_energies_stderr_eV,
            self.ln_prefactors,
            self.ln_prefactors_stderr,
            self.correlations,
            self.T_ranges_K,
            self.n_points,
            self.ssr,
        )
        if k == 0 or any(len(f) != k for f in per_segment) or len(self.breaks_K) != k - 1:
            raise ValueError(
                "ArrheniusFit: per-segment fields differ in length or breaks_K mismatch"
            )
        if any(b1 >= b2 for b1, b2 in itertools.pairwise(self.breaks_K)):
            raise ValueError(f"ArrheniusFit: breaks_K must increase strictly, got {self.breaks_K}")

    @property
    def n_segments(self) -> int:
        """Number of Arrhenius segments."""
        return len(self.activation_energies_eV)

    @property
    def prefactors_S_K_cm(self) -> tuple[float, ...]:
        """Prefactors A of sigma T = A exp(-E_a / (k_B T)) per segment (S K/cm)."""
        return tuple(math.exp(v) for v in self.ln_prefactors)

    @property
    def prefactors_stderr_S_K_cm(self) -> tuple[float, ...]:
        """First-order standard errors of A, A * stderr(ln A) (S K/cm); prefer ln_prefactors_stderr
        when it is not small, as the uncertainty of A is then asymmetric."""
        return tuple(
            a * s for a, s in zip(self.prefactors_S_K_cm, self.ln_prefactors_stderr, strict=True)
        )

    def segment_index(self, T_K: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """Index of the segment that describes temperature(s) T_K (K, > 0); see the class doc."""
        T = _positive("T_K", T_K)
        return np.searchsorted(np.asarray(self.breaks_K, dtype=float), T, side="right")

    def sigma_S_cm(self, T_K: npt.ArrayLike) -> FloatOrArray:
        """Conductivity sigma(T) = A/T exp(-E_a / (k_B T)) (S/cm) at temperature(s) T_K (K, > 0).

        Each T uses its own segment (see the class doc); outside the data the nearest segment
        extrapolates.
        """
        T = _positive("T_K", T_K)
        k = self.segment_index(T)
        E = np.asarray(self.activation_energies_eV)[k]
        ln_A = np.asarray(self.ln_prefactors)[k]
        return _out(np.exp(ln_A - np.log(T) - E / (K_B_EV_K * T)))

    def D_sigma_cm2_s(
        self, T_K: npt.ArrayLike, n_cm3: npt.ArrayLike, charge: int = 1
    ) -> FloatOrArray:
        """Conductivity diffusion coefficient D_sigma(T) (cm^2/s) by Nernst-Einstein from sigma(T).

        T_K: temperature(s) (K, > 0); n_cm3: mobile-ion density (cm^-3, > 0), taken as independent
        of T; charge: charge number z (non-zero integer).
        """
        return D_sigma_from_conductivity(self.sigma_S_cm(T_K), n_cm3, T_K, charge)

    def report(self) -> str:
        """The fit as a readable block of text, one line per segment."""
        lines = [f"Arrhenius fit of sigma T, {self.n_segments} segment(s)"]
        if self.breaks_K:
            lines.append("breaks (K): " + ", ".join(f"{b:.6g}" for b in self.breaks_K))
        for i in range(self.n_segments):
            lo, hi = self.T_ranges_K[i]
            lines.append(
                f"  [{i}] T {lo:.6g}-{hi:.6g} K, {self.n_points[i]} points: "
                f"E_a = {self.activation_energies_eV[i]:.6g} "
                f"+/- {self.activation_energies_stderr_eV[i]:.2g} eV, "
                f"ln(A / (S K/cm)) = {self.ln_prefactors[i]:.6g} "
                f"+/- {self.ln_prefactors_stderr[i]:.2g}, corr = {self.correlations[i]:.4f}, "
                f"ssr = {self.ssr[i]:.3g}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class _Line:
    """Least-squares line y = ln_A - E x with x = 1 / (k_B T) (1/eV), y = ln(sigma T)."""

    E: float
    E_se: float
    ln_A: float
    ln_A_se: float
    corr: float
    ssr: float


def _fit_line(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> _Line:
    # Centring x makes the slope and the centred intercept uncorrelated and avoids the
    # cancellation of the normal equations (x ~ 10-60 /eV, spread often only a few /eV).
    n = x.size
    xm = float(np.mean(x))
    dx = x - xm
    sxx = float(dx @ dx)
    slope = float(dx @ (y - np.mean(y))) / sxx
    a = float(np.mean(y))
    resid = y - a - slope * dx
    ssr = float(resid @ resid)
    s2 = ssr / (n - 2)
    var_slope = s2 / sxx
    var_ln_A = s2 / n + xm**2 * var_slope
    ln_A = a - slope * xm
    # cov(ln_A, E) = cov(a - slope xm, -slope) = xm var(slope); s^2 cancels in the correlation,
    # which is therefore defined for an exact fit too
    corr = xm / math.sqrt(sxx / n + xm**2)
    return _Line(
        E=-slope,
        E_se=math.sqrt(var_slope),
        ln_A=ln_A,
        ln_A_se=math.sqrt(var_ln_A),
        corr=corr,
        ssr=ssr,
    )


def _segment_ok(x_sorted: npt.NDArray[np.float64], i: int, j: int) -> bool:
    """Points i..j-1 of the data sorted by T (x = 1/(k_B T) non-increasing) can form a segment."""
    return j - i >= MIN_POINTS_PER_SEGMENT and x_sorted[i] > x_sorted[j - 1]


def _best_partition(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], k: int) -> list[int]:
    """Split positions (indices into the sorted data) of the k-segment partition with the least
    total squared residual; segments are contiguous, never split equal temperatures, and each
    holds >= MIN_POINTS_PER_SEGMENT points with 2 distinct temperatures."""
    m = x.size
    cost: dict[tuple[int, int], float] = {}

    def seg_cost(i: int, j: int) -> float:
        if (i, j) not in cost:
            cost[(i, j)] = _fit_line(x[i:j], y[i:j]).ssr if _segment_ok(x, i, j) else math.inf
        return cost[(i, j)]

    cuts = [i for i in range(1, m) if x[i] < x[i - 1]]
    # best[s][j]: least cost of the first j points in s segments, with the last cut in arg[s][j]
    best: list[dict[int, float]] = [{0: 0.0}]
    arg: list[dict[int, int]] = [{}]
    ends = [*cuts, m]
    for s in range(1, k + 1):
        best.append({})
        arg.append({})
        for j in ends if s < k else [m]:
            choice = math.inf, -1
            for i, c in best[s - 1].items():
                if i < j and c < math.inf:
                    total = c + seg_cost(i, j)
                    if total < choice[0]:
                        choice = total, i
            if choice[0] < math.inf:
                best[s][j], arg[s][j] = choice
    if m not in best[k]:
        raise ValueError(
            f"cannot split {m} points into {k} segments of >= {MIN_POINTS_PER_SEGMENT} points "
            "with 2 distinct temperatures each"
        )
    splits = []
    j = m
    for s in range(k, 0, -1):
        j = arg[s][j]
        splits.append(j)
    return sorted(splits)[1:]  # drop the leading 0


def fit_arrhenius(
    T_K: npt.ArrayLike,
    sigma_S_cm: npt.ArrayLike,
    breaks_K: float | Sequence[float] | None = None,
    *,
    n_segments: int | None = None,
) -> ArrheniusFit:
    """Least-squares fit of ln(sigma T) = ln(A) - E_a / (k_B T), piecewise in T.

    T_K: temperatures (K, > 0, any order, repeats allowed); sigma_S_cm: conductivities (S/cm, > 0),
    same length. The residuals are those of ln(sigma T), unweighted (equal relative errors in
    sigma).

    Segments, from cold to hot, are chosen in one of three ways:

    - neither breaks_K nor n_segments: one straight line;
    - breaks_K (K): strictly increasing temperatures where the regime changes (a kink); a point at
      T belongs to segment k when breaks_K[k-1] <= T < breaks_K[k]; each segment is fitted on its
      own (no continuity imposed at the breaks);
    - n_segments: the breaks are found by minimising the total squared residual of ln(sigma T) over
      all partitions of the sorted data into n_segments contiguous segments (exhaustive, by dynamic
      programming). Each reported break lies between the last temperature of one segment and the
      first of the next: at the intersection of the two fitted lines when that falls strictly
      between them (the kink estimate, where the fitted sigma(T) is continuous), otherwise at the
      midpoint of the gap.

    Every segment needs >= 3 points and 2 distinct temperatures (`MIN_POINTS_PER_SEGMENT`), so that
    standard errors are always defined. Raises ValueError (one line) for non-finite or non-positive
    T or sigma, mismatched lengths, unsorted or non-positive breaks, both breaks_K and n_segments
    given, n_segments < 1, or a segment with too few points.
    """
    T = _positive("T_K", T_K)
    sigma = _positive("sigma_S_cm", sigma_S_cm)
    if T.ndim != 1 or sigma.ndim != 1:
        raise ValueError("T_K and sigma_S_cm must be 1-D sequences")
    if T.size != sigma.size:
        raise ValueError(f"T_K has {T.size} values but sigma_S_cm has {sigma.size}")
    order = np.argsort(T, kind="stable")
    T, sigma = T[order], sigma[order]
    x = 1.0 / (K_B_EV_K * T)
    y = np.log(sigma) + np.log(T)

    if breaks_K is not None and n_segments is not None:
        raise ValueError("give breaks_K or n_segments, not both")
    if n_segments is not None:
        if isinstance(n_segments, bool) or not isinstance(n_segments, int | np.integer):
            raise ValueError(f"n_segments must be an integer, got {n_segments!r}")
        if n_segments < 1:
            raise ValueError(f"n_segments must be >= 1, got {n_segments}")
        splits = _best_partition(x, y, int(n_segments))
        bounds = [0, *splits, T.size]
        lines = [_fit_line(x[i:j], y[i:j]) for i, j in itertools.pairwise(bounds)]
        breaks = tuple(
            _break_between(T[s - 1], T[s], lo, hi)
            for s, lo, hi in zip(splits, lines[:-1], lines[1:], strict=True)
        )
    else:
        breaks = _check_breaks(breaks_K)
        seg = np.searchsorted(np.asarray(breaks), T, side="right")
        counts = np.bincount(seg, minlength=len(breaks) + 1)
        bounds = [0, *np.cumsum(counts).tolist()]
        for k, (i, j) in enumerate(itertools.pairwise(bounds)):
            if not _segment_ok(x, i, j):
                raise ValueError(
                    f"segment {k} ({_segment_span(breaks, k)}) has {j - i} point(s) "
                    f"with {np.unique(T[i:j]).size} distinct temperature(s); "
                    f"need >= {MIN_POINTS_PER_SEGMENT} points and 2 distinct temperatures"
                )
        lines = [_fit_line(x[i:j], y[i:j]) for i, j in itertools.pairwise(bounds)]

    ranges = tuple((float(T[i]), float(T[j - 1])) for i, j in itertools.pairwise(bounds))
    return ArrheniusFit(
        activation_energies_eV=tuple(ln.E for ln in lines),
        activation_energies_stderr_eV=tuple(ln.E_se for ln in lines),
        ln_prefactors=tuple(ln.ln_A for ln in lines),
        ln_prefactors_stderr=tuple(ln.ln_A_se for ln in lines),
        correlations=tuple(ln.corr for ln in lines),
        T_ranges_K=ranges,
        breaks_K=breaks,
        n_points=tuple(j - i for i, j in itertools.pairwise(bounds)),
        ssr=tuple(ln.ssr for ln in lines),
    )


def _check_breaks(breaks_K: float | Sequence[float] | None) -> tuple[float, ...]:
    if breaks_K is None:
        return ()
    b = np.atleast_1d(np.asarray(breaks_K, dtype=float))
    if b.ndim != 1:
        raise ValueError("breaks_K must be a number or a 1-D sequence")
    if b.size == 0:
        return ()
    _positive("breaks_K", b)
    if np.any(np.diff(b) <= 0.0):
        raise ValueError(f"breaks_K must increase strictly, got {b.tolist()}")
    return tuple(float(v) for v in b)


def _segment_span(breaks: tuple[float, ...], k: int) -> str:
    lo = f"{breaks[k - 1]:g} K" if k > 0 else "0 K"
    hi = f"{breaks[k]:g} K" if k < len(breaks) else "inf"
    return f"T in [{lo}, {hi})"


def _break_between(T_lo: float, T_hi: float, cold: _Line, hot: _Line) -> float:
    """Break temperature (K) between adjacent data temperatures T_lo < T_hi of two segments."""
    dE = cold.E - hot.E
    if dE != 0.0:
        # ln_A_c - E_c x = ln_A_h - E_h x  =>  x = (ln_A_c - ln_A_h) / (E_c - E_h)
        x = (cold.ln_A - hot.ln_A) / dE
        if x > 0.0:
            T_x = 1.0 / (K_B_EV_K * x)
            if T_lo < T_x < T_hi:
                return float(T_x)
    return 0.5 * (float(T_lo) + float(T_hi))
