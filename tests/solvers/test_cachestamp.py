"""The stamp of the kernels' sources beside numba's cache (solvers/cachestamp.py): an edit of a
module the time loops inline deletes the cached kernels, a matching stamp keeps them, and no
failure of the file system reaches the import."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from solvers import cachestamp

ROOT = cachestamp.PACKAGE_DIR.parent
#: numba's names of cache files of functions of the solvers modules, and two foreign files
OWN_FILES = (
    "kernels.advance-181.py311.nbi",
    "kernels.advance-181.py311.1.nbc",
    "bdf.predict-108.py311.2.nbc",
    "electroneutral_kernels.advance-193.py312.nbi",
)
FOREIGN_FILES = ("notes.f-1.py311.nbi", "kernels.advance-181.py311.nbi.tmp.0123")


def _copy_project(tmp_path: Path) -> Path:
    """A copy of solvers/*.py and sed/*.py under tmp_path; returns the solvers copy."""
    for package in ("solvers", "sed"):
        (tmp_path / package).mkdir()
        for src in (ROOT / package).glob("*.py"):
            shutil.copy(src, tmp_path / package / src.name)
    return tmp_path / "solvers"


def _fill(cache_dir: Path) -> None:
    cache_dir.mkdir(exist_ok=True)
    for name in OWN_FILES + FOREIGN_FILES:
        (cache_dir / name).write_bytes(b"x")


def _present(cache_dir: Path) -> set[str]:
    return {p.name for p in cache_dir.iterdir()} - {cachestamp.STAMP_NAME}


def _imported_project_modules(path: Path) -> set[str]:
    """Dotted names of the project modules (solvers, sed, nppsim, fitting) imported by `path`."""
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # imports under `if TYPE_CHECKING:` are for annotations only: never executed
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top not in ("solvers", "sed", "nppsim", "fitting"):
                continue
            for alias in node.names:  # `from solvers import bdf` imports the module solvers.bdf
                sub = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").exists()
                found.add(sub if is_module else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in ("solvers", "sed")}
    return found


def test_the_stamp_covers_every_project_module_the_kernels_import():
    """Every module imported (transitively) by a kernel module is hashed: a kernel module
    importing a value from an unlisted module would let its edits load stale kernels."""
    hashed = {p.resolve() for p in cachestamp.kernel_sources()}
    names = {p.name for p in hashed}
    assert {"kernels.py", "electroneutral_kernels.py", "bdf.py", "stepping.py"} <= names
    assert ROOT / "sed" / "table.py" in hashed
    for path in hashed:
        for module in _imported_project_modules(path):
            if module in ("solvers", "sed"):  # the packages' __init__: no kernel code
                continue
            target = (ROOT / Path(*module.split("."))).with_suffix(".py").resolve()
            assert target in hashed, f"{path.name} imports {module}, which the stamp misses"


def test_an_edit_of_an_inlined_module_deletes_the_cache_and_a_matching_stamp_keeps_it(
    tmp_path,
):
    pkg = _copy_project(tmp_path)
    cache = tmp_path / "cache"
    _fill(cache)
    # no stamp yet (caches older than the stamp): deleted, stamp written
    assert cachestamp.refresh(pkg, cache_dir=cache) == "cleared"
    assert _present(cache) == set(FOREIGN_FILES)
    stamp = (cache / cachestamp.STAMP_NAME).read_text()
    assert stamp.strip() == cachestamp.source_stamp(cachestamp.kernel_sources(pkg), tmp_path)
    # matching stamp: everything kept
    _fill(cache)
    assert cachestamp.refresh(pkg, cache_dir=cache) == "fresh"
    assert _present(cache) == set(OWN_FILES + FOREIGN_FILES)
    # an edit of a module inlined into both time loops, or of sed/table.py: deleted
    for edited in (pkg / "bdf.py", tmp_path / "sed" / "table.py", pkg / "kernels_mobility.py"):
        with edited.open("a", encoding="utf-8") as f:
            f.write("\n# edited\n")
        _fill(cache)
        assert cachestamp.refresh(pkg, cache_dir=cache) == "cleared", edited
        assert _present(cache) == set(FOREIGN_FILES)
        assert (cache / cachestamp.STAMP_NAME).read_text() != stamp
        stamp = (cache / cachestamp.STAMP_NAME).read_text()
    # an edit of a Python-only driver compiles nothing anew
    with (pkg / "npp.py").open("a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    _fill(cache)
    assert cachestamp.refresh(pkg, cache_dir=cache) == "fresh"
    assert _present(cache) == set(OWN_FILES + FOREIGN_FILES)


def test_a_changed_hash_clears_the_real_package_stamp_in_a_given_directory(tmp_path, monkeypatch):
    """The installed package, its hash monkeypatched: a mismatch deletes, a match keeps."""
    _fill(tmp_path)
    (tmp_path / cachestamp.STAMP_NAME).write_text("old\n")
    monkeypatch.setattr(cachestamp, "source_stamp", lambda paths, root: "old")
    assert cachestamp.refresh(cache_dir=tmp_path) == "fresh"
    assert _present(tmp_path) == set(OWN_FILES + FOREIGN_FILES)
    monkeypatch.setattr(cachestamp, "source_stamp", lambda paths, root: "new")
    assert cachestamp.refresh(cache_dir=tmp_path) == "cleared"
    assert _present(tmp_path) == set(FOREIGN_FILES)
    assert (tmp_path / cachestamp.STAMP_NAME).read_text() == "new\n"


def test_unwritable_or_missing_cache_directories_never_raise(tmp_path, monkeypatch):
    """A file that cannot be deleted leaves the old stamp (the next import tries again); a
    stamp that cannot be written leaves no temporary file; no directory at all, or numba
    finding no place, is "failed", never an exception."""
    _fill(tmp_path)
    (tmp_path / cachestamp.STAMP_NAME).write_text("old\n")
    monkeypatch.setattr(cachestamp, "source_stamp", lambda paths, root: "new")

    def refuse(self, missing_ok=False):
        raise PermissionError(13, "Permission denied", str(self))

    with monkeypatch.context() as m:
        m.setattr(Path, "unlink", refuse)
        assert cachestamp.refresh(cache_dir=tmp_path) == "failed"
    assert (tmp_path / cachestamp.STAMP_NAME).read_text() == "old\n"
    assert _present(tmp_path) == set(OWN_FILES + FOREIGN_FILES)

    def no_rename(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    with monkeypatch.context() as m:
        m.setattr(cachestamp.os, "replace", no_rename)
        assert cachestamp.refresh(cache_dir=tmp_path) == "failed"
    assert (tmp_path / cachestamp.STAMP_NAME).read_text() == "old\n"
    assert not [p for p in tmp_path.iterdir() if cachestamp.STAMP_NAME + ".tmp" in p.name]

    assert cachestamp.refresh(cache_dir=tmp_path / "absent") == "failed"

    def no_locator(package_dir=None):
        raise RuntimeError("cannot cache function: no locator available")

    monkeypatch.setattr(cachestamp, "numba_cache_dir", no_locator)
    assert cachestamp.refresh() == "failed"


def test_a_read_only_cache_directory_does_not_raise(tmp_path):
    """With real permissions (skipped as root, who may write anyway)."""
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    _fill(tmp_path)
    tmp_path.chmod(0o555)
    try:
        assert cachestamp.refresh(cache_dir=tmp_path) == "failed"
    finally:
        tmp_path.chmod(0o755)


def test_the_located_directory_is_where_numba_caches_the_time_loops(tmp_path, monkeypatch):
    """numba's own locator rules: the package's __pycache__ (here, writable), NUMBA_CACHE_DIR
    when set, the user-wide directory when the package's is not writable; in each case the
    directory of the time loops' cache files."""
    from numba.core import caching, config

    from solvers import electroneutral_kernels, kernels

    def numba_dir(dispatcher) -> Path:
        return Path(caching.FunctionCache(dispatcher.py_func).cache_path)

    here = cachestamp.numba_cache_dir()
    assert here == Path(kernels.advance._cache.cache_path)
    assert here == Path(electroneutral_kernels.advance._cache.cache_path)

    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "numba_cache_dir"))
    located = cachestamp.numba_cache_dir()
    assert located.parent == tmp_path / "numba_cache_dir"
    assert located == numba_dir(kernels.advance) == numba_dir(electroneutral_kernels.advance)

    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))

    def unwritable(self):
        raise PermissionError(13, "Permission denied", self.get_cache_path())

    monkeypatch.setattr(caching.InTreeCacheLocator, "ensure_cache_path", unwritable)
    located = cachestamp.numba_cache_dir()
    assert located.is_relative_to(tmp_path / "user")
    assert located == numba_dir(kernels.advance)


#: a package whose cached kernel `f` (a.py) inlines `g` of another module (b.py)
TINY_A = """
from numba import njit
from pkg.b import g

@njit(cache=True)
def f():
    return g()
"""
TINY_B = """
from numba import njit

@njit(cache=True)
def g():
    return {value}
"""
TINY_RUN = """
import sys
from pathlib import Path
sys.path[:0] = [{tmp!r}, {root!r}]
from solvers.cachestamp import refresh
if {use_stamp}:
    refresh(Path({tmp!r}) / "pkg", extra=())
from pkg.a import f
print(f())
"""


def test_numba_loads_a_stale_kernel_and_the_stamp_prevents_it(tmp_path):
    """End to end with real numba compiles in fresh processes: after an edit of b.py only,
    numba's cache serves the old `f` (the bug); with `refresh` first, `f` runs the new code."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(TINY_A)
    (pkg / "b.py").write_text(TINY_B.format(value=1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}

    def run(use_stamp: bool) -> str:
        code = TINY_RUN.format(tmp=str(tmp_path), root=str(ROOT), use_stamp=use_stamp)
        out = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
            text=True, timeout=300, check=True,
        )  # fmt: skip
        return out.stdout.strip()

    assert run(True) == "1"  # compiled and cached
    assert any(p.suffix == ".nbc" for p in (pkg / "__pycache__").iterdir())
    (pkg / "b.py").write_text(TINY_B.format(value=2))
    assert run(False) == "1"  # numba alone: the stale cached f
    assert run(True) == "2"  # the stamp changed: cache deleted, f compiled anew
    assert run(True) == "2"  # and cached again under the new stamp
