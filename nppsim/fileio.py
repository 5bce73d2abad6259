"""Atomic file writes: a file either appears complete or not at all.

Everything nppsim writes (HDF5 results, CSV profiles, figures, JSON) goes to a temporary file in
the target's folder, is flushed to disk, and is then renamed over the target with `os.replace`
(atomic on POSIX and Windows within one file system). On any exception the temporary file is
removed and an existing target is left untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from solvers.interrupt import deferred_signals

logger = logging.getLogger(__name__)

#: printf format of numbers in CSV files: 10 significant digits keep fractions and depths far
#: below any measurement's resolution while staying readable
CSV_FLOAT_FORMAT = "%.10g"


def _temp_name_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _default_file_mode(path: Path) -> int:
    """Permission bits for a new file: those of the file being replaced, else 0o666 & ~umask."""
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o777
    # os.umask can only be read by setting it; restore it at once
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def check_writable(path: str | os.PathLike[str], what: str) -> None:
    """InputError (one line naming `path` and `what`) unless a file can be written to `path`:
    its folder exists and accepts new files (checked by creating and removing one, since
    permission bits do not tell: root, ACLs, read-only mounts, immutable folders), and `path`
    is not a folder. Call it before a long computation whose result goes to `path`.
    """
    from .errors import InputError

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{target}: cannot write the {what}: folder {folder} does not exist")
    if target.is_dir():
        raise InputError(f"{target}: cannot write the {what}: it is a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.probe-", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(
            f"{target}: cannot write the {what}: folder {folder} does not accept new files "
            f"({reason})"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (e.g. Windows), so best effort
    with contextlib.suppress(OSError):
        _fsync_path(folder)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` when the block ends without error.

    For writers that want a file name rather than a file object (h5py, matplotlib). The temporary
    file exists (empty) when the block starts, is named like ``.NAME.tmp-XXXX`` in the same folder,
    is fsynced before the rename, and is deleted if the block raises, leaving `path` as it was.
    SIGINT and SIGTERM arriving during the block are held and delivered after the rename
    (`solvers.interrupt.deferred_signals`): an interrupted save leaves the old file or the new
    one complete, never a temporary file.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    # Ctrl-C or SIGTERM during the write would leave a temporary file (SIGTERM's default action
    # kills at once) or be swallowed inside an h5py callback: held, and acted on after the rename
    with deferred_signals():
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_name_prefix(target), dir=folder)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            _fsync_path(tmp)
            os.chmod(tmp, _default_file_mode(target))
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(folder)
        logger.debug("wrote %s", target)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces `path` when the block ends without error.

    mode: "w" (text, `encoding`, `newline` as for `open`) or "wb" (binary). On an exception inside
    the block the temporary file is deleted and `path` is left untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp:
        if mode == "wb":
            f: IO[Any] = open(tmp, "wb")
        else:
            f = open(tmp, "w", encoding=encoding, newline=newline)
        with f:
            yield f
            f.flush()


def write_csv_atomic(
    path: str | os.PathLike[str],
    header: Sequence[str],
    columns: Sequence[np.ndarray],
    *,
    fmt: str = CSV_FLOAT_FORMAT,
) -> None:
    """Write equally long numeric `columns` as comma-separated text with one `header` row.

    Numbers are written with `fmt` (default ``%.10g``); the file is written atomically.
    The result reads back with ``np.loadtxt(path, delimiter=",", skiprows=1)``.
    """
    if len(header) != len(columns):
        raise ValueError(f"write_csv_atomic: {len(header)} header names for {len(columns)} columns")
    for name in header:
        if "," in name or "\n" in name:
            raise ValueError(f"write_csv_atomic: column name {name!r} contains ',' or a newline")
    arrays = [np.asarray(c, dtype=float).ravel() for c in columns]
    lengths = {a.size for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"write_csv_atomic: columns differ in length {sorted(lengths)}")
    table = np.column_stack(arrays) if arrays else np.empty((0, 0))
    with atomic_write(path, "w", newline="\n") as f:
        f.write(",".join(header) + "\n")
        if table.size:
            np.savetxt(f, table, fmt=fmt, delimiter=",")
