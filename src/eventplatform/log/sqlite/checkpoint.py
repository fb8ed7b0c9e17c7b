"""Checkpoints off the event loop: the WAL is copied into the database on a thread of its own.

With the automatic checkpoint off (``wal_autocheckpoint=0`` on the writer), the :class:`Checkpointer`
runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection once about ``checkpoint_pages`` pages were
written since the last one (estimated by the writer from the rows it commits). PASSIVE never blocks
readers in other processes. ``close`` ends with a checkpoint, and SQLite checkpoints again (and removes
the WAL) when the last connection closes.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eventplatform.log.sqlite.writer import Writer

log = logging.getLogger("eventplatform.log.sqlite")

CHECKPOINT_PAGES = 1_000  # WAL pages written (estimated) between two checkpoints; SQLite's default too


class Checkpointer:
    """The thread that keeps the WAL short: PASSIVE checkpoints on its own connection, about every
    ``checkpoint_pages`` pages the writer commits.

    A checkpoint that runs while commits go on never copies the newest frames, and SQLite starts the WAL
    over only if a write transaction begins when *every* frame is copied. So a checkpoint is two passes:
    the bulk without any lock (commits continue on the event loop), then, if anything was committed
    meanwhile, a short catch-up pass holding the writer's lock (for that moment the event loop hands its
    batches to the committer thread rather than wait). The next commit then restarts the WAL, unless a
    reader in another process still reads old frames; the next checkpoint tries again."""

    def __init__(self, writer: Writer, every: int = CHECKPOINT_PAGES) -> None:
        self.writer = writer
        self.every = every
        self.checkpoints = 0
        self.last: tuple[int, int, int] | None = None  # (busy, WAL frames, frames copied) of the last pass
        self._mark = 0  # the writer's page count at the last checkpoint
        self._wake = threading.Event()
        self._stopping = False
        self._conn: sqlite3.Connection | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"sqlite-log-checkpoint-{writer.partition}", daemon=True
        )
        self._thread.start()

    def poke(self, pages: int) -> None:
        """The writer's page count after a commit (called under the writer's lock)."""
        if pages - self._mark >= self.every and not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            self.checkpoint(final=False)

    def _pass(self) -> tuple[int, int, int] | None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.writer.path, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA synchronous=NORMAL")  # checkpoints still sync WAL and database
            row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("SQLite log checkpoint of %s failed: %s", self.writer.path, exc)
            return None
        self.last = (int(row[0]), int(row[1]), int(row[2]))
        return self.last

    def checkpoint(self, *, final: bool) -> None:
        w = self.writer
        mark, commits = w.pages, w.commits
        done = None if final else self._pass()
        if final or (done is not None and (w.commits != commits or done[1] != done[2])):
            with w.lock:
                mark = w.pages
                done = self._pass()
        if done is not None:
            self.checkpoints += 1
        self._mark = mark

    def stop(self, *, final: bool = True) -> None:
        """Stop the thread and (``final``) checkpoint a last time (the writer commits nothing any more)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        if final:
            self.checkpoint(final=True)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
