"""Every figure command runs and draws axes that carry units; legends stay off the data.

Each figure the README and the gallery show is made here with the command a user types
(``nppsim plot`` of a result, a fit and a sweep; ``nppsim demo sed-width --save``); the figures
are caught on their way to the file and checked: every axis with tick labels has a label with a
unit in parentheses or brackets (``depth (nm)``, ``fraction of n_bulk (1)``), colour bars too.
"""

from __future__ import annotations

import concurrent.futures as cf
import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import nppsim
import nppsim.plot
from fitting.forward import ModelProfile
from fitting.result import FitResult, FittedParameter
from nppsim.cli import main
from nppsim.style import SPECIES_COLORS, legend_covers_data

#: a unit in parentheses or brackets at the end of a label, or anywhere in it
UNIT = re.compile(r"\(.+\)|\[.+\]")
FAST = {"solver.method": "electroneutral", "stage.1.duration_s": 4.0e3, "solver.n_output": 4}


@pytest.fixture
def caught(monkeypatch):
    """The figures saved through nppsim.plot.save_figure, in order (files still written)."""
    figures = []
    real = nppsim.plot.save_figure

    def catch(fig, path, **kw):
        figures.append(fig)
        return real(fig, path, **kw)

    monkeypatch.setattr(nppsim.plot, "save_figure", catch)
    return figures


def _assert_units(fig):
    checked = 0
    fig.draw_without_rendering()  # tick labels exist once drawn
    for ax in fig.axes:
        if not ax.axison:
            continue
        if hasattr(ax, "_colorbar"):
            cb = ax._colorbar
            label = ax.get_ylabel() if cb.orientation == "vertical" else ax.get_xlabel()
            assert UNIT.search(label), f"colour bar without unit: {label!r}"
            continue
        assert UNIT.search(ax.get_ylabel()), f"{ax.get_label()}: y label {ax.get_ylabel()!r}"
        if any(t.get_visible() and t.get_text() for t in ax.get_xticklabels()):
            assert UNIT.search(ax.get_xlabel()), f"{ax.get_label()}: x label {ax.get_xlabel()!r}"
        checked += 1
    assert checked >= 2
    return checked


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("figs") / "run.h5"
    nppsim.simulate(nppsim.default_case().with_values(FAST)).save(path)
    return path


def test_run_figure_has_units_and_its_legend_off_the_data(caught, result_file, tmp_path):
    assert main(["plot", str(result_file), "-o", str(tmp_path / "run.pdf")]) == 0
    (fig,) = caught
    assert _assert_units(fig) == 6
    profiles = next(ax for ax in fig.axes if ax.get_label() == "profiles")
    assert not legend_covers_data(fig, profiles.get_legend(), profiles)
    assert (tmp_path / "run.pdf").read_bytes()[:4] == b"%PDF"


def test_run_figure_log_linear_and_xmax_flags(caught, result_file, tmp_path):
    out = str(tmp_path / "f.png")
    assert main(["plot", str(result_file), "-o", out, "--linear", "--xmax", "80"]) == 0
    assert main(["plot", str(result_file), "-o", out, "--log"]) == 0
    lin, log = (next(a for a in f.axes if a.get_label() == "profiles") for f in caught)
    assert lin.get_yscale() == "linear" and lin.get_xlim()[1] == 80.0
    assert log.get_yscale() == "log"
    with pytest.raises(SystemExit) as usage:  # argparse: the two flags exclude each other
        main(["plot", str(result_file), "-o", out, "--log", "--linear"])
    assert usage.value.code == 2


def _fit_result():
    """A joint K/Cs fit result made by hand (two data blocks, three parameters)."""
    depth = np.linspace(1.0, 150.0, 60)
    profiles = []
    for ion, case in (("K", "K+ CAIT"), ("Cs", "Cs+ CAIT")):
        foreign = 0.5 * (1 - np.tanh((depth - 80.0) / 6.0))
        native = 1.0 - foreign
        rng = np.random.default_rng(1)
        measured = {"Li": native + 0.01 * rng.standard_normal(60), ion: foreign}
        profiles.append(
            ModelProfile(
                case_name=case, data_index=1, after_stage=1, depth_nm=depth,
                species=("Li", ion), measured=measured,
                sigma={"Li": np.full(60, 0.01), ion: np.full(60, 0.01)},
                model={"Li": native, ion: foreign}, sim_depth_nm=depth,
                sim={"Li": native, ion: foreign},
            )
        )  # fmt: skip
    params = (
        FittedParameter("species.Li.sed.fwhm_eV", None, 0.2497, 0.0002, 0.05, 0.8, False, False,
                        0.25),
        FittedParameter("species.K.D_cm2_s", "K+ CAIT", 2.0e-16, 1.5e-19, 1e-18, 1e-14, False,
                        True, 2e-16),
        FittedParameter("species.Cs.D_cm2_s", "Cs+ CAIT", 2.0e-17, 1.6e-20, 1e-19, 1e-15, False,
                        True, 2e-17),
    )  # fmt: skip
    return FitResult(
        success=True, message="converged", parameters=params, correlation=np.eye(3), chi2=118.0,
        reduced_chi2=0.99, n_points=240, aic=124.0, bic=134.0, n_simulations=54, wall_s=2.0,
        warnings=(), method="electroneutral", profiles=tuple(profiles),
    )  # fmt: skip


def test_fit_figure_names_every_line_and_gives_the_values(caught, tmp_path):
    fit = _fit_result()
    path = tmp_path / "fit.json"
    fit.save(path)
    assert main(["plot", str(path), "-o", str(tmp_path / "fit.png")]) == 0
    (fig,) = caught
    _assert_units(fig)
    (info,) = [ax for ax in fig.axes if ax.get_label() == "legend and fitted values"]
    texts = [t.get_text() for t in info.get_legend().get_texts()]
    needed_lines = (
        "measured",
        "fit, blurred by the depth resolution",
        "fit before blurring",
        "residuals within $\\pm 1\\sigma$",
        "residuals within $\\pm 2\\sigma$",
    )
    for needed in needed_lines:
        assert any(needed in t for t in texts), needed
    box = info.texts[0].get_text()
    # the error to two significant digits, the value to the same decimal
    assert "SED width (FWHM) of Li$^{+}$: 0.24970 $\\pm$ 0.00020 eV" in box
    assert "D of K$^{+}$: (2.0000 $\\pm$ 0.0015)$\\times 10^{-16}$ cm$^2$/s" in box
    # K and Cs are told apart by colour in a joint fit
    colours = {
        ln.get_label(): ln.get_color()
        for ax in fig.axes
        for ln in ax.get_lines()
        if "fit (blurred" in ln.get_label()
    }
    assert colours["K$^{+}$ fit (blurred by the depth resolution)"] == SPECIES_COLORS["K"]
    assert colours["Cs$^{+}$ fit (blurred by the depth resolution)"] == SPECIES_COLORS["Cs"]
    assert SPECIES_COLORS["K"] != SPECIES_COLORS["Cs"]
    # residual bands at +-1 and +-2 sigma
    resid = next(ax for ax in fig.axes if ax.get_label() == "residuals 1")
    spans = sorted((p.get_y(), p.get_height()) for p in resid.patches)
    assert spans == [(-2.0, 4.0), (-1.0, 2.0)]


@pytest.fixture(scope="module")
def sweep_files(tmp_path_factory):
    case = nppsim.default_case().with_values(FAST)
    folder = tmp_path_factory.mktemp("sweeps")
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        nppsim.sweep(case, {"species.Li.sed.fwhm_eV": [0.2, 0.25, 0.3]}, executor=pool,
                     output=folder / "one.h5")  # fmt: skip
        nppsim.sweep(case, {"species.Li.sed.fwhm_eV": [0.2, 0.3],
                            "species.K.D_cm2_s": [1e-16, 2e-16, 4e-16]}, executor=pool,
                     output=folder / "two.h5")  # fmt: skip
    return folder / "one.h5", folder / "two.h5"


def test_sweep_figures_have_units_a_summary_and_heat_maps(caught, sweep_files, tmp_path):
    one, two = sweep_files
    assert main(["plot", str(one), "-o", str(tmp_path / "one.png")]) == 0
    assert main(["plot", str(two), "-o", str(tmp_path / "two.svg")]) == 0
    fig1, fig2 = caught
    _assert_units(fig1)
    _assert_units(fig2)
    labels1 = {ax.get_label() for ax in fig1.axes}
    assert {"front_depth_nm", "plateau_fraction", "charge_C_cm2"} <= labels1
    heat = next(ax for ax in fig2.axes if ax.get_label() == "plateau_fraction")
    assert len(heat.collections) == 1  # the heat map
    assert heat.get_yscale() == "log"  # D values evenly spaced in log


def test_demo_figure_has_units(caught, tmp_path):
    assert main(["demo", "sed-width", "--save", str(tmp_path / "demo.png")]) == 0
    (fig,) = caught
    assert _assert_units(fig) == 4
