"""Tests of the D(n) inversion (fitting.invert, fitting.knots, fitting.inversion_result).

The synthetic K+/Rb+ pair cases/synthetic/lbo_{k,rb}_inv was made with the full NPP solver from
a Gaussian Li SED (250 meV FWHM, v = 0.1, 350 K, D_Li = 1e-12 cm^2/s), D_K = 2e-16 and
D_Rb = 6e-17 cm^2/s, 2 % noise (cases/synthetic/README.md). The inversion uses the fast
electroneutral solver on a coarser grid, and starts from a 200 meV SED and halved foreign D's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import nppsim
from fitting.inversion_result import is_inversion_file, load_inversion
from fitting.invert import invert
from fitting.knots import KnotLayout, check_knots, default_knots, gcv_choice, gcv_curve
from nppsim.errors import InputError
from sed import GaussianSED, SEDMobility

ROOT = Path(__file__).resolve().parents[2]
SYNTH = ROOT / "cases" / "synthetic"
TRUTH = SEDMobility(GaussianSED(0.25), 1e-12, 1.0, 350.0, vacancy_fraction=0.10)
TRUE_D = {"K": 2.0e-16, "Rb": 6.0e-17}


def inv_case(ion: str) -> nppsim.Case:
    return nppsim.load_case(SYNTH / f"lbo_{ion}_inv.toml")


# ---------------------------------------------------------------------- knots and layout


@pytest.mark.parametrize("v", [0.05, 0.1, 0.3])
def test_default_knots_make_a_gaussian_straight(v):
    """On the default knots (uniform in Phi^-1((1 - v) f)) log10 D of any Gaussian SED with
    vacancy fraction v has zero second differences, including the pinned node at n_ref."""
    knots = default_knots(7, 0.02, v)
    assert knots[0] == pytest.approx(0.02) and np.all(np.diff(knots) > 0) and knots[-1] < 1
    for fwhm in (0.1, 0.25, 0.4):
        mob = SEDMobility(GaussianSED(fwhm), 1e-12, 1.0, 350.0, vacancy_fraction=v)
        y = np.log10(mob.D(np.append(knots, 1.0)))
        np.testing.assert_allclose(np.diff(y, 2), 0.0, atol=1e-9)


def test_layout_regulariser_and_split():
    """theta -> log10 D at the knots; the second differences; per-case knots below F."""
    knots = np.array([0.1, 0.3, 0.5, 0.7])
    lay = KnotLayout(knots, 2, 0.4, 1)
    assert lay.ks == 2 and lay.n_inc == 2 + 2 * 2 and lay.size == 7
    theta = np.array([1.0, 0.5, 2.0, 1.0, 3.0, 0.1, 0.3])
    y0, y1 = lay.y(theta, 0, -12.0), lay.y(theta, 1, -12.0)
    # shared increments above F: y(0.7) = -12 - 0.5, y(0.5) = -12 - 0.5 - 1
    np.testing.assert_allclose(y0[2:], [-13.5, -12.5])
    np.testing.assert_allclose(y1[2:], [-13.5, -12.5])
    # per case below F: theta[2:4] (case 0) and theta[4:6] (case 1) are a_0, a_1
    np.testing.assert_allclose(y0[:2], [-13.5 - 1.0 - 2.0, -13.5 - 1.0])
    np.testing.assert_allclose(y1[:2], [-13.5 - 0.1 - 3.0, -13.5 - 0.1])
    reg = lay.M @ theta
    d0 = np.diff(np.append(y0, -12.0), 2)
    d1 = np.diff(np.append(y1, -12.0), 2)
    # case 0: all 3 stencils; case 1: only those touching its own knots (first 2)
    np.testing.assert_allclose(reg, np.concatenate([d0, d1[:2]]))


def test_gcv_choice_one_standard_error_rule():
    lam = np.logspace(-2, 2, 5)
    gcv = np.array([1.02, 1.00, 1.01, 1.2, 2.0])
    assert gcv_choice(lam, gcv, n_points=200) == pytest.approx(1.0)  # 1.01 within 10 %
    assert gcv_choice(lam, gcv, n_points=100000) == pytest.approx(0.1)


def test_gcv_curve_of_a_linear_problem():
    """For a linear model the GCV curve is that of ridge regression: at lambda -> 0 it is
    N |r_ls|^2 / (N - p)^2 with the least-squares residual."""
    rng = np.random.default_rng(3)
    J = rng.standard_normal((40, 3))
    r = rng.standard_normal(40)
    M = np.array([[1.0, -2.0, 1.0]])
    g = gcv_curve(J, r, M, np.zeros(3), np.ones(3, bool), np.array([1e-12]))
    r_ls = r - J @ np.linalg.lstsq(J, r, rcond=None)[0]
    assert g[0] == pytest.approx(40 * (r_ls @ r_ls) / 37**2, rel=1e-6)


@pytest.mark.parametrize(
    ("knots", "message"),
    [
        (1, "at least 2"),
        ([0.5, 1.2], "(0, 1]"),
        ([0.0, 0.5], "(0, 1]"),
        ([0.5, 0.3], "increase"),
        ([0.5, 1.0], "at least 2"),
    ],
)
def test_bad_knots(knots, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("]", r"\]")):
        check_knots(knots)


def test_knot_at_one_is_the_pinned_node():
    np.testing.assert_allclose(check_knots([0.2, 0.6, 1.0]), [0.2, 0.6])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"species": "Rb"}, "not a native species"),
        ({"species": "Cs"}, "no such species"),
        ({"split_below": 1.2}, "split-below"),
        ({"split_below": 0.005}, "no knot"),
        ({"free": ["species.Li.sed.fwhm_eV"]}, "inverted curve"),
        ({"free": ["species.Li.D_cm2_s"]}, "inverted curve"),
        ({"method": "euler"}, "unknown solver"),
    ],
)
def test_bad_input_is_one_line_input_error(kwargs, message):
    with pytest.raises(InputError, match=message) as info:
        invert(inv_case("rb"), **kwargs)
    assert "\n" not in str(info.value)


def test_no_data_block():
    with pytest.raises(InputError, match="no \\[\\[data\\]\\] block"):
        invert(nppsim.load_case(ROOT / "cases" / "lbo_k.toml"))


# ---------------------------------------------------------------------- a tiny inversion


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One synthetic Rb+ profile, 3 knots and D_Rb, fixed lambda: a few seconds."""
    res = invert(inv_case("rb"), "Li", knots=3, free=["species.Rb.D_cm2_s"], regularization=10.0)
    path = res.save(tmp_path_factory.mktemp("inv") / "tiny_inv.json")
    return res, path


def test_tiny_inversion_fits_and_recovers_the_constrained_range(tiny):
    """The profile constrains D where D_Li ~ D_Rb (the plateau, a few % of n_ref): there the
    curve is within 0.3 decades of the truth, and the fit is within the noise."""
    res, _ = tiny
    assert res.success
    assert res.reduced_chi2 < 1.5
    c = res.curve
    lo, hi = c.valid_range
    assert 0.0 <= lo < 0.02 and hi == pytest.approx(1.0, abs=0.02)
    f = c.knots[1]
    assert abs(math.log10(res.D_at(f)) - math.log10(TRUTH.D(f))) < 0.3
    assert np.all(c.D_low_cm2_s <= c.D_cm2_s) and np.all(c.D_cm2_s <= c.D_high_cm2_s)
    assert np.all(np.diff(c.D_cm2_s) >= 0.0)
    assert c.D_cm2_s[-1] == pytest.approx(1e-12, rel=1e-9)  # pinned
    assert res.regularization["criterion"] == "fixed" and res.regularization["lambda"] == 10.0
    assert res["species.Rb.D_cm2_s"].value == pytest.approx(TRUE_D["Rb"], rel=0.3)


def test_tiny_inversion_json_contract_and_round_trip(tiny):
    res, path = tiny
    d = json.loads(path.read_text())
    contract = ("fraction", "D_cm2_s", "D_low_cm2_s", "D_high_cm2_s", "valid_range")
    extra = ("parameters", "sed", "wall_s", "regularization", "chi2", "reduced_chi2")
    for key in contract + extra:
        assert key in d, key
    for key in ("fwhm_eV", "fwhm_stderr_eV", "energy_eV", "density"):
        assert key in d["sed"], key
    assert len(d["fraction"]) == len(d["D_cm2_s"]) == len(d["sed"]["energy_eV"])
    assert is_inversion_file(path)
    back = load_inversion(path)
    np.testing.assert_allclose(back.curve.D_cm2_s, res.curve.D_cm2_s, rtol=1e-12)
    assert back.curve.sed["fwhm_eV"] == pytest.approx(res.curve.sed["fwhm_eV"])
    assert back.report().startswith("[[Inversion of D(n)]]")


def test_tiny_inversion_plot(tiny, tmp_path):
    from nppsim.cli import main

    _, path = tiny
    out = tmp_path / "inv.png"
    assert main(["plot", str(path), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_load_inversion_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"success": true}')
    assert not is_inversion_file(p)
    with pytest.raises(InputError, match="not an nppsim inversion file"):
        load_inversion(p)


# ---------------------------------------------------------------------- the acceptance test


@pytest.mark.slow
def test_synthetic_pair_recovers_the_landscape(tmp_path):
    """Issue 15 acceptance: on the K+/Rb+ pair (2 % noise) log10 D within 0.3 decades of the
    truth at n = 0.3 ... 0.9, the PSED FWHM within 0.03 eV of 0.25 eV, each foreign D within
    a factor 1.3."""
    cases = [inv_case("k"), inv_case("rb")]
    res = invert(cases, "Li", free=["species.K.D_cm2_s", "species.Rb.D_cm2_s"])
    assert res.success
    f = np.linspace(0.3, 0.9, 13)
    err = np.abs(np.log10(res.D_at(f)) - np.log10(TRUTH.D(f)))
    assert np.max(err) < 0.3, err
    assert abs(res.curve.sed["fwhm_eV"] - 0.25) < 0.03
    for p in res.parameters:
        ion = p.key.split(".")[1]
        assert 1 / 1.3 < p.value / TRUE_D[ion] < 1.3, p
    assert res.reduced_chi2 < 1.5
    assert res.regularization["criterion"].startswith("GCV")


@pytest.mark.slow
def test_split_below_gives_each_case_its_own_low_curve():
    """--split-below 0.4: the curves of the two cases coincide above 0.4 and each still
    describes its own profile; both stay near the (common) truth where constrained."""
    cases = [inv_case("k"), inv_case("rb")]
    res = invert(cases, "Li", knots=5, split_below=0.4,
                 free=["species.K.D_cm2_s", "species.Rb.D_cm2_s"])  # fmt: skip
    assert len(res.curves) == 2 and {c.case for c in res.curves} == set(res.case_names)
    a, b = res.curves
    shared = a.knots >= 0.4
    np.testing.assert_allclose(a.log10_D_knots[shared], b.log10_D_knots[shared], atol=1e-12)
    assert not np.allclose(a.log10_D_knots[~shared], b.log10_D_knots[~shared], atol=1e-3)
    # PCHIP slopes at a knot involve its neighbours: identical from the second shared knot on
    above = a.fraction >= a.knots[shared][1]
    np.testing.assert_allclose(a.D_cm2_s[above], b.D_cm2_s[above], rtol=1e-9)
    assert res.reduced_chi2 < 1.5
    for c in res.curves:
        f = 0.1
        assert abs(math.log10(res.D_at(f, c.case)) - math.log10(TRUTH.D(f))) < 0.5


@pytest.mark.slow
def test_npp_solver_gives_the_same_curve(tiny):
    """--solver npp: the full solver's inversion of the tiny problem agrees with the
    electroneutral one at the knots the profile constrains (0.1 decades)."""
    res_en, _ = tiny
    res = invert(inv_case("rb"), "Li", knots=3, free=["species.Rb.D_cm2_s"],
                 regularization=10.0, method="npp")  # fmt: skip
    assert res.success and res.method == "npp"
    assert res.reduced_chi2 < 1.5
    k = res.curve.knots[:2]
    np.testing.assert_allclose(np.log10(res.D_at(k)), np.log10(res_en.D_at(k)), atol=0.1)


def test_bootstrap_draws_of_a_linear_problem():
    """The bootstrap fallback on a linear problem: draws stay inside the bounds (increments
    >= 0), and for a well-determined unconstrained parameter their spread is the Jacobian's
    standard error."""
    from fitting.knots import bootstrap_draws

    rng = np.random.default_rng(7)
    lay = KnotLayout(np.array([0.2, 0.5]), 1, None, 1)  # theta = [a_0, a_1, u]
    J = rng.standard_normal((400, 3))
    theta = np.array([0.0, 1.0, 0.5])  # a_0 held at its bound 0
    draws = bootstrap_draws(J, np.zeros(400), lay, theta, lam=0.0, red=1.0, seed=1)
    lo, hi = lay.bounds()
    assert np.all(draws >= lo - 1e-12) and np.all(draws <= hi + 1e-12)
    cov = np.linalg.inv(J.T @ J)
    assert np.std(draws[:, 2]) == pytest.approx(math.sqrt(cov[2, 2]), rel=0.2)
    assert np.min(draws[:, 0]) >= 0.0 and np.mean(draws[:, 0] > 0.0) > 0.2


@pytest.mark.slow
def test_singular_jacobian_falls_back_to_the_bootstrap(monkeypatch):
    """When the Jacobian counts as singular, the band comes from the bootstrap: still ordered
    around the curve, with a finite FWHM error."""
    import fitting.invert as fi

    monkeypatch.setattr(fi, "SINGULAR_RTOL", 1.0)  # every Jacobian counts as singular
    res = invert(inv_case("rb"), "Li", knots=3, free=["species.Rb.D_cm2_s"], regularization=10.0)
    assert res.band_method.startswith("bootstrap")
    c = res.curve
    assert np.all(c.D_low_cm2_s <= c.D_cm2_s * (1 + 1e-9))
    assert np.all(c.D_high_cm2_s >= c.D_cm2_s * (1 - 1e-9))
    assert math.isfinite(c.sed["fwhm_stderr_eV"])
    assert math.isfinite(res["species.Rb.D_cm2_s"].stderr)
