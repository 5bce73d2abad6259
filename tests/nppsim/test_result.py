"""Result: construction from a Solution, lossless HDF5 round trip, the exact layout, CSV, plots."""

from __future__ import annotations

import json
from datetime import datetime

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from nppsim.errors import DataFileError, InputError
from nppsim.result import FrontRecord, Result, load_result
from solvers.problem import Solution

CASE_TOML = """\
[meta]
name = "fake K on Li"

[species.Li]
role = "native"
D_cm2_s = 1.0e-12

[species.K]
role = "foreign"
D_cm2_s = 2.0e-16
"""


FRONT_NAMES = (
    "time_s", "current_A_cm2", "potential_V", "charge_C_cm2", "total_current_A_cm2",
    "total_charge_C_cm2",
)  # fmt: skip


def make_solution(
    n_cells: int = 40,
    n_times: int = 5,
    n_steps: int = 30,
    seed: int = 0,
    growth: float = 1.1,
    **overrides,
) -> Solution:
    """A hand-made Solution: a K front moving in, Li displaced, graded grid, random front data.

    Cells grow from 0.5 nm by `growth`. The K fraction is a tanh step of width 2 nm centred at
    20 sqrt(t / t_end) nm (zero at t = 0); Li = 1 - K.
    """
    rng = np.random.default_rng(seed)
    faces = np.concatenate([[0.0], np.cumsum(0.5 * growth ** np.arange(n_cells))])
    centres = 0.5 * (faces[1:] + faces[:-1])
    times = np.linspace(0.0, 100.0, n_times)
    front_depth = 20.0 * np.sqrt(times / times[-1])[:, None]
    k = 0.5 * (1.0 - np.tanh((centres[None, :] - front_depth) / 2.0))
    k[0] = 0.0
    fractions = np.stack([1.0 - k, k], axis=1)
    potential = 1.5 * np.exp(-centres[None, :] / 5.0) * np.linspace(0.2, 1.0, n_times)[:, None]
    t_front = np.concatenate([[0.0], np.sort(rng.uniform(1e-6, 100.0, n_steps - 1))])
    current = 1e-6 / np.sqrt(np.maximum(t_front, 1e-6))
    # the total current: the ionic one plus a decaying displacement current
    total = current + 1e-4 * np.exp(-t_front / 10.0)
    values = dict(
        x_faces_nm=faces,
        x_centers_nm=centres,
        species_names=("Li", "K"),
        times_s=times,
        fractions=fractions,
        potential_V=potential,
        stage_end_index=[n_times // 2, n_times - 1],
        front_time_s=t_front,
        front_current_A_cm2=current,
        front_potential_V=np.full(n_steps, 1.5),
        front_charge_C_cm2=np.cumsum(current) * 1e-3,
        front_total_current_A_cm2=total,
        front_total_charge_C_cm2=np.cumsum(total) * 1e-3,
        method="npp",
        diagnostics={
            "steps": n_steps,
            "rejected_steps": 3,
            "newton_iterations": 91,
            "compile_s": 1.25,
            "converged": True,
            "last_dt_s": np.float64(0.5),
            "dt_history_s": rng.uniform(0.1, 1.0, 7),
            "per_stage": [{"steps": 10, "status": "ok"}, {"steps": 20, "status": "ok"}],
            "note": "plain text",
            "nothing": None,
        },
        completed=True,
        message="",
    )
    values.update(overrides)
    return Solution(**values)


def make_result(**overrides) -> Result:
    return Result.from_solution(make_solution(**overrides), CASE_TOML, "fake K on Li", 2.5)


def assert_results_equal(a: Result, b: Result) -> None:
    for name in ("x_faces_nm", "depth_nm", "times_s", "fractions", "potential_V"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in FRONT_NAMES:
        np.testing.assert_array_equal(getattr(a.front, name), getattr(b.front, name), err_msg=name)
    for name in (
        "species",
        "stage_end_index",
        "method",
        "completed",
        "message",
        "case_toml",
        "case_name",
        "wall_s",
        "metadata",
    ):
        assert getattr(a, name) == getattr(b, name), name
    assert a.diagnostics.keys() == b.diagnostics.keys()
    for key, value in a.diagnostics.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(b.diagnostics[key], value, err_msg=key)
        else:
            assert b.diagnostics[key] == value, key
            assert type(b.diagnostics[key]) is type(
                value.item() if hasattr(value, "item") else value
            )


# ---------------------------------------------------------------------- the object


def test_from_solution_shares_arrays_and_exposes_fractions():
    sol = make_solution()
    res = Result.from_solution(sol, CASE_TOML, "fake K on Li", 2.5)
    # read-only views of the solver's arrays: no copy
    assert np.shares_memory(res.fractions, sol.fractions)
    assert np.shares_memory(res.depth_nm, sol.x_centers_nm)
    assert not res.fractions.flags.writeable and not res.depth_nm.flags.writeable
    assert res.species == ("Li", "K")
    assert res.fraction("K").shape == (res.n_times, res.n_cells)
    np.testing.assert_array_equal(res.fraction("Li"), sol.fractions[:, 0, :])
    np.testing.assert_array_equal(res.final_fraction("K"), sol.fractions[-1, 1, :])
    assert isinstance(res.front, FrontRecord)
    assert res.stage_end_index == (2, 4)
    assert res.metadata["versions"]["numpy"] == np.__version__
    assert datetime.fromisoformat(res.metadata["created_utc"]).utcoffset().total_seconds() == 0
    assert "fake K on Li" in repr(res)


def test_unknown_species_is_a_clear_key_error():
    with pytest.raises(KeyError, match=r"no species 'Rb'.*Li, K"):
        make_result().fraction("Rb")


def test_roles_from_case_text_and_fallback():
    res = make_result()
    assert res.roles == {"Li": "native", "K": "foreign"}
    res2 = Result.from_solution(make_solution(), "not = [toml", "x", 0.0)
    assert res2.foreign_species == ("K",)


def test_front_depth_interpolates_the_half_level():
    res = make_result(n_cells=200, growth=1.01)
    # the tanh step is centred at 20 nm at the last time; linear interpolation between centres
    # about 0.6 nm apart there is exact at the symmetric centre up to the grid's asymmetry
    assert res.front_depth_nm("K") == pytest.approx(20.0, abs=0.01)
    assert np.isnan(res.front_depth_nm("K", time_index=0))


# ---------------------------------------------------------------------- HDF5


def test_hdf5_round_trip_is_lossless(tmp_path):
    res = make_result()
    path = res.save(tmp_path / "r.h5")
    back = load_result(path)
    assert_results_equal(res, back)


def test_hdf5_round_trip_of_incomplete_run_and_extra_metadata(tmp_path):
    sol = make_solution(completed=False, message="time step below 1e-15 s", stage_end_index=[])
    meta = {
        "nppsim_version": "9.9",
        "created_utc": "2024-01-02T03:04:05+00:00",
        "versions": {"python": "3.11"},
        "host": "lab-pc",
    }
    res = Result.from_solution(sol, CASE_TOML, "partial", 1.0, metadata=meta)
    back = load_result(res.save(tmp_path / "p.h5"))
    assert_results_equal(res, back)
    assert back.completed is False
    assert back.stage_end_index == ()


def test_hdf5_layout_names_exactly(tmp_path):
    res = make_result()
    res.save(tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as h5:
        for attr in ("nppsim_version", "created_utc", "case_toml", "solver", "wall_s", "versions"):
            assert attr in h5.attrs, attr
        assert h5.attrs["solver"] == "npp"
        assert h5.attrs["case_toml"] == CASE_TOML
        assert h5.attrs["wall_s"] == 2.5
        assert set(json.loads(h5.attrs["versions"])) >= {
            "numpy",
            "scipy",
            "numba",
            "h5py",
            "python",
        }
        datetime.fromisoformat(h5.attrs["created_utc"])
        n_t, n_c = res.n_times, res.n_cells
        assert h5["grid/x_centers_nm"].shape == (n_c,)
        assert h5["grid/x_faces_nm"].shape == (n_c + 1,)
        assert h5["time_s"].shape == (n_t,)
        assert set(h5["fraction"]) == {"Li", "K"}
        assert h5["fraction/Li"].shape == (n_t, n_c)
        np.testing.assert_array_equal(h5["fraction/K"][()], res.fraction("K"))
        assert h5["potential_V"].shape == (n_t, n_c)
        assert set(h5["front"]) == set(FRONT_NAMES)
        np.testing.assert_array_equal(
            h5["front/total_current_A_cm2"][()], res.front.total_current_A_cm2
        )
        np.testing.assert_array_equal(
            h5["front/total_charge_C_cm2"][()], res.front.total_charge_C_cm2
        )
        assert isinstance(h5["diagnostics"], h5py.Group)
        diag = h5["diagnostics"].attrs
        assert diag["steps"] == 30
        assert diag["rejected_steps"] == 3
        assert diag["newton_iterations"] == 91
        assert json.loads(diag["per_stage"])[1]["steps"] == 20


def test_total_current_round_trip_and_differs_from_ionic(tmp_path):
    """The total current and charge are their own datasets, read back bit for bit."""
    res = make_result()
    assert not np.array_equal(res.front.total_current_A_cm2, res.front.current_A_cm2)
    back = load_result(res.save(tmp_path / "r.h5"))
    for name in ("total_current_A_cm2", "total_charge_C_cm2"):
        np.testing.assert_array_equal(getattr(back.front, name), getattr(res.front, name))


def test_solution_without_total_current_gets_the_ionic_one():
    """A Solution made without the total values (default None): the ionic ones are copied."""
    sol = make_solution(front_total_current_A_cm2=None, front_total_charge_C_cm2=None)
    res = Result.from_solution(sol, CASE_TOML, "old", 0.0)
    np.testing.assert_array_equal(res.front.total_current_A_cm2, sol.front_current_A_cm2)
    np.testing.assert_array_equal(res.front.total_charge_C_cm2, sol.front_charge_C_cm2)


def test_file_of_an_older_nppsim_loads_with_the_ionic_values(tmp_path):
    """A result file without /front/total_* (written before they existed) loads, with the
    ionic current and charge as its total current and charge."""
    res = make_result()
    path = res.save(tmp_path / "old.h5")
    with h5py.File(path, "r+") as h5:
        del h5["front/total_current_A_cm2"]
        del h5["front/total_charge_C_cm2"]
    back = load_result(path)
    np.testing.assert_array_equal(back.front.total_current_A_cm2, res.front.current_A_cm2)
    np.testing.assert_array_equal(back.front.total_charge_C_cm2, res.front.charge_C_cm2)
    np.testing.assert_array_equal(back.front.current_A_cm2, res.front.current_A_cm2)
    # and it is saved again in the present layout
    again = load_result(back.save(tmp_path / "new.h5"))
    np.testing.assert_array_equal(again.front.total_current_A_cm2, res.front.current_A_cm2)


@pytest.mark.parametrize("name", ["total_current_A_cm2", "total_charge_C_cm2"])
def test_damaged_total_current_datasets_are_data_file_errors(tmp_path, name):
    path = make_result().save(tmp_path / "r.h5")
    with h5py.File(path, "r+") as h5:
        del h5[f"front/{name}"]
        h5.create_group(f"front/{name}")
    with pytest.raises(DataFileError, match=f"/front/{name} is not a dataset"):
        load_result(path)
    with h5py.File(path, "r+") as h5:
        del h5[f"front/{name}"]
        h5[f"front/{name}"] = np.zeros(3)
    with pytest.raises(DataFileError, match="the /front datasets differ in length"):
        load_result(path)


def test_large_case_text_is_stored(tmp_path):
    big = CASE_TOML + "# " + "x" * 200_000 + "\n"
    res = Result.from_solution(make_solution(), big, "big", 0.0)
    assert load_result(res.save(tmp_path / "big.h5")).case_toml == big


def test_unserialisable_diagnostic_is_kept_as_text(tmp_path, caplog):
    class Odd:
        def __repr__(self):
            return "<Odd>"

    res = Result.from_solution(make_solution(diagnostics={"odd": [Odd()]}), CASE_TOML, "x", 0.0)
    back = load_result(res.save(tmp_path / "r.h5"))
    assert back.diagnostics["odd"] == ["<Odd>"]
    assert "not JSON-serialisable" in caplog.text


def test_save_failure_keeps_previous_file(tmp_path):
    path = tmp_path / "r.h5"
    make_result().save(path)
    bad = Result.from_solution(make_solution(species_names=("Li", "a/b")), CASE_TOML, "bad", 0.0)
    with pytest.raises(ValueError, match="a/b"):
        bad.save(path)
    assert load_result(path).species == ("Li", "K")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_load_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such file") as info:
        load_result(tmp_path / "none.h5")
    assert "none.h5" in str(info.value)
    assert isinstance(info.value, InputError)


def test_load_not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("depth_nm,Li\n")
    with pytest.raises(DataFileError, match=r"text\.h5: not an HDF5 file"):
        load_result(path)


def test_load_foreign_hdf5(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["x"] = np.arange(3)
    with pytest.raises(DataFileError, match=r"other\.h5: not an nppsim result") as info:
        load_result(path)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------- CSV


def test_save_csv_final_profile(tmp_path):
    res = make_result()
    path = res.save_csv(tmp_path / "p.csv")
    assert path.read_text().splitlines()[0] == "depth_nm,Li,K"
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert table.shape == (res.n_cells, 3)
    np.testing.assert_allclose(table[:, 0], res.depth_nm, rtol=1e-9, atol=0)
    np.testing.assert_allclose(table[:, 1], res.final_fraction("Li"), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table[:, 2], res.final_fraction("K"), rtol=1e-9, atol=1e-12)


def test_save_csv_other_time(tmp_path):
    res = make_result()
    table = np.loadtxt(res.save_csv(tmp_path / "p.csv", time_index=2), delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 2], res.fraction("K")[2], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------- plots


RUN_PANELS = ("profiles", "snapshots", "potential", "front potential", "current", "charge")


def _panels(fig):
    """{panel label: axes} of a figure drawn by plot_result."""
    return {ax.get_label(): ax for ax in fig.axes if ax.get_label() in RUN_PANELS}


def test_plot_result_writes_png(tmp_path):
    from matplotlib.figure import Figure

    from nppsim.plot import plot_result

    path = tmp_path / "fig.png"
    fig = plot_result(make_result(), path)
    assert isinstance(fig, Figure)
    assert set(_panels(fig)) == set(RUN_PANELS)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


def test_plot_result_marks_each_stage_end():
    """A two-stage result: each species' profile at the end of stage 1 is drawn broken and
    labelled with its ion name, stage and time; the final one (end of stage 2) solid in the
    species' fixed colour; the stage boundary marked in the current panel."""
    from nppsim.plot import plot_result
    from nppsim.style import SPECIES_COLORS, format_time, ion_label

    res = make_result()
    i1 = res.stage_end_index[0]
    panels = _panels(plot_result(res))
    ax_c, ax_j = panels["profiles"], panels["current"]
    lines = {ln.get_label(): ln for ln in ax_c.get_lines()}
    for name in res.species:
        ion = ion_label(name)
        end1 = lines[f"{ion}, end of stage 1 ({format_time(res.times_s[i1])})"]
        assert end1.get_linestyle() == "--"
        np.testing.assert_array_equal(end1.get_ydata(), res.fraction(name)[i1])
        end2 = lines[f"{ion}, end of stage 2 ({format_time(res.times_s[-1])})"]
        assert end2.get_linestyle() == "-" and end2.get_color() == SPECIES_COLORS[name]
        np.testing.assert_array_equal(end2.get_ydata(), res.final_fraction(name))
    assert "end of each stage" in ax_c.get_title(loc="left")
    boundary = [ln for ln in ax_j.get_lines() if ln.get_linestyle() == ":"]
    assert [ln.get_xdata()[0] for ln in boundary] == [res.times_s[i1]]


def test_plot_result_of_a_run_stopped_mid_stage():
    """A run that stopped in stage 3 after completing stages 1 and 2: both stage ends are drawn
    and labelled with their own times, and the final profile is labelled as stopped in stage 3
    (not as the end of a stage)."""
    from nppsim.plot import plot_result
    from nppsim.style import format_time

    res = make_result(n_times=7, stage_end_index=[2, 4], completed=False, message="stopped")
    ax_c = _panels(plot_result(res))["profiles"]
    labels = [ln.get_label() for ln in ax_c.get_lines()]
    for stage, i in ((1, 2), (2, 4)):
        assert f"K$^{{+}}$, end of stage {stage} ({format_time(res.times_s[i])})" in labels
    assert f"K$^{{+}}$, {format_time(res.times_s[-1])} (stage 3, stopped)" in labels
    assert not any("end of stage 3" in label for label in labels)


@pytest.mark.parametrize("ext, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_plot_result_other_formats(tmp_path, ext, magic):
    from nppsim.plot import plot_result

    path = tmp_path / f"fig.{ext}"
    plot_result(make_result(), path)
    assert path.read_bytes().startswith(magic)


def test_plot_result_current_panel_total_solid_ionic_dashed():
    """The current panel draws the total current solid and, where it differs noticeably, the
    ionic current dashed, with a legend, on a log current axis; a two-stage run has a linear
    time axis (a later stage is not squeezed into the last decade)."""
    from nppsim.plot import plot_result

    res = make_result()
    ax_j = _panels(plot_result(res))["current"]
    lines = {ln.get_label(): ln for ln in ax_j.get_lines()}
    total = lines["total (external circuit)"]
    ionic = lines["ionic part (total minus displacement current)"]
    assert total.get_linestyle() == "-" and ionic.get_linestyle() == "--"
    after = res.front.time_s >= 0
    np.testing.assert_array_equal(total.get_ydata(), res.front.total_current_A_cm2[after])
    np.testing.assert_array_equal(ionic.get_ydata(), res.front.current_A_cm2[after])
    assert ax_j.get_legend() is not None
    assert ax_j.get_xscale() == "linear" and ax_j.get_yscale() == "log"
    # equal currents: the ionic one is not drawn a second time
    same = make_result(front_total_current_A_cm2=None, front_total_charge_C_cm2=None)
    ax_same = _panels(plot_result(same))["current"]
    drawn = [ln.get_label() for ln in ax_same.get_lines() if ln.get_linestyle() != ":"]
    assert drawn == ["total (external circuit)"]


def test_plot_result_drops_the_current_noise_floor_and_says_so():
    """Current densities below 1e-6 of the peak (numerical noise of a decayed poling current)
    are not drawn, and the panel says how many points it left out."""
    from nppsim.plot import plot_result
    from nppsim.plot_run import CURRENT_NOISE_FRACTION

    sol = make_solution()
    total = np.array(sol.front_total_current_A_cm2)
    total[-10:] = 1e-20 * (1 + np.arange(10))  # noise after the decay
    res = make_result(front_total_current_A_cm2=total)
    ax_j = _panels(plot_result(res))["current"]
    (line,) = [ln for ln in ax_j.get_lines() if ln.get_label().startswith("total")]
    peak = np.max(np.abs(np.concatenate([total, res.front.current_A_cm2])))
    assert np.all(line.get_ydata() > CURRENT_NOISE_FRACTION * peak)
    assert line.get_ydata().size == total.size - 10
    assert any("10 points below" in t.get_text() for t in ax_j.texts)


def test_plot_result_blocking_front_draws_the_total_current_alone():
    """A blocking front (ionic current 0, as in thermal poling): the total current is drawn on
    a log axis and the legend says the ionic current is 0."""
    from nppsim.plot import plot_result

    sol = make_solution()
    ionic = np.zeros_like(sol.front_current_A_cm2)
    res = make_result(front_current_A_cm2=ionic, front_charge_C_cm2=ionic)
    ax_j = _panels(plot_result(res))["current"]
    drawn = [ln for ln in ax_j.get_lines() if ln.get_linestyle() != ":"]
    assert [ln.get_label() for ln in drawn] == ["total (external circuit); ionic current 0"]
    assert ax_j.get_yscale() == "log"


def test_plot_result_log_and_linear_axes_and_xmax():
    """Fractions below 1 % (the K tail) give a log axis by default; --linear/--log force the
    scale; x_max_nm sets the depth axis of both profile panels."""
    from nppsim.plot import plot_result

    res = make_result()
    assert _panels(plot_result(res))["profiles"].get_yscale() == "log"
    lin = _panels(plot_result(res, scale="linear", x_max_nm=12.5))
    assert lin["profiles"].get_yscale() == "linear" and lin["snapshots"].get_yscale() == "linear"
    assert lin["profiles"].get_xlim()[1] == 12.5 and lin["snapshots"].get_xlim()[1] == 12.5
    with pytest.raises(InputError, match="xmax"):
        plot_result(res, x_max_nm=-1.0)


def test_plot_result_single_stage_time_axis_is_log():
    from nppsim.plot import plot_result

    res = make_result(stage_end_index=[4])
    panels = _panels(plot_result(res))
    assert panels["current"].get_xscale() == "log"


def test_plot_result_snapshot_colour_bar_is_time():
    """The snapshot panel draws the beam ion at every stored time with a colour bar of time."""
    from nppsim.plot import plot_result

    fig = plot_result(make_result())
    snapshots = _panels(fig)["snapshots"]
    assert len(snapshots.get_lines()) == 5
    assert any(ax.get_ylabel() == "time (s)" for ax in fig.axes)


def test_plot_depth_range_follows_the_foreign_profile():
    from nppsim.plot import profile_depth_range_nm

    res = make_result(n_cells=200, growth=1.01)
    edge = profile_depth_range_nm(res)
    # K < 1e-3 where tanh((x - 20)/2) > 0.998, i.e. x > x_star = 20 + 2 atanh(0.998); the first
    # centre beyond it lies less than one cell (< 0.7 nm here) further
    x_star = 20.0 + 2.0 * np.arctanh(0.998)
    assert 1.5 * x_star < edge < 1.5 * (x_star + 0.7)
    panels = _panels(__import__("nppsim.plot", fromlist=["plot_result"]).plot_result(res))
    assert panels["profiles"].get_xlim()[1] == pytest.approx(edge)
    assert panels["snapshots"].get_xlim()[1] == pytest.approx(edge)


def test_plot_minimum_depth_range():
    from nppsim.plot import MIN_DEPTH_RANGE_NM, profile_depth_range_nm

    sol = make_solution()
    sol.fractions[:, 1, :] = 0.0
    sol.fractions[:, 0, :] = 1.0
    res = Result.from_solution(sol, CASE_TOML, "flat", 0.0)
    assert profile_depth_range_nm(res) == MIN_DEPTH_RANGE_NM


def test_plot_bad_extension_is_input_error(tmp_path):
    from nppsim.plot import plot_result

    with pytest.raises(InputError, match=r"fig\.xyz"):
        plot_result(make_result(), tmp_path / "fig.xyz")
    assert list(tmp_path.iterdir()) == []


def test_plot_result_single_column_stacks_the_panels(tmp_path):
    """At single-column width (3.5 in) the six panels are stacked in one column, and the
    legend of the profiles sits below them (beside them there is no room)."""
    from nppsim.plot import plot_result
    from nppsim.style import SINGLE_COLUMN_IN

    fig = plot_result(make_result(), tmp_path / "single.pdf", width="single")
    assert fig.get_figwidth() == SINGLE_COLUMN_IN
    panels = _panels(fig)
    lefts = {round(ax.get_position().x0, 3) for ax in panels.values()}
    assert len(lefts) == 1
    tops = [panels[name].get_position().y1 for name in RUN_PANELS]
    assert tops == sorted(tops, reverse=True)
    legend = panels["profiles"].get_legend()
    assert legend.get_bbox_to_anchor().y0 < panels["profiles"].get_position().y0 * fig.bbox.height


def test_result_arrays_are_read_only():
    """k = res.final_fraction("K"); k *= 100 must not change what the result reports and
    saves: every array of a Result and of its front record refuses in-place changes."""
    res = Result.from_solution(make_solution(), CASE_TOML, "fake K on Li", 2.5)
    depth_before = res.front_depth_nm("K", 0.5)
    k = res.final_fraction("K")
    with pytest.raises(ValueError, match="read-only"):
        k *= 100
    for name in ("x_faces_nm", "depth_nm", "times_s", "fractions", "potential_V"):
        assert not getattr(res, name).flags.writeable, name
    for name in ("time_s", "current_A_cm2", "potential_V", "charge_C_cm2",
                 "total_current_A_cm2", "total_charge_C_cm2"):  # fmt: skip
        assert not getattr(res.front, name).flags.writeable, name
    assert not res.fraction("Li").flags.writeable
    assert res.front_depth_nm("K", 0.5) == depth_before
    copy = np.array(k)  # a copy is writable
    copy *= 2.0
