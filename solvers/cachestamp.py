"""A stamp of the kernels' sources beside numba's disk cache, so that no stale kernel is loaded.

numba's disk cache (``njit(cache=True)``) tells a cached function stale only when the source
file that DEFINES it changes. The compiled time loops (``solvers.kernels.advance``,
``solvers.electroneutral_kernels.advance``) inline kernels of other modules (solvers/bdf.py,
stepping.py, kernels_assembly.py, ..., and the constants of sed/table.py, frozen at compile
time): after an edit of one of those only (a ``git pull`` in an editable install), numba would
load the old ``advance`` and silently run the old code.

`refresh`, called when the solvers package is imported (before any kernel module), hashes the
sources the kernels depend on (`kernel_sources`) and compares the hash with a stamp file kept in
numba's cache directory of the package (`numba_cache_dir`: the one numba itself picks). When the
stamp differs or is missing it deletes the package's numba cache files (``*.nbi``, ``*.nbc`` of
the solvers modules only; the next call compiles them again) and then writes the new stamp
atomically. It never raises: an unwritable directory or another process doing the same at the
same time only leaves the cache as numba has it (logged at debug level).
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

#: the solvers package directory
PACKAGE_DIR = Path(__file__).resolve().parent
#: project modules outside the package whose values the kernels freeze at compile time (paths
#: relative to the project root, the package directory's parent): the import of
#: LN_OVERFULL_GAIN_MAX by solvers/kernels_mobility.py
EXTRA_SOURCES = ("sed/table.py",)
#: the stamp file, beside numba's cache files of the package
STAMP_NAME = "nppsim-kernel-sources.sha256"
#: numba's cache files: the index of a function and its compiled overloads
CACHE_SUFFIXES = (".nbi", ".nbc")
#: a module defines numba kernels when its text contains this decorator
KERNEL_MARK = b"@njit"


def kernel_sources(
    package_dir: Path = PACKAGE_DIR, extra: Sequence[str] = EXTRA_SOURCES
) -> list[Path]:
    """The files whose text the compiled kernels depend on, sorted: every module of
    `package_dir` that defines numba kernels (its text contains "@njit"), plus `extra` (paths
    relative to the package directory's parent)."""
    own = [p for p in sorted(package_dir.glob("*.py")) if KERNEL_MARK in p.read_bytes()]
    return own + [package_dir.parent / rel for rel in extra]


def source_stamp(paths: Iterable[Path], root: Path) -> str:
    """The SHA-256 (hex) of the files' names (relative to `root`) and contents."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def numba_cache_dir(package_dir: Path = PACKAGE_DIR) -> Path:
    """The directory in which numba caches the kernels of the modules of `package_dir`.

    Asks numba's own locator (numba.core.caching, private API) for a probe function placed in
    the package's __init__.py, so that its rules apply unchanged: NUMBA_CACHE_DIR when set,
    else the package's __pycache__ when writable, else a user-wide cache directory (all modules
    of one directory share it). Creates the directory, as numba does. Raises when numba finds
    no writable place (then it caches nothing either).
    """
    from numba.core.caching import FunctionCache

    probe_file = package_dir / "__init__.py"
    namespace: dict = {}
    exec(compile("def _cache_probe():\n    pass\n", str(probe_file), "exec"), namespace)
    return Path(FunctionCache(namespace["_cache_probe"]).cache_path)


def cache_files(cache_dir: Path, modules: Iterable[str]) -> list[Path]:
    """numba's cache files in `cache_dir` of functions defined in `modules` (module names
    without the package: numba names them "<module>.<function>-<line>.pyXY[.N].nb?")."""
    names = set(modules)
    return sorted(
        cache_dir / name
        for name in os.listdir(cache_dir)
        if name.endswith(CACHE_SUFFIXES) and name.split(".", 1)[0] in names
    )


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a uniquely named temporary file and a rename."""
    tmp = path.with_name(f"{path.name}.tmp.{uuid.uuid4().hex[:16]}")
    try:
        tmp.write_text(text, encoding="ascii")
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def refresh(
    package_dir: Path = PACKAGE_DIR,
    *,
    cache_dir: Path | None = None,
    extra: Sequence[str] = EXTRA_SOURCES,
) -> str:
    """Delete the package's numba cache files when the kernels' sources changed since they
    were cached; never raises.

    Compares `source_stamp` of `kernel_sources` with the stamp file in `cache_dir` (default:
    `numba_cache_dir`). When it differs or is missing, deletes the cache files of the
    package's modules, then writes the new stamp atomically (not when a file could not be
    deleted: the next import tries again). Returns what happened: "fresh" (stamp matches),
    "cleared" (files deleted, stamp written), "failed" (nothing certain was done; logged at
    debug level).
    """
    try:
        stamp = source_stamp(kernel_sources(package_dir, extra), package_dir.parent)
        directory = numba_cache_dir(package_dir) if cache_dir is None else Path(cache_dir)
        stamp_file = directory / STAMP_NAME
        try:
            old = stamp_file.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            old = None
        if old == stamp:
            return "fresh"
        modules = [p.stem for p in package_dir.glob("*.py")]
        stale = cache_files(directory, modules)
        for path in stale:
            try:
                path.unlink()
            except FileNotFoundError:  # another process deleted it first
                pass
        write_atomically(stamp_file, stamp + "\n")
        logger.debug(
            "kernel sources changed (stamp %s -> %s): deleted %d numba cache files in %s",
            old, stamp, len(stale), directory,
        )  # fmt: skip
        return "cleared"
    except Exception as exc:  # never fail an import for the cache
        logger.debug("cannot check the numba cache of %s: %s", package_dir, exc)
        return "failed"
