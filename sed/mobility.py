"""Diffusivity models D(n) for one mobile species (MODEL.md section 3).

Densities n are in the unit of the model's ``n_ref`` (the solver passes fractions of n_bulk, with
n_ref = the species' pristine fraction, e.g. 1.0); diffusivities are in cm^2/s. Every model
implements the :class:`Mobility` protocol: vectorised ``D(n)`` and ``dD_dn(n)`` (a float for
scalar input) and ``kernel_table()``, the :class:`~sed.table.KernelTable` from which the compiled
solver evaluates D fast.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from .fermi import FermiLevelTable, thermal_energy_eV
from .shapes import SiteEnergyDistribution
from .table import (
    LN_OVERFULL_GAIN_MAX,
    NODE_CACHE_SIZE,
    KernelTable,
    build_log_table,
    log_nodes,
    node_densities,
)

__all__ = [
    "DEFAULT_TABLE_NODES",
    "FILLINGS",
    "N_CAP_REL",
    "N_FLOOR_REL",
    "ConstantMobility",
    "Mobility",
    "SEDMobility",
    "TabulatedMobility",
]

FloatArray = NDArray[np.float64]
Filling = Literal["step", "fermi-dirac"]
FILLINGS: tuple[str, ...] = ("step", "fermi-dirac")
"""Accepted values of SEDMobility.filling."""

N_FLOOR_REL = 1e-12
"""Lower end of the SED formula, as a fraction of the sites N_s. Below it the formula's slope
d D / d n becomes unbounded (E_F -> -inf as n -> 0), so D continues linearly to zero."""
N_CAP_REL = 1.0 - 1e-4
"""Upper end of the SED formula, as a fraction of the sites N_s. Above it E_F -> +inf as the
sites fill, so ln D continues linearly in ln n with the slope it has at the cap."""

# Nodes of the default kernel table, uniform in ln n over the 27.6 ln-units from n_floor to n_cap.
# E_F has a sqrt-log singularity where the sites fill up (n -> N_s), so uniform ln n nodes must be
# fine: a Gaussian SED (250 meV, v = 0.1, 350 K) needs du <~ 5e-4 for 1e-7 relative D up to
# 1.1 n_ref (99 % occupancy). 2^16 nodes (du = 4.2e-4) meet it; the table is 1 MB.
DEFAULT_TABLE_NODES = 2**16

# Largest d ln D / d ln n a model reports. An isolated zero of a tabulated g(E) inside the filled
# range makes dE_F/dn infinite at one density (D stays continuous there); capping keeps dD/dn and
# the kernel-table slopes finite. Real shapes stay far below it (Gaussian at the cap: ~3e4).
MAX_LOG_SLOPE = 1e12

# |ln(D / (cm^2/s))| allowed anywhere in a model's tables, including the overfull-tail cap: keeps
# exp(ln D) and D * slope / n inside float64 (exp over/underflows near +-709) with margin.
LN_D_LIMIT = 600.0


def _out(values: FloatArray, like: ArrayLike) -> FloatArray | float:
    """Return a Python float for scalar input, else the array."""
    if np.ndim(like) == 0:
        return float(values)
    return values


def _check_positive(name: str, value: float) -> None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(x) and x > 0.0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


@runtime_checkable
class Mobility(Protocol):
    """Diffusivity of one species as a function of its density n (unit of the model's n_ref)."""

    def D(self, n: ArrayLike) -> FloatArray | float:
        """Diffusivity (cm^2/s) at density n; a float for scalar n."""
        ...

    def dD_dn(self, n: ArrayLike) -> FloatArray | float:
        """Derivative dD/dn (cm^2/s per unit of n) at density n; a float for scalar n."""
        ...

    def kernel_table(self) -> KernelTable:
        """The model as a KernelTable for the compiled solver."""
        ...


@dataclass(frozen=True)
class ConstantMobility:
    """Constant diffusivity.

    D_cm2_s: the diffusivity (cm^2/s), > 0; the same for every n (a flux D dn/dx needs no
    special case at n = 0).
    """

    D_cm2_s: float

    def __post_init__(self) -> None:
        _check_positive("D_cm2_s", self.D_cm2_s)

    def D(self, n: ArrayLike) -> FloatArray | float:
        """Diffusivity (cm^2/s): D_cm2_s for every n."""
        return _out(np.full(np.shape(n), float(self.D_cm2_s)), n)

    def dD_dn(self, n: ArrayLike) -> FloatArray | float:
        """dD/dn = 0 (cm^2/s per unit of n)."""
        return _out(np.zeros(np.shape(n)), n)

    def kernel_table(self) -> KernelTable:
        """Kind-0 kernel table."""
        return KernelTable.constant(self.D_cm2_s)


@dataclass(frozen=True)
class SEDMobility:
    """D(n) from a density of site energies and a moving Fermi level (MODEL.md section 3).

    Parameters
    ----------
    shape: normalised density of site energies g(E) (:mod:`sed.shapes`).
    D_ref_cm2_s: diffusivity at the pristine bulk density n_ref (cm^2/s), e.g. D_sigma from the
        DC conductivity.
    n_ref: pristine bulk density of the species, in the unit the solver uses for n (e.g. 1.0 for
        fractions of n_bulk).
    temperature_K: temperature (K).
    vacancy_fraction: fraction v of the sites empty in the pristine bulk; N_s = n_ref / (1 - v).
        Must leave the pristine filling 1 - v inside (N_FLOOR_REL, N_CAP_REL).
    filling: "step" (T = 0 occupation, deepest sites first: n = N_s G(E_F), E_F = G^-1(n / N_s))
        or "fermi-dirac" (n = N_s integral g(E) / (1 + exp((E - E_F)/kT)) dE, inverted once per
        model into a table accurate to 1e-10 eV, see :class:`sed.fermi.FermiLevelTable`).

    Model: D(n) = D_ref exp((E_F(n) - E_F(n_ref)) / kT), k_B = k/e from scipy.constants.
    The moving Fermi level lowers the activation energy E_act(n) = E_DC - E_F(n).

    Tails, which make D defined, finite, monotone and free of floating-point warnings for every
    real n (n_floor = N_FLOOR_REL N_s = 1e-12 N_s, n_cap = N_CAP_REL N_s = (1 - 1e-4) N_s):

    - n_floor <= n <= n_cap: the formula above.
    - n > n_cap (sites almost full, E_F -> +inf): ln D continues linearly in ln n with the slope
      d ln D / d ln n at n_cap, capped at LN_OVERFULL_GAIN_MAX (1e30) above D(n_cap).
    - 0 < n < n_floor: D = D(n_floor) n / n_floor (linear to zero; the formula's slope is
      infinite as n -> 0).
    - n <= 0: D = 0 exactly, dD/dn = D(n_floor) / n_floor.

    The same convention is kept for shapes whose formula is finite at n = 0 (box), for
    uniformity. The kernel table uses nodes uniform in ln n from n_floor to n_cap, so its tails
    coincide with these by construction. E_F and E_act reported outside [n_floor, n_cap] are the
    tail-continued levels E_F(n_ref) + kT ln(D(n) / D_ref) (-inf for n <= 0).
    """

    shape: SiteEnergyDistribution
    D_ref_cm2_s: float
    n_ref: float
    temperature_K: float
    vacancy_fraction: float = 0.10
    filling: Filling = "step"
    _kT: float = field(init=False, repr=False, compare=False)
    _ln_Ns: float = field(init=False, repr=False, compare=False)
    _ln_n_floor: float = field(init=False, repr=False, compare=False)
    _ln_n_cap: float = field(init=False, repr=False, compare=False)
    _fd: FermiLevelTable | None = field(init=False, repr=False, compare=False)
    _E_ref: float = field(init=False, repr=False, compare=False)
    _E_floor: float = field(init=False, repr=False, compare=False)
    _E_cap: float = field(init=False, repr=False, compare=False)
    _lnD_ref: float = field(init=False, repr=False, compare=False)
    _lnD_floor: float = field(init=False, repr=False, compare=False)
    _lnD_cap: float = field(init=False, repr=False, compare=False)
    _S_cap: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.shape, SiteEnergyDistribution):
            raise TypeError(f"shape must be a SiteEnergyDistribution, got {type(self.shape)!r}")
        _check_positive("D_ref_cm2_s", self.D_ref_cm2_s)
        _check_positive("n_ref", self.n_ref)
        _check_positive("temperature_K", self.temperature_K)
        v = self.vacancy_fraction
        if not (math.isfinite(v) and N_FLOOR_REL < 1.0 - v < N_CAP_REL):
            raise ValueError(
                f"vacancy_fraction must lie in ({1.0 - N_CAP_REL:g}, {1.0 - N_FLOOR_REL:g}) so "
                f"that the pristine filling 1 - v is inside the SED formula's range, got {v!r}"
            )
        if self.filling not in FILLINGS:
            raise ValueError(f"filling must be one of {FILLINGS}, got {self.filling!r}")
        put = object.__setattr__
        kT = thermal_energy_eV(self.temperature_K)
        put(self, "_kT", kT)
        ln_Ns = math.log(self.n_ref) - math.log1p(-v)
        put(self, "_ln_Ns", ln_Ns)
        put(self, "_ln_n_floor", ln_Ns + math.log(N_FLOOR_REL))
        put(self, "_ln_n_cap", ln_Ns + math.log(N_CAP_REL))
        fd = None
        if self.filling == "fermi-dirac":
            fd = FermiLevelTable.build(self.shape, kT, N_FLOOR_REL, N_CAP_REL)
        put(self, "_fd", fd)
        lnp = np.array([math.log1p(-v), math.log(N_FLOOR_REL), math.log(N_CAP_REL)])
        E, dE = self._core(lnp)
        E_ref, E_floor, E_cap = (float(x) for x in E)
        put(self, "_E_ref", E_ref)
        put(self, "_E_floor", E_floor)
        put(self, "_E_cap", E_cap)
        lnD_ref = math.log(self.D_ref_cm2_s)
        put(self, "_lnD_ref", lnD_ref)
        put(self, "_lnD_floor", lnD_ref + (E_floor - E_ref) / kT)
        put(self, "_lnD_cap", lnD_ref + (E_cap - E_ref) / kT)
        put(self, "_S_cap", float(dE[2]) / kT)
        lnD_floor, lnD_top = self._lnD_floor, self._lnD_cap + LN_OVERFULL_GAIN_MAX
        if not (-LN_D_LIMIT < lnD_floor and lnD_top < LN_D_LIMIT):
            raise ValueError(
                f"SED model spans ln D from {lnD_floor:.4g} to {lnD_top:.4g} (D in cm^2/s) "
                f"between n_floor and the overfull cap, beyond +-{LN_D_LIMIT:g}: the site-energy "
                "spread is too large for this temperature to be represented in float64"
            )

    # ------------------------------------------------------------------ internals
    def _core(self, lnp: FloatArray) -> tuple[FloatArray, FloatArray]:
        """E_F (eV) and dE_F / d ln p (eV) at ln of the filled fraction p = n / N_s.

        lnp is clipped to [ln N_FLOOR_REL, ln N_CAP_REL] (rounding at the range ends).
        """
        lnp = np.clip(lnp, math.log(N_FLOOR_REL), math.log(N_CAP_REL))
        if self._fd is not None:
            return self._fd(lnp)
        p = np.exp(lnp)
        E = np.asarray(self.shape.inv_cdf(p), dtype=float)
        g = np.asarray(self.shape.density(E), dtype=float)
        # step filling: dn/dE_F = N_s g(E_F), so dE_F/d ln p = p / g(E_F)
        with np.errstate(divide="ignore"):
            dE = p / g
        dE = np.minimum(dE, MAX_LOG_SLOPE * self._kT)
        return E, dE

    def _log_model(self, u: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(ln D, d ln D / d ln n, E_F in eV) at u = ln n, with the floor and overfull tails."""
        E, dE = self._core(u - self._ln_Ns)
        kT = self._kT
        lnD = self._lnD_ref + (E - self._E_ref) / kT
        S = dE / kT
        below = u < self._ln_n_floor
        lnD = np.where(below, self._lnD_floor + (u - self._ln_n_floor), lnD)
        E = np.where(below, self._E_floor + kT * (u - self._ln_n_floor), E)
        S = np.where(below, 1.0, S)
        above = u > self._ln_n_cap
        gain = np.minimum(self._S_cap * (u - self._ln_n_cap), LN_OVERFULL_GAIN_MAX)
        lnD = np.where(above, self._lnD_cap + gain, lnD)
        E = np.where(above, self._E_cap + kT * gain, E)
        capped = above & (self._S_cap * (u - self._ln_n_cap) > LN_OVERFULL_GAIN_MAX)
        S = np.where(above, np.where(capped, 0.0, self._S_cap), S)
        return lnD, S, E

    def _table_model(self, u: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(ln D, d ln D / d ln n) of the formula at nodes u = ln n in [ln n_floor, ln n_cap]."""
        E, dE = self._core(u - self._ln_Ns)
        return self._lnD_ref + (E - self._E_ref) / self._kT, dE / self._kT

    def _node_model(self, m: int) -> tuple[FloatArray, FloatArray]:
        """`_table_model` at the m nodes of the kernel table, bit for bit, with the parts that
        do not depend on the shape's parameters or D_ref cached: the filled fractions p of the
        nodes and, for shapes that split their inverse cdf (`quantile_basis`), its basis.
        A fit that varies the SED width then rebuilds only the cheap rest (the Gaussian's
        ndtri is half of a table)."""
        basis_of = getattr(type(self.shape), "quantile_basis", None)
        if self._fd is not None or basis_of is None:
            return self._table_model(log_nodes(self._ln_n_floor, self._ln_n_cap, m)[1])
        key = (self._ln_n_floor, self._ln_n_cap, m, self._ln_Ns)
        p = _node_fractions(*key)
        E = np.asarray(self.shape.inv_cdf_from_basis(_node_basis(*key, basis_of)), dtype=float)
        g = np.asarray(self.shape.density(E), dtype=float)
        with np.errstate(divide="ignore"):
            dE = p / g
        dE = np.minimum(dE, MAX_LOG_SLOPE * self._kT)
        return self._lnD_ref + (E - self._E_ref) / self._kT, dE / self._kT

    # ------------------------------------------------------------------ properties
    @property
    def N_sites(self) -> float:
        """Density of sites N_s = n_ref / (1 - v) (unit of n)."""
        return math.exp(self._ln_Ns)

    @property
    def kT_eV(self) -> float:
        """Thermal energy k_B T (eV)."""
        return self._kT

    @property
    def n_floor(self) -> float:
        """Lower end of the SED formula, N_FLOOR_REL N_s (unit of n); D is linear below it."""
        return math.exp(self._ln_n_floor)

    @property
    def n_cap(self) -> float:
        """Upper end of the SED formula, N_CAP_REL N_s (unit of n)."""
        return math.exp(self._ln_n_cap)

    @property
    def fermi_level_ref_eV(self) -> float:
        """Fermi level E_F(n_ref) of the pristine bulk (eV, on the shape's energy scale)."""
        return self._E_ref

    # ------------------------------------------------------------------ public model
    def fermi_level_eV(self, n: ArrayLike) -> FloatArray | float:
        """Fermi level E_F(n) (eV, on the shape's energy scale); -inf for n <= 0.

        Outside [n_floor, n_cap] the tail-continued level E_F(n_ref) + kT ln(D(n) / D_ref).
        """
        n_arr = np.asarray(n, dtype=float)
        E = np.full(n_arr.shape, np.nan)
        E[n_arr <= 0.0] = -np.inf
        pos = n_arr > 0.0
        E[pos] = self._log_model(np.log(n_arr[pos]))[2]
        return _out(E, n)

    def activation_shift_eV(self, n: ArrayLike) -> FloatArray | float:
        """E_act(n) - E_act(n_ref) = -(E_F(n) - E_F(n_ref)) (eV); +inf for n <= 0."""
        E = np.asarray(self.fermi_level_eV(n), dtype=float)
        return _out(self._E_ref - E, n)

    def D(self, n: ArrayLike) -> FloatArray | float:
        """Diffusivity D(n) (cm^2/s) at density n (unit of n_ref); 0 for n <= 0, NaN for NaN."""
        n_arr = np.asarray(n, dtype=float)
        D = np.full(n_arr.shape, np.nan)
        D[n_arr <= 0.0] = 0.0
        n_floor = self.n_floor
        lin = (n_arr > 0.0) & (n_arr < n_floor)
        D[lin] = math.exp(self._lnD_floor) * n_arr[lin] / n_floor
        core = n_arr >= n_floor
        D[core] = np.exp(self._log_model(np.log(n_arr[core]))[0])
        return _out(D, n)

    def dD_dn(self, n: ArrayLike) -> FloatArray | float:
        """Analytic dD/dn (cm^2/s per unit of n); D(n_floor)/n_floor for n < n_floor (incl. <= 0).

        Step filling: dE_F/dn = 1 / (N_s g(E_F)); Fermi-Dirac: the derivative of the E_F table.
        """
        n_arr = np.asarray(n, dtype=float)
        dD = np.full(n_arr.shape, np.nan)
        n_floor = self.n_floor
        dD[n_arr < n_floor] = math.exp(self._lnD_floor) / n_floor
        core = n_arr >= n_floor
        nc = n_arr[core]
        lnD, S, _ = self._log_model(np.log(nc))
        dD[core] = np.exp(lnD) * S / nc
        return _out(dD, n)

    def sed_eV(self, E_eV: ArrayLike) -> FloatArray | float:
        """Density of sites N_s g(E) (unit of n per eV) at site energies E (eV)."""
        g = np.asarray(self.shape.density(E_eV), dtype=float)
        return _out(self.N_sites * g, E_eV)

    def psed_eV(self, E_eV: ArrayLike, n: ArrayLike) -> FloatArray | float:
        """Populated density of sites (unit of n per eV) at energies E (eV) and density n.

        Step filling: N_s g(E) for E <= E_F(n), 0 above; Fermi-Dirac: N_s g(E) f(E - E_F(n)).
        E and n broadcast together; nothing is populated for n <= 0.
        """
        E = np.asarray(E_eV, dtype=float)
        Ef = np.asarray(self.fermi_level_eV(n), dtype=float)
        g = self.N_sites * np.asarray(self.shape.density(E), dtype=float)
        if self.filling == "step":
            occ = (E <= Ef).astype(float)
        else:
            occ = expit(-(E - Ef) / self._kT)
        out = g * occ
        if out.ndim == 0:
            return float(out)
        return out

    def plateau_fraction(self, D_foreign_cm2_s: float) -> float:
        """Plateau estimate: the density n (unit of n_ref) where D(n) = D_foreign / 10.

        D_foreign_cm2_s: diffusivity of the foreign (beam) ion (cm^2/s). Divide the result by
        n_ref for the native fraction. Solved by brentq on ln D vs ln n (exact in the linear
        tail below n_floor). Raises ValueError if D_foreign / 10 > D_ref (no solution in
        (0, n_ref]).
        """
        _check_positive("D_foreign_cm2_s", D_foreign_cm2_s)
        target = math.log(D_foreign_cm2_s) - math.log(10.0)
        if target > self._lnD_ref:
            raise ValueError(
                f"D_foreign/10 = {D_foreign_cm2_s / 10:.4g} cm^2/s exceeds D_ref = "
                f"{self.D_ref_cm2_s:.4g} cm^2/s: D(n) reaches it only above n_ref, so there is no "
                "plateau in (0, n_ref]"
            )
        if target == self._lnD_ref:
            return float(self.n_ref)
        if target <= self._lnD_floor:
            return self.n_floor * math.exp(target - self._lnD_floor)

        def residual(u: float) -> float:
            return float(self._log_model(np.array([u]))[0][0]) - target

        from scipy.optimize import brentq  # deferred: scipy.optimize costs ~0.25 s to import

        u = brentq(residual, self._ln_n_floor, math.log(self.n_ref), xtol=1e-14, rtol=1e-15)
        return math.exp(u)

    def kernel_table(self, m: int = DEFAULT_TABLE_NODES) -> KernelTable:
        """Kind-1 kernel table with m nodes uniform in ln n from n_floor to n_cap.

        Slopes are the analytic d ln D / d ln n; the table's tails coincide with the model's.
        Tables of recently used models are cached (they are read-only).
        """
        try:
            return _cached_sed_table(self, m)
        except TypeError:  # a field that cannot be hashed: build it anew
            return _build_sed_table(self, m)


def _build_sed_table(model: SEDMobility, m: int) -> KernelTable:
    return build_log_table(
        model._ln_n_floor, model._ln_n_cap, m, lambda u: model._node_model(len(u))
    )


@functools.lru_cache(maxsize=NODE_CACHE_SIZE)
def _node_fractions(ln_n_lo: float, ln_n_hi: float, m: int, ln_Ns: float) -> FloatArray:
    """Filled fractions p = n / N_s of the table nodes `log_nodes(ln_n_lo, ln_n_hi, m)`
    (read-only), as `SEDMobility._core` computes them from u - ln N_s."""
    u = log_nodes(ln_n_lo, ln_n_hi, m)[1]
    p = np.exp(np.clip(u - ln_Ns, math.log(N_FLOOR_REL), math.log(N_CAP_REL)))
    p.setflags(write=False)
    return p


@functools.lru_cache(maxsize=NODE_CACHE_SIZE)
def _node_basis(
    ln_n_lo: float, ln_n_hi: float, m: int, ln_Ns: float, basis_of: Callable
) -> FloatArray:
    """`quantile_basis` (a shape class's) of the `_node_fractions` (read-only)."""
    b = np.array(basis_of(_node_fractions(ln_n_lo, ln_n_hi, m, ln_Ns)), dtype=float)
    b.setflags(write=False)
    return b


#: a fit or a sweep simulates many times with the same SED while it varies other values (a
#: foreign D, a depth resolution), and building the 2^16-node table takes ~7 ms, a quarter of an
#: electroneutral run; a table is 1 MB, so a few are kept.
TABLE_CACHE_SIZE = 8
_cached_sed_table = functools.lru_cache(maxsize=TABLE_CACHE_SIZE)(_build_sed_table)


@dataclass(frozen=True, eq=False)
class TabulatedMobility:
    """User table of D(n), log-interpolated.

    Parameters
    ----------
    n_points: strictly increasing densities (unit the solver uses for n), >= 0, at least 2.
    D_cm2_s_points: diffusivities at those densities (cm^2/s), > 0 and finite.

    Model: ln D linear in n between table points; constant D = D_last beyond the last point.
    Below the first point: if n_points[0] > 0, D = D_0 n / n_0 (linear to zero, as the SED
    model); if n_points[0] == 0, the log-interpolation runs down to n_lo = N_FLOOR_REL n_1 and D
    is linear to zero below that. D = 0 for n <= 0 in both cases (the kernel table's rule).
    dD/dn at a table point is the right-hand derivative (0 at and beyond the last point). The
    kernel table resolves the kinks at the table points only to O(du) in ln D locally.
    Equality compares identity (the fields are arrays).
    """

    n_points: FloatArray
    D_cm2_s_points: FloatArray
    _lnD: FloatArray = field(init=False, repr=False)
    _n_lo: float = field(init=False, repr=False)
    _D_lo: float = field(init=False, repr=False)

    def __init__(self, n_points: ArrayLike, D_cm2_s_points: ArrayLike) -> None:
        n = np.array(n_points, dtype=float)
        D = np.array(D_cm2_s_points, dtype=float)
        if n.ndim != 1 or D.shape != n.shape:
            raise ValueError("n_points and D_cm2_s_points must be 1-D arrays of the same length")
        if n.size < 2:
            raise ValueError(f"TabulatedMobility needs at least 2 points, got {n.size}")
        if not (np.all(np.isfinite(n)) and np.all(np.isfinite(D))):
            raise ValueError("n_points and D_cm2_s_points must be finite")
        if np.any(np.diff(n) <= 0.0):
            raise ValueError("n_points must be strictly increasing")
        if n[0] < 0.0:
            raise ValueError(f"n_points must be >= 0 (densities), got n_points[0] = {n[0]!r}")
        if np.any(D <= 0.0):
            raise ValueError("D_cm2_s_points must be > 0 (cm^2/s)")
        lnD = np.log(D)
        for arr in (n, D, lnD):
            arr.setflags(write=False)
        object.__setattr__(self, "n_points", n)
        object.__setattr__(self, "D_cm2_s_points", D)
        object.__setattr__(self, "_lnD", lnD)
        n_lo = float(n[0]) if n[0] > 0.0 else N_FLOOR_REL * float(n[1])
        object.__setattr__(self, "_n_lo", n_lo)
        object.__setattr__(self, "_D_lo", float(np.exp(np.interp(n_lo, n, lnD))))

    @property
    def n_lo(self) -> float:
        """Density (unit of n) below which D falls linearly to zero."""
        return self._n_lo

    def _log_interp(
        self, n: FloatArray, *, ascending: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """(ln D, d ln D / dn) for n >= n_lo (constant beyond the last point); ascending: n is
        sorted (non-decreasing), which finds the segments faster (same result)."""
        x = self.n_points
        lnD = np.interp(n, x, self._lnD)
        if ascending:
            # the segment of each point (the number of table points <= it, less 1) from where
            # each table point falls among the sorted n: one search per table point
            first = np.searchsorted(n, x, side="left")
            i = np.repeat(np.arange(-1, x.size), np.diff(first, prepend=0, append=n.size))
        else:
            i = np.searchsorted(x, n, side="right") - 1
        i = np.clip(i, 0, x.size - 2)
        # the slope of each segment, then gathered (the same divisions as per point)
        seg = (np.diff(self._lnD) / np.diff(x))[i]
        dlnD = np.where(n >= x[-1], 0.0, seg)
        return lnD, dlnD

    def D(self, n: ArrayLike) -> FloatArray | float:
        """Diffusivity D(n) (cm^2/s); 0 for n <= 0, NaN for NaN."""
        n_arr = np.asarray(n, dtype=float)
        D = np.full(n_arr.shape, np.nan)
        D[n_arr <= 0.0] = 0.0
        lin = (n_arr > 0.0) & (n_arr < self._n_lo)
        D[lin] = self._D_lo * n_arr[lin] / self._n_lo
        tab = n_arr >= self._n_lo
        D[tab] = np.exp(self._log_interp(n_arr[tab])[0])
        return _out(D, n)

    def dD_dn(self, n: ArrayLike) -> FloatArray | float:
        """dD/dn (cm^2/s per unit of n), right-hand derivative at table points."""
        n_arr = np.asarray(n, dtype=float)
        dD = np.full(n_arr.shape, np.nan)
        dD[n_arr < self._n_lo] = self._D_lo / self._n_lo
        tab = n_arr >= self._n_lo
        lnD, dlnD = self._log_interp(n_arr[tab])
        dD[tab] = np.exp(lnD) * dlnD
        return _out(dD, n)

    def kernel_table(self, m: int = DEFAULT_TABLE_NODES) -> KernelTable:
        """Kind-1 kernel table, m nodes uniform in ln n from n_lo to the last point.

        The last node's slope is 0, so the table's extrapolation is the model's constant D.
        Tables of recently used points are cached by value (a fit rebuilds the mobility from
        the same rows while it varies another key).
        """
        key = (self.n_points.tobytes(), self.D_cm2_s_points.tobytes(), int(m))
        table = _tabulated_tables.get(key)
        if table is not None:
            _tabulated_tables.move_to_end(key)
            return table

        ln_lo, ln_hi = math.log(self._n_lo), math.log(float(self.n_points[-1]))

        def model(u: FloatArray) -> tuple[FloatArray, FloatArray]:
            n = node_densities(ln_lo, ln_hi, m)  # np.exp(u), cached
            lnD, dlnD = self._log_interp(n, ascending=True)
            slope = n * dlnD
            slope[-1] = 0.0
            return lnD, slope

        table = build_log_table(ln_lo, ln_hi, m, model)
        _tabulated_tables[key] = table
        while len(_tabulated_tables) > TABLE_CACHE_SIZE:
            _tabulated_tables.popitem(last=False)
        return table


#: kernel tables of `TabulatedMobility` by (n_points, D_cm2_s_points, m) bytes, newest last
_tabulated_tables: OrderedDict[tuple[bytes, bytes, int], KernelTable] = OrderedDict()
