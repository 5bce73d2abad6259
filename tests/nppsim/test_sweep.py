"""Parameter sweeps: grid order, parallel runs (process pool, Dask), failures, Ctrl-C, the sweep
file, the command line and the figure.

The sweeps run the default case with the electroneutral solver for 4e3 s (about 10 ms a point),
so the physics is real but fast; every point's profiles are checked against a direct
`nppsim.simulate` of the same case.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import sys

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import nppsim
from nppsim.cli import LOG_MARKER, main, parse_vary
from nppsim.errors import CaseError, DataFileError, InputError
from nppsim.sweep import (
    STATUS_FAILED,
    STATUS_NOT_RUN,
    STATUS_OK,
    SweepInterrupted,
    SweepResult,
    grid_points,
    is_sweep_file,
    load_sweep,
)

sweep_module = importlib.import_module("nppsim.sweep")

#: fast settings for every sweep here
FAST = {"solver.method": "electroneutral", "stage.1.duration_s": 4.0e3, "solver.n_output": 2}
#: 8 foreign diffusivities (cm^2/s); the fifth is invalid (D must be > 0)
D_VALUES = [0.5e-16, 1e-16, 1.5e-16, 2e-16, -2e-16, 3e-16, 4e-16, 5e-16]
BAD_INDEX = 4


@pytest.fixture(scope="module")
def case():
    return nppsim.default_case().with_values(FAST)


@pytest.fixture(scope="module")
def direct(case):
    """Direct simulations of the valid points of D_VALUES (also compiles the kernels in this
    process, so that forked workers inherit them)."""
    return {
        i: nppsim.simulate(case.with_values({"species.K.D_cm2_s": d}))
        for i, d in enumerate(D_VALUES)
        if i != BAD_INDEX
    }


@pytest.fixture(scope="module")
def pool_sweep(case, direct, tmp_path_factory):
    """The 8-point sweep with the default executor (a process pool), saved to a file."""
    path = tmp_path_factory.mktemp("sweep") / "d_sweep.h5"
    sw = nppsim.sweep(case, {"species.K.D_cm2_s": D_VALUES}, output=path, workers=2)
    return sw, path


def _case_file(folder, case):
    path = folder / "fast.toml"
    path.write_text(case.to_toml())
    return path


def _assert_same_result(a, b):
    """Two results of the same case: equal grids, times and profiles (same code, same input)."""
    np.testing.assert_allclose(a.depth_nm, b.depth_nm, rtol=0, atol=0)
    np.testing.assert_allclose(a.times_s, b.times_s, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.fractions, b.fractions, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.potential_V, b.potential_V, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.front.current_A_cm2, b.front.current_A_cm2, rtol=1e-10, atol=0)
    assert a.species == b.species and a.method == b.method


# ---------------------------------------------------------------------- points


def test_grid_is_the_outer_product_first_key_slowest():
    points = grid_points({"a": [1, 2], "b": [10.0, 20.0, 30.0]})
    assert points == [
        {"a": 1, "b": 10.0},
        {"a": 1, "b": 20.0},
        {"a": 1, "b": 30.0},
        {"a": 2, "b": 10.0},
        {"a": 2, "b": 20.0},
        {"a": 2, "b": 30.0},
    ]
    # numpy values become Python numbers (with_values validates ints as ints)
    (point,) = grid_points({"solver.n_output": np.array([3])})
    assert type(point["solver.n_output"]) is int


@pytest.mark.parametrize(
    "values", [{"a": []}, {"a": ["x"]}, {"a": [True]}, {"a": "12"}, {"a": 1.0}]
)
def test_grid_rejects_what_is_not_a_sequence_of_numbers(values):
    with pytest.raises(InputError, match="a"):
        grid_points(values)


def test_unknown_key_is_an_input_error_before_anything_runs(case):
    with pytest.raises(CaseError, match=r"sample\.temperature: unknown key"):
        nppsim.sweep(case, {"sample.temperature": [300.0]}, executor=cf.ThreadPoolExecutor(1))


def test_grid_order_parameters_and_physics_with_two_keys(case):
    """2 x 3 grid on a thread pool: the rows follow grid_points, every point equals its direct
    simulation, and the front moves deeper with D_K (more K+ enters)."""
    values = {"species.Li.sed.fwhm_eV": [0.2, 0.3], "species.K.D_cm2_s": [1e-16, 2e-16, 4e-16]}
    with cf.ThreadPoolExecutor(2) as pool:
        sw = nppsim.sweep(case, values, executor=pool)
    expected = grid_points(values)
    assert sw.keys == tuple(values)
    np.testing.assert_array_equal(sw.parameters, [[p[k] for k in values] for p in expected])
    assert sw.status == (STATUS_OK,) * 6
    for i, point in enumerate(expected):
        assert sw.point(i) == point
        _assert_same_result(sw.results[i], nppsim.simulate(case.with_values(point)))
    depth = sw.front_depth_nm().reshape(2, 3)
    assert np.all(np.diff(depth, axis=1) > 0)


# ---------------------------------------------------------------------- the acceptance sweep


def test_default_pool_sweep_keeps_the_valid_points(pool_sweep, direct):
    sw, path = pool_sweep
    assert sw.n_points == 8 and sw.keys == ("species.K.D_cm2_s",)
    np.testing.assert_array_equal(sw.parameters[:, 0], D_VALUES)
    assert sw.status[BAD_INDEX] == STATUS_FAILED
    assert "species.K.D_cm2_s" in sw.messages[BAD_INDEX]
    assert "\n" not in sw.messages[BAD_INDEX]
    assert sw.results[BAD_INDEX] is None
    assert sw.n_ok == 7 and sw.n_failed == 1 and not sw.interrupted
    for i, res in direct.items():
        assert sw.status[i] == STATUS_OK and sw.messages[i] == ""
        _assert_same_result(sw.results[i], res)
    assert path.is_file() and is_sweep_file(path)


def test_sweep_file_round_trip(pool_sweep):
    sw, path = pool_sweep
    same = load_sweep(path)
    assert same.keys == sw.keys and same.status == sw.status and same.messages == sw.messages
    np.testing.assert_array_equal(same.parameters, sw.parameters)
    assert same.case_toml == sw.case_toml and same.method == "electroneutral"
    assert same.metadata["nppsim_version"] == sw.metadata["nppsim_version"]
    for a, b in zip(sw.results, same.results, strict=True):
        if a is None:
            assert b is None
            continue
        _assert_same_result(a, b)
        assert a.case_toml == b.case_toml and a.diagnostics == b.diagnostics
    np.testing.assert_array_equal(same.front_depth_nm(), sw.front_depth_nm())
    # the base case is stored and loads back
    assert nppsim.loads_case(same.case_toml).solver.method == "electroneutral"


def test_sweep_file_layout(pool_sweep):
    _, path = pool_sweep
    with h5py.File(path, "r") as h5:
        for attr in ("nppsim_version", "created_utc", "case_toml", "sweep_keys", "interrupted"):
            assert attr in h5.attrs
        assert h5["parameters"].shape == (8, 1)
        assert h5["parameters"].attrs["keys"] == '["species.K.D_cm2_s"]'
        assert list(h5["status"].asstr()[()]).count("ok") == 7
        assert sorted(h5["points"]) == ["0", "1", "2", "3", "5", "6", "7"]
        point = h5["points/0"]
        for name in ("grid/x_centers_nm", "time_s", "fraction/Li", "fraction/K", "front/time_s"):
            assert name in point
        assert "case_toml" in point.attrs


def test_load_result_on_a_sweep_file_says_what_it_is(pool_sweep):
    with pytest.raises(DataFileError, match="sweep file"):
        nppsim.load_result(pool_sweep[1])


def test_load_sweep_on_a_result_file(tmp_path, direct):
    path = direct[0].save(tmp_path / "r.h5")
    with pytest.raises(DataFileError, match="not an nppsim sweep"):
        load_sweep(path)
    assert not is_sweep_file(path)
    with pytest.raises(DataFileError, match="no such file"):
        load_sweep(tmp_path / "missing.h5")


def test_damaged_sweep_files_are_data_file_errors(pool_sweep, tmp_path):
    path = tmp_path / "no_table.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["sweep_keys"] = '["a"]'
    with pytest.raises(DataFileError, match="damaged sweep file"):
        load_sweep(path)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(pool_sweep[1].read_bytes()[:4000])
    with pytest.raises(DataFileError, match=r"truncated\.h5"):
        load_sweep(truncated)
    assert not is_sweep_file(truncated)


def test_damaged_point_of_a_sweep_file_is_one_line_exit_2(pool_sweep, tmp_path, capsys):
    """A point whose arrays have the wrong shape is checked like a result file: DataFileError
    naming the file and the point, and `nppsim plot` exits 2 with one line (no traceback)."""
    import shutil

    from nppsim.cli import main

    bad = tmp_path / "bad_point.h5"
    shutil.copyfile(pool_sweep[1], bad)
    with h5py.File(bad, "r+") as h5:
        name = next(iter(h5["points"]))
        group = h5["points"][name]["fraction"]
        species = next(iter(group))
        del group[species]
        group[species] = np.zeros(3)
    with pytest.raises(DataFileError, match=rf"bad_point\.h5:/points/{name}"):
        load_sweep(bad)
    capsys.readouterr()
    assert main(["plot", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and "/points/" in err


def test_plot_command_draws_a_sweep_file(pool_sweep, tmp_path, capsys):
    out = tmp_path / "sweep.png"
    assert main(["plot", str(pool_sweep[1]), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {out}" in capsys.readouterr().out


def test_plot_sweep_colours_by_the_first_key_and_lists_the_skipped(pool_sweep):
    """7 finished values: a discrete legend (one entry per value, in order, with the unit),
    one profile panel per species, metric panels against the swept value, the failed point
    named in the title."""
    from matplotlib.colors import LogNorm, Normalize

    from nppsim.plot import plot_sweep

    sw, _ = pool_sweep
    fig = plot_sweep(sw)
    data_axes = [ax for ax in fig.axes if ax.get_label().startswith("profiles ")]
    assert [ax.get_label() for ax in data_axes] == ["profiles Li", "profiles K"]
    assert all(len(ax.get_lines()) == 7 for ax in data_axes)
    assert "#4 (failed)" in fig._suptitle.get_text()
    (legend,) = [leg for sub in fig.subfigs for leg in sub.legends]
    texts = [t.get_text() for t in legend.get_texts()]
    good = [d for i, d in enumerate(D_VALUES) if i != BAD_INDEX]
    assert texts == [f"{d:.3g} cm$^2$/s" for d in sorted(good)]
    metric = {ax.get_label(): ax for ax in fig.axes}
    front = metric["front_depth_nm"]
    assert (
        front.get_xlabel() == "D of K$^{+}$ (cm$^2$/s)" and front.get_ylabel() == "front depth (nm)"
    )
    (line,) = front.get_lines()
    np.testing.assert_array_equal(np.sort(line.get_ydata()), np.sort(sw.front_depth_nm()[sw.ok]))
    # 0.5e-16 .. 5e-16 spans exactly one decade: linear colours; wider spans: log colours
    from nppsim.plot import _sweep_norm

    assert type(_sweep_norm(np.array([0.5e-16, 5e-16]))) is Normalize
    assert isinstance(_sweep_norm(np.array([1e-17, 5e-16])), LogNorm)


# ---------------------------------------------------------------------- failures


def test_simulation_failure_keeps_the_partial_result(case):
    """max_steps = 3 stops the solver at once: a SimulationError in the worker."""
    points = [{"solver.max_steps": 3}, {"species.K.D_cm2_s": 2e-16}]
    with cf.ThreadPoolExecutor(1) as pool:
        sw = nppsim.sweep(case, points=points, executor=pool)
    assert sw.status == (STATUS_FAILED, STATUS_OK)
    assert sw.messages[0].startswith("simulation failed:")
    assert "maximum number of steps" in sw.messages[0]
    assert sw.results[0] is not None and not sw.results[0].completed
    assert np.isnan(sw.front_depth_nm()[0]) and np.isfinite(sw.front_depth_nm()[1])
    # explicit points: a key a point leaves unset is NaN in the table
    assert sw.keys == ("solver.max_steps", "species.K.D_cm2_s")
    np.testing.assert_array_equal(sw.parameters, [[3.0, np.nan], [np.nan, 2e-16]])
    assert sw.point(1) == {"species.K.D_cm2_s": 2e-16}


def test_unexpected_worker_exception_is_a_failed_point(case, monkeypatch):
    simulate_module = sys.modules["nppsim.simulate"]  # the module; nppsim.simulate is the function
    real = simulate_module.simulate

    def flaky(case_i, *, method=None, progress=False):
        if case_i.sample.temperature_K > 360.0:
            raise ZeroDivisionError("boom\nsecond line")
        return real(case_i, method=method, progress=progress)

    monkeypatch.setattr(simulate_module, "simulate", flaky)
    with cf.ThreadPoolExecutor(1) as pool:
        sw = nppsim.sweep(case, {"sample.temperature_K": [350.0, 370.0]}, executor=pool)
    assert sw.status == (STATUS_OK, STATUS_FAILED)
    assert sw.messages[1] == "ZeroDivisionError: boom second line"


def test_every_point_invalid(case):
    sw = nppsim.sweep(case, {"species.K.D_cm2_s": [-1.0, -2.0]})
    assert sw.status == (STATUS_FAILED, STATUS_FAILED) and sw.n_ok == 0


def test_bad_arguments(case):
    with pytest.raises(InputError, match="not both"):
        nppsim.sweep(case, {"sample.temperature_K": [300.0]}, points=[{}])
    with pytest.raises(InputError, match="workers"):
        nppsim.sweep(case, {"sample.temperature_K": [300.0]}, workers=0)
    with pytest.raises(InputError, match="method"):
        nppsim.sweep(case, {"sample.temperature_K": [300.0]}, method="fast")
    with pytest.raises(InputError, match="no points"):
        nppsim.sweep(case, points=[])


# ---------------------------------------------------------------------- Ctrl-C


def _interrupt_after(n_done, monkeypatch):
    """Make the sweep's wait loop raise KeyboardInterrupt after `n_done` finished points."""
    real = cf.as_completed

    def as_completed(futures):
        it = real(futures)
        for _ in range(n_done):
            yield next(it)
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_module, "as_completed", as_completed)


def test_ctrl_c_keeps_and_saves_the_finished_points(case, monkeypatch, tmp_path):
    _interrupt_after(2, monkeypatch)
    path = tmp_path / "cut.h5"
    values = {"species.K.D_cm2_s": [1e-16, 2e-16, 3e-16, 4e-16, 5e-16, 6e-16]}
    pool = cf.ThreadPoolExecutor(1)
    with pytest.raises(SweepInterrupted) as info:
        nppsim.sweep(case, values, executor=pool, output=path)
    pool.shutdown(wait=True)
    partial = info.value.partial
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.path == path and partial.interrupted
    assert partial.n_ok >= 2 and partial.n_not_run >= 1
    assert set(partial.status) <= {STATUS_OK, STATUS_NOT_RUN}
    # the points are run in order on one thread: the finished ones come first
    assert partial.status[:2] == (STATUS_OK, STATUS_OK)
    saved = load_sweep(path)
    assert saved.interrupted and saved.status == partial.status
    for i in np.flatnonzero(saved.ok):
        _assert_same_result(saved.results[i], partial.results[i])


def test_cli_ctrl_c_exits_130_and_saves_partial(case, monkeypatch, tmp_path, capsys):
    _interrupt_after(1, monkeypatch)
    monkeypatch.chdir(tmp_path)
    args = ["sweep", str(_case_file(tmp_path, case)), "--workers", "1", "--quiet"]
    code = main([*args, "--vary", "species.K.D_cm2_s=1e-16:4e-16:4"])
    assert code == 130
    err = capsys.readouterr().err
    partial = tmp_path / "fast_sweep.partial.h5"
    assert f"saved to {partial}" in err and "interrupted" in err
    assert "Traceback" not in err
    assert not (tmp_path / "fast_sweep.h5").exists()
    saved = load_sweep(partial)
    assert saved.interrupted and saved.n_ok >= 1 and STATUS_NOT_RUN in saved.status


# ---------------------------------------------------------------------- command line


def test_parse_vary_ranges_lists_and_log_spacing():
    values = parse_vary(["a=1:3:3", "b=1e-16:1e-14:3", LOG_MARKER, "c=5,6.5,7", "d=2:2:1"])
    assert list(values) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(values["a"], [1.0, 2.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(values["b"], [1e-16, 1e-15, 1e-14], rtol=1e-12)
    assert values["c"] == [5, 6.5, 7] and type(values["c"][0]) is int
    assert values["d"] == [2.0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--vary", "species.K.D_cm2_s"], "--vary species.K.D_cm2_s"),
        (["--vary", "species.K.D_cm2_s=1:2"], "START:STOP:NUM"),
        (["--vary", "species.K.D_cm2_s=1:2:x"], "'x' is not a number"),
        (["--vary", "species.K.D_cm2_s=1:2:2.5"], "NUM must be a whole number"),
        (["--vary", "species.K.D_cm2_s=1,,2"], "empty value"),
        (["--log", "--vary", "species.K.D_cm2_s=1:2:3"], "--log: must follow"),
        (["--vary", "species.K.D_cm2_s=1,2", "--log"], "not to a list"),
        (["--vary", "species.K.D_cm2_s=0:1:3", "--log"], "must be > 0"),
        (["--vary", "sample.temperature=300,400"], "did you mean 'temperature_K'"),
        (["--vary", "species.Na.D_cm2_s=1e-16,2e-16"], "unknown species"),
        (["--vary", "sample.temperature_K=1,2", "--workers", "0"], "--workers"),
        (["--vary", "sample.temperature_K=1,2", "--set", "bad"], "bad"),
        (["--vary", "sample.temperature_K=1,2", "-o", "no/dir/s.h5"], "no/dir"),
    ],
)
def test_cli_bad_input_exit_2_one_line(argv, needle, case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(_case_file(tmp_path, case)), *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nppsim: error: "), captured.err
    assert needle in lines[0]
    assert captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.toml"]


def test_cli_sweep_writes_the_grid_and_prints_the_table(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = [
        "sweep", str(_case_file(tmp_path, case)),
        "--vary", "species.Li.sed.fwhm_eV=0.2,0.3",
        "--vary", "species.K.D_cm2_s=1e-16:4e-16:3", "--log",
        "--set", "stage.1.duration_s=2000", "--solver", "electroneutral", "--workers", "2",
        "--plot", "sweep.png",
    ]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    sw = load_sweep(tmp_path / "fast_sweep.h5")
    assert sw.keys == ("species.Li.sed.fwhm_eV", "species.K.D_cm2_s")
    np.testing.assert_allclose(
        sw.parameters,
        [[f, d] for f in (0.2, 0.3) for d in (1e-16, 2e-16, 4e-16)],
        rtol=1e-12,
    )
    assert sw.status == (STATUS_OK,) * 6
    # --set reached every point
    assert all(r.times_s[-1] == pytest.approx(2000.0, rel=1e-12) for r in sw.results)
    lines = captured.out.splitlines()
    assert "status" in lines[0] and "front K (0.5) nm" in lines[0]
    depths = sw.front_depth_nm()
    for i in range(6):
        assert lines[1 + i].split()[-2:] == ["ok", f"{depths[i]:.4g}"]
    assert f"wrote {tmp_path / 'fast_sweep.h5'}" in captured.out
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert captured.err == ""


def test_cli_some_points_failed_exit_0_all_failed_exit_1(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = str(_case_file(tmp_path, case))
    assert main(["sweep", path, "--vary", "species.K.D_cm2_s=1e-16,-1,2e-16", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "nppsim: 1 of 3 points failed" in captured.err
    assert captured.out.strip() == f"wrote {tmp_path / 'fast_sweep.h5'}"
    assert main(["sweep", path, "--vary", "species.K.D_cm2_s=-1,-2", "-o", "bad.h5"]) == 1
    captured = capsys.readouterr()
    assert "nppsim: all 2 points failed" in captured.err and "must be > 0" in captured.err
    assert "point 0 failed" in captured.out
    assert load_sweep(tmp_path / "bad.h5").n_failed == 2


def test_cli_scheduler_without_distributed_exit_2(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    argv = ["sweep", str(_case_file(tmp_path, case)), "--vary", "species.K.D_cm2_s=1e-16,2e-16"]
    assert main([*argv, "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nppsim: error: --scheduler tcp://127.0.0.1:8786: needs the Dask")
    assert len(err.strip().splitlines()) == 1


def test_top_level_names():
    assert nppsim.sweep is sweep_module.sweep
    assert nppsim.load_sweep is load_sweep and nppsim.SweepResult is SweepResult
    assert nppsim.SweepInterrupted is SweepInterrupted


# ---------------------------------------------------------------------- Dask (last: its threads)


def test_dask_in_process_client_gives_the_same_sweep(case, pool_sweep, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    sw_pool, _ = pool_sweep
    path = tmp_path / "dask.h5"
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as client:
        sw = nppsim.sweep(
            case, {"species.K.D_cm2_s": D_VALUES}, executor=client.get_executor(), output=path
        )
    assert sw.status == sw_pool.status and sw.messages == sw_pool.messages
    for a, b in zip(sw.results, sw_pool.results, strict=True):
        if a is not None:
            _assert_same_result(a, b)
    out = tmp_path / "dask.png"
    assert main(["plot", str(path), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
