"""``nppsim info``: derived quantities of a case without simulating."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nppsim import units
from nppsim.cli.common import (
    EXIT_OK,
    PLATEAU_D_RATIO,
    out,
)

#: native fractions of n_bulk at which ``nppsim info`` tabulates D(n)
INFO_FRACTIONS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0.05, 0.02, 0.01)
#: vacancy fraction assumed for the PSED of a tabulated D(n) (MODEL.md's default)
PSED_VACANCY_FRACTION = 0.10


def _evaluate(fn: Any, xs: Sequence[float]) -> list[float]:
    """fn at every x as floats; vectorised when fn accepts an array, else one by one."""
    arr = np.asarray(xs, dtype=float)
    try:
        values = np.asarray(fn(arr), dtype=float)
        if values.shape == arr.shape:
            return [float(v) for v in values]
    except (TypeError, ValueError):
        pass
    return [float(fn(float(x))) for x in xs]


def _describe_sed(sed: Any) -> str:
    """One-line description of an SEDSpec, naming the parameters of its shape."""
    shape = sed.shape
    parts = [f"{shape} SED"]
    if shape == "gaussian":
        parts.append(f"FWHM {sed.fwhm_eV:g} eV")
    elif shape == "gaussians" and getattr(sed, "components", None):
        parts.append(f"{len(sed.components)} Gaussians")
    elif shape == "box" and getattr(sed, "width_eV", None) is not None:
        parts.append(f"width {sed.width_eV:g} eV")
    elif shape == "exponential" and getattr(sed, "tail_eV", None) is not None:
        parts.append(f"tail {sed.tail_eV:g} eV")
    elif shape == "table" and getattr(sed, "energies_eV", None):
        parts.append(f"{len(sed.energies_eV)} tabulated points")
    parts.append(f"vacancy fraction {sed.vacancy_fraction:g}")
    parts.append(f"filling {sed.filling}")
    return ", ".join(parts)


def _psed_line(case: Any, sp: Any, mob: Any) -> str:
    """The FWHM of the Gaussian fitted to the populated SED that this D(n) implies."""
    from sed.psed import DEFAULT_PSED_FRACTIONS, populated_sed

    n_ref = sp.initial_fraction if sp.initial_fraction > 0 else 1.0
    if sp.sed is not None and getattr(sp.sed, "reference", "pristine") == "stage_start":
        n_ref = 1.0
    v = sp.sed.vacancy_fraction if sp.sed is not None else PSED_VACANCY_FRACTION
    lo, hi = float(DEFAULT_PSED_FRACTIONS[0]), float(DEFAULT_PSED_FRACTIONS[-1])
    try:
        d_ref = float(mob.D(n_ref))
        psed = populated_sed(
            mob, D_ref_cm2_s=d_ref, temperature_K=case.sample.temperature_K, n_ref=n_ref,
            vacancy_fraction=v,
        )  # fmt: skip
    except ValueError as exc:
        return f"PSED of {sp.name}: not defined ({exc})"
    return (
        f"PSED of {sp.name} (E_F - E_F(n_ref) = kT ln(D/D_ref) over {lo:g}..{hi:g} of n_ref, "
        f"vacancy fraction {v:g}): Gaussian FWHM {psed.fwhm_eV:.4f} eV, centre "
        f"{psed.center_eV * 1e3:.1f} meV from E_F(n_ref)"
    )


def _d_of_n_lines(case: Any, sp: Any, foreigns: Sequence[Any]) -> list[str]:
    """D(n) table of a species with an SED or a D table, and its plateau estimates."""
    from nppsim.simulate import mobility_for

    mob = mobility_for(case, sp)
    d_ref = sp.D_cm2_s
    what = _describe_sed(sp.sed) if sp.sed is not None else "tabulated D(n)"
    lines = ["", f"D(n) of {sp.name} ({what}), D_ref = {d_ref:.4g} cm^2/s:"]
    lines.append(
        f"  {'fraction':>8}  {'D (cm^2/s)':>11}  {'log10 D/D_ref':>13}  {'shift (meV)':>11}"
    )
    d_values = _evaluate(mob.D, INFO_FRACTIONS)
    shift_fn = getattr(mob, "activation_shift_eV", None)
    shifts = _evaluate(shift_fn, INFO_FRACTIONS) if shift_fn else [math.nan] * len(d_values)
    for c, d, shift in zip(INFO_FRACTIONS, d_values, shifts, strict=True):
        log_ratio = math.log10(d / d_ref) if d > 0 and d_ref > 0 else math.nan
        # + 0.0 turns -0.0 (no shift at the pristine density) into 0.0
        shift_meV = shift * 1e3 + 0.0
        lines.append(f"  {c:>8.2f}  {d:>11.3e}  {log_ratio:>13.3f}  {shift_meV:>11.1f}")
    lines.append(_psed_line(case, sp, mob))
    plateau_fn = getattr(mob, "plateau_fraction", None)
    if sp.role != "native" or plateau_fn is None:
        return lines
    for f in foreigns:
        plateau = plateau_fn(f.D_cm2_s)
        if plateau is None or not math.isfinite(float(plateau)):
            shown = f"none (D_{sp.name} stays above D_{f.name}/{PLATEAU_D_RATIO:g})"
        else:
            shown = f"{float(plateau):.4g} of n_bulk"
        lines.append(
            f"plateau estimate with {f.name} (D_{sp.name} = D_{f.name}/{PLATEAU_D_RATIO:g}, "
            f"D_{f.name} = {f.D_cm2_s:.3g} cm^2/s): {shown}"
        )
    return lines


def _info_lines(case: Any) -> list[str]:
    s = case.sample
    lines = [f"case: {case.meta.name}" + (f" ({case.path})" if case.path else "")]
    lines.append(
        f"sample: {s.thickness_um:g} um thick, T = {s.temperature_K:g} K, "
        f"n_bulk = {s.n_bulk_cm3:.4g} cm^-3, eps_r = {s.eps_r:g}"
    )
    lines.append(f"thermal voltage kT/e: {units.thermal_voltage_V(s.temperature_K) * 1e3:.4g} mV")
    lines.append(
        f"Debye length: {units.debye_length_nm(s.n_bulk_cm3, s.eps_r, s.temperature_K):.4g} nm"
    )

    for sp in case.species:
        if getattr(sp, "D0_cm2_s", None) is not None:
            where = " (at the pristine density)" if sp.sed is not None else ""
            lines.append(
                f"D of {sp.name}{where}: D0 exp(-E_a / k_B T) = {sp.D0_cm2_s:.4g} cm^2/s x "
                f"exp(-{sp.activation_energy_eV:g} eV / k_B {s.temperature_K:g} K) = "
                f"{sp.D_cm2_s:.4g} cm^2/s"
            )
        if getattr(sp, "immobile_fraction", 0.0) > 0.0:
            lines.append(
                f"immobile {sp.name}: {sp.immobile_fraction:g} of n_bulk (mobile in the pristine "
                f"glass: {sp.initial_fraction - sp.immobile_fraction:g})"
            )

    natives = [sp for sp in case.species if sp.role == "native"]
    foreigns = [sp for sp in case.species if sp.role == "foreign"]
    sigma = 0.0
    for sp in natives:
        # only the mobile part conducts (MODEL.md section 10)
        mobile = sp.initial_fraction - getattr(sp, "immobile_fraction", 0.0)
        sigma_sp = units.conductivity_S_cm(
            s.n_bulk_cm3 * mobile, sp.D_cm2_s, s.temperature_K, sp.charge
        )
        sigma += sigma_sp
        lines.append(f"bulk conductivity ({sp.name}, Nernst-Einstein): {sigma_sp:.4g} S/cm")
    if len(natives) > 1:
        lines.append(f"bulk conductivity (all native): {sigma:.4g} S/cm")
    if sigma > 0:
        tau = units.EPS0_F_CM * s.eps_r / sigma
        lines.append(f"dielectric relaxation time eps0 eps_r / sigma: {tau:.4g} s")
    else:
        lines.append("dielectric relaxation time eps0 eps_r / sigma: infinite (no native carriers)")

    g = case.grid
    from solvers.grid import graded_faces_nm

    faces = np.asarray(
        graded_faces_nm(s.thickness_um * 1e3, g.fine_depth_nm, g.fine_spacing_nm, g.growth)
    )
    widths = np.diff(faces)
    lines.append(
        f"grid: {widths.size} cells, smallest {widths.min():.4g} nm, largest {widths.max():.4g} nm"
    )

    for sp in case.species:
        if sp.sed is not None or getattr(sp, "D_table", None) is not None:
            lines += _d_of_n_lines(case, sp, foreigns)
    for k, d in enumerate(getattr(case, "data", ()), 1):
        lines.append(
            f"data.{k}: {d.file.name}, after stage {d.after_stage}, normalize = {d.normalize}, "
            f"species {', '.join(s for s, _ in d.columns)} (nppsim data CASE shows it read)"
        )
    return lines


def cmd(args: argparse.Namespace) -> int:
    """``nppsim info``: print derived quantities of a case."""
    from nppsim.case import load_case

    case = load_case(args.case)
    for line in _info_lines(case):
        out(line)
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Register ``nppsim info`` with the subparsers `sub`."""
    p = sub.add_parser(
        "info",
        help="derived quantities of a case (Debye length, conductivity, D(n), grid)",
        description="Print derived quantities of CASE without simulating.",
    )
    p.add_argument("case", metavar="CASE", help="case file (TOML)")
    p.set_defaults(handler=cmd)
