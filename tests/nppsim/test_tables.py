"""Sweep and result tables: metrics per point, pandas DataFrame, xarray Datasets, CSV export."""

from __future__ import annotations

import concurrent.futures as cf
import csv

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import nppsim
from nppsim.cli import main
from nppsim.export import export_fit, export_result, export_sweep
from nppsim.tables import grid_axes, plateau_fraction, result_metrics, sweep_metrics

pd = pytest.importorskip("pandas")
xr = pytest.importorskip("xarray")

FAST = {"solver.method": "electroneutral", "stage.1.duration_s": 4.0e3, "solver.n_output": 4}
FWHM = [0.2, 0.3]
D_K = [1e-16, 2e-16, 4e-16]


@pytest.fixture(scope="module")
def case():
    return nppsim.default_case().with_values(FAST)


@pytest.fixture(scope="module")
def grid_sweep(case, tmp_path_factory):
    """A 2 x 3 sweep (SED width x D of K), run in this process, saved to a file."""
    path = tmp_path_factory.mktemp("tables") / "grid.h5"
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        sw = nppsim.sweep(
            case,
            {"species.Li.sed.fwhm_eV": FWHM, "species.K.D_cm2_s": D_K},
            executor=pool,
            output=path,
        )
    return sw, path


def test_metrics_of_one_result_follow_their_definitions(grid_sweep):
    """Front depth = Result.front_depth_nm at 0.5; plateau = median Li fraction between 0.25
    and 0.75 of the front depth; charge = the last ionic charge of the front record."""
    sw, _ = grid_sweep
    res = sw.results[0]
    m = result_metrics(res)
    x_f = res.front_depth_nm("K", 0.5)
    assert m["front_depth_nm"] == x_f
    window = (res.depth_nm >= 0.25 * x_f) & (res.depth_nm <= 0.75 * x_f)
    assert window.sum() > 10
    assert m["plateau_fraction"] == np.median(res.final_fraction("Li")[window])
    assert m["charge_C_cm2"] == res.front.charge_C_cm2[-1]
    assert np.isnan(plateau_fraction(res, float("nan")))


def test_plateau_rises_with_the_sed_width_and_with_d_foreign(grid_sweep):
    """Physics of the plateau (MODEL.md section 1): a wider SED and a faster foreign ion leave
    more native ions behind."""
    sw, _ = grid_sweep
    ds = sw.to_xarray()
    plateau = ds["plateau_fraction"]
    assert np.all(plateau.sel({"species.Li.sed.fwhm_eV": 0.3}) > plateau.sel(
        {"species.Li.sed.fwhm_eV": 0.2}))  # fmt: skip
    assert np.all(np.diff(plateau.sel({"species.Li.sed.fwhm_eV": 0.3}).values) > 0)


def test_to_xarray_of_a_two_parameter_sweep_has_the_keys_as_dimensions(grid_sweep):
    sw, _ = grid_sweep
    ds = sw.to_xarray()
    assert ds["fraction_K"].dims == ("species.Li.sed.fwhm_eV", "species.K.D_cm2_s", "depth_nm")
    assert ds.sizes["species.Li.sed.fwhm_eV"] == 2 and ds.sizes["species.K.D_cm2_s"] == 3
    np.testing.assert_array_equal(ds["species.K.D_cm2_s"].values, D_K)
    np.testing.assert_array_equal(ds["depth_nm"].values, sw.results[0].depth_nm)
    # every point sits at its own coordinates
    for i in range(sw.n_points):
        p = sw.point(i)
        at = ds.sel(p)
        np.testing.assert_array_equal(at["fraction_Li"].values, sw.results[i].final_fraction("Li"))
        assert at["front_depth_nm"].item() == sw.front_depth_nm()[i]
        assert at["status"].item() == "ok"


def test_explicit_points_off_a_grid_get_a_point_dimension(case):
    with cf.ThreadPoolExecutor(max_workers=1) as pool:
        sw = nppsim.sweep(
            case,
            points=[{"species.K.D_cm2_s": 1e-16}, {"species.K.D_cm2_s": 1e-16,
                                                    "species.Li.sed.fwhm_eV": 0.3}],
            executor=pool,
        )  # fmt: skip
    assert grid_axes(sw) is None
    ds = sw.to_xarray()
    assert ds["fraction_K"].dims == ("point", "depth_nm")
    assert ds["species.K.D_cm2_s"].dims == ("point",)


def test_to_dataframe_one_row_per_point(grid_sweep):
    sw, _ = grid_sweep
    df = sw.to_dataframe()
    assert list(df.columns) == [*sw.keys, "status", "message", "front_depth_nm",
                                "plateau_fraction", "charge_C_cm2"]  # fmt: skip
    assert len(df) == sw.n_points and df.index.name == "point"
    np.testing.assert_array_equal(df["species.K.D_cm2_s"], sw.values("species.K.D_cm2_s"))
    np.testing.assert_array_equal(df["front_depth_nm"], sw.front_depth_nm())
    np.testing.assert_array_equal(df["plateau_fraction"], sweep_metrics(sw)["plateau_fraction"])


def test_result_to_xarray_holds_every_snapshot(grid_sweep):
    res = grid_sweep[0].results[0]
    ds = res.to_xarray()
    assert ds["fraction_K"].dims == ("time_s", "depth_nm")
    np.testing.assert_array_equal(ds["fraction_K"].values, res.fraction("K"))
    np.testing.assert_array_equal(ds["potential_V"].values, res.potential_V)
    np.testing.assert_array_equal(ds["front_current_A_cm2"].values, res.front.current_A_cm2)
    np.testing.assert_array_equal(ds["front_time_s"].values, res.front.time_s)


# ---------------------------------------------------------------------- CSV export


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_export_result_round_trips_the_hdf5_values(grid_sweep, tmp_path):
    """Every number of the CSV tables equals the HDF5 dataset bit for bit."""
    res = grid_sweep[0].results[1]
    h5path = tmp_path / "r.h5"
    res.save(h5path)
    assert main(["export", str(h5path), "--csv", str(tmp_path / "tables")]) == 0
    out = tmp_path / "tables"
    with h5py.File(h5path, "r") as h5:
        x = h5["grid/x_centers_nm"][()]
        t = h5["time_s"][()]
        snap = np.loadtxt(out / "snapshots.csv", delimiter=",", skiprows=1)
        header, _ = _read_csv(out / "snapshots.csv")
        assert header == ["time_s", "depth_nm", "Li_fraction", "K_fraction", "potential_V"]
        np.testing.assert_array_equal(snap[:, 0], np.repeat(t, x.size))
        np.testing.assert_array_equal(snap[:, 1], np.tile(x, t.size))
        np.testing.assert_array_equal(snap[:, 3], h5["fraction/K"][()].ravel())
        np.testing.assert_array_equal(snap[:, 4], h5["potential_V"][()].ravel())
        wide = np.loadtxt(out / "profiles_Li.csv", delimiter=",", skiprows=1)
        np.testing.assert_array_equal(wide[:, 1:].T, h5["fraction/Li"][()])
        front = np.loadtxt(out / "front.csv", delimiter=",", skiprows=1)
        header, _ = _read_csv(out / "front.csv")
        for j, name in enumerate(header):
            np.testing.assert_array_equal(front[:, j], h5[f"front/{name}"][()])
        times = np.loadtxt(out / "times.csv", delimiter=",", skiprows=1)
        np.testing.assert_array_equal(times[:, 1], t)
    # the final profile reads back with the measured-profile reader (what a fit would use)
    final = nppsim.read_profile(out / "final_profile.csv", columns={"K": "K_fraction"})
    np.testing.assert_array_equal(final.values["K"], res.final_fraction("K"))


def test_export_sweep_table_and_profiles(grid_sweep, tmp_path):
    sw, path = grid_sweep
    assert main(["export", str(path), "--csv", str(tmp_path / "sw")]) == 0
    header, rows = _read_csv(tmp_path / "sw" / "sweep_table.csv")
    assert header[:3] == ["point", *sw.keys]
    loaded = nppsim.load_sweep(path)
    depth = np.array([float(r[header.index("front_depth_nm")]) for r in rows])
    np.testing.assert_array_equal(depth, loaded.front_depth_nm())
    np.testing.assert_array_equal([float(r[2]) for r in rows], loaded.values(sw.keys[1]))
    prof = np.loadtxt(tmp_path / "sw" / "sweep_final_K.csv", delimiter=",", skiprows=1)
    for i in range(sw.n_points):
        np.testing.assert_array_equal(prof[:, 1 + i], loaded.results[i].final_fraction("K"))


def test_export_refuses_a_file_as_folder(grid_sweep, tmp_path, capsys):
    _, path = grid_sweep
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["export", str(path), "--csv", str(blocker)]) == 2
    assert "is a file" in capsys.readouterr().err
    with pytest.raises(nppsim.errors.InputError):
        export_result(grid_sweep[0].results[0], tmp_path / "missing" / "deeper")
    assert callable(export_fit) and callable(export_sweep)
