"""The browser app's page logic, without a browser: the pages are driven through their widgets
and methods as a browser session would, and their jobs are waited for and polled by hand."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("panel", reason="the browser app needs Panel (pip install 'nppsim[gui]')")

import nppsim
from nppsim.errors import CaseError, InputError
from nppsim.gui import common
from nppsim.gui.fit_page import FitPage, parse_pairs
from nppsim.gui.simulate_page import SimulatePage, common_values, parse_value
from nppsim.gui.sweep_page import SweepPage, table_csv, value_range
from nppsim.gui.teach_page import TeachPage

ROOT = Path(__file__).resolve().parents[2]
SYNTH_CSV = ROOT / "cases" / "synthetic" / "lbo_k_synthetic.csv"
#: the longest a page's job may take in these tests (s; the first call compiles the solver)
JOB_TIMEOUT_S = 300.0


def finish(page) -> None:
    """Wait for the page's job and let the page report it, as the periodic callback does."""
    assert page.runner.wait(JOB_TIMEOUT_S)
    page.runner.poll()
    assert not page.runner.running


# ------------------------------------------------------------------------------ common


def test_safe_name_keeps_only_a_plain_base_name():
    assert common.safe_name("../../etc/passwd") == "passwd"
    assert common.safe_name("C:\\data\\K profile (1).csv") == "K_profile__1_.csv"
    assert common.safe_name("..hidden") == "hidden"
    assert common.safe_name("", "x.csv") == "x.csv"


def test_upload_size_limit_and_empty_upload():
    with pytest.raises(InputError, match="choose a file"):
        common.check_upload(None, None, "profile upload")
    big = b"x" * (common.MAX_UPLOAD_BYTES + 1)
    with pytest.raises(InputError, match=r"big\.csv: 5\.2 MB is more than the 5 MB"):
        common.check_upload(big, "big.csv", "profile upload")
    assert common.check_upload(b"abc", "a.csv", "x") == b"abc"


def test_uploaded_case_is_validated_and_its_data_files_never_opened():
    text = (ROOT / "cases" / "lbo_k.toml").read_text(encoding="utf-8")
    # a data block naming a server file: dropped, not read (the file does not even exist)
    text += '\n[[data]]\nfile = "/nonexistent/secret.csv"\ncolumns = { K = "K" }\n'
    text += 'depth_column = "depth_nm"\n'
    case, note = common.case_from_upload(text.encode(), "../my case.toml")
    assert case.data == ()
    assert "ignored" in note
    assert case == nppsim.load_case(ROOT / "cases" / "lbo_k.toml")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"[meta\nname = 1", r"^bad\.toml: line 1, column 6: invalid TOML"),
        (b"\xff\xfe[meta]", r"^bad\.toml: not UTF-8"),
        (b'[meta]\nname = "x"\n', r"^bad\.toml: .*sample"),
    ],
)
def test_bad_uploaded_case_gives_one_line_naming_the_upload(data, match):
    with pytest.raises(CaseError, match=match) as info:
        common.case_from_upload(data, "bad.toml")
    assert "\n" not in str(info.value)


def test_shipped_cases_list_the_default_and_the_case_folder():
    cases = common.shipped_cases()
    assert cases[common.DEFAULT_CASE_LABEL] is None
    assert cases["lbo_k.toml"] == ROOT / "cases" / "lbo_k.toml"
    synth = common.shipped_cases("synthetic")
    assert "synthetic/lbo_k_synthetic.toml" in synth


def test_checkpoint_raises_once_after_cancel():
    state = common.JobState()
    state.checkpoint()  # no cancel: passes
    state.cancel.set()
    with pytest.raises(KeyboardInterrupt):
        state.checkpoint()
    state.checkpoint()  # the fit's bookkeeping after the interrupt must not be stopped again
    assert state.cancelled


# ------------------------------------------------------------------------------ Simulate


def test_common_values_of_a_two_stage_case():
    case = nppsim.load_case(ROOT / "cases" / "lbo_cs_at_rb.toml")
    keys = [k for k, *_ in common_values(case)]
    assert "stage.1.potential_V" in keys and "stage.2.potential_V" in keys
    assert "stage.2.duration_s" in keys
    assert "species.Rb.D_cm2_s" in keys and "species.Cs.D_cm2_s" in keys
    values = {k: v for k, _l, _u, _lo, _hi, v in common_values(case)}
    for key, value in values.items():
        assert value == case.get_value(key)


def test_parse_value_checks_number_and_range():
    assert parse_value(" 0,3 ", "x", "eV", 0.0, 1.0) == 0.3
    with pytest.raises(InputError, match=r"^FWHM: must lie in 0\.005 \.\. 2 eV, got 5$"):
        parse_value("5", "FWHM", "eV", 0.005, 2.0)
    with pytest.raises(InputError, match="'abc' is not a number"):
        parse_value("abc", "FWHM", "eV", 0.005, 2.0)


def run_simulate(page: SimulatePage, fwhm: str) -> nppsim.Result:
    page.inputs["species.Li.sed.fwhm_eV"][0].value = fwhm
    page.inputs["stage.1.duration_s"][0].value = "4000"
    page.solver.value = "electroneutral"
    page.run()
    finish(page)
    assert page.message.visible is False, page.message.object
    return page.result


def test_simulate_runs_the_edited_case_and_a_wider_sed_leaves_more_li():
    page = SimulatePage()
    narrow = run_simulate(page, "0.20")
    assert "K front at" in page.status.object
    wide = run_simulate(page, "0.30")
    assert narrow.times_s[-1] == pytest.approx(4000.0)
    # the same run as the library gives for the same values
    ref = nppsim.simulate(
        nppsim.default_case().with_values(
            {"species.Li.sed.fwhm_eV": 0.30, "stage.1.duration_s": 4000.0}
        ),
        method="electroneutral",
    )
    np.testing.assert_allclose(wide.final_fraction("Li"), ref.final_fraction("Li"), atol=1e-12)
    # behind the front the plateau of immobile Li+ is higher for the wider SED
    x = 0.5 * wide.front_depth_nm("K")
    assert np.interp(x, wide.depth_nm, wide.final_fraction("Li")) > 2 * np.interp(
        x, narrow.depth_nm, narrow.final_fraction("Li")
    )
    assert page.profile_pane.visible and page.pu_pane.visible
    page.scale.value = "log"
    assert page.profile_pane.figure.axes[0].get_yscale() == "log"


def test_simulate_downloads_round_trip(tmp_path):
    page = SimulatePage()
    res = run_simulate(page, "0.25")
    h5 = tmp_path / "r.h5"
    h5.write_bytes(page.download("h5"))
    back = nppsim.load_result(h5)
    np.testing.assert_array_equal(back.fractions, res.fractions)
    csv = page.download("csv").decode()
    assert csv.splitlines()[0] == "depth_nm,Li,K"
    assert len(csv.splitlines()) == res.n_cells + 1
    assert page.download("png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(d.filename.startswith("default_case.") for d in page.downloads)


def test_simulate_cancel_keeps_the_partial_result():
    page = SimulatePage()
    page.inputs["stage.1.duration_s"][0].value = "4e6"
    page.run()
    page.runner.cancel()  # before the first stored time: the run stops there
    finish(page)
    assert page.status.object.startswith("cancelled: partial result")
    assert page.message.alert_type == "warning" and "interrupted" in page.message.object
    assert page.result is not None and page.result.times_s[-1] < 4e6
    assert not page.downloads[0].disabled


def test_simulate_bad_value_and_bad_upload_show_one_line():
    page = SimulatePage()
    page.inputs["sample.temperature_K"][0].value = "-3"
    page.run()
    assert not page.runner.running
    assert page.message.visible and page.message.object.startswith("temperature: must lie in")
    page.upload.filename = "broken.toml"
    page.upload.value = b"[sample]\nthickness_um = 'thick'\n"
    assert page.message.object.startswith("broken.toml: ")
    assert "\n" not in page.message.object and "Traceback" not in page.message.object


def test_simulate_upload_replaces_the_values():
    page = SimulatePage()
    text = (ROOT / "cases" / "poling_borosilicate.toml").read_bytes()
    page.upload.filename = "poling_borosilicate.toml"
    page.upload.value = text
    assert page.case == nppsim.load_case(ROOT / "cases" / "poling_borosilicate.toml")
    assert page.case_name == "poling_borosilicate.toml"
    assert page.message.alert_type == "info"


# ------------------------------------------------------------------------------ Fit


def test_parse_pairs():
    assert parse_pairs("Li=Li, K = K2;", "columns") == {"Li": "Li", "K": "K2"}
    with pytest.raises(InputError, match="expected SPECIES=COLUMN"):
        parse_pairs("Li", "columns")


def upload_profile(page: FitPage, data: bytes, name: str) -> None:
    page.data_upload.filename = name
    page.data_upload.value = data


def test_fit_reads_the_upload_like_the_command_line_and_fits():
    page = FitPage()
    assert page.case_select.value == "synthetic/lbo_k_synthetic.toml"
    upload_profile(page, SYNTH_CSV.read_bytes(), "lbo_k_synthetic.csv")
    assert page.measured_info.object.startswith("**lbo_k_synthetic.csv** read: 182 depths")
    # the same profile as the case file's own data block gives (the command line's reading)
    case = nppsim.load_case(ROOT / "cases" / "synthetic" / "lbo_k_synthetic.toml")
    from nppsim.profiles import profile_from_spec

    ref = profile_from_spec(case.data[0], "Li")
    mine = profile_from_spec(page.fit_case.data[0], "Li")
    np.testing.assert_array_equal(mine.depth_nm, ref.depth_nm)
    for s in ("Li", "K"):
        np.testing.assert_array_equal(mine.values[s], ref.values[s])
        np.testing.assert_array_equal(mine.sigma[s], ref.sigma[s])
    page.check.value = False
    page.run()
    finish(page)
    assert page.fit is not None and page.fit.success, page.message.object
    # the synthetic truth (cases/synthetic/README.md): FWHM 0.25 eV, D_K 2e-16 cm^2/s
    assert page.fit["species.Li.sed.fwhm_eV"].value == pytest.approx(0.25, abs=0.005)
    assert page.fit["species.K.D_cm2_s"].value == pytest.approx(2e-16, rel=0.05)
    assert "[[Fit statistics]]" in page.report.object
    assert page.best["species.Li.sed.fwhm_eV"] == pytest.approx(
        page.fit["species.Li.sed.fwhm_eV"].value, rel=1e-9
    )
    doc = json.loads(page.fit_json())
    assert {"success", "parameters", "chi2", "reduced_chi2", "warnings"} <= set(doc)
    assert not page.download_button.disabled


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"depth_nm,Li,dLi,K,dK\n1,abc,0.01,0.9,0.02\n", r"^bad\.csv: line 2: .*'abc'"),
        (b"depth_nm,Li,dLi,K,dK\n", r"^bad\.csv: "),
        (b"\x00\x01\x02binary", r"^bad\.csv: not a text file"),
        (b"depth_nm;Li;K\n1;0.1;0.9\n", r"^bad\.csv: .*dLi"),
    ],
)
def test_fit_malformed_upload_shows_one_line(data, match):
    page = FitPage()
    upload_profile(page, data, "bad.csv")
    assert page.message.visible
    msg = page.message.object
    assert "\n" not in msg and "Traceback" not in msg
    assert page._tmp.name not in msg  # the server's temporary folder is not shown
    import re

    assert re.search(match, msg), msg
    page.run()  # fitting without a readable profile: refused with a message
    assert not page.runner.running


def test_fit_close_removes_the_uploaded_profile():
    page = FitPage()
    upload_profile(page, SYNTH_CSV.read_bytes(), "k.csv")
    assert page.data_path.is_file()
    page.close()
    assert not page.data_path.exists()


def test_fit_without_free_parameters_is_refused():
    page = FitPage()
    upload_profile(page, SYNTH_CSV.read_bytes(), "k.csv")
    for box, _lo, _hi in page.free.values():
        box.value = False
    page.run()
    assert not page.runner.running
    assert page.message.object == "free parameters: tick at least one"


# ------------------------------------------------------------------------------ Sweep


def test_value_range():
    np.testing.assert_allclose(value_range(1e-16, 1e-14, 3, True, "k"), [1e-16, 1e-15, 1e-14])
    with pytest.raises(InputError, match="logarithmic range needs values > 0"):
        value_range(0.0, 1.0, 3, True, "k")
    with pytest.raises(InputError, match="number of values"):
        value_range(0.0, 1.0, 0, False, "k")


def test_sweep_one_key_plateau_rises_with_the_fwhm():
    page = SweepPage()
    assert page.key1.value == "species.Li.sed.fwhm_eV"
    page.range1[0].value, page.range1[1].value, page.num1.value = "0.2", "0.3", 3
    page.run()
    finish(page)
    header, rows = page.table
    assert header[:2] == ["species.Li.sed.fwhm_eV", "status"]
    assert [r[1] for r in rows] == ["ok"] * 3
    plateau = [r[header.index("plateau_fraction")] for r in rows]
    assert plateau[0] < plateau[1] < plateau[2]
    text = page.table_bytes().decode().splitlines()
    assert text[0].startswith("species.Li.sed.fwhm_eV,status,front_depth_nm,plateau_fraction")
    assert len(text) == 4


def test_sweep_two_keys_make_a_grid_and_cancel_keeps_finished_points():
    page = SweepPage()
    page.key2.value = "species.K.D_cm2_s"
    assert page.log2.value is True
    page.range1[0].value, page.range1[1].value = "0.2", "0.3"
    page.range2[0].value, page.range2[1].value = "1e-16", "4e-16"
    page.num1.value, page.num2.value = 2, 2
    page.run()
    finish(page)
    header, rows = page.table
    assert len(rows) == 4 and header[1] == "species.K.D_cm2_s"
    # a faster foreign ion leaves more Li+ behind (the K+ > Rb+ > Cs+ ordering)
    p = np.array([r[header.index("plateau_fraction")] for r in rows]).reshape(2, 2)
    assert np.all(p[:, 1] > p[:, 0])
    page.num1.value, page.num2.value = 10, 10
    page.run()
    page.runner.cancel()
    finish(page)
    assert page.status.object.startswith("cancelled:")
    statuses = [r[2] for r in page.table[1]]
    assert statuses.count("not run") > 50


def test_sweep_refuses_too_many_points_and_a_key_twice():
    page = SweepPage()
    page.key2.value = page.key1.value
    page.run()
    assert "chosen twice" in page.message.object
    page.key2.value = "species.K.D_cm2_s"
    page.num1.value = page.num2.value = 40
    page.run()
    assert "more than the 400 allowed" in page.message.object


def test_table_csv_writes_nan_as_empty():
    out = table_csv(["a", "b"], [[1.0, math.nan]]).decode()
    assert out == "a,b\n1.0,\n"


# ------------------------------------------------------------------------------ Teach


def test_teach_update_follows_the_sliders_on_fixed_axes():
    page = TeachPage()
    ranges = [
        (f.x_range.start, f.x_range.end, f.y_range.start, f.y_range.end)
        for f in (page.fig_sed, page.fig_d, page.fig_prof, page.fig_plateau)
    ]
    plateaus = []
    for fwhm in (0.15, 0.25, 0.35):
        page.fwhm.value = fwhm
        page.update()
        est = page.src_est.data["y"]
        plateaus.append(est[0] if len(est) else 0.0)
        assert page.last_update_s > 0
        assert f"update #{page.n_updates}" in page.status.object
    assert plateaus[0] < plateaus[1] < plateaus[2]
    # the README's figures: 4 % at 0.25 eV and 20 % at 0.35 eV (D_K 2e-16 cm^2/s, 350 K)
    assert plateaus[1] == pytest.approx(0.04, abs=0.005)
    assert plateaus[2] == pytest.approx(0.20, abs=0.01)
    after = [
        (f.x_range.start, f.x_range.end, f.y_range.start, f.y_range.end)
        for f in (page.fig_sed, page.fig_d, page.fig_prof, page.fig_plateau)
    ]
    assert after == ranges
    # the profile panel shows the demo's run at these settings
    run = nppsim.demo.demo_run(page.settings())
    np.testing.assert_array_equal(page.src_prof.data["nat"], run.final_fraction("Li"))


def test_teach_layout_has_a_caption_under_each_panel():
    import panel as pn

    from nppsim.gui.teach_page import CAPTIONS

    page = TeachPage()
    texts = [m.object for m in page.layout().select(pn.pane.Markdown)]
    assert len(CAPTIONS) == 4
    assert all(c in texts for c in CAPTIONS)


def test_app_builds_pages_on_demand_with_their_own_state():
    a, b = nppsim.gui.app().app, nppsim.gui.app().app
    assert list(a.pages) == ["Simulate"]  # only the first tab is built at once
    a.tabs.active = 3  # opening a tab builds its page
    assert list(a.pages) == ["Simulate", "Teach"]
    a.page("Teach").fwhm.value = 0.4
    assert b.page("Teach").fwhm.value == 0.25
    assert a.page("Simulate").runner is not b.page("Simulate").runner
    assert a.page("Fit") is a.page("Fit")


def test_figures_bytes_are_png():
    res = nppsim.simulate(
        nppsim.default_case().with_values({"stage.1.duration_s": 100.0}), method="electroneutral"
    )
    from nppsim.gui.figures import profiles_figure

    png = common.figure_png(profiles_figure(res, True, 50.0))
    assert png[:4] == b"\x89PNG"
    assert io.BytesIO(png).getbuffer().nbytes > 1000
