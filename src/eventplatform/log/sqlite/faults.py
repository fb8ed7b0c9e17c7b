"""Filesystem faults under a running writer: what to tell the client, and how a partition comes back.

* **Disk full** (``SQLITE_FULL``, ``ENOSPC``): the transaction is rolled back and the calls fail with
  ``log_unavailable`` / ``disk_full``; the connection stays usable, so writes resume by themselves once
  space is freed.
* **Permissions lost** on the directory or the files: the writer keeps its open descriptors, and writes go
  on through them (permissions are checked when a file is opened). Only a file that must be (re-)created
  is refused: ``permission_denied``, re-tried at every write until the permissions are back.
* **Directory or partition file deleted**: in WAL mode SQLite keeps writing into the unlinked files without
  an error, so the writer checks (at most once a second, and after a failed commit) that its file is still
  the one at its path. When it is not, the partition is ``log_missing``: :class:`SQLiteLog` re-creates the
  directory, claims the partition again and copies the database from the still-open connection with
  SQLite's backup API into a new file, so that every event acknowledged before (and after) the deletion is
  kept, with its offset; then the call is re-tried once on the new file.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from eventplatform.errors import Causes, Codes, EventError

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}
_MISSING = {errno.ENOENT, errno.ENOTDIR}
# SQLite primary result codes (the low byte of an extended code)
_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM = 13, 8, 14, 3


def cause_of(exc: BaseException) -> str:
    """The :class:`Causes` value of an error raised by SQLite or the filesystem."""
    if isinstance(exc, OSError):
        if exc.errno in _FULL:
            return Causes.DISK_FULL
        if exc.errno in _DENIED:
            return Causes.PERMISSION_DENIED
        if exc.errno in _MISSING:
            return Causes.LOG_MISSING
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == _SQLITE_FULL:
            return Causes.DISK_FULL
        if code in (_SQLITE_READONLY, _SQLITE_PERM):
            return Causes.PERMISSION_DENIED
        if code == _SQLITE_CANTOPEN:
            return Causes.LOG_MISSING
    return Causes.IO_ERROR


_HINTS = {
    Causes.DISK_FULL: "the filesystem is full; writes resume by themselves once space is freed",
    Causes.PERMISSION_DENIED: "permission denied; writes resume once the server's user may write there again",
    Causes.LOG_MISSING: "the log directory or partition file was deleted; it is re-created at the next write",
    Causes.IO_ERROR: "an I/O error",
}


def failure(what: str, path: Path, exc: BaseException) -> EventError:
    """``log_unavailable`` with the cause of ``exc`` and a message naming ``path`` and what to expect."""
    cause = cause_of(exc)
    return EventError(
        Codes.LOG_UNAVAILABLE,
        f"SQLite log write failed ({what} {path}): {_HINTS[cause]} ({exc})",
        cause=cause,
    )


def missing(path: Path) -> EventError:
    return EventError(
        Codes.LOG_UNAVAILABLE,
        f"SQLite log: {path} was deleted under the running server; re-creating it from the open copy",
        cause=Causes.LOG_MISSING,
    )


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None if there is none (or it cannot be looked up)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def salvage(conn: sqlite3.Connection, dest: Path) -> None:
    """Copy the whole database behind ``conn`` (its files may be unlinked: it reads through its open
    descriptors) into a new file ``dest``, durably, and fsync the directory."""
    tmp = dest.with_name(dest.name + ".salvage")
    with _removing(tmp):
        out = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.backup(out)
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to rename
        finally:
            out.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, dest)
    dfd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class _removing:
    """Remove ``path`` (and its journal) if the block fails."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        for p in (self.path, self.path.with_name(self.path.name + "-journal")):
            p.unlink(missing_ok=True)

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if exc is not None:
            for p in (self.path, self.path.with_name(self.path.name + "-journal")):
                try:
                    p.unlink(missing_ok=True)
                except OSError:
                    pass
