"""Physical temperature (issue 15, part 4; MODEL.md section 10): D0_cm2_s and
activation_energy_eV instead of D_cm2_s, D(T) = D0 exp(-E_a / (k_B T)); for an SED species E_a
is the activation energy at the pristine density, D(n, T) = D0 exp(-(E_a - (E_F(n) -
E_F(n_ref))) / (k_B T))."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import nppsim
from fitting.fit import fit
from fitting.parameters import expand_parameters
from nppsim.cli import main
from nppsim.errors import CaseError
from nppsim.simulate import mobility_for
from nppsim.units import K_B_EV_K

CASE = Path(__file__).resolve().parents[2] / "cases" / "lbo2024_rb.toml"
#: Arrhenius parameters of the test: Li+ (SED species, E_a at the pristine density) and Rb+
LI = {"species.Li.D0_cm2_s": 1.6e-5, "species.Li.activation_energy_eV": 0.5}
RB = {"species.Rb.D0_cm2_s": 2.3e-4, "species.Rb.activation_energy_eV": 0.9}
TEMPERATURES_K = (300.0, 325.0, 350.0, 375.0, 400.0)


def _at(temperature_K: float, **extra: float) -> nppsim.Case:
    values = {**LI, **RB, "sample.temperature_K": temperature_K, **extra}
    return nppsim.load_case(CASE).with_values(values)


def test_case_derives_d_at_the_sample_temperature():
    """D_cm2_s of the loaded case is D0 exp(-E_a / k_B T) at the case temperature (1e-15),
    recomputed when the temperature is changed, and the case writes back D0 and E_a (not D)."""
    for t in TEMPERATURES_K:
        case = _at(t)
        for sp, p in (("Li", LI), ("Rb", RB)):
            d0 = p[f"species.{sp}.D0_cm2_s"]
            e_a = p[f"species.{sp}.activation_energy_eV"]
            expect = d0 * math.exp(-e_a / (K_B_EV_K * t))
            assert case.get_value(f"species.{sp}.D_cm2_s") == pytest.approx(expect, rel=1e-15)
    case = _at(350.0)
    again = nppsim.loads_case(case.to_toml())
    assert again == case
    assert "D0_cm2_s" in case.to_toml() and "D_cm2_s = " not in case.to_toml()


OHM_CASE = """
[meta]
name = "Ohm: Li+ injected at the front, discharged at the back"
[sample]
thickness_um = 1.0
temperature_K = {T}
n_bulk_cm3 = 1.4e22
eps_r = 7.0
[species.Li]
role = "native"
D0_cm2_s = {D0}
activation_energy_eV = {E_a}
[species.Li.sed]
fwhm_eV = 0.25
[[stage]]
duration_s = 1.0
source = "Li"
potential_V = 0.1
[grid]
fine_depth_nm = 900.0
fine_spacing_nm = 2.0
[solver]
n_output = 2
"""


def test_arrhenius_slope_is_recovered_from_the_simulated_conductivity():
    """A pristine 1 um sample with Li+ injected at the front and discharged at the back
    carries the ohmic current j = sigma U / L, sigma = e^2 n D_Li(T) / (k_B T) (MODEL.md
    section 8, item 1): the slope of ln(j T) against 1 / T over 300-400 K, from the simulated
    currents, is -E_a / k_B to 1e-5 (measured: 2.4e-13)."""
    d0, e_a = LI["species.Li.D0_cm2_s"], LI["species.Li.activation_energy_eV"]
    inv_t, ln_jt = [], []
    for t in TEMPERATURES_K:
        case = nppsim.loads_case(OHM_CASE.format(T=t, D0=d0, E_a=e_a))
        res = nppsim.simulate(case)
        assert res.completed
        inv_t.append(1.0 / t)
        ln_jt.append(math.log(res.front.current_A_cm2[-1] * t))
    slope = np.polyfit(inv_t, ln_jt, 1)[0]
    assert -slope * K_B_EV_K == pytest.approx(e_a, rel=1e-5)


def test_sed_species_follows_the_fermi_level_at_every_temperature():
    """For the SED species D(n, T) = D0 exp(-(E_a - (E_F(n) - E_F(n_ref))) / k_B T): the
    mobility of the case equals this formula, the Fermi-level shift taken from the SED model
    (activation_shift_eV), to 1e-9 at n = 0.2..1 and T = 300..400 K."""
    d0, e_a = LI["species.Li.D0_cm2_s"], LI["species.Li.activation_energy_eV"]
    n = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    for t in TEMPERATURES_K:
        case = _at(t)
        mob = mobility_for(case, case.species[0])
        shift = np.asarray(mob.activation_shift_eV(n), dtype=float)  # E_act(n) - E_act(n_ref)
        expect = d0 * np.exp(-(e_a + shift) / (K_B_EV_K * t))
        np.testing.assert_allclose(np.asarray(mob.D(n), dtype=float), expect, rtol=1e-9)


@pytest.mark.parametrize("method", ["npp", "electroneutral"])
def test_d0_and_activation_energy_equal_d_at_the_same_temperature(method):
    """A case with D0 and E_a and the same case with D_cm2_s = D0 exp(-E_a / k_B T) at its
    temperature give bit-identical results."""
    arr = _at(330.0, **{"stage.1.duration_s": 2.0e3, "solver.method": method})
    plain = arr.with_values({f"species.{sp.name}.D_cm2_s": sp.D_cm2_s for sp in arr.species})
    assert plain.species[0].D0_cm2_s is None
    a, b = nppsim.simulate(arr), nppsim.simulate(plain)
    for sp in ("Li", "Rb"):
        np.testing.assert_array_equal(a.fraction(sp), b.fraction(sp))
    np.testing.assert_array_equal(a.front.current_A_cm2, b.front.current_A_cm2)


def test_a_temperature_series_shares_d0_activation_energy_and_the_sed():
    """In a joint fit of cases at different temperatures, --shared D0, E_a and FWHM are one
    parameter each, D0 on a log scale."""
    cases = [_at(t) for t in (330.0, 370.0)]
    keys = ["species.Rb.D0_cm2_s", "species.Rb.activation_energy_eV", "species.Li.sed.fwhm_eV"]
    params = expand_parameters(cases, keys, shared=keys)
    assert [(p.key, p.shared, p.cases) for p in params] == [(k, True, (0, 1)) for k in keys]
    assert params[0].log and not params[1].log


TEXT = CASE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("D_cm2_s = 2.5e-17", "D_cm2_s = 2.5e-17\nD0_cm2_s = 1e-3\nactivation_energy_eV = 0.9",
         "species.Rb.D0_cm2_s: give either D_cm2_s or D0_cm2_s with activation_energy_eV"),
        ("D_cm2_s = 2.5e-17", "D0_cm2_s = 1e-3",
         "species.Rb.activation_energy_eV: required with D0_cm2_s"),
        ("D_cm2_s = 2.5e-17", "activation_energy_eV = 0.9",
         "species.Rb.D0_cm2_s: required with activation_energy_eV"),
        ("D_cm2_s = 2.5e-17", "D0_cm2_s = -1e-3\nactivation_energy_eV = 0.9",
         "species.Rb.D0_cm2_s: must be > 0"),
        ("D_cm2_s = 2.5e-17", "D0_cm2_s = 1e-3\nactivation_energy_eV = -0.1",
         "species.Rb.activation_energy_eV: must be >= 0"),
        ("D_cm2_s = 2.5e-17", "D0_cm2_s = 1e-3\nactivation_energy_eV = 40.0",
         "species.Rb.activation_energy_eV: D0 exp(-E_a / k_B T) = 0 cm^2/s at 350 K"),
    ],
)  # fmt: skip
def test_bad_arrhenius_parameters_are_one_line_errors(tmp_path, capsys, old, new, message):
    """Each bad combination is a CaseError naming the key, and exit status 2 with one line."""
    assert old in TEXT
    path = tmp_path / "bad.toml"
    path.write_text(TEXT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CaseError, match=re.escape(message)):
        nppsim.load_case(path)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_info_shows_d_at_the_case_temperature(tmp_path, capsys):
    """nppsim info prints D0 exp(-E_a / k_B T) and its value at the case temperature."""
    path = tmp_path / "arr.toml"
    path.write_text(_at(350.0).to_toml(), encoding="utf-8")
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    d_rb = _at(350.0).species[1].D_cm2_s
    assert (
        f"D of Rb: D0 exp(-E_a / k_B T) = 0.00023 cm^2/s x exp(-0.9 eV / k_B 350 K) = {d_rb:.4g}"
        in text
    )
    assert "D of Li (at the pristine density)" in text


def _series_case(tmp_path: Path, temperature_K: float) -> nppsim.Case:
    """cases/lbo2024_rb.toml with the Arrhenius parameters of the test at temperature_K (2e4 s,
    electroneutral), with a [[data]] block of its own simulated final profile (every 2 nm, no
    blur, no noise), starting the fit from D0(Rb+) = 1e-4 cm^2/s and E_a(Rb+) = 0.85 eV."""
    case = _at(temperature_K, **{"stage.1.duration_s": 2.0e4, "solver.method": "electroneutral"})
    res = nppsim.simulate(case.with_values({"solver.n_output": 1}))
    depth = np.arange(1.0, 200.0, 2.0)
    rows = ["depth_nm,Li,Rb"] + [
        f"{z:.17g},{np.interp(z, res.depth_nm, res.final_fraction('Li')):.17g},"
        f"{np.interp(z, res.depth_nm, res.final_fraction('Rb')):.17g}"
        for z in depth
    ]
    name = f"rb_{temperature_K:g}K"
    (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n")
    text = case.to_toml().replace('name = "Rb+', f'name = "{name}: Rb+', 1)
    text += (
        f'\n[[data]]\nfile = "{name}.csv"\ndepth_column = "depth_nm"\n'
        'columns = { Li = "Li", Rb = "Rb" }\nrelative_uncertainty = 0.02\n'
        "uncertainty_floor = 0.002\n"
    )
    start = {"species.Rb.D0_cm2_s": 1.0e-4, "species.Rb.activation_energy_eV": 0.85}
    return nppsim.loads_case(text, base_dir=tmp_path).with_values(start)


@pytest.mark.slow
def test_a_temperature_series_fits_jointly_to_the_arrhenius_parameters(tmp_path):
    """Profiles at 330 K and 370 K (fronts near 25 and 150 nm), fitted jointly with D0(Rb+)
    and E_a(Rb+) shared: E_a to 0.005 eV and D0 to 10 % (noise-free data)."""
    cases = [_series_case(tmp_path, t) for t in (330.0, 370.0)]
    keys = ["species.Rb.D0_cm2_s", "species.Rb.activation_energy_eV"]
    result = fit(cases, keys, shared=keys, check=False)
    assert result.success
    values = {p.key: p.value for p in result.parameters}
    assert abs(values[keys[1]] - RB[keys[1]]) < 0.005
    assert abs(values[keys[0]] / RB[keys[0]] - 1.0) < 0.1
