"""A catalogue of malformed inputs, each run through the command line.

Every entry is a bad case file, profile file, --set value or result file (under bad_inputs/,
or made in a temporary folder where it cannot live in the repository: a truncated HDF5 file,
a file without read permission). Each must give exit status 2 and exactly one line on stderr,
``nppsim: error: <file>: <key, line or column>: <what is wrong>``, with no traceback, and must
leave an existing output file byte for byte as it was. The profile entries are also read with
`nppsim.read_profile` directly, and a handful of entries run in a real `python -m nppsim`
subprocess. The entries are in catalogue_cases.py (case files, profiles, --set values) and
catalogue_results.py (result files, outputs that clash with inputs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nppsim
from nppsim.cli import main
from nppsim.errors import DataFileError
from tests.robustness.catalogue_cases import (
    BAD,
    CASE_ENTRIES,
    LATE_VALUE_ENTRIES,
    PROFILE_ENTRIES,
    PROFILES,
    Entry,
    profile_entry,
)
from tests.robustness.catalogue_results import (
    INITIAL_ENTRIES,
    OUTPUT_ENTRIES,
    RESULT_ENTRIES,
    _damaged,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: what the output file holds before the failed run; it must hold exactly this afterwards
SENTINEL = b"old output: a failed run must not touch this file\n"
EXIT_INPUT = 2

# ---------------------------------------------------------------------- the catalogue


#: every entry, in the order of the original single list: ids and entries as defined there
CATALOGUE: dict[str, Entry] = {
    **CASE_ENTRIES,
    **RESULT_ENTRIES,
    **LATE_VALUE_ENTRIES,
    **INITIAL_ENTRIES,
    **OUTPUT_ENTRIES,
}
for _name in PROFILE_ENTRIES:
    CATALOGUE[f"profile-{_name.removesuffix('.csv')}"] = profile_entry(_name)

#: entries also run in a real subprocess (python -m nppsim)
SUBPROCESS = (
    "run-output-is-case-symlink",
    "syntax-missing-equals",
    "unknown-key",
    "grid-too-many-cells",
    "set-not-a-number",
    "data-folder",
    "profile-ragged_rows",
    "profile-utf16_without_bom",
    "result-truncated-half",
)


def test_catalogue_is_large_and_its_files_exist():
    assert len(CATALOGUE) >= 45
    used = set()
    for entry in CATALOGUE.values():
        for arg in entry.argv:
            if arg.startswith("{bad}/"):
                used.add(arg.removeprefix("{bad}/"))
    files = {p.relative_to(BAD).as_posix() for p in BAD.rglob("*") if p.is_file()}
    # every file in bad_inputs/ is used (the profile entries name theirs with --set)
    used |= {f"profiles/{name}" for name in PROFILE_ENTRIES} | {"profiles/good.csv"}
    # profile files named by the [[data]] blocks of the case entries
    used |= {"profiles/counts.csv", "profiles/counts_cut.csv", "profiles/matrix_zero.csv"}
    assert files - used == set()


def test_the_valid_bases_run(tmp_path, capsys):
    """The entries break one thing each in these valid files."""
    out = tmp_path / "ok.h5"
    assert main(["run", str(BAD / "valid_case.toml"), "-o", str(out), "--quiet"]) == 0
    assert nppsim.load_result(out).completed
    case = nppsim.load_case(BAD / "valid_fit_case.toml")
    prof = nppsim.read_profile(case.data[0].file)
    assert prof.species == ("Li", "K") and prof.n_points == 5


# ---------------------------------------------------------------------- running an entry


def _fill(text: str, tmp: Path, out: Path) -> str:
    return text.format(bad=BAD, tmp=tmp, out=out)


def _setup(entry: Entry, tmp_path: Path) -> tuple[list[str], Path | None, str, Path]:
    """(argv, output file holding SENTINEL or None, named file, output folder)."""
    if entry.root_skips and hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root reads files without read permission")
    work = tmp_path / "work"
    work.mkdir()
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / (entry.output or "unused")
    if entry.output:
        out.write_bytes(SENTINEL)
    if entry.prepare is not None:
        entry.prepare(work)
    argv = [_fill(a, work, out) for a in entry.argv]
    return argv, out if entry.output else None, _fill(entry.named, work, out), outdir


def check_error_line(stderr: str, named: str, fragments: tuple[str, ...]) -> str:
    """Exactly one line, ``nppsim: error: <named>...`` with every fragment, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith(f"nppsim: error: {named}"), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def check_outputs_untouched(out: Path | None, outdir: Path) -> None:
    if out is not None:
        assert out.read_bytes() == SENTINEL
    expected = {out.name} if out is not None else set()
    assert {p.name for p in outdir.iterdir()} == expected  # no temporary or partial files


def _params(ids: list[str] | tuple[str, ...]) -> list:
    return [
        pytest.param(i, marks=pytest.mark.xfail(strict=True, reason=CATALOGUE[i].xfail))
        if CATALOGUE[i].xfail
        else i
        for i in ids
    ]


@pytest.mark.parametrize("entry_id", _params(list(CATALOGUE)))
def test_catalogue_entry_exit_2_with_one_line(entry_id, tmp_path, capsys):
    entry = CATALOGUE[entry_id]
    argv, out, named, outdir = _setup(entry, tmp_path)
    code = main(argv)
    captured = capsys.readouterr()
    assert code == EXIT_INPUT, captured.err
    check_error_line(captured.err, named, entry.fragments)
    assert captured.out == ""
    check_outputs_untouched(out, outdir)


COLLISIONS = [i for i in CATALOGUE if CATALOGUE[i].output == "" and "-is-" in i]


@pytest.mark.parametrize("entry_id", COLLISIONS)
def test_output_equal_to_an_input_touches_nothing(entry_id, tmp_path, capsys):
    """The inputs (and the would-be outputs) are byte for byte as before, and nothing new
    appears beside them: the check comes before any work."""
    entry = CATALOGUE[entry_id]
    argv, _, _, _ = _setup(entry, tmp_path)
    work = tmp_path / "work"
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    assert main(argv) == EXIT_INPUT
    capsys.readouterr()
    after = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("name", list(PROFILE_ENTRIES))
def test_profile_entry_with_read_profile(name):
    """The same files through the Python API: one DataFileError line naming file and place."""
    extra, fragments = PROFILE_ENTRIES[name]
    path = PROFILES / name
    kwargs = {"columns": {"Li": "Li", "K": "K"}, "depth_column": "depth_nm", **extra}
    with pytest.raises(DataFileError) as info:
        nppsim.read_profile(path, **kwargs)
    msg = str(info.value)
    assert msg.isprintable() and msg.startswith(f"{path}: "), msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


@pytest.mark.parametrize("entry_id", SUBPROCESS)
def test_catalogue_entry_in_a_subprocess(entry_id, tmp_path):
    """`python -m nppsim`: status 2, one stderr line, no traceback, the output untouched."""
    entry = CATALOGUE[entry_id]
    argv, out, named, outdir = _setup(entry, tmp_path)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "nppsim", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == EXIT_INPUT, proc.stderr
    check_error_line(proc.stderr, named, entry.fragments)
    check_outputs_untouched(out, outdir)


@pytest.mark.parametrize("signature", [b"OHDR", b"FRHP", b"BTHD", b"FHDB"])
def test_damaged_result_with_load_result(tmp_path, signature):
    """`nppsim.load_result` on a result whose metadata checksum fails: one DataFileError line
    (h5py raises KeyError or RuntimeError there, not OSError)."""
    _damaged(signature)(tmp_path)
    path = tmp_path / "result_in.h5"
    with pytest.raises(DataFileError) as info:
        nppsim.load_result(path)
    msg = str(info.value)
    assert msg.isprintable() and msg.startswith(f"{path}: unreadable nppsim result ("), msg
