"""The embedded SQLite backend of :class:`EventLog`: a directory of partitions, one database file each.

Layout of ``sqlite:///DIR``::

    DIR/partition-<n>.db     WAL-mode database: one writer process, any number of readers
    DIR/partition-<n>.lock   claimed with fcntl.flock by the process that writes partition n

**Partitioned like Kafka.** One SQLite writer has a ceiling (docs/benchmarks.md), so every intake worker
process writes its own partition (:mod:`.partitions`) and writers never contend; readers merge every
partition (:mod:`.reader`). Per partition: the produce path and group commit in :mod:`.writer`, the fsync in
:mod:`.sync`, checkpoints in :mod:`.checkpoint`, the table layout in :mod:`.schema`, retention in
:mod:`.retention`. docs/architecture.md ("The event log") follows one batch through them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from eventplatform.errors import Causes, Codes, EventError
from eventplatform.log.base import Batch, Block, NotSupported, Record, Start
from eventplatform.log.sqlite import faults, reader
from eventplatform.log.sqlite.checkpoint import CHECKPOINT_PAGES
from eventplatform.log.sqlite.partitions import claim_partition
from eventplatform.log.sqlite.retention import purge
from eventplatform.log.sqlite.schema import INDEX_EVERY
from eventplatform.log.sqlite.sync import closed_error
from eventplatform.log.sqlite.watch import Watch
from eventplatform.log.sqlite.writer import Job, Writer

log = logging.getLogger("eventplatform.log.sqlite")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class SQLiteLog:
    """An :class:`EventLog` in a directory of SQLite partition files (see the module docstring).

    ``index_every`` (records between time-index checkpoints), ``checkpoint_pages`` (WAL pages between
    checkpoints) and ``fsync`` (the call that syncs the WAL) are tuning and test hooks: the defaults are the
    production values; tests make the first two small and pass a failing ``fsync``."""

    def __init__(
        self,
        directory: str | Path,
        *,
        partition: int | None = None,
        synchronous: str = "full",
        create: bool = True,
        delivery_timeout: float = 30.0,
        index_every: int = INDEX_EVERY,
        checkpoint_pages: int = CHECKPOINT_PAGES,
        fsync: Callable[[int], None] = os.fdatasync,
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
        self._tuning: dict[str, Any] = {
            "index_every": int(index_every),
            "checkpoint_pages": int(checkpoint_pages),
            "fsync": fsync,
        }
        self._wanted_partition = partition
        self._writer: Writer | None = None
        self._writer_lock = threading.Lock()
        self._partitions = reader.Partitions(self.directory)
        self._watches: dict[asyncio.AbstractEventLoop, Watch] = {}
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

    def _ensure_writer(self) -> Writer:
        if self._closed:
            raise closed_error()
        w = self._writer
        if w is None:
            with self._writer_lock:
                if self._writer is None:
                    n, fd = claim_partition(self.directory, self._wanted_partition)
                    try:
                        self._writer = Writer(self.directory, n, fd, self.synchronous, **self._tuning)
                    except Exception:
                        os.close(fd)
                        raise
                w = self._writer
        return w

    async def produce(self, batch: Batch, *, hasty: bool = False) -> list[Exception | None]:
        """:meth:`EventLog.produce`: joins this loop iteration's transaction (:mod:`.writer`). A partition
        whose file was deleted is re-created first, and a call refused because of that is re-tried once
        (:mod:`.faults`)."""
        if not batch.values:
            return []
        out = await self._produce(batch, hasty)
        if any(isinstance(o, EventError) and o.cause == Causes.LOG_MISSING for o in out):
            out = await self._produce(batch, hasty)
        return out

    async def _produce(self, batch: Batch, hasty: bool) -> list[Exception | None]:
        values = batch.values
        try:
            writer = self._writer or await asyncio.to_thread(self._ensure_writer)
        except EventError as exc:
            return [exc] * len(values)
        except (OSError, sqlite3.Error) as exc:
            return [faults.failure("opening", self.directory, exc)] * len(values)
        if writer.gone:
            failure = await asyncio.to_thread(self._recreate, writer)
            if failure is not None:
                return [failure] * len(values)
            if self._writer is None:
                return [closed_error()] * len(values)
            writer = self._writer
        if writer.syncer.failed is not None:
            failure = EventError(
                Codes.LOG_UNAVAILABLE,
                f"SQLite log fsync failed earlier ({writer.syncer.failed}); re-open the log to write again",
                cause=Causes.FSYNC_FAILED,
            )
            return [failure] * len(values)
        timestamps = batch.timestamps
        if None in timestamps:
            now = now_ms()
            stamps: Sequence[int] = [now if t is None else t for t in timestamps]
        else:
            stamps = timestamps  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        if hasty:  # committed at the loop's next iteration, not awaited
            writer.submit(Job(batch.topics, values, batch.keys, stamps, loop, None))
            return [None] * len(values)
        fut: asyncio.Future[list[Exception | None]] = loop.create_future()
        job = Job(batch.topics, values, batch.keys, stamps, loop, fut)
        writer.submit(job)
        # one watchdog timer per event loop rather than a timer per call
        watch = self._watches.get(loop)
        if watch is None:
            watch = self._watches[loop] = Watch(self._watches, loop, self.delivery_timeout)
        watch.add(job)
        return await fut

    def _recreate(self, old: Writer) -> EventError | None:
        """The partition file of ``old`` was deleted: re-create the directory, claim the partition again,
        copy the open database into it and open a new writer. Returns why it could not (the old writer then
        stays, to be salvaged at the next attempt). Runs in a worker thread."""
        with self._writer_lock:
            if self._writer is not old:
                return None  # another call did it
            if self._closed:
                return closed_error()
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                return faults.failure("re-creating the directory", self.directory, exc)
            try:
                try:
                    n, fd = claim_partition(self.directory, old.partition)
                except EventError:  # another process took its number meanwhile
                    n, fd = claim_partition(self.directory, None)
            except OSError as exc:
                return faults.failure("claiming a partition in", self.directory, exc)
            path = self.directory / f"partition-{n}.db"
            try:
                old.salvage(path)
            except (OSError, sqlite3.Error) as exc:
                os.close(fd)
                return faults.failure("re-creating", path, exc)
            self._writer = None
            try:
                self._writer = Writer(self.directory, n, fd, self.synchronous, **self._tuning)
            except (OSError, sqlite3.Error) as exc:
                os.close(fd)
                return faults.failure("opening", path, exc)
            log.warning("re-created %s from the open copy of the deleted partition %d", path, old.partition)
            return None

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

    def describe(self) -> Mapping[str, Any]:
        """For diagnostics and tests: ``watchdogs`` counts the event loops with produce calls still
        waiting for their commit (0 once everything is answered)."""
        w = self._writer
        return {
            "backend": "sqlite",
            "directory": str(self.directory),
            "synchronous": self.synchronous,
            "delivery_timeout": self.delivery_timeout,
            "partition": self.partition,
            "fsync_failed": None if w is None or w.syncer.failed is None else str(w.syncer.failed),
            "watchdogs": len(self._watches),
            **self.counters,
        }

    async def ensure_topics(
        self, topics: Sequence[str], *, partitions: int | None = None, replication: int | None = None
    ) -> None:
        """Creates the topics in this process's partition if it has claimed one; otherwise nothing to do
        (a topic appears in a partition with its first event). Raises :class:`NotSupported` for
        ``partitions`` or ``replication`` other than 1: a topic has a partition per writer process, and
        one copy."""
        for name, value in (("partitions", partitions), ("replication", replication)):
            if value not in (None, 1):
                raise NotSupported(f"the SQLite log cannot create topics with {name}={value}")
        if self._writer is not None and topics:
            writer, names = self._writer, list(topics)
            await asyncio.wrap_future(writer.run(lambda: writer.ensure(names)))
            if writer.durable:
                await writer.barrier()

    # -- reading -----------------------------------------------------------------------------------------

    async def list_topics(self) -> list[str]:
        tmap = await asyncio.to_thread(self._partitions.topic_map)
        return sorted({t for t, _ in tmap})

    async def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        def fetch() -> dict[int, tuple[int, int]]:
            out = {}
            for (t, p), (part, tid, nxt) in self._partitions.topic_map().items():
                if t == topic:
                    out[p] = part.watermarks(tid, nxt)
            return dict(sorted(out.items()))

        return await asyncio.to_thread(fetch)

    def consume(
        self, topics: Sequence[str], start: Start, *, follow: bool = False, poll_interval: float = 0.2
    ) -> AsyncIterator[Record]:
        return reader.consume(self._partitions, list(topics), start, follow, poll_interval)

    def read_blocks(
        self, topic: str, partition: int, start: int, end: int, *, max_records: int = 50_000
    ) -> AsyncIterator[Block]:
        return reader.read_blocks(self._partitions, topic, partition, start, end, max_records)

    # -- maintenance -------------------------------------------------------------------------------------

    async def delete_before(
        self, topic: str, timestamp_ms: int | None = None, *, offsets: Mapping[int, int] | None = None
    ) -> int:
        """Retention (:mod:`.retention`) in every partition file, also those other processes write: the
        records of ``topic`` before the first at or after ``timestamp_ms``, or before ``offsets``
        (partition -> first offset kept; partitions not listed are left alone unless ``timestamp_ms`` is
        given). Returns the rows deleted."""
        if timestamp_ms is None and offsets is None:
            raise ValueError("delete_before needs a timestamp or offsets")

        def purge_all() -> int:
            total = 0
            for part in self._partitions.discover():
                cut = None if offsets is None else offsets.get(part.partition)
                if timestamp_ms is None and cut is None:
                    continue
                total += purge(part.path, topic, timestamp_ms, cut)
            return total

        return await asyncio.to_thread(purge_all)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        w, self._writer = self._writer, None
        if w is not None:
            await asyncio.to_thread(self._stop, w)
        self._partitions.close()

    def _stop(self, w: Writer) -> None:
        """Stop the writer; if its file was deleted, first copy it back (else acknowledged events die with
        the process)."""
        if w.moved_now():
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                w.salvage(w.path)
                return
            except (OSError, sqlite3.Error) as exc:
                log.error("cannot re-create the deleted %s: %s; its events are lost", w.path, exc)
        w.stop()
