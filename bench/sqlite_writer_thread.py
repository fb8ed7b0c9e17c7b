"""Experiment for ``bench/log_sqlite.py --writer thread``: the SQLite write path as ONE writer thread per
partition (commit, fsync, resolve, checkpoint, all on that thread) instead of the log's group commit on the
event loop plus its committer, syncer and checkpointer threads. Same durability: a call is answered after
the fdatasync of the WAL that follows its commit. Kept in bench/ as the measured alternative (see
docs/benchmarks.md, "Log protocol v2 / SQLite writer"); the log does not use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from typing import Any

from eventplatform.errors import Codes, EventError
from eventplatform.log.sqlite import log as sqlite_log
from eventplatform.log.sqlite.sync import Waiter, closed_error, deliver
from eventplatform.log.sqlite.writer import Job, Writer, _split, _waiters


class ThreadWriter(Writer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # this writer syncs and checkpoints on its own thread: the helper threads of the base class go
        self.syncer.stop()
        self.checkpointer.stop()
        self.checkpointer._conn = None  # closed by stop(); _pass() opens another
        self._mark = 0
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._conn.execute("PRAGMA busy_timeout=30000")  # this thread may wait
        self._thread = threading.Thread(target=self._loop, name=f"sqlite-log-writer-{self.partition}")
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._q.put(job)

    async def barrier(self) -> None:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._q.put((asyncio.get_running_loop(), fut, 0))
        await fut

    def _loop(self) -> None:
        stop = False
        while not stop:
            items = [self._q.get()]
            while True:
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            jobs: list[Job] = []
            waiters: list[Waiter] = []
            for item in items:
                if item is None:
                    stop = True
                elif isinstance(item, Job):
                    jobs.append(item)
                else:
                    waiters.append(item)
            with self.lock:
                while jobs:
                    chunk, jobs = _split(jobs)
                    waiters[:0] = self._commit_here(chunk)
            if not waiters:
                continue
            error = None
            if self.durable:
                try:
                    self.syncer.fsync(self.syncer._wal_fd())
                    self.syncer.fsyncs += 1
                except OSError as exc:
                    self.syncer.failed = exc
                    error = EventError(Codes.LOG_UNAVAILABLE, f"SQLite log fsync failed: {exc}")
            deliver(waiters, error, None)
            if self.pages - self._mark >= self.checkpointer.every:
                self._mark = self.pages
                if self.checkpointer._pass() is not None:
                    self.checkpointer.checkpoints += 1

    def _commit_here(self, jobs: list[Job]) -> list[Waiter]:
        waiters = _waiters(jobs)
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            pages = self._write(jobs)
            conn.execute("COMMIT")
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                self._load_topics()
            deliver(waiters, EventError(Codes.LOG_UNAVAILABLE, f"SQLite log write failed: {exc}"), None)
            return []
        self.commits += 1
        self.pages += pages
        return waiters

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join()
        with self.lock:
            self.stopped = True
        deliver([], closed_error(), None)
        super().stop()


def install() -> None:
    """Make SQLiteLog build ThreadWriters from now on."""
    sqlite_log.Writer = ThreadWriter  # type: ignore[misc]
