"""Free parameters of a fit: dotted case keys with bounds, scales and sharing across cases.

A parameter is a numeric case value addressed by its dotted key (``species.Li.sed.fwhm_eV``,
``species.K.D_cm2_s``, ``data.1.depth_resolution_nm``, see INTERFACES.md). In a joint fit of
several cases a key is either *shared* (one value for every case that has it: one SED for the
K, Rb and Cs experiments) or separate (one parameter per case: one D_foreign each). A ``*`` in a
key segment matches every species name (``species.*.D_cm2_s``), stage or data block number of
each case.

The optimiser works in internal coordinates u in [0, 1]: u = (g(value) - g(low)) /
(g(high) - g(low)), g = log10 for log-scale parameters (diffusion coefficients, which users
bound over decades) and the identity otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nppsim.case import Case
from nppsim.errors import CaseError, InputError

__all__ = [
    "FreeParameter",
    "default_bounds",
    "expand_parameters",
    "is_log_key",
    "parse_free",
]

#: keys ending like this are fitted on a log scale (diffusion coefficients span decades)
LOG_SCALE_SUFFIXES = ("D_cm2_s", "D0_cm2_s")
#: default bounds of a log-scale parameter: value / 100 to value * 100
DEFAULT_LOG_FACTOR = 100.0
#: default bounds of a positive linear parameter: value / 4 to value * 4
DEFAULT_LINEAR_FACTOR = 4.0
#: keys that are fractions of n_bulk with a physical range [0, 1): an immobile fraction
FRACTION_SUFFIXES = ("immobile_fraction",)
#: default bounds of such a fraction: 0 to FRACTION_DEFAULT_FACTOR times its value, at least
#: FRACTION_DEFAULT_HIGH_MIN (a start value of 0 still gets a useful range) and at most
#: FRACTION_DEFAULT_HIGH_MAX (the case reader rejects fractions >= 1)
FRACTION_DEFAULT_FACTOR = 4.0
FRACTION_DEFAULT_HIGH_MIN = 0.3
FRACTION_DEFAULT_HIGH_MAX = 0.9

#: data-block keys that are whole numbers choosing what is compared, not continuous values
_DISCRETE_DATA_KEY = re.compile(r"^data\.\d+\.(after_stage|header_row)$")
_FREE_RE = re.compile(r"^\s*([^=\s]+)\s*(?:=\s*([^:]+?)\s*:\s*(.+?)\s*)?$")


@dataclass(frozen=True)
class FreeParameter:
    """One fitted value.

    key: dotted case key (no wildcard); cases: indices of the cases it sets (more than one when
    shared); case_names: their names; low, high: bounds (the key's unit); log: fitted in
    log10; initial: start value (the key's unit); shared: True when declared shared.
    """

    key: str
    cases: tuple[int, ...]
    case_names: tuple[str, ...]
    low: float
    high: float
    log: bool
    initial: float
    shared: bool
    n_cases: int = 1

    @property
    def label(self) -> str:
        """The key, with the case name in brackets when it belongs to one case of several."""
        if self.shared or self.n_cases == 1:
            return self.key
        return f"{self.key} [{self.case_names[0]}]"

    @property
    def case(self) -> str | None:
        """Name of the case this parameter belongs to, None when shared (JSON ``case``)."""
        return None if self.shared else self.case_names[0]

    def _g(self, value: np.ndarray | float) -> np.ndarray | float:
        return np.log10(value) if self.log else value

    def to_internal(self, value: float) -> float:
        """Internal coordinate u in [0, 1] of a value (the key's unit)."""
        lo, hi = self._g(self.low), self._g(self.high)
        return float((self._g(value) - lo) / (hi - lo))

    def from_internal(self, u: float) -> float:
        """Value (the key's unit) at internal coordinate u (clipped to [0, 1])."""
        u = min(max(float(u), 0.0), 1.0)
        lo, hi = self._g(self.low), self._g(self.high)
        g = lo + u * (hi - lo)
        if self.log:
            return float(min(max(10.0**g, self.low), self.high))
        return float(g)

    def derivative(self, u: float) -> float:
        """d value / d u at internal coordinate u (turns internal errors into physical ones)."""
        lo, hi = self._g(self.low), self._g(self.high)
        if self.log:
            return float(self.from_internal(u) * math.log(10.0) * (hi - lo))
        return float(hi - lo)


def is_log_key(key: str) -> bool:
    """True if the key is fitted on a log scale by default (diffusion coefficients)."""
    return key.endswith(LOG_SCALE_SUFFIXES)


def default_bounds(key: str, value: float) -> tuple[float, float]:
    """Bounds used when none are given: x/100..x*100 for log keys, 0..4x (within [0.3, 0.9])
    for an immobile fraction, x/4..4x for positive linear values, [x - 1, x + 1] * max(1, |x|)
    otherwise (a value of 0 or a negative value)."""
    if key.endswith(FRACTION_SUFFIXES):
        high = min(
            FRACTION_DEFAULT_HIGH_MAX,
            max(FRACTION_DEFAULT_HIGH_MIN, FRACTION_DEFAULT_FACTOR * value),
        )
        return 0.0, high
    if is_log_key(key) and value > 0.0:
        return value / DEFAULT_LOG_FACTOR, value * DEFAULT_LOG_FACTOR
    if value > 0.0:
        return value / DEFAULT_LINEAR_FACTOR, value * DEFAULT_LINEAR_FACTOR
    span = max(1.0, abs(value))
    return value - span, value + span


def parse_free(text: str) -> tuple[str, tuple[float, float] | None]:
    """Parse a command-line ``KEY`` or ``KEY=LOW:HIGH`` into (key, bounds or None).

    Raises InputError naming the text when it is malformed.
    """
    m = _FREE_RE.match(text)
    if m is None:
        raise InputError(f"--free {text!r}: expected KEY or KEY=LOW:HIGH")
    key, lo, hi = m.groups()
    if lo is None:
        return key, None
    try:
        low, high = float(lo.replace(",", ".")), float(hi.replace(",", "."))
    except ValueError:
        raise InputError(f"--free {text!r}: LOW and HIGH must be numbers") from None
    return key, (low, high)


def _case_labels(cases: Sequence[Case]) -> tuple[str, ...]:
    names = [c.meta.name for c in cases]
    out = []
    for i, name in enumerate(names):
        out.append(f"{name} #{i + 1}" if names.count(name) > 1 else name)
    return tuple(out)


def _expand_key(case: Case, pattern: str) -> list[str]:
    """Concrete keys of `case` matching `pattern` (``*`` as a whole segment) with a number."""
    parts = pattern.split(".")
    candidates: list[list[str]] = [[]]
    for i, part in enumerate(parts):
        if part != "*":
            candidates = [[*c, part] for c in candidates]
            continue
        head = parts[0]
        if i != 1 or head not in ("species", "stage", "data"):
            raise InputError(
                f"{pattern}: '*' may only stand for a species name, stage or data block number"
            )
        if head == "species":
            names = list(case.species_names)
        elif head == "stage":
            names = [str(k + 1) for k in range(len(case.stages))]
        else:
            names = [str(k + 1) for k in range(len(case.data))]
        candidates = [[*c, n] for c in candidates for n in names]
    keys = []
    for c in candidates:
        key = ".".join(c)
        try:
            value = case.get_value(key)
        except (CaseError, KeyError, IndexError, AttributeError):
            continue
        if _is_number(value):
            keys.append(key)
    return keys


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value(case: Case, key: str, label: str) -> float:
    try:
        value = case.get_value(key)
    except (KeyError, IndexError, AttributeError) as exc:
        raise InputError(f"{label}: {key}: no such value ({exc})") from None
    if not _is_number(value):
        raise InputError(f"{label}: {key}: not a numeric value (got {value!r})")
    if isinstance(value, int):
        # charge, n_output, max_steps, after_stage: whole numbers, which a fit cannot vary
        # continuously (every trial value would be rejected)
        raise InputError(f"--free {key}: a whole-number setting, not a value a fit can vary")
    if not math.isfinite(float(value)):
        raise InputError(f"{label}: {key}: value is not finite")
    return float(value)


def expand_parameters(
    cases: Sequence[Case],
    free: Sequence[str],
    shared: Sequence[str] = (),
    bounds: Mapping[str, tuple[float, float]] | None = None,
    log: Mapping[str, bool] | None = None,
) -> tuple[FreeParameter, ...]:
    """The free parameters of a fit of `cases`.

    free: keys or patterns (``*`` for a species name, stage or data number), optionally
    ``KEY=LOW:HIGH``; shared: keys (or patterns) fitted with one value across all cases that
    have them (their start value is the first such case's value); bounds: {key or pattern:
    (low, high)} (else `default_bounds`); log: {key or pattern: bool} to override the scale
    (default: log for ``*D_cm2_s``). Raises InputError (one line) for a key that no case has,
    a non-numeric value, bad bounds or a parameter given twice.
    """
    if not cases:
        raise InputError("fit: no case given")
    # one key given as a string is one key, not a sequence of one-letter keys
    free = [free] if isinstance(free, str) else list(free)
    shared = [shared] if isinstance(shared, str) else list(shared)
    if not free:
        raise InputError("fit: no free parameter given (use --free KEY)")
    labels = _case_labels(cases)
    bounds = dict(bounds or {})
    log = dict(log or {})
    patterns: list[str] = []
    for item in free:
        key, bnd = parse_free(item)
        if bnd is not None:
            bounds[key] = bnd
        patterns.append(key)
    shared_set = set()
    for item in shared:
        key, bnd = parse_free(item)
        if bnd is not None:
            bounds[key] = bnd
        shared_set.add(key)
        if key not in patterns:
            patterns.append(key)

    out: list[FreeParameter] = []
    seen: set[tuple[str, int]] = set()
    for pattern in patterns:
        per_key: dict[str, list[int]] = {}
        for i, case in enumerate(cases):
            for key in _expand_key(case, pattern):
                per_key.setdefault(key, []).append(i)
        if not per_key:
            if "*" not in pattern:
                try:
                    value = cases[0].get_value(pattern)
                except CaseError as exc:
                    raise InputError(f"--free {pattern}: {exc}") from None
                except (KeyError, IndexError, AttributeError) as exc:
                    raise InputError(f"--free {pattern}: no such value ({exc})") from None
                raise InputError(f"--free {pattern}: not a number in {labels[0]!r} (got {value!r})")
            where = labels[0] if len(cases) == 1 else "any case"
            raise InputError(f"--free {pattern}: no numeric value at this key in {where}")
        for key in per_key:
            if _DISCRETE_DATA_KEY.match(key):
                raise InputError(
                    f"--free {key}: a whole number that selects rows or stages, not a value "
                    "a fit can vary"
                )
        is_shared = pattern in shared_set or any(k in shared_set for k in per_key)
        for key, idx in per_key.items():
            groups = [idx] if is_shared else [[i] for i in idx]
            for group in groups:
                for i in group:
                    if (key, i) in seen:
                        raise InputError(f"--free {key}: given twice for case {labels[i]!r}")
                    seen.add((key, i))
                values = [_value(cases[i], key, labels[i]) for i in group]
                start = values[0]
                lo_hi = bounds.get(key, bounds.get(pattern))
                if lo_hi is None:
                    lo_hi = default_bounds(key, start)
                low, high = float(lo_hi[0]), float(lo_hi[1])
                use_log = log.get(key, log.get(pattern, is_log_key(key)))
                if not (math.isfinite(low) and math.isfinite(high) and low < high):
                    raise InputError(f"--free {key}: bounds must be finite with LOW < HIGH")
                if use_log and low <= 0.0:
                    raise InputError(f"--free {key}: a log-scale parameter needs LOW > 0")
                if not low <= start <= high:
                    # start from the middle of the bounds (geometric for log scales)
                    start = math.sqrt(low * high) if use_log else 0.5 * (low + high)
                out.append(
                    FreeParameter(
                        key=key,
                        cases=tuple(group),
                        case_names=tuple(labels[i] for i in group),
                        low=low,
                        high=high,
                        log=bool(use_log),
                        initial=start,
                        shared=is_shared and len(cases) > 1,
                        n_cases=len(cases),
                    )
                )
    return tuple(out)


def case_values(
    parameters: Sequence[FreeParameter], values: Sequence[float], n_cases: int
) -> list[dict[str, float]]:
    """Per case, the {key: value} to set for parameter values `values` (the keys' units)."""
    out: list[dict[str, float]] = [{} for _ in range(n_cases)]
    for p, v in zip(parameters, values, strict=True):
        for i in p.cases:
            out[i][p.key] = float(v)
    return out
