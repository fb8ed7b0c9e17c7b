"""Reading: read-only connections to every partition file, merged into one stream of records.

Readers open every ``partition-*.db`` read-only (WAL mode: they never block the writer) and look for new
partition files now and then while following, so a worker that starts later is picked up.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import time
from array import array
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from eventplatform.log.base import Block, Record, Start
from eventplatform.log.sqlite.schema import PARTITION_FILE, high, offset_for_time

_READ_CHUNK = 2_000
_DISCOVERY_INTERVAL = 1.0

TopicMap = dict[tuple[str, int], tuple["Reader", int, int]]  # (topic, partition) -> (reader, table id, next)


class Reader:
    """A read-only connection to one partition file, used from worker threads one call at a time."""

    def __init__(self, path: Path, partition: int, inode: int = 0) -> None:
        self.path = path
        self.partition = partition
        self.inode = inode  # of the file when found: a partition re-created under it is re-opened
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
                return {name: (tid, high(conn, tid, nxt)) for name, tid, nxt in rows}
            except sqlite3.OperationalError:  # no schema yet, or a topic table being created
                return {}

    def watermarks(self, tid: int, nxt: int) -> tuple[int, int]:
        with self._lock:
            row = self._connection().execute(f"SELECT MIN(offset) FROM t{tid}").fetchone()
        low = row[0] if row and row[0] is not None else nxt
        return int(low), int(nxt)

    def offset_for_time(self, tid: int, ts: int) -> int | None:
        with self._lock:
            return offset_for_time(self._connection(), tid, ts)

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

    def read_block(self, tid: int, start: int, end: int) -> tuple[int, int, bytes, bytes, bytes]:
        """Records ``[start, end)`` aggregated by SQLite itself (no Python object per record): their
        count, first offset, the offsets as 16-digit hex (empty when dense), the timestamps as 16-digit
        hex, and the values joined by newlines (see :class:`eventplatform.log.base.Block`). Offsets are
        dense but where retention deleted, and values rarely hold a newline: those take a slower query."""
        rows = f"(SELECT offset, ts, value FROM t{tid} WHERE offset >= ? AND offset < ? ORDER BY offset)"
        with self._lock:
            conn = self._connection()
            n, low, top, stamps, data = conn.execute(
                "SELECT count(*), min(offset), max(offset),"
                " CAST(group_concat(printf('%016x', ts), '') AS BLOB),"
                f" CAST(group_concat(value, x'0a') AS BLOB) FROM {rows}",
                (start, end),
            ).fetchone()
            if not n:
                return 0, 0, b"", b"", b""
            if data.count(b"\n") != n - 1:
                (data,) = conn.execute(
                    f"SELECT CAST(group_concat(CAST(replace(value, x'0a', x'20') AS BLOB), x'0a') AS BLOB)"
                    f" FROM {rows}",
                    (start, end),
                ).fetchone()
            offsets = b""
            if top - low + 1 != n:
                (offsets,) = conn.execute(
                    f"SELECT CAST(group_concat(printf('%016x', offset), '') AS BLOB) FROM {rows}",
                    (start, end),
                ).fetchone()
        return int(n), low, offsets, stamps, data

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class Partitions:
    """The partition files of a log directory, each with its :class:`Reader`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._readers: dict[int, Reader] = {}

    def discover(self) -> list[Reader]:
        found = []
        for entry in os.scandir(self.directory):
            m = PARTITION_FILE.match(entry.name)
            if m:
                n = int(m.group(1))
                reader = self._readers.get(n)
                if reader is None:
                    reader = self._readers[n] = Reader(Path(entry.path), n, entry.inode())
                elif reader.inode != entry.inode():  # deleted and re-created (log.faults): re-open
                    reader.close()
                    reader.inode = entry.inode()
                found.append(reader)
        return sorted(found, key=lambda r: r.partition)

    def topic_map(self) -> TopicMap:
        """(topic, partition) -> (reader, table id, next offset)."""
        out = {}
        for reader in self.discover():
            for name, (tid, nxt) in reader.topics().items():
                out[(name, reader.partition)] = (reader, tid, nxt)
        return out

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


def _start_offset(start: Start, topic: str, reader: Reader, tid: int, nxt: int) -> int:
    low, top = reader.watermarks(tid, nxt)
    kind = start.kind
    if kind == "offsets":
        assert start.offsets is not None
        given = start.offsets.get((topic, reader.partition))
        if given is not None:
            return min(max(given, low), top)
        kind = start.fallback
    if kind == "timestamp":
        assert start.timestamp_ms is not None
        found = reader.offset_for_time(tid, start.timestamp_ms)
        return top if found is None else max(found, low)
    if kind == "beginning":
        return low
    return top


def _int64s(hexes: bytes) -> array:
    out = array("q")
    out.frombytes(bytes.fromhex(hexes.decode("ascii")))
    if sys.byteorder == "little":
        out.byteswap()
    return out


def block(topic: str, partition: int, answer: tuple[int, int, bytes, bytes, bytes]) -> Block:
    """A :class:`Block` from :meth:`Reader.read_block`'s answer."""
    n, low, offsets, stamps, data = answer
    return Block(
        topic,
        partition,
        _int64s(offsets) if offsets else array("q", range(low, low + n)),
        _int64s(stamps),
        data,
    )


async def read_blocks(
    partitions: Partitions, topic: str, partition: int, start: int, end: int, max_records: int
) -> AsyncIterator[Block]:
    """:meth:`EventLog.read_blocks`: ``max_records`` offsets at a time, from the low watermark at least."""
    found = (await asyncio.to_thread(partitions.topic_map)).get((topic, partition))
    if found is None:
        return
    reader, tid, nxt = found
    low, _ = await asyncio.to_thread(reader.watermarks, tid, nxt)
    lo = max(start, low)
    while lo < end:
        hi = min(lo + max(1, max_records), end)
        answer = await asyncio.to_thread(reader.read_block, tid, lo, hi)
        if answer[0]:
            yield block(topic, partition, answer)
        lo = hi


async def consume(
    partitions: Partitions, topics: list[str], start: Start, follow: bool, poll_interval: float
) -> AsyncIterator[Record]:
    """The records of :meth:`EventLog.consume` (a partition that appears later is read whole: it holds only
    events written after we began)."""
    wanted = set(topics)

    def plan(known: dict[tuple[str, int], list[Any]], initial: bool) -> None:
        for (t, p), (reader, tid, nxt) in partitions.topic_map().items():
            if t not in wanted or (t, p) in known:
                continue
            # partitions that appear later hold only events written after we began: read them whole
            offset = _start_offset(start, t, reader, tid, nxt) if initial else 0
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
