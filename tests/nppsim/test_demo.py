"""The SED-width teaching demo: the command writes a PNG headless, the figure shows the model of
the `sed` package (SED, Fermi level, D(n), plateau estimate) and the electroneutral run, and the
sliders update it."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import sed
from nppsim import demo
from nppsim.cli import main
from nppsim.errors import InputError


@pytest.fixture(scope="module")
def fig():
    return demo.sed_width_figure()


def _axes(figure):
    return {ax.get_label(): ax for ax in figure.axes if ax.get_label() in demo.AXIS_LABELS}


def _reference_model(fwhm=0.25, v=0.10, T=350.0):
    """The native Li model of the default case, built from sed directly."""
    return sed.SEDMobility(
        sed.GaussianSED(fwhm), D_ref_cm2_s=1e-12, n_ref=1.0, temperature_K=T, vacancy_fraction=v
    )


def test_command_writes_a_png_headless(tmp_path, capsys):
    path = tmp_path / "demo.png"
    assert main(["demo", "sed-width", "--save", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.strip() == f"wrote {path}"
    assert [p.name for p in tmp_path.iterdir()] == ["demo.png"]  # no temporary file left


def test_without_display_the_command_suggests_save(capsys):
    assert main(["demo", "sed-width"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nppsim: error: demo: no display") and "--save" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_figure_extension_exit_2(tmp_path, capsys):
    assert main(["demo", "sed-width", "--save", str(tmp_path / "demo.xyz")]) == 2
    assert "unsupported figure format" in capsys.readouterr().err


def test_four_data_axes_and_the_d_axis_is_logarithmic(fig):
    assert len(fig.axes) == 4
    axes = _axes(fig)
    assert list(axes) == list(demo.AXIS_LABELS)
    assert axes["diffusivity"].get_yscale() == "log"
    assert axes["plateau"].get_yscale() == "log"


def test_plateau_line_is_the_sed_plateau_estimate(fig):
    model = _reference_model()
    expected = model.plateau_fraction(2e-16)
    (line,) = [ln for ln in _axes(fig)["diffusivity"].get_lines() if ln.get_gid() == "plateau"]
    np.testing.assert_allclose(line.get_xdata(), [expected, expected], rtol=1e-12)
    # D_Li there is one decade below D_K: the definition of the estimate
    np.testing.assert_allclose(model.D(expected), 2e-17, rtol=1e-9)
    # panel (b) draws D(n)/D_ref of that model, and D_K/10 relative to D_ref
    ax = _axes(fig)["diffusivity"]
    curve = ax.get_lines()[0]
    n = np.asarray(curve.get_xdata())
    np.testing.assert_allclose(curve.get_ydata(), model.D(n) / 1e-12, rtol=1e-12)
    levels = sorted(float(ln.get_ydata()[0]) for ln in ax.get_lines()[1:3])
    np.testing.assert_allclose(levels, [2e-5, 2e-4], rtol=1e-12)


def test_sed_panel_fills_up_to_the_fermi_level(fig):
    model = _reference_model()
    ax = _axes(fig)["sed"]
    sites = ax.get_lines()[0]
    E = np.asarray(sites.get_xdata())
    np.testing.assert_allclose(sites.get_ydata(), model.sed_eV(E), rtol=1e-12)
    # the pristine Fermi level, and the occupied area below it is the pristine fraction 1 - v of
    # the sites: n_ref = 1 of n_bulk
    ef_line = ax.get_lines()[1]
    np.testing.assert_allclose(ef_line.get_xdata()[0], model.fermi_level_ref_eV, rtol=1e-12)
    occupied = np.asarray(model.psed_eV(E, 1.0))
    area = float(np.sum(0.5 * (occupied[1:] + occupied[:-1]) * np.diff(E)))
    assert area == pytest.approx(1.0, abs=0.01)  # trapezoid rule on a step: 1 % is plenty


def test_profiles_panel_is_the_electroneutral_run(fig):
    result = demo.demo_run(demo.DemoSettings())
    assert result.method == "electroneutral"
    ax = _axes(fig)["profiles"]
    li, k = ax.get_lines()[:2]
    np.testing.assert_array_equal(li.get_ydata(), result.final_fraction("Li"))
    np.testing.assert_array_equal(k.get_ydata(), result.final_fraction("K"))
    # replaced zone ~200 nm deep, Li plateau of a few per cent, as in the default case
    assert 100.0 < result.front_depth_nm("K") < 400.0
    _, plateau = demo.simulated_plateau(result, "Li", "K")
    assert 0.01 < plateau < 0.2


def test_plateau_curve_rises_with_the_width(fig):
    fwhm, fraction = demo.plateau_vs_fwhm(0.10, 350.0, 2e-16)
    assert fwhm[0] == demo.FWHM_RANGE_EV[0] and fwhm[-1] == demo.FWHM_RANGE_EV[1]
    assert np.all(np.diff(fraction) > 0)  # wider SED: more Li+ stays trapped in deep sites
    i = int(np.argmin(np.abs(fwhm - 0.25)))
    np.testing.assert_allclose(
        fraction[i], _reference_model(fwhm[i]).plateau_fraction(2e-16), rtol=1e-12
    )


def test_sliders_update_the_figure():
    figure = demo.sed_width_figure(interactive=True)
    try:
        sliders = figure._nppsim_demo.sliders
        assert [s.valmin for s in sliders] == [0.05, 0.01, 250.0, -18.0]
        assert [s.valmax for s in sliders] == [0.5, 0.5, 500.0, -14.0]
        sliders[0].set_val(0.35)
        sliders[3].set_val(-15.0)
        expected = _reference_model(0.35).plateau_fraction(1e-15)
        (line,) = [
            ln for ln in _axes(figure)["diffusivity"].get_lines() if ln.get_gid() == "plateau"
        ]
        np.testing.assert_allclose(line.get_xdata()[0], expected, rtol=1e-12)
        assert "FWHM 0.35 eV" in figure._suptitle.get_text()
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def test_no_plateau_is_drawn_as_none():
    # D_K / 10 above D_ref = 1e-12: D_Li never falls that low, no plateau
    settings = demo.DemoSettings(D_foreign_cm2_s=1e-10)
    mob = demo.native_mobility(0.25, 0.10, 350.0)
    assert math.isnan(demo.plateau_estimate(mob, settings.D_foreign_cm2_s))


@pytest.mark.parametrize(
    "kwargs", [{"fwhm_eV": 0.0}, {"vacancy_fraction": 1.0}, {"temperature_K": float("nan")}]
)
def test_bad_values_are_input_errors(kwargs):
    with pytest.raises(InputError):
        demo.sed_width_figure(**kwargs)
