"""The embedded SQLite backend of :class:`EventLog`: a directory of partitions, one database file each.

Layout of ``sqlite:///DIR``::

    DIR/partition-<n>.db     WAL-mode database: one writer process, any number of readers
    DIR/partition-<n>.lock   claimed with fcntl.flock by the process that writes partition n

Why it looks like this:

* **Partitioned like Kafka.** One SQLite writer tops out near 270k small rows/s, so every intake worker
  process writes its own partition and writers never contend. A process claims the first partition whose
  lock file it can ``flock`` (at its first produce, so pure readers claim nothing); the lock dies with the
  process, so a restarted worker takes over a free partition with its data intact. Readers open every
  ``partition-*.db`` read-only and merge them.
* **One table per topic** (``t<id>``, ``offset INTEGER PRIMARY KEY``): the offset is the rowid, so appends
  and range reads touch a single B-tree. ``topics`` maps names to ids; the next offset is the last record's
  plus one, and retention writes it to ``topics.next_offset`` before deleting, so offsets stay dense from 0
  and never go back even when every record is deleted. ``time_index`` holds a checkpoint every
  ``_INDEX_EVERY`` records (first offset, maximum timestamp before it): finding the earliest offset with
  ``timestamp >= T`` is an index seek plus a short scan, without an index on every row. A small commit
  therefore touches only the topic table's last page (and now and then the checkpoint table).
* **Group commit, on the producing event loop.** ``produce`` appends its batch to the writer's pending list
  and, unless one is already scheduled for that event loop, schedules a flush with ``loop.call_soon``; so
  every request that reaches ``produce`` in one loop iteration shares **one transaction** (multi-row
  INSERTs per topic, offsets assigned in memory). The flush commits on the loop's own thread: a commit of
  a few small rows costs tens of µs, less than handing the batch to another thread and back (futex
  wake-ups and GIL hand-offs on both sides). A ``threading.Lock`` guards the connection, since one log
  may be used from several threads or loops. The loop thread never *waits* for SQLite, though: it takes
  that lock only if it is free and begins with ``busy_timeout=0``; when the lock or the database is busy
  (a commit from another loop, retention running in another process, ``ensure_topics``), the batch and
  everything after it go to a committer thread that waits its turn, in order.
* **Durability: the fsync is off the commit path (group fsync).** The writer connection runs
  ``synchronous=NORMAL`` with ``wal_autocheckpoint=0``: COMMIT appends the transaction's frames (with the
  commit marker) to the WAL with ``write()`` and returns without syncing. With ``synchronous="full"``
  (default) the flush then hands its waiting calls to the partition's **syncer thread**, which calls
  ``fdatasync`` on the WAL file (its own descriptor, re-opened if the file was unlinked or replaced; the
  directory is fsynced after each (re-)open, as SQLite does for a new WAL) and only then resolves every
  call committed before that fsync began, with one ``call_soon_threadsafe`` per event loop. Batches that
  arrive while an fsync runs could not be acknowledged before the next fsync anyway, so they wait: the
  callback that resolves the loop's calls commits them all and hands them to the syncer (about one commit
  per fsync, not one per loop iteration; two thread hand-offs per fsync, none per call).
  This is what ``synchronous=FULL`` does inside COMMIT (sync the WAL after the commit's frames are
  written; fdatasync also flushes the file size, the one metadata change a growing WAL needs), moved to
  another thread and shared by every commit since the previous sync: an acknowledged event survives a
  power loss, not only a crash. The other syncs SQLite makes in NORMAL mode stay: the checkpoint syncs
  the WAL before and the database file after copying pages, and the writer syncs the WAL header when it
  restarts the WAL after a complete checkpoint (on the loop thread, once per ~``_CHECKPOINT_PAGES``
  pages). If an fsync fails, the calls waiting on it fail with ``log_unavailable`` and the partition
  refuses every later write until the log is re-opened: after a failed fsync Linux may drop the unwritten
  pages, WAL recovery stops at the first bad frame, and so no later commit could honestly be called
  durable. ``synchronous="normal"`` (``sqlite:///DIR?synchronous=normal``) skips the syncer's fsync: a
  call returns after COMMIT, when the data is in the OS (it survives a SIGKILL of the process, which the
  tests do, but not a kernel crash or power loss).
* **Checkpoints off the event loop.** With the automatic checkpoint off, a checkpointer thread runs ``PRAGMA
  wal_checkpoint(PASSIVE)`` on its own connection once about ``_CHECKPOINT_PAGES`` pages were written
  since the last one (estimated by the writer from the rows it commits): a bulk pass while commits go on,
  then, if anything was committed meanwhile, a short catch-up pass holding the writer's lock, so that the
  WAL is completely copied and the next commit starts it over (see ``_Checkpointer``). PASSIVE never
  blocks readers in other processes, and the event loop hands its batches to the committer thread rather
  than wait for the catch-up. ``close`` ends with a checkpoint, and SQLite checkpoints again (and removes
  the WAL) when the last connection closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import queue
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from eventplatform.errors import Codes, EventError
from eventplatform.log.base import ColumnarLog, Record, Start

log = logging.getLogger(__name__)

_PARTITION_FILE = re.compile(r"^partition-(\d+)\.db$")
_MAX_ROWS_PER_COMMIT = 100_000
_READ_CHUNK = 2_000
_INDEX_EVERY = 1_000  # records between time_index checkpoints
_CHECKPOINT_PAGES = 1_000  # WAL pages written (estimated) between two checkpoints; SQLite's default too
_BUSY_TIMEOUT_MS = 30_000  # how long the committer thread (never the event loop) waits for the write lock
_MIN_TS = -(2**63)
_DISCOVERY_INTERVAL = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_offset INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS time_index (
    topic_id INTEGER NOT NULL,
    max_ts INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    PRIMARY KEY (topic_id, max_ts, first_offset)
) WITHOUT ROWID;
"""


_Outcome = list[Exception | None]
# a call waiting for the fsync: (its event loop, its future, its event count; 0 = a flush() barrier)
_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], int]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Job:
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


@dataclass(slots=True)
class _TopicState:
    id: int
    next_offset: int
    max_ts: int  # running maximum of every timestamp written so far
    since_index: int = -1  # rows since the last time_index entry; -1 = write one at the next commit
    table: str = field(init=False)

    def __post_init__(self) -> None:
        self.table = f"t{self.id}"


class _Busy(Exception):
    """BEGIN found the write lock taken (only raised when the caller must not wait)."""


def _closed_error() -> EventError:
    return EventError(Codes.LOG_UNAVAILABLE, "the SQLite log is closed")


class _Writer:
    """Owns one partition: its lock file, its read-write connection, the committer and the syncer."""

    def __init__(self, directory: Path, partition: int, lock_fd: int, synchronous: str) -> None:
        self.partition = partition
        self.path = directory / f"partition-{partition}.db"
        self.durable = synchronous == "full"
        self._lock_fd = lock_fd
        self.lock = threading.Lock()  # the connection, the topic states, ``stopped`` and ``commits``
        self._plock = threading.Lock()  # _pending, _scheduled and _handoff
        self._pending: list[_Job] = []
        self._scheduled: set[asyncio.AbstractEventLoop] = set()
        self._handoff = False  # a committer run is queued or running: later batches go there too
        # durable mode: calls wait for an fsync; loops that left batches pending meanwhile (see _flush_soon)
        self._in_flight = False
        self._deferred_loops: set[asyncio.AbstractEventLoop] = set()
        self.stopped = False
        self.commits = 0
        self.pages = 0  # WAL pages written so far (an estimate, for the checkpoint schedule)
        conn = self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        try:
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")  # retention may hold the write lock
            conn.execute("PRAGMA page_size=16384")  # only takes effect in a new file; fewer page splits
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # the syncer thread fsyncs (see "Durability")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does
            conn.execute("PRAGMA cache_size=-65536")
            conn.executescript(_SCHEMA)
            self._topics: dict[str, _TopicState] = {}
            self._load_topics()
            conn.execute("PRAGMA busy_timeout=0")  # commits on an event loop never wait (see drain)
        except BaseException:
            conn.close()
            raise
        self._committer = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=f"sqlite-log-commit-{partition}"
        )
        self.syncer = _Syncer(self.path, partition, self)
        self.checkpointer = _Checkpointer(self)

    def _load_topics(self) -> None:
        self._topics.clear()
        conn = self._conn
        for tid, name, next_offset in conn.execute("SELECT id, name, next_offset FROM topics").fetchall():
            high = _high(conn, tid, next_offset)
            last = conn.execute(
                "SELECT max_ts, first_offset FROM time_index WHERE topic_id = ?"
                " ORDER BY max_ts DESC, first_offset DESC LIMIT 1",
                (tid,),
            ).fetchone()
            before, start = (last[0], last[1]) if last else (_MIN_TS, 0)
            tail = conn.execute(f"SELECT MAX(ts) FROM t{tid} WHERE offset >= ?", (start,)).fetchone()[0]
            running = before if tail is None else max(before, tail)
            self._topics[name] = _TopicState(tid, high, running)

    def _topic(self, name: str) -> _TopicState:
        state = self._topics.get(name)
        if state is None:
            cur = self._conn.execute("INSERT INTO topics (name, next_offset) VALUES (?, 0)", (name,))
            tid = int(cur.lastrowid or 0)
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS t{tid} (offset INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
                " key BLOB, value BLOB NOT NULL)"
            )
            state = _TopicState(tid, 0, _MIN_TS)
            self._topics[name] = state
        return state

    # -- the produce path ---------------------------------------------------------------------------------

    def submit(self, job: _Job) -> None:
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
        _resolve_all(done)
        if kick:
            self.drain(loop)

    def sync_idle(self) -> set[asyncio.AbstractEventLoop]:
        """The syncer has nothing left to sync: the loops that left batches pending meanwhile."""
        with self._plock:
            self._in_flight = False
            loops, self._deferred_loops = self._deferred_loops, set()
        return loops

    def _take(self) -> list[_Job]:
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
            _deliver(_waiters(self._take()), _closed_error(), None)

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

    def _commit(self, jobs: list[_Job], here: asyncio.AbstractEventLoop | None, *, wait: bool) -> None:
        """Write ``jobs`` in one transaction (the caller holds ``self.lock``), then pass their calls to the
        syncer (durable) or resolve them (not durable, or failed). Raises _Busy (nothing written) if the
        write lock is taken and ``wait`` is false."""
        if self.stopped:
            _deliver(_waiters(jobs), _closed_error(), here)
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
            _deliver(waiters, EventError(Codes.LOG_UNAVAILABLE, f"SQLite log write failed: {error}"), here)
            return
        self.commits += 1
        self.pages += pages
        if not self.durable:
            _deliver(waiters, None, here)
        elif waiters:
            with self._plock:
                self._in_flight = True
            self.syncer.committed(waiters)
        self.checkpointer.poke(self.pages)

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

    def _write(self, jobs: list[_Job]) -> int:
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
            if state.since_index < 0 or state.since_index >= _INDEX_EVERY:
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
                raise _closed_error() from None
            await asyncio.wrap_future(done)
        if self.durable:
            fut: asyncio.Future[Any] = loop.create_future()
            self.syncer.add_barrier(loop, fut)
            await fut

    def ensure(self, topics: Sequence[str]) -> None:
        """Create ``topics`` (on the committer thread: it may wait for the write lock)."""
        with self.lock:
            if self.stopped:
                raise _closed_error()
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
            raise _closed_error() from None

    def stop(self) -> None:
        """Commit what is queued, sync it, checkpoint, close. Calls queued after this fail as closed."""
        self._committer.shutdown(wait=True)
        with self.lock:
            jobs = self._take()
            while jobs:
                chunk, jobs = _split(jobs)
                self._commit(chunk, None, wait=True)
            self.stopped = True
        self.syncer.stop()
        self.checkpointer.stop()
        self._conn.close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def _split(jobs: list[_Job]) -> tuple[list[_Job], list[_Job]]:
    """The first transaction's worth of ``jobs`` (at most ``_MAX_ROWS_PER_COMMIT`` rows, one job at least)
    and the rest."""
    rows = 0
    for i, job in enumerate(jobs):
        rows += job.count
        if rows >= _MAX_ROWS_PER_COMMIT:
            return jobs[: i + 1], jobs[i + 1 :]
    return jobs, []


def _waiters(jobs: Iterable[_Job]) -> list[_Waiter]:
    return [(job.loop, job.future, job.count) for job in jobs if job.future is not None]


def _deliver(waiters: list[_Waiter], error: Exception | None, here: asyncio.AbstractEventLoop | None) -> None:
    """Resolve ``waiters`` (all succeeded, or all failed with ``error``): directly for the loop running on
    this thread (``here``), with one ``call_soon_threadsafe`` per other loop."""
    for loop, done in _outcomes(waiters, error).items():
        if loop is here:
            _resolve_all(done)
            continue
        try:
            loop.call_soon_threadsafe(_resolve_all, done)
        except RuntimeError:  # the producer's event loop is gone: nobody is waiting
            pass


def _outcomes(
    waiters: list[_Waiter], error: Exception | None
) -> dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]]:
    """loop -> [(future, outcome)] for ``waiters`` (all succeeded, or all failed with ``error``)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for loop, fut, count in waiters:
        if error is None:
            outcome: Any = [None] * count
        else:
            outcome = [error] * count if count else error  # a flush() barrier raises
        done = by_loop.get(loop)
        if done is None:
            by_loop[loop] = [(fut, outcome)]
        else:
            done.append((fut, outcome))
    return by_loop


def _resolve_all(done: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, outcome in done:
        if fut.done():
            continue
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)


class _Syncer:
    """The thread that makes commits durable: one fdatasync of the WAL per group of commits, then the calls
    committed before it began are resolved. See "Durability" in the module docstring."""

    def __init__(self, db_path: Path, partition: int, writer: _Writer) -> None:
        self.wal_path = db_path.with_name(db_path.name + "-wal")
        self.partition = partition
        self.writer = writer
        self.fsync: Callable[[int], None] = os.fdatasync  # a unit test swaps in a failing one
        self.fsyncs = 0
        self.failed: OSError | None = None  # set by a failed fsync: nothing after it is durable
        self._queue: queue.SimpleQueue[list[_Waiter] | None] = queue.SimpleQueue()
        self._stop_lock = threading.Lock()
        self._stopping = False
        self._fd = -1
        self._new_fd = False
        self._checked = 0.0  # when _wal_fd last checked that the WAL file is still linked
        self._thread = threading.Thread(target=self._run, name=f"sqlite-log-sync-{partition}", daemon=True)
        self._thread.start()

    def committed(self, waiters: list[_Waiter]) -> None:
        """``waiters``' rows are committed (called under the writer's lock, so never after ``stop``)."""
        self._queue.put(waiters)

    def add_barrier(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any]) -> None:
        """Resolve ``fut`` after an fsync that starts from now on."""
        with self._stop_lock:
            if self._stopping:
                fut.set_exception(_closed_error())
                return
            self._queue.put([(loop, fut, 0)])

    def stop(self) -> None:
        with self._stop_lock:
            self._stopping = True
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            waiters: list[_Waiter] = []
            while True:  # everything committed so far shares this fsync
                if item is None:
                    stop = True
                else:
                    waiters.extend(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if waiters:
                self._sync(waiters)
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def _sync(self, waiters: list[_Waiter]) -> None:
        """fdatasync the WAL, then resolve ``waiters`` (all were committed before it began)."""
        error = self.failed
        if error is None:
            try:
                fd = self._wal_fd()
                self.fsync(fd)
                if self._new_fd:  # a new WAL's directory entry must be durable too
                    dfd = os.open(self.wal_path.parent, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.fsync(dfd)
                    finally:
                        os.close(dfd)
                    self._new_fd = False
                self.fsyncs += 1
            except OSError as exc:
                log.error(
                    "fsync of %s failed: %s; the calls waiting on it fail and partition %d takes no more"
                    " writes until the log is re-opened",
                    self.wal_path,
                    exc,
                    self.partition,
                )
                self.failed = error = exc
        failure = None
        if error is not None:
            failure = EventError(Codes.LOG_UNAVAILABLE, f"SQLite log fsync failed: {error}")
        by_loop = _outcomes(waiters, failure)
        kick = self.writer.sync_idle() if self._queue.empty() else set()
        # one wake-up per event loop: its calls' outcomes, and the commit of what waited for this fsync
        for loop in by_loop.keys() | kick:
            try:
                loop.call_soon_threadsafe(self.writer.after_sync, loop, by_loop.get(loop, []), loop in kick)
            except RuntimeError:  # the loop is gone: nobody waits on it; its batches go to the committer
                if loop in kick:
                    self.writer.hand_off()

    def _wal_fd(self) -> int:
        """Our descriptor of the WAL file, re-opened if the file was unlinked or replaced."""
        fd = self._fd
        if fd >= 0:
            # SQLite removes the WAL only when its last connection closes, and the writer's stays open, so
            # this guards against outside interference only: checked once a second, as every system call
            # here costs a GIL hand-off with the busy event loop thread
            now = time.monotonic()
            if now < self._checked + 1.0:
                return fd
            self._checked = now
            if os.fstat(fd).st_nlink > 0:  # an unlinked or replaced (renamed over) file has no link left
                return fd
            log.warning("the WAL %s was removed or replaced behind SQLite's back; re-opening", self.wal_path)
            self._fd = -1
            os.close(fd)
        self._fd = os.open(self.wal_path, os.O_RDONLY | os.O_CLOEXEC)
        self._new_fd = True
        return self._fd


class _Checkpointer:
    """The thread that keeps the WAL short: PASSIVE checkpoints on its own connection, about every
    ``_CHECKPOINT_PAGES`` pages the writer commits.

    A checkpoint that runs while commits go on never copies the newest frames, and SQLite starts the WAL
    over only if a write transaction begins when *every* frame is copied. So a checkpoint is two passes:
    the bulk without any lock (commits continue on the event loop), then, if anything was committed
    meanwhile, a short catch-up pass holding the writer's lock (for that moment the event loop hands its
    batches to the committer thread rather than wait). The next commit then restarts the WAL, unless a
    reader in another process still reads old frames; the next checkpoint tries again."""

    def __init__(self, writer: _Writer) -> None:
        self.writer = writer
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
        if pages - self._mark >= _CHECKPOINT_PAGES and not self._wake.is_set():
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

    def stop(self) -> None:
        """Stop the thread and checkpoint a last time (the writer commits nothing any more)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self.checkpoint(final=True)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()


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


class _Watch:
    """The delivery timeout of one event loop's produce calls: a deque of pending jobs (commits are FIFO, so
    the oldest is first) and one timer that fires every second while any is pending. The commit may still
    happen later: like a Kafka delivery timeout, the outcome of a timed-out call is unknown."""

    def __init__(self, log: SQLiteLog, loop: asyncio.AbstractEventLoop) -> None:
        self.log, self.loop = log, loop
        self.pending: deque[tuple[float, _Job]] = deque()
        self.armed = False

    def add(self, job: _Job) -> None:
        pending = self.pending
        while pending and pending[0][1].future.done():  # type: ignore[union-attr]
            pending.popleft()
        pending.append((time.monotonic() + self.log.delivery_timeout, job))
        if not self.armed:
            self.armed = True
            self.loop.call_later(min(1.0, self.log.delivery_timeout), self.check)

    def check(self) -> None:
        pending, now, timeout = self.pending, time.monotonic(), self.log.delivery_timeout
        while pending:
            deadline, job = pending[0]
            fut = job.future
            assert fut is not None
            if not fut.done():
                if deadline > now:
                    break
                failure = EventError(
                    Codes.DELIVERY_TIMEOUT, f"SQLite log did not commit within {timeout:g} s"
                )
                fut.set_result([failure] * job.count)
            pending.popleft()
        # later jobs may be done while an earlier one waits; they are dropped when they reach the front
        if pending:
            self.loop.call_later(min(1.0, timeout), self.check)
        else:
            self.armed = False
            if self.log._watches.get(self.loop) is self:
                del self.log._watches[self.loop]


def _claim(directory: Path, wanted: int | None) -> tuple[int, int]:
    """Lock a partition: ``wanted`` or the first free one. Returns (partition, lock fd)."""
    n = 0 if wanted is None else wanted
    while True:
        fd = os.open(directory / f"partition-{n}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if wanted is not None:
                raise EventError(
                    Codes.LOG_UNAVAILABLE, f"partition {wanted} of {directory} is held by another process"
                ) from None
            n += 1
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return n, fd


def _high(conn: sqlite3.Connection, tid: int, next_offset: int) -> int:
    """The next offset of a topic: its last record + 1, or the persisted ``next_offset`` when retention
    deleted the last records (the writer does not update ``topics`` on every commit)."""
    last = conn.execute(f"SELECT MAX(offset) FROM t{tid}").fetchone()[0]
    return int(next_offset) if last is None else max(int(next_offset), int(last) + 1)


def _offset_for_time(conn: sqlite3.Connection, tid: int, ts: int) -> int | None:
    """The earliest offset whose timestamp is >= ``ts`` (Kafka's offsetsForTimes), None if there is none.

    ``time_index`` rows are checkpoints (first_offset F, max_ts = the maximum timestamp of every record
    before F), written every ``_INDEX_EVERY`` records at most; that maximum never decreases with F. So every
    record before the last checkpoint whose maximum is < ts is older than ts, and the answer is the first
    record at or after that checkpoint with a timestamp >= ts: one index seek and a short scan."""
    row = conn.execute(
        "SELECT first_offset FROM time_index WHERE topic_id = ? AND max_ts < ?"
        " ORDER BY max_ts DESC, first_offset DESC LIMIT 1",
        (tid, ts),
    ).fetchone()
    start = 0 if row is None else int(row[0])
    hit = conn.execute(
        f"SELECT offset FROM t{tid} WHERE offset >= ? AND ts >= ? ORDER BY offset LIMIT 1", (start, ts)
    ).fetchone()
    return None if hit is None else int(hit[0])


def _purge(path: Path, topic: str, timestamp_ms: int) -> int:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT id, next_offset FROM topics WHERE name = ?", (topic,)).fetchone()
        except sqlite3.OperationalError:  # a partition without any table yet
            conn.execute("ROLLBACK")
            return 0
        if found is None:
            conn.execute("ROLLBACK")
            return 0
        tid, next_offset = found
        high = _high(conn, tid, next_offset)
        found_at = _offset_for_time(conn, tid, timestamp_ms)
        cut = high if found_at is None else found_at
        # offsets must never restart, even when every record goes
        conn.execute("UPDATE topics SET next_offset = ? WHERE id = ?", (high, tid))
        deleted = conn.execute(f"DELETE FROM t{tid} WHERE offset < ?", (cut,)).rowcount
        # keep the index entry of the batch that holds ``cut``
        conn.execute(
            "DELETE FROM time_index WHERE topic_id = ? AND first_offset < (SELECT MAX(first_offset)"
            " FROM time_index WHERE topic_id = ? AND first_offset <= ?)",
            (tid, tid, cut),
        )
        conn.execute("COMMIT")
        return int(deleted)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


class _Reader:
    """A read-only connection to one partition file, used from worker threads one call at a time."""

    def __init__(self, path: Path, partition: int) -> None:
        self.path = path
        self.partition = partition
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA mmap_size=268435456")
        return self._conn

    def topics(self) -> dict[str, tuple[int, int]]:
        """name -> (table id, next offset); {} for a partition that has no schema yet."""
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute("SELECT name, id, next_offset FROM topics").fetchall()
                return {name: (tid, _high(conn, tid, nxt)) for name, tid, nxt in rows}
            except sqlite3.OperationalError:  # no schema yet, or a topic table being created
                return {}

    def watermarks(self, tid: int, nxt: int) -> tuple[int, int]:
        with self._lock:
            row = self._connection().execute(f"SELECT MIN(offset) FROM t{tid}").fetchone()
        low = row[0] if row and row[0] is not None else nxt
        return int(low), int(nxt)

    def offset_for_time(self, tid: int, ts: int) -> int | None:
        with self._lock:
            return _offset_for_time(self._connection(), tid, ts)

    def read(self, tid: int, start: int, end: int | None, limit: int) -> list[tuple[int, int, Any, Any]]:
        with self._lock:
            if end is None:
                return (
                    self._connection()
                    .execute(
                        f"SELECT offset, ts, key, value FROM t{tid} WHERE offset >= ?"
                        " ORDER BY offset LIMIT ?",
                        (start, limit),
                    )
                    .fetchall()
                )
            return (
                self._connection()
                .execute(
                    f"SELECT offset, ts, key, value FROM t{tid} WHERE offset >= ? AND offset < ?"
                    " ORDER BY offset LIMIT ?",
                    (start, end, limit),
                )
                .fetchall()
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SQLiteLog(ColumnarLog):
    """An :class:`EventLog` in a directory of SQLite partition files (see the module docstring)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        partition: int | None = None,
        synchronous: str = "full",
        create: bool = True,
        delivery_timeout: float = 30.0,
    ) -> None:
        self.directory = Path(directory)
        if create:
            self.directory.mkdir(parents=True, exist_ok=True)
        elif not self.directory.is_dir():
            raise EventError(Codes.LOG_UNAVAILABLE, f"SQLite log directory {self.directory} does not exist")
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        self.synchronous = synchronous
        self.delivery_timeout = float(delivery_timeout)
        self._wanted_partition = partition
        self._writer: _Writer | None = None
        self._writer_lock = threading.Lock()
        self._readers: dict[int, _Reader] = {}
        self._watches: dict[asyncio.AbstractEventLoop, _Watch] = {}
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteLog:
        """``sqlite:///abs/dir``, or ``sqlite:///./rel/dir`` (also ``sqlite://rel/dir``) relative to the
        working directory; options as a query string (``?synchronous=normal&partition=2``) or keywords."""
        if not url.startswith("sqlite://"):
            raise ValueError(f"not a sqlite log URL: {url!r}")
        rest = url[len("sqlite://") :]
        path, _, query = rest.partition("?")
        if not path:
            raise ValueError(f"sqlite log URL {url!r} names no directory")
        if path.startswith(("/./", "/../")):  # sqlite:///./dir: relative to the working directory
            path = path[1:]
        elif path.startswith("//"):  # sqlite:////abs/dir (SQLAlchemy's spelling) is the same directory
            path = "/" + path.lstrip("/")
        opts: dict[str, Any] = dict(parse_qsl(query))
        if "partition" in opts:
            opts["partition"] = int(opts["partition"])
        if "delivery_timeout" in opts:
            opts["delivery_timeout"] = float(opts["delivery_timeout"])
        opts.update(options)
        return cls(path, **opts)

    # -- producing ---------------------------------------------------------------------------------------

    @property
    def partition(self) -> int | None:
        """The partition this process writes, once claimed."""
        return self._writer.partition if self._writer else None

    def claim(self) -> int:
        """Claim a partition now (otherwise the first produce does)."""
        return self._ensure_writer().partition

    def _ensure_writer(self) -> _Writer:
        if self._closed:
            raise EventError(Codes.LOG_UNAVAILABLE, "the SQLite log is closed")
        w = self._writer
        if w is None:
            with self._writer_lock:
                if self._writer is None:
                    n, fd = _claim(self.directory, self._wanted_partition)
                    try:
                        self._writer = _Writer(self.directory, n, fd, self.synchronous)
                    except Exception:
                        os.close(fd)
                        raise
                w = self._writer
        return w

    async def produce_columns(
        self,
        topics: Sequence[str],
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        timestamps: Sequence[int | None],
        *,
        hasty: bool = False,
    ) -> list[Exception | None]:
        """:meth:`produce` of the messages ``(topics[i], values[i], keys[i], timestamps[i])``, without a
        Message object per event (the intake pipeline's form). The sequences must not change until this
        returns."""
        if not values:
            return []
        try:
            writer = self._writer or await asyncio.to_thread(self._ensure_writer)
        except EventError as exc:
            return [exc] * len(values)
        except (OSError, sqlite3.Error) as exc:
            return [EventError(Codes.LOG_UNAVAILABLE, f"cannot open the SQLite log: {exc}")] * len(values)
        if writer.syncer.failed is not None:
            failure = EventError(
                Codes.LOG_UNAVAILABLE,
                f"SQLite log fsync failed earlier ({writer.syncer.failed}); re-open the log to write again",
            )
            return [failure] * len(values)
        if None in timestamps:
            now = _now_ms()
            stamps: Sequence[int] = [now if t is None else t for t in timestamps]
        else:
            stamps = timestamps  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        if hasty:  # committed at the loop's next iteration, not awaited
            writer.submit(_Job(topics, values, keys, stamps, loop, None))
            return [None] * len(values)
        fut: asyncio.Future[list[Exception | None]] = loop.create_future()
        job = _Job(topics, values, keys, stamps, loop, fut)
        writer.submit(job)
        # one watchdog timer per event loop rather than a timer per call (2.5-4 µs each with uvloop)
        watch = self._watches.get(loop)
        if watch is None:
            watch = self._watches[loop] = _Watch(self, loop)
        watch.add(job)
        return await fut

    async def flush(self, timeout: float | None = None) -> int:
        """Wait until everything produced so far (hasty included) is committed and, with
        ``synchronous="full"``, fsynced; returns 0 (nothing left). Raises ``EventError(LOG_UNAVAILABLE)``
        if that fsync failed."""
        if self._writer is None:
            return 0
        await asyncio.wait_for(self._writer.barrier(), timeout)
        return 0

    @property
    def counters(self) -> dict[str, int]:
        """Transactions committed, WAL fsyncs and checkpoints of this process's partition so far."""
        w = self._writer
        if w is None:
            return {"commits": 0, "fsyncs": 0, "checkpoints": 0}
        return {"commits": w.commits, "fsyncs": w.syncer.fsyncs, "checkpoints": w.checkpointer.checkpoints}

    async def ensure_topics(
        self, topics: Sequence[str], *, partitions: int | None = None, replication: int | None = None
    ) -> None:
        """Creates the topics in this process's partition if it has claimed one; otherwise nothing to do
        (a topic appears in a partition with its first event)."""
        if self._writer is not None and topics:
            writer, names = self._writer, list(topics)
            await asyncio.wrap_future(writer.run(lambda: writer.ensure(names)))
            if writer.durable:
                await writer.barrier()

    # -- reading -----------------------------------------------------------------------------------------

    def _discover(self) -> list[_Reader]:
        found = []
        for entry in os.scandir(self.directory):
            m = _PARTITION_FILE.match(entry.name)
            if m:
                n = int(m.group(1))
                reader = self._readers.get(n)
                if reader is None:
                    reader = self._readers[n] = _Reader(Path(entry.path), n)
                found.append(reader)
        return sorted(found, key=lambda r: r.partition)

    def _topic_map(self) -> dict[tuple[str, int], tuple[_Reader, int, int]]:
        """(topic, partition) -> (reader, table id, next offset)."""
        out = {}
        for reader in self._discover():
            for name, (tid, nxt) in reader.topics().items():
                out[(name, reader.partition)] = (reader, tid, nxt)
        return out

    async def list_topics(self) -> list[str]:
        tmap = await asyncio.to_thread(self._topic_map)
        return sorted({t for t, _ in tmap})

    async def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        def fetch() -> dict[int, tuple[int, int]]:
            out = {}
            for (t, p), (reader, tid, nxt) in self._topic_map().items():
                if t == topic:
                    out[p] = reader.watermarks(tid, nxt)
            return dict(sorted(out.items()))

        return await asyncio.to_thread(fetch)

    def _start_offset(self, start: Start, topic: str, reader: _Reader, tid: int, nxt: int) -> int:
        low, high = reader.watermarks(tid, nxt)
        kind = start.kind
        if kind == "offsets":
            assert start.offsets is not None
            given = start.offsets.get((topic, reader.partition))
            if given is not None:
                return min(max(given, low), high)
            kind = start.fallback
        if kind == "timestamp":
            assert start.timestamp_ms is not None
            found = reader.offset_for_time(tid, start.timestamp_ms)
            return high if found is None else max(found, low)
        if kind == "beginning":
            return low
        return high

    def consume(
        self, topics: Sequence[str], start: Start, *, follow: bool = False, poll_interval: float = 0.2
    ) -> AsyncIterator[Record]:
        return self._consume(list(topics), start, follow, poll_interval)

    async def _consume(
        self, topics: list[str], start: Start, follow: bool, poll_interval: float
    ) -> AsyncIterator[Record]:
        wanted = set(topics)

        def plan(known: dict[tuple[str, int], list[Any]], initial: bool) -> None:
            for (t, p), (reader, tid, nxt) in self._topic_map().items():
                if t not in wanted or (t, p) in known:
                    continue
                # partitions that appear later hold only events written after we began: read them whole
                offset = self._start_offset(start, t, reader, tid, nxt) if initial else 0
                end = nxt if not follow else None
                known[(t, p)] = [reader, tid, offset, end]

        state: dict[tuple[str, int], list[Any]] = {}  # (topic, partition) -> [reader, tid, next, end]
        await asyncio.to_thread(plan, state, True)
        next_discovery = time.monotonic() + _DISCOVERY_INTERVAL
        while True:
            got_any = False
            for (t, p), st in list(state.items()):
                reader, tid, offset, end = st
                if end is not None and offset >= end:
                    continue
                rows = await asyncio.to_thread(reader.read, tid, offset, end, _READ_CHUNK)
                if not rows:
                    continue
                got_any = True
                for off, ts, key, value in rows:
                    yield Record(t, p, off, ts, key, value)
                st[2] = rows[-1][0] + 1
            if not follow and all(st[3] is not None and st[2] >= st[3] for st in state.values()):
                return
            if not got_any and not follow:
                return  # nothing left below the ends (retention may have deleted some meanwhile)
            if follow:
                if not got_any:
                    await asyncio.sleep(poll_interval)
                # new partitions and topics, also while busy: a steady stream must not hide them
                if not got_any or time.monotonic() >= next_discovery:
                    next_discovery = time.monotonic() + _DISCOVERY_INTERVAL
                    await asyncio.to_thread(plan, state, False)

    # -- maintenance -------------------------------------------------------------------------------------

    async def delete_before(self, topic: str, timestamp_ms: int) -> int:
        """Retention: in every partition, delete the records of ``topic`` before the first record at or
        after ``timestamp_ms`` (in offset order, like Kafka's time-based retention). Returns the rows
        deleted. Works on partitions whose writer is running: SQLite serializes the two writers, and the
        writer never reads what is deleted (offsets stay in ``topics.next_offset``)."""

        def purge_all() -> int:
            return sum(_purge(r.path, topic, timestamp_ms) for r in self._discover())

        return await asyncio.to_thread(purge_all)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        w, self._writer = self._writer, None
        if w is not None:
            await asyncio.to_thread(w.stop)
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
