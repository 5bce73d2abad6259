"""The forward sensitivities of the full NPP solver, Python side: the perturbed problems of
`solvers.npp.solve`'s `sensitivities` checked and stacked into the kernel arrays of the
compiled loop (`solvers.kernels_sensitivity`), with how each parameter's dR/dp is formed.
Split out of `solvers.npp` (which re-exports `sensitivity_arrays` and `SensitivityArrays`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solvers import kernels as K
from solvers import kernels_sensitivity as KS
from solvers.problem import Problem

if TYPE_CHECKING:
    from solvers.npp import KernelArrays


@dataclass
class SensitivityArrays:
    """The perturbed kernel arrays of m parameters, stacked for the compiled loop (see
    `solvers.kernels_sensitivity`): per parameter the mobility arrays of `KernelArrays`, the
    control table of each stage (thermal units, `tab_v[k_stage]`: m x table length),
    1 / delta (1 / parameter unit), and how dR/dp is formed (kind: SENS_GENERIC, SENS_SCALE of
    the flux of `species` with d ln D / dp = scale, SENS_FRONT, or SENS_TABLE of `species`)."""

    d_const: np.ndarray
    u0: np.ndarray
    du: np.ndarray
    logd: np.ndarray
    slope: np.ndarray
    n_lo: np.ndarray
    c_imm: np.ndarray
    tab_v: list[np.ndarray]
    inv_delta: np.ndarray
    kind: np.ndarray
    species: np.ndarray
    scale: np.ndarray


#: KernelArrays fields a parameter of a forward sensitivity may change
SENSITIVE_FIELDS = ("d_const", "u0", "du", "logd", "slope", "n_lo", "c_imm")


def sensitivity_arrays(
    problem: Problem, ka: KernelArrays, sensitivities: Sequence[tuple[Problem, float]]
) -> SensitivityArrays:
    """Stack the kernel arrays of the perturbed problems of `solve`'s `sensitivities`; raises
    ValueError if one differs from `problem` in anything but the species' mobilities and the
    stages' potentials (an immobile fraction is refused too: its flux is not differentiable at
    the plateau), or if a species' D(c) is referred to its
    fraction at each stage start and there are several stages."""
    from solvers.npp import kernel_arrays  # npp imports this module

    m = len(sensitivities)
    n_species = len(problem.species)
    out = {f: np.zeros((m, *np.shape(getattr(ka, f)))) for f in SENSITIVE_FIELDS}
    tab_v = [np.zeros((m, len(st.table_value))) for st in problem.stages]
    inv_delta = np.zeros(m)
    kinds = np.zeros(m, dtype=np.int64)
    species = np.zeros(m, dtype=np.int64)
    scale = np.zeros(m)
    moving_ref = [sp.name for sp in problem.species if sp.mobility_reference == "stage_start"]
    if m and moving_ref and len(problem.stages) > 1:
        # D(c / c_ref) with c_ref the fraction at each stage start: from the second stage on
        # c_ref depends on the parameter (d c_ref / dp = the sensitivity there), a term of
        # dR/dp the kernels do not carry (measured: d/dD_Li of lbo_cs_at_rb 18 % off central
        # differences at every tolerance)
        raise ValueError(
            f"species {moving_ref[0]}: a D(c) referred to the fraction at each stage start "
            "depends on the parameter through that fraction (use finite differences)"
        )
    for q, (pq, delta) in enumerate(sensitivities):
        if not delta or not math.isfinite(delta):
            raise ValueError(f"sensitivity {q + 1}: delta must be finite and non-zero")
        kq = kernel_arrays(pq)
        for f in ("h", "d", "z", "back_kind", "back_c", "kind", "lam2", "cfix"):
            if not np.array_equal(getattr(kq, f), getattr(ka, f)):
                raise ValueError(f"sensitivity {q + 1}: the parameter changes {f}")
        if not np.array_equal(kq.c_imm, ka.c_imm):
            # the flux moves max(c - c_imm, 0): not differentiable where the fraction meets
            # its immobile part, which is where its plateau sits (within ~1e-7): measured 2 %
            # off central differences there
            raise ValueError(
                f"sensitivity {q + 1}: an immobile fraction makes the fluxes non-smooth at its "
                "plateau (use finite differences)"
            )
        for f in SENSITIVE_FIELDS:
            vq = getattr(kq, f)
            if np.shape(vq) != np.shape(getattr(ka, f)):
                raise ValueError(f"sensitivity {q + 1}: the parameter changes the shape of {f}")
            out[f][q] = vq
        if len(pq.stages) != len(problem.stages):
            raise ValueError(f"sensitivity {q + 1}: the parameter changes the stages")
        for k, (a, b) in enumerate(zip(problem.stages, pq.stages, strict=True)):
            same = (
                a.duration_s == b.duration_s
                and a.source == b.source
                and a.surface_fraction == b.surface_fraction
                and a.control == b.control
                and np.array_equal(a.table_t_s, b.table_t_s)
            )
            if not same:
                raise ValueError(f"sensitivity {q + 1}: the parameter changes stage {k + 1}")
            unit = ka.thermal_voltage_V if b.control == "potential" else ka.flux_to_A_cm2
            tab_v[k][q] = np.asarray(b.table_value, dtype=float) / unit
        if (
            any(
                a.initial_fraction != b.initial_fraction
                for a, b in zip(problem.species, pq.species, strict=True)
            )
            or len(pq.species) != n_species
        ):
            raise ValueError(f"sensitivity {q + 1}: the parameter changes the initial state")
        inv_delta[q] = 1.0 / delta
        same_u = all(
            np.array_equal(a.table_value, b.table_value)
            for a, b in zip(problem.stages, pq.stages, strict=True)
        )
        kinds[q], species[q], scale[q] = _sensitivity_kind(ka, kq, delta, same_u)
    return SensitivityArrays(
        **out, tab_v=tab_v, inv_delta=inv_delta, kind=kinds, species=species, scale=scale
    )


def _sensitivity_kind(
    ka: KernelArrays, kq: KernelArrays, delta: float, same_potentials: bool
) -> tuple[int, int, float]:
    """(kind, species, d ln D / dp) of a parameter whose perturbed problem has the kernel
    arrays kq (`SensitivityArrays`): SENS_FRONT when only the potentials change, SENS_SCALE
    when only one species' D changes by a constant factor (a constant D, or every entry of its
    D(c) table), SENS_TABLE when only one species' D(c) changes otherwise (an SED width), else
    SENS_GENERIC."""
    changed = [f for f in SENSITIVE_FIELDS if not np.array_equal(getattr(kq, f), getattr(ka, f))]
    if not changed:
        return KS.SENS_FRONT, -1, 0.0
    if not same_potentials or "c_imm" in changed:
        return KS.SENS_GENERIC, -1, 0.0
    if changed == ["d_const"]:
        diff = np.flatnonzero(kq.d_const != ka.d_const)
        i = int(diff[0])
        if diff.size == 1 and ka.kind[i] == K.KIND_CONSTANT and ka.d_const[i] > 0.0:
            return KS.SENS_SCALE, i, math.log(kq.d_const[i] / ka.d_const[i]) / delta
    if changed == ["logd"]:
        rows = [i for i in range(len(ka.kind)) if not np.array_equal(kq.logd[i], ka.logd[i])]
        if len(rows) == 1:
            shift = kq.logd[rows[0]] - ka.logd[rows[0]]
            if np.ptp(shift) <= 1e-12 * max(1.0, float(np.max(np.abs(shift)))):
                return KS.SENS_SCALE, rows[0], float(np.mean(shift)) / delta
    rows = {
        i
        for f in changed
        for i in range(len(ka.kind))
        if not np.array_equal(getattr(kq, f)[i], getattr(ka, f)[i])
    }
    if len(rows) == 1:
        return KS.SENS_TABLE, rows.pop(), 0.0
    return KS.SENS_GENERIC, -1, 0.0
