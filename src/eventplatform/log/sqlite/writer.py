"""The produce path of one partition: group commit on the producing event loop.

``produce`` appends its batch to the writer's pending list and, unless one is already scheduled for that
event loop, schedules a flush with ``loop.call_soon``; so every request that reaches ``produce`` in one
loop iteration shares **one transaction** (multi-row INSERTs per topic, offsets assigned in memory). The
flush commits on the loop's own thread: a commit of a few small rows costs less than handing the batch to
another thread and back (futex wake-ups and GIL hand-offs on both sides; figures in docs/benchmarks.md). A
``threading.Lock`` guards the connection, since one log may be used from several threads or loops. The
loop thread never *waits* for SQLite, though: it takes that lock only if it is free and begins with
``busy_timeout=0``; when the lock or the database is busy (a commit from another loop, retention running
in another process, ``ensure_topics``), the batch and everything after it go to a committer thread that
waits its turn, in order. Durability (the fsync) is :mod:`.sync`, checkpoints :mod:`.checkpoint`.

The hot functions are :meth:`Writer.drain`, :meth:`Writer._write` and :func:`_insert`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from eventplatform.errors import EventError
from eventplatform.log.sqlite import faults
from eventplatform.log.sqlite.checkpoint import CHECKPOINT_PAGES, Checkpointer
from eventplatform.log.sqlite.schema import INDEX_EVERY, MIN_TS, SCHEMA, TopicState, high
from eventplatform.log.sqlite.sync import Syncer, Waiter, closed_error, deliver, resolve_all

log = logging.getLogger("eventplatform.log.sqlite")

_MAX_ROWS_PER_COMMIT = 100_000
_BUSY_TIMEOUT_MS = 30_000  # how long the committer thread (never the event loop) waits for the write lock
_CHECK_EVERY = 1.0  # seconds between two checks that the partition file is still there (see .faults)


class Job:
    """One produce call, as columns (the pipeline builds them directly: no object per event)."""

    __slots__ = ("count", "future", "keys", "loop", "stamps", "topics", "values")

    def __init__(
        self,
        topics: Sequence[str],
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        stamps: Sequence[int],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[list[Exception | None]] | None,
    ) -> None:
        self.topics, self.values, self.keys, self.stamps = topics, values, keys, stamps
        self.count = len(values)
        self.loop, self.future = loop, future


class _Busy(Exception):
    """BEGIN found the write lock taken (only raised when the caller must not wait)."""


class Writer:
    """Owns one partition: its lock file, its read-write connection, the committer and the syncer."""

    def __init__(
        self,
        directory: Path,
        partition: int,
        lock_fd: int,
        synchronous: str,
        *,
        index_every: int = INDEX_EVERY,
        checkpoint_pages: int = CHECKPOINT_PAGES,
        fsync: Callable[[int], None] = os.fdatasync,
    ) -> None:
        self.partition = partition
        self.index_every = index_every
        self.path = directory / f"partition-{partition}.db"
        self.durable = synchronous == "full"
        self._lock_fd = lock_fd
        self.lock = threading.Lock()  # the connection, the topic states, ``stopped`` and ``commits``
        self._plock = threading.Lock()  # _pending, _scheduled and _handoff
        self._pending: list[Job] = []
        self._scheduled: set[asyncio.AbstractEventLoop] = set()
        self._handoff = False  # a committer run is queued or running: later batches go there too
        # durable mode: calls wait for an fsync; loops that left batches pending meanwhile (see _flush_soon)
        self._in_flight = False
        self._deferred_loops: set[asyncio.AbstractEventLoop] = set()
        self.stopped = False
        self.gone = False  # the partition file was deleted or replaced: see .faults (set under ``lock``)
        self._next_check = 0.0
        self.commits = 0
        self.pages = 0  # WAL pages written so far (an estimate, for the checkpoint schedule)
        conn = self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        try:
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")  # retention may hold the write lock
            conn.execute("PRAGMA page_size=16384")  # only takes effect in a new file; fewer page splits
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # the syncer thread fsyncs (see .sync)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does
            conn.execute("PRAGMA cache_size=-65536")
            conn.executescript(SCHEMA)
            self._topics: dict[str, TopicState] = {}
            self._load_topics()
            conn.execute("PRAGMA busy_timeout=0")  # commits on an event loop never wait (see drain)
            self._identity = faults.identity(self.path)
        except BaseException:
            conn.close()
            raise
        self._committer = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=f"sqlite-log-commit-{partition}"
        )
        self.syncer = Syncer(self.path, partition, self, fsync)
        self.checkpointer = Checkpointer(self, checkpoint_pages)

    def _load_topics(self) -> None:
        self._topics.clear()
        conn = self._conn
        for tid, name, next_offset in conn.execute("SELECT id, name, next_offset FROM topics").fetchall():
            top = high(conn, tid, next_offset)
            last = conn.execute(
                "SELECT max_ts, first_offset FROM time_index WHERE topic_id = ?"
                " ORDER BY max_ts DESC, first_offset DESC LIMIT 1",
                (tid,),
            ).fetchone()
            before, start = (last[0], last[1]) if last else (MIN_TS, 0)
            tail = conn.execute(f"SELECT MAX(ts) FROM t{tid} WHERE offset >= ?", (start,)).fetchone()[0]
            running = before if tail is None else max(before, tail)
            self._topics[name] = TopicState(tid, top, running)

    def _topic(self, name: str) -> TopicState:
        state = self._topics.get(name)
        if state is None:
            cur = self._conn.execute("INSERT INTO topics (name, next_offset) VALUES (?, 0)", (name,))
            tid = int(cur.lastrowid or 0)
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS t{tid} (offset INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
                " key BLOB, value BLOB NOT NULL)"
            )
            state = TopicState(tid, 0, MIN_TS)
            self._topics[name] = state
        return state

    # -- the produce path ---------------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Queue ``job``; its event loop commits everything queued at its next iteration."""
        loop = job.loop
        with self._plock:
            self._pending.append(job)
            if loop in self._scheduled:
                return
            self._scheduled.add(loop)
        loop.call_soon(self._flush_soon, loop)

    def _flush_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._plock:
            self._scheduled.discard(loop)
            if self._in_flight:
                # An fsync is running: this batch could not be acknowledged before the next one anyway, so
                # it waits and is committed with everything else that arrives meanwhile, when the syncer
                # hands back (after_sync): one commit per fsync rather than one per loop iteration.
                self._deferred_loops.add(loop)
                return
        self.drain(loop)

    def after_sync(self, loop: asyncio.AbstractEventLoop, done: list[Any], kick: bool) -> None:
        """On ``loop``, after an fsync: resolve its calls, and commit what waited for the fsync."""
        resolve_all(done)
        if kick:
            self.drain(loop)

    def sync_idle(self) -> set[asyncio.AbstractEventLoop]:
        """The syncer has nothing left to sync: the loops that left batches pending meanwhile."""
        with self._plock:
            self._in_flight = False
            loops, self._deferred_loops = self._deferred_loops, set()
        return loops

    def _take(self) -> list[Job]:
        with self._plock:
            jobs, self._pending = self._pending, []
        return jobs

    def drain(self, here: asyncio.AbstractEventLoop | None) -> None:
        """Commit every pending job now on this thread (``here`` is its running loop) if the connection and
        the database's write lock are free; otherwise hand them to the committer thread. Never waits."""
        if not self._handoff and self.lock.acquire(blocking=False):
            try:
                jobs = self._take()
                while jobs:
                    chunk, jobs = _split(jobs)
                    try:
                        self._commit(chunk, here, wait=False)
                    except _Busy:
                        with self._plock:
                            self._pending[:0] = chunk + jobs
                        break
                else:
                    return
            finally:
                self.lock.release()
        self.hand_off()

    def hand_off(self) -> None:
        with self._plock:
            if self._handoff or not self._pending:
                return
            self._handoff = True
        try:
            self._committer.submit(self._commit_pending)
        except RuntimeError:  # the committer is shut down: the log is closing
            with self._plock:
                self._handoff = False
            deliver(_waiters(self._take()), closed_error(), None)

    def _commit_pending(self) -> None:
        """The committer thread: commit everything pending, waiting for the write lock if need be."""
        with self.lock:
            while True:
                with self._plock:
                    jobs, self._pending = self._pending, []
                    if not jobs:
                        self._handoff = False
                        return
                while jobs:
                    chunk, jobs = _split(jobs)
                    self._commit(chunk, None, wait=True)

    def _commit(self, jobs: list[Job], here: asyncio.AbstractEventLoop | None, *, wait: bool) -> None:
        """Write ``jobs`` in one transaction (the caller holds ``self.lock``), then pass their calls to the
        syncer (durable) or resolve them (not durable, or failed). Raises _Busy (nothing written) if the
        write lock is taken and ``wait`` is false."""
        if self.stopped or self.gone or self._moved():
            deliver(_waiters(jobs), self.refusal(), here)
            return
        conn = self._conn
        error: Exception | None = None
        pages = 0
        try:
            with self._waiting() if wait else contextlib.nullcontext():
                try:
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if not wait and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:  # or an extended BUSY
                        raise _Busy from None
                    raise
                pages = self._write(jobs)
                conn.execute("COMMIT")
        except _Busy:
            raise
        except Exception as exc:
            log.exception("SQLite log commit failed (partition %d)", self.partition)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                self._load_topics()  # forget offsets handed out in the failed transaction
            error = exc
        waiters = _waiters(jobs)
        if error is not None:
            self._next_check = 0.0
            failed = self.refusal() if self._moved() else faults.failure("writing", self.path, error)
            deliver(waiters, failed, here)
            return
        self.commits += 1
        self.pages += pages
        if not self.durable:
            deliver(waiters, None, here)
        elif waiters:
            with self._plock:
                self._in_flight = True
            self.syncer.committed(waiters)
        self.checkpointer.poke(self.pages)

    def _moved(self) -> bool:
        """Whether the partition file was deleted or replaced (looked up at most once a second; the caller
        holds ``lock``). Sets ``gone``: the log then re-creates the partition (:mod:`.faults`)."""
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + _CHECK_EVERY
        if faults.identity(self.path) != self._identity:
            if not self.gone:
                log.error("%s was deleted or replaced under the running server", self.path)
            self.gone = True
        return self.gone

    def moved_now(self) -> bool:
        """:meth:`_moved`, looked up now."""
        with self.lock:
            self._next_check = 0.0
            return self._moved()

    def refusal(self) -> EventError:
        return faults.missing(self.path) if self.gone else closed_error()

    @contextlib.contextmanager
    def _waiting(self) -> Iterator[None]:
        """Let this thread wait up to ``_BUSY_TIMEOUT_MS`` for the database's write lock (a committer-thread
        transaction); the connection's default is 0, since a commit on an event loop must never wait."""
        self._conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA busy_timeout=0")

    def _write(self, jobs: list[Job]) -> int:
        """The INSERTs of one transaction; returns an estimate of the WAL pages it writes."""
        # topic -> [(values, keys, stamps)]; rows are then streamed to the INSERTs by C-level iterators
        # (zip/chain), so there is no per-row Python code on the write path.
        groups: dict[str, list[tuple[Sequence[bytes], Sequence[bytes | None], Sequence[int]]]] = {}
        for job in jobs:
            topics = job.topics
            t0 = topics[0]
            if job.count == 1 or topics.count(t0) == job.count:
                part = groups.get(t0)
                if part is None:
                    groups[t0] = [(job.values, job.keys, job.stamps)]
                else:
                    part.append((job.values, job.keys, job.stamps))
                continue
            split: dict[str, tuple[list[bytes], list[bytes | None], list[int]]] = {}
            for topic, value, key, ts in zip(topics, job.values, job.keys, job.stamps, strict=True):
                cols = split.get(topic)
                if cols is None:
                    cols = split[topic] = ([], [], [])
                cols[0].append(value)
                cols[1].append(key)
                cols[2].append(ts)
            for topic, cols in split.items():
                groups.setdefault(topic, []).append(cols)
        conn = self._conn
        pages = 0
        for topic, parts in groups.items():
            state = self._topic(topic)
            first = state.next_offset
            count = sum(len(values) for values, _, _ in parts)
            if state.since_index < 0 or state.since_index >= self.index_every:
                conn.execute(
                    "INSERT INTO time_index (topic_id, max_ts, first_offset) VALUES (?, ?, ?)",
                    (state.id, state.max_ts, first),
                )
                state.since_index = 0
                pages += 1
            if len(parts) == 1:
                values, keys, stamps = parts[0]
                rows: Any = zip(range(first, first + count), stamps, keys, values, strict=True)
                top = max(stamps)
                size = sum(map(len, values))
            else:
                rows = zip(
                    range(first, first + count),
                    chain.from_iterable(p[2] for p in parts),
                    chain.from_iterable(p[1] for p in parts),
                    chain.from_iterable(p[0] for p in parts),
                    strict=True,
                )
                top = max(max(p[2]) for p in parts)
                size = sum(sum(map(len, p[0])) for p in parts)
            _insert(conn, state.table, rows, count)
            if top > state.max_ts:
                state.max_ts = top
            state.next_offset = first + count
            state.since_index += count
            # the table's last leaf page, plus one page per 16 KiB of rows (~16 bytes of overhead each)
            pages += 1 + ((size + 16 * count) >> 14)
        return pages

    # -- flush, topics, stop ------------------------------------------------------------------------------

    async def barrier(self) -> None:
        """Return once everything produced before (hasty included) is committed, and synced if durable."""
        loop = asyncio.get_running_loop()
        self.drain(loop)
        if self._handoff:
            try:
                done = self._committer.submit(lambda: None)  # FIFO: after the queued commits
            except RuntimeError:
                raise closed_error() from None
            await asyncio.wrap_future(done)
        if self.durable:
            fut: asyncio.Future[Any] = loop.create_future()
            self.syncer.add_barrier(loop, fut)
            await fut

    def ensure(self, topics: Sequence[str]) -> None:
        """Create ``topics`` (on the committer thread: it may wait for the write lock)."""
        with self.lock:
            if self.stopped:
                raise closed_error()
            conn = self._conn
            with self._waiting():
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    for t in topics:
                        self._topic(t)
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    self._load_topics()
                    raise

    def run(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn`` on the committer thread, after the batches handed to it before."""
        try:
            return self._committer.submit(fn)
        except RuntimeError:
            raise closed_error() from None

    def stop(self) -> None:
        """Commit what is queued, sync it, checkpoint, close. Calls queued after this fail as closed."""
        self._committer.shutdown(wait=True)
        with self.lock:
            jobs = self._take()
            while jobs:
                chunk, jobs = _split(jobs)
                self._commit(chunk, None, wait=True)
            self.stopped = True
        self._release(final_checkpoint=True)

    def salvage(self, dest: Path) -> None:
        """The partition file is gone (``gone``): copy the database, with everything committed so far, into
        ``dest`` (skipped if ``dest`` exists), then close. Calls still queued fail with :meth:`refusal`
        (``log_missing``), and their produce re-tries them on the new writer. Raises if the copy fails;
        the writer is then still open, to be salvaged at the next attempt."""
        with self.lock:
            self._next_check = 0.0
            self._moved()
            if not dest.exists():
                faults.salvage(self._conn, dest)
            self.stopped = True
        self._committer.shutdown(wait=True)
        with self.lock:
            deliver(_waiters(self._take()), self.refusal(), None)
        self._release(final_checkpoint=False)

    def _release(self, *, final_checkpoint: bool) -> None:
        self.syncer.stop()
        self.checkpointer.stop(final=final_checkpoint)
        self._conn.close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def _split(jobs: list[Job]) -> tuple[list[Job], list[Job]]:
    """The first transaction's worth of ``jobs`` (at most ``_MAX_ROWS_PER_COMMIT`` rows, one job at least)
    and the rest."""
    rows = 0
    for i, job in enumerate(jobs):
        rows += job.count
        if rows >= _MAX_ROWS_PER_COMMIT:
            return jobs[: i + 1], jobs[i + 1 :]
    return jobs, []


def _waiters(jobs: Iterable[Job]) -> list[Waiter]:
    return [(job.loop, job.future, job.count) for job in jobs if job.future is not None]


# Rows are inserted by multi-row INSERT statements of these sizes (e.g. 100 rows = 64 + 32 + 4): a handful
# of sqlite3_step calls per commit instead of one per row. The sqlite3 module releases and re-takes the GIL
# around every step, and with the event loop's thread always wanting it, each of those hand-offs is a wait.
_CHUNKS = (256, 128, 64, 32, 16, 8, 4, 2, 1)
_INSERT_SQL: dict[tuple[str, int], str] = {}


def _insert(conn: sqlite3.Connection, table: str, rows: Any, count: int) -> None:
    """INSERT ``count`` rows (an iterable of (offset, ts, key, value)) into ``table``."""
    flat = list(chain.from_iterable(rows))
    pos = 0
    for size in _CHUNKS:
        while count - pos >= size:
            sql = _INSERT_SQL.get((table, size))
            if sql is None:
                values = ", ".join(["(?, ?, ?, ?)"] * size)
                sql = _INSERT_SQL[(table, size)] = (
                    f"INSERT INTO {table} (offset, ts, key, value) VALUES {values}"
                )
            conn.execute(sql, flat[pos * 4 : (pos + size) * 4])
            pos += size
