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
* **Group commit.** ``produce`` hands its batch to a writer thread and awaits a future. The writer drains
  everything queued, writes it in **one transaction** (``executemany`` per topic, offsets assigned in
  memory) and resolves every waiting future after ``COMMIT``. Concurrent requests share one commit.
* **Durability.** ``synchronous="full"`` (default): WAL + ``synchronous=FULL`` fsyncs the WAL at every
  commit, so an acknowledged event survives a power loss, not only a crash. ``synchronous="normal"``
  (WAL + NORMAL) skips that fsync: the commit is still written to the OS before we acknowledge, which is
  enough to survive a SIGKILL of the process (the test kills a producer that way), but not a kernel crash or
  power loss. Choose in the URL: ``sqlite:///DIR?synchronous=normal``.
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
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from eventplatform.errors import Codes, EventError
from eventplatform.log.base import Message, Record, Start

log = logging.getLogger(__name__)

_PARTITION_FILE = re.compile(r"^partition-(\d+)\.db$")
_MAX_ROWS_PER_COMMIT = 100_000
_READ_CHUNK = 2_000
_INDEX_EVERY = 1_000  # records between time_index checkpoints
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
class _Call:
    fn: Callable[[], Any]
    future: concurrent.futures.Future[Any]


@dataclass(slots=True)
class _TopicState:
    id: int
    next_offset: int
    max_ts: int  # running maximum of every timestamp written so far
    since_index: int = -1  # rows since the last time_index entry; -1 = write one at the next commit
    table: str = field(init=False)

    def __post_init__(self) -> None:
        self.table = f"t{self.id}"


class _Writer:
    """Owns one partition: its lock, its read-write connection and the group-commit thread."""

    def __init__(self, directory: Path, partition: int, lock_fd: int, synchronous: str) -> None:
        self.partition = partition
        self.path = directory / f"partition-{partition}.db"
        self._lock_fd = lock_fd
        self._queue: queue.SimpleQueue[_Job | _Call | None] = queue.SimpleQueue()
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=512
        )
        self._conn.execute("PRAGMA page_size=16384")  # only takes effect in a new file; fewer page splits
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        self._conn.execute("PRAGMA cache_size=-65536")
        self._conn.execute("PRAGMA busy_timeout=30000")  # retention may hold the write lock briefly
        self._conn.executescript(_SCHEMA)
        self._topics: dict[str, _TopicState] = {}
        self._load_topics()
        self._thread = threading.Thread(target=self._run, name=f"sqlite-log-writer-{partition}", daemon=True)
        self._thread.start()

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

    def submit(self, job: _Job) -> None:
        self._queue.put(job)

    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn`` on the writer thread, after everything queued before it is committed."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.put(_Call(fn, fut))
        return fut

    def ensure(self, topics: Sequence[str]) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for t in topics:
                self._topic(t)
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            self._load_topics()
            raise

    def _run(self) -> None:
        stop = False
        while not stop:
            item: _Job | _Call | None = self._queue.get()
            batch: list[_Job] = []
            rows = 0
            while True:
                if item is None:
                    stop = True
                    break
                if isinstance(item, _Job):
                    batch.append(item)
                    rows += item.count
                else:
                    if batch:
                        self._commit(batch)
                        batch, rows = [], 0
                    self._run_call(item)
                if rows >= _MAX_ROWS_PER_COMMIT:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
        self._conn.close()

    @staticmethod
    def _run_call(call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            call.future.set_result(call.fn())
        except BaseException as exc:
            call.future.set_exception(exc)

    def _commit(self, jobs: list[_Job]) -> None:
        error: Exception | None = None
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            # topic -> [(values, keys, stamps)]; rows are then streamed to executemany by C-level iterators
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
                if len(parts) == 1:
                    values, keys, stamps = parts[0]
                    rows: Any = zip(range(first, first + count), stamps, keys, values, strict=True)
                    top = max(stamps)
                else:
                    rows = zip(
                        range(first, first + count),
                        chain.from_iterable(p[2] for p in parts),
                        chain.from_iterable(p[1] for p in parts),
                        chain.from_iterable(p[0] for p in parts),
                        strict=True,
                    )
                    top = max(max(p[2]) for p in parts)
                _insert(conn, state.table, rows, count)
                if top > state.max_ts:
                    state.max_ts = top
                state.next_offset = first + count
                state.since_index += count
            conn.execute("COMMIT")
        except Exception as exc:
            log.exception("SQLite log commit failed (partition %d)", self.partition)
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                self._load_topics()  # forget offsets handed out in the failed transaction
            error = exc
        # one wake-up per event loop per commit, not one per request
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], _Outcome]]] = {}
        for job in jobs:
            if job.future is None:
                continue
            if error is None:
                outcome: list[Exception | None] = [None] * job.count
            else:
                failure = EventError(Codes.LOG_UNAVAILABLE, f"SQLite log write failed: {error}")
                outcome = [failure] * job.count
            by_loop.setdefault(job.loop, []).append((job.future, outcome))
        for loop, done in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, done)
            except RuntimeError:  # the producer's event loop is gone: nobody is waiting
                pass

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def _resolve_all(done: list[tuple[asyncio.Future[list[Exception | None]], list[Exception | None]]]) -> None:
    for fut, outcome in done:
        if not fut.done():
            fut.set_result(outcome)


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


class SQLiteLog:
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

    async def produce(self, messages: Sequence[Message], *, hasty: bool = False) -> list[Exception | None]:
        if not messages:
            return []
        return await self.produce_columns(
            [m.topic for m in messages],
            [m.value for m in messages],
            [m.key for m in messages],
            [m.timestamp_ms for m in messages],
            hasty=hasty,
        )

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
        if None in timestamps:
            now = _now_ms()
            stamps: Sequence[int] = [now if t is None else t for t in timestamps]
        else:
            stamps = timestamps  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        if hasty:
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
        """Wait until everything queued (hasty included) is committed; returns 0 (nothing left)."""
        if self._writer is None:
            return 0
        await asyncio.wait_for(asyncio.wrap_future(self._writer.call(lambda: None)), timeout)
        return 0

    async def ensure_topics(
        self, topics: Sequence[str], *, partitions: int | None = None, replication: int | None = None
    ) -> None:
        """Creates the topics in this process's partition if it has claimed one; otherwise nothing to do
        (a topic appears in a partition with its first event)."""
        if self._writer is not None and topics:
            writer, names = self._writer, list(topics)
            await asyncio.wrap_future(writer.call(lambda: writer.ensure(names)))

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
