"""The catalogue's files that nppsim writes and reads back, and outputs that clash with inputs.

The entries of the malformed-input catalogue run by test_catalogue.py that give `nppsim plot`
or `--initial` a result (HDF5) or fit file that is not one, truncated, damaged or with
impossible values, made at run time in a temporary folder from a good result; and the command
lines whose output would replace one of their inputs or another output (refused before any
work). With the helpers that make those files (`_good_result`, `_truncated`, `_edited`,
`_damaged`, ...). A plain data module, not collected as tests; the `Entry` record and the case,
profile and --set entries are in catalogue_cases.py.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

import nppsim
from tests.robustness.catalogue_cases import BAD, PROFILES, Entry

# ---- files made at run time: results (HDF5)


@functools.cache
def _good_result_bytes() -> bytes:
    case = nppsim.load_case(BAD / "valid_case.toml")
    with tempfile.TemporaryDirectory() as folder:
        return nppsim.simulate(case).save(Path(folder) / "good.h5").read_bytes()


def _good_result(tmp: Path) -> Path:
    path = tmp / "good.h5"
    path.write_bytes(_good_result_bytes())
    return path


def _truncated(size: Callable[[int], int]) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        data = _good_result(tmp).read_bytes()
        (tmp / "result_in.h5").write_bytes(data[: size(len(data))])

    return prepare


def _edited(edit: Callable[[h5py.File], None]) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        shutil.copyfile(_good_result(tmp), tmp / "result_in.h5")
        with h5py.File(tmp / "result_in.h5", "a") as h5:
            edit(h5)

    return prepare


def _replace(name: str, data: object) -> Callable[[h5py.File], None]:
    def edit(h5: h5py.File) -> None:
        del h5[name]
        h5[name] = data

    return edit


def _replace_with_group(name: str) -> Callable[[h5py.File], None]:
    def edit(h5: h5py.File) -> None:
        del h5[name]
        h5.create_group(name)

    return edit


def _damaged(signature: bytes) -> Callable[[Path], None]:
    """The good result with one byte of the first HDF5 structure `signature` (b"OHDR": the root
    object header; b"FRHP": the heap of the root attributes) inverted: its checksum fails."""

    def prepare(tmp: Path) -> None:
        data = bytearray(_good_result(tmp).read_bytes())
        at = data.index(signature) + 6
        data[at] ^= 0xFF
        (tmp / "result_in.h5").write_bytes(bytes(data))

    return prepare


def _write(name: str, content: bytes) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        (tmp / name).write_bytes(content)

    return prepare


def plot_entry(prepare: Callable[[Path], None] | None, *fragments: str, source: str = "") -> Entry:
    source = source or "{tmp}/result_in.h5"
    return Entry(("plot", source, "-o", "{out}"), source, fragments, "figure.png", prepare)


def _folder(tmp: Path) -> None:
    (tmp / "folder.h5").mkdir()


# ---- outputs that would replace an input (or each other): every file made in {tmp} must be
# byte for byte the same afterwards (test_output_equal_to_an_input_touches_nothing)


def _case_copy(tmp: Path) -> None:
    shutil.copyfile(BAD / "valid_case.toml", tmp / "case.toml")
    (tmp / "sub").mkdir()
    (tmp / "link.toml").symlink_to(tmp / "case.toml")
    os.link(tmp / "case.toml", tmp / "hard.toml")


def _fit_copy(tmp: Path) -> None:
    shutil.copyfile(BAD / "valid_fit_case.toml", tmp / "case.toml")
    (tmp / "profiles").mkdir()
    shutil.copyfile(PROFILES / "good.csv", tmp / "profiles" / "good.csv")


def _good_result_as(name: str) -> Callable[[Path], None]:
    def prepare(tmp: Path) -> None:
        shutil.copyfile(_good_result(tmp), tmp / name)

    return prepare


def _set_last_snapshot(dataset: str, value: float) -> Callable[[h5py.File], None]:
    """The good result with the last snapshot of `dataset` set to `value` in its first cells."""

    def edit(h5: h5py.File) -> None:
        h5[dataset][-1, :3] = value

    return edit


def collision(argv: tuple[str, ...], named: str, *fragments: str, prepare=_case_copy) -> Entry:
    return Entry(argv, named, fragments, output="", prepare=prepare)


RUN_VALID = ("run", "{bad}/valid_case.toml", "--quiet")
INITIAL = (*RUN_VALID, "-o", "{out}", "--initial", "{tmp}/result_in.h5")


RESULT_ENTRIES: dict[str, Entry] = {
    # ---- results for nppsim plot: not HDF5, truncated, missing groups, damaged datasets
    "result-text": plot_entry(
        _write("result_in.h5", b"depth_nm,Li,K\n1,0.1,0.9\n"), "not an HDF5 file"
    ),
    "result-empty": plot_entry(_write("result_in.h5", b""), "not an HDF5 file"),
    "result-missing": plot_entry(None, "no such file", source="{tmp}/no_result.h5"),
    "result-folder": plot_entry(_folder, "not a file", source="{tmp}/folder.h5"),
    "result-truncated-half": plot_entry(
        _truncated(lambda n: n // 2), "unreadable nppsim result", "truncated file"
    ),
    "result-truncated-head": plot_entry(_truncated(lambda n: 600), "unreadable nppsim result"),
    "result-no-fraction": plot_entry(
        _edited(lambda h5: h5.__delitem__("fraction")), "damaged nppsim result (missing"
    ),
    "result-no-grid": plot_entry(
        _edited(lambda h5: h5.__delitem__("grid")),
        "not an nppsim result (missing grid/x_centers_nm, grid/x_faces_nm)",
    ),
    "result-no-species-attr": plot_entry(
        _edited(lambda h5: h5.attrs.__delitem__("species")),
        "not an nppsim result (missing species)",
    ),
    "result-time-group": plot_entry(
        _edited(_replace_with_group("time_s")), "damaged nppsim result (/time_s is not a dataset)"
    ),
    "result-time-2d": plot_entry(
        _edited(_replace("time_s", np.zeros((2, 2)))),
        "damaged nppsim result (/time_s must be a 1-D array of numbers",
    ),
    "result-time-text": plot_entry(
        _edited(_replace("time_s", np.array([b"a", b"b"]))),
        "damaged nppsim result (/time_s must be a 1-D array of numbers",
    ),
    "result-potential-shape": plot_entry(
        _edited(_replace("potential_V", np.zeros(3))),
        "damaged nppsim result (/potential_V must be a 2-D array",
    ),
    "result-faces-length": plot_entry(
        _edited(_replace("grid/x_faces_nm", np.arange(3.0))),
        "damaged nppsim result (/grid/x_faces_nm has 3 values",
    ),
    "result-species-not-list": plot_entry(
        _edited(lambda h5: h5.attrs.__setitem__("species", "5")), "unreadable nppsim result"
    ),
    "result-wall-array": plot_entry(
        _edited(lambda h5: h5.attrs.__setitem__("wall_s", np.arange(3.0))),
        "unreadable nppsim result",
    ),
    "result-versions-list": plot_entry(
        _edited(lambda h5: h5.attrs.__setitem__("versions", "[1, 2]")),
        "damaged nppsim result (attribute versions must be a JSON object)",
    ),
    "result-damaged-root-header": Entry(
        ("plot", "{tmp}/result_in.h5", "-o", "{out}"),
        "{tmp}/result_in.h5",
        ("unreadable nppsim result", "checksum"),
        "figure.png",
        _damaged(b"OHDR"),
    ),
    "result-damaged-attribute-heap": Entry(
        ("plot", "{tmp}/result_in.h5", "-o", "{out}"),
        "{tmp}/result_in.h5",
        ("unreadable nppsim result", "checksum"),
        "figure.png",
        _damaged(b"FRHP"),
    ),
}

INITIAL_ENTRIES: dict[str, Entry] = {
    # ---- round two (issue 17): values that passed validation and failed later (--initial)
    "initial-nan-fraction": Entry(
        INITIAL,
        "{tmp}/result_in.h5",
        ("the last snapshot's K fraction is nan at depth",),
        prepare=_edited(_set_last_snapshot("fraction/K", np.nan)),
    ),
    "initial-negative-fraction": Entry(
        INITIAL,
        "{tmp}/result_in.h5",
        ("the last snapshot's Li fraction is -0.5",),
        prepare=_edited(_set_last_snapshot("fraction/Li", -0.5)),
    ),
    "initial-50x-fraction": Entry(
        INITIAL,
        "{tmp}/result_in.h5",
        ("the last snapshot's K fraction is 50 ", "in [0, 10]"),
        prepare=_edited(_set_last_snapshot("fraction/K", 50.0)),
    ),
    "initial-nan-potential": Entry(
        INITIAL,
        "{tmp}/result_in.h5",
        ("the last snapshot's potential is nan",),
        prepare=_edited(_set_last_snapshot("potential_V", np.nan)),
    ),
}

OUTPUT_ENTRIES: dict[str, Entry] = {
    # ---- an output that is an input, or another output: refused before any work
    "run-output-is-case": collision(
        ("run", "{tmp}/case.toml", "-o", "{tmp}/case.toml"),
        "{tmp}/case.toml",
        "the result would overwrite the case file",
    ),
    "run-output-is-case-symlink": collision(
        ("run", "{tmp}/case.toml", "-o", "{tmp}/link.toml"),
        "{tmp}/link.toml",
        "the result would overwrite the case file",
    ),
    "run-output-is-case-hard-link": collision(
        ("run", "{tmp}/case.toml", "-o", "{tmp}/hard.toml"),
        "{tmp}/hard.toml",
        "the result would overwrite the case file",
    ),
    "run-output-is-case-dotdot": collision(
        ("run", "{tmp}/case.toml", "-o", "{tmp}/sub/../case.toml"),
        "{tmp}/sub/../case.toml",
        "the result would overwrite the case file",
    ),
    "run-csv-is-case": collision(
        ("run", "{tmp}/case.toml", "-o", "{tmp}/r.h5", "--csv", "{tmp}/case.toml"),
        "{tmp}/case.toml",
        "the profile would overwrite the case file",
    ),
    "run-csv-is-output": collision(
        ("run", "{tmp}/case.toml", "-o", "{tmp}/x.h5", "--csv", "{tmp}/x.h5"),
        "{tmp}/x.h5",
        "the profile and the result would be the same file",
    ),
    "run-plot-is-output": collision(
        ("run", "{tmp}/case.toml", "-o", "{tmp}/y.png", "--plot", "{tmp}/y.png"),
        "{tmp}/y.png",
        "the figure and the result would be the same file",
    ),
    "run-output-is-initial": collision(
        ("run", "{bad}/valid_case.toml", "--initial", "{tmp}/good.h5", "-o", "{tmp}/good.h5"),
        "{tmp}/good.h5",
        "the result would overwrite the initial result",
        prepare=_good_result,
    ),
    "fit-output-is-data": collision(
        (
            "fit",
            "{tmp}/case.toml",
            "--free",
            "species.K.D_cm2_s",
            "-o",
            "{tmp}/profiles/good.csv",
            "--quiet",
            "--no-check",
        ),
        "{tmp}/profiles/good.csv",
        "the fit would overwrite the data file of [[data]] 1",
        prepare=_fit_copy,
    ),
    "invert-output-is-data": collision(
        (
            "invert",
            "{tmp}/case.toml",
            "--species",
            "Li",
            "-o",
            "{tmp}/profiles/good.csv",
            "--quiet",
        ),
        "{tmp}/profiles/good.csv",
        "the inversion would overwrite the data file of [[data]] 1",
        prepare=_fit_copy,
    ),
    "fit-output-is-case": collision(
        ("fit", "{tmp}/case.toml", "--free", "species.K.D_cm2_s", "-o", "{tmp}/case.toml"),
        "{tmp}/case.toml",
        "the fit would overwrite the case file",
        prepare=_fit_copy,
    ),
    "sweep-output-is-case": collision(
        (
            "sweep",
            "{tmp}/case.toml",
            "--vary",
            "sample.temperature_K=340,350",
            "-o",
            "{tmp}/case.toml",
        ),
        "{tmp}/case.toml",
        "the sweep would overwrite the case file",
    ),
    "plot-output-is-source": collision(
        ("plot", "{tmp}/r.png", "-o", "{tmp}/r.png"),
        "{tmp}/r.png",
        "the figure would overwrite the plotted file",
        prepare=_good_result_as("r.png"),
    ),
    "fit-json-broken": plot_entry(
        _write("fit_in.json", b'{"success": true, "parameters": [{"key": '),
        "not an nppsim fit file",
        source="{tmp}/fit_in.json",
    ),
}
