"""The start-up check of a log directory's partition files: a truncated or corrupt file is named, with what
is wrong with it, before any worker opens it (otherwise the first sign is a traceback in a worker's start-up
or a failed read much later).

Per ``partition-<n>.db``: the 100-byte header (magic string, page size), the file size against the page
count the header records (a file cut short by a full disk, a bad copy or a restore), then SQLite itself
opens it and reads every topic's table bounds; files up to ``QUICK_CHECK_BYTES`` also get
``PRAGMA quick_check`` (it reads every page: seconds per GB, so larger files are only checked at their ends).
A WAL left by a crash is not a problem: SQLite replays it and ignores a torn last frame by its checksum.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from eventplatform.log.sqlite.schema import PARTITION_FILE

QUICK_CHECK_BYTES = 256 * 1024 * 1024
_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def check_directory(directory: Path) -> list[Problem]:
    """Every problem of the partition files in ``directory`` (none if it does not exist yet)."""
    if not directory.is_dir():
        return []
    problems = []
    for path in sorted(directory.iterdir()):
        if PARTITION_FILE.match(path.name):
            message = check_file(path)
            if message:
                problems.append(Problem(path, message))
    return problems


def check_file(path: Path) -> str | None:
    """What is wrong with one partition file, or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if size == 0:
        return None  # created, never written: SQLite makes it a database at the first write
    if len(header) < 100:
        return f"truncated: {size} bytes, shorter than the 100-byte SQLite header"
    if header[:16] != _MAGIC:
        return "not an SQLite database (its header is damaged or it is another kind of file)"
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return f"corrupt header: page size {page}"
    pages = int.from_bytes(header[28:32], "big")
    valid = header[24:28] == header[92:96]  # the page count is current only if these match
    if size % page:
        return f"truncated: {size} bytes is not a whole number of {page}-byte pages"
    if valid and pages * page > size:
        return f"truncated: the header records {pages} pages of {page} bytes, the file holds {size // page}"
    return _sqlite_check(path, size)


def _sqlite_check(path: Path, size: int) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return f"cannot be opened: {exc}"
    try:
        conn.execute("PRAGMA busy_timeout=10000")  # another process may be checkpointing
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        if {"topics", "time_index"} - {t for (t,) in tables}:
            return "not a partition of an event log (no topics or time_index table)"
        for (tid,) in conn.execute("SELECT id FROM topics").fetchall():
            conn.execute(f"SELECT MIN(offset), MAX(offset) FROM t{int(tid)}").fetchone()
        if size <= QUICK_CHECK_BYTES:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
            if rows != ["ok"]:
                return "corrupt: " + "; ".join(rows)
    except sqlite3.Error as exc:
        return f"corrupt: {exc}"
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
    return None
