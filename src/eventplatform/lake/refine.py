"""``eventplatform refine``, local engine: the log -> hourly Parquet partitions, incremental and idempotent.

Per stream: the table schema (latest version of the stream's ``schema_title``, merged into the table's
registry), then the log in chunks from the stream's recorded positions to the end seen at the start:
convert (bad records -> quarantine), partition by ``meta.dt`` (else ``dt``, else the log time), drop
canaries, add the transform columns, stage per hour. Then each touched hour is merged with what the
partition holds, deduplicated and swapped in (:mod:`.hours`), and the new positions and the hours' figures
are committed together. A crash before that commit leaves the positions where they were: the next run
reads the same records again and the partitions' spans keep them from being doubled.
"""

from __future__ import annotations

import asyncio
import fcntl
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventplatform.lake.evolve import TableInfo, load_info, merge, save_info
from eventplatform.lake.hours import HourWriter, Spans, recover, staging_root
from eventplatform.lake.naming import DEFAULT_DATACENTER, Hour, table_name
from eventplatform.lake.prepare import prepare
from eventplatform.lake.source import Chunk, LogRange, log_ranges, read_chunks, streams_of
from eventplatform.lake.status import HourStats, Status
from eventplatform.lake.transforms import WMF_DOMAINS, column, transform_fields
from eventplatform.lake.types import UnsupportedSchema, arrow_schema
from eventplatform.log import EventLog, open_log
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.streamconfig.config import StreamConfig


class RefineError(Exception):
    """A stream that cannot be refined (its schema cannot be found or mapped): reported, others go on."""


@dataclass(slots=True)
class Options:
    lake: Path
    streams: Sequence[str] = ()
    since: datetime | None = None  # hours at or after (inclusive)
    until: datetime | None = None  # hours before (exclusive)
    chunk_size: int = 100_000
    own_domains: Sequence[str] = WMF_DOMAINS
    default_datacenter: str = DEFAULT_DATACENTER
    workers: int = 1  # processes refining tables side by side (with the log's URL)
    parallel_from: int = 200_000  # records to read below which one process does it all (no start-up)
    memory: int = 64 << 20  # staged bytes per table before they are spilled to disk

    @property
    def windowed(self) -> bool:
        return self.since is not None or self.until is not None


@dataclass(slots=True)
class StreamReport:
    stream: str
    table: str
    read: int = 0
    written: int = 0
    canaries: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0  # already in their partition (a re-run)
    outside: int = 0  # outside --since/--until
    hours: int = 0
    added: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    error: str | None = None


Progress = Callable[[str, int], None]  # (stream, records just read)


class Refiner:
    """One refine run over a lake directory (one at a time per lake: a lock file says so)."""

    def __init__(
        self,
        options: Options,
        log: EventLog,
        streams: StreamConfig,
        registry: SchemaRegistry,
        log_url: str | None = None,
    ):
        """``log_url`` (the log's URL) lets tables be refined in worker processes (``options.workers``)."""
        self.options = options
        self.log_url = log_url
        self.log = log
        self.streams = streams
        self.registry = registry
        self.run = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]

    async def run_all(self, progress: Progress | None = None) -> list[StreamReport]:
        lake = self.options.lake
        try:
            lake.mkdir(parents=True, exist_ok=True)
            if not os.access(lake, os.W_OK):
                raise PermissionError("no write permission")
            (lake / "_refine.lock").touch()
        except OSError as exc:
            raise RefineError(f"cannot use the lake directory {lake}: {exc.strerror or exc}") from None
        with open(lake / "_refine.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RefineError(f"another refine is running on {lake}") from None
            recover(lake)
            status = Status(lake)
            try:
                topics = await self.log.list_topics()
                found = streams_of(self.streams, topics)
                wanted = list(self.options.streams) or sorted(found)
                jobs: list[_Job] = []
                reports: dict[str, StreamReport] = {}
                for stream in wanted:
                    report = StreamReport(stream, table_name(stream))
                    reports[stream] = report
                    try:
                        name, info, report.added, report.clashes = await self.table_schema(stream)
                    except RefineError as exc:
                        report.error = str(exc)
                        continue
                    topics = found.get(stream, [])
                    if topics:
                        start = {} if self.options.windowed else status.positions(stream)
                        ranges = await log_ranges(self.log, topics, start)
                        jobs.append(_Job(stream, name, info, ranges, sum(r[3] - r[2] for r in ranges)))
                workers = min(self.options.workers, len(jobs))
                pending = sum(j.records for j in jobs)
                if workers > 1 and self.log_url and pending >= self.options.parallel_from:
                    done = await self._in_processes(jobs, workers)
                else:
                    done = [await self._table(job, status, progress) for job in jobs]
                for job, result in zip(jobs, done, strict=True):
                    reports[job.stream] = _merged(reports[job.stream], result)
                return list(reports.values())
            finally:
                status.close()

    async def table_schema(self, stream: str) -> tuple[str, TableInfo, list[str], list[str]]:
        """The stream's table name and registry entry after its latest schema is applied."""
        settings = self.streams.get(stream)
        if not settings:
            raise RefineError(f"stream {stream!r} is not in the stream config")
        title = settings.get("schema_title")
        if not title:
            raise RefineError(f"stream {stream!r} has no schema_title in the stream config")
        uri = f"/{str(title).strip('/')}/latest"
        try:
            compiled = await self.registry.get(uri)
        except Exception as exc:
            raise RefineError(f"stream {stream!r}: schema {uri} cannot be loaded: {exc}") from None
        try:
            mapped = arrow_schema(compiled.schema)
        except UnsupportedSchema as exc:
            raise RefineError(f"stream {stream!r}: schema {uri} has no table form at {exc}") from None
        extra = transform_fields()
        has_ua = column(mapped.empty_table(), "http.request_headers") is not None or (
            column(mapped.empty_table(), "agent.ua_string") is not None
        )
        mapped = pa.schema([*mapped, *(f for f in extra if has_ua or f.name != "user_agent_map")])
        name = table_name(stream)
        table_dir = self.options.lake / "event" / name
        info = load_info(table_dir)
        merged = merge(info.schema if info else None, mapped)
        version = compiled.schema.get("$id") or uri
        if info is None or not merged.schema.equals(info.schema, check_metadata=True):
            info = info or TableInfo(name, merged.schema, stream, version)
            info.history.append(
                {
                    "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "schema_uri": version,
                    "added": merged.added,
                    "clashes": merged.clashes,
                }
            )
            info.schema = merged.schema
            info.schema_uri = version
            save_info(table_dir, info)
        elif info.schema_uri != version:
            info.schema_uri = version
            save_info(table_dir, info)
        return name, info, merged.added, merged.clashes

    async def _in_processes(self, jobs: list[_Job], workers: int) -> list[StreamReport]:
        """Tables refined by ``workers`` processes, the largest first (each commits its own positions)."""
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            order = sorted(range(len(jobs)), key=lambda i: -jobs[i].records)
            futures = {
                i: loop.run_in_executor(
                    pool, _refine_in_worker, self.options, self.log_url, self.run, jobs[i]
                )
                for i in order
            }
            return [await futures[i] for i in range(len(jobs))]

    async def _table(self, job: _Job, status: Status, progress: Progress | None) -> StreamReport:
        stream, name, info = job.stream, job.table, job.info
        report = StreamReport(stream, name)
        windowed = self.options.windowed
        writer = HourWriter(self.options.lake, name, self.run, self.options.memory)
        stats: dict[Hour, HourStats] = {}
        read: dict[str, list[int]] = {}  # "topic:partition" -> [first, end) read this run
        quarantine: list[pa.Table] = []
        source_schema = pa.schema(
            [f for f in info.schema if f.name not in {t.name for t in transform_fields()}]
        )
        try:
            async for chunk in read_chunks(self.log, job.ranges, self.options.chunk_size):
                began = time.perf_counter()
                for key, (lo, hi) in chunk.spans().items():
                    span = read.setdefault(key, [lo, hi])
                    span[0], span[1] = min(span[0], lo), max(span[1], hi)
                report.read += len(chunk)
                before = {h: s.rows_in for h, s in stats.items()}
                q = self._chunk(stream, chunk, info.schema, source_schema, writer, stats, report, windowed)
                if q is not None:
                    quarantine.append(q)
                share = (time.perf_counter() - began) / max(len(chunk), 1)
                for h, s in stats.items():  # the chunk's time, shared by rows
                    s.seconds += share * (s.rows_in - before.get(h, 0))
                if progress:
                    progress(stream, len(chunk))
            spans: Spans = {k: [v] for k, v in read.items()}
            for hour in sorted(writer.parts):
                began = time.perf_counter()
                out, dups, skipped, _ = writer.finish(hour, info.schema, spans)
                s = stats.setdefault(hour, HourStats())
                s.rows_out, s.duplicates = out, dups
                s.seconds += time.perf_counter() - began
                report.duplicates += dups
                report.skipped += skipped
                report.written += out
                report.hours += 1
            self._quarantine(name, quarantine)
            positions = (
                {}
                if windowed
                else {(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1])): v[1] for k, v in read.items()}
            )
            status.commit(
                stream,
                name,
                positions,
                {(h.datacenter, h.start.strftime("%Y-%m-%dT%H")): s for h, s in stats.items()},
                info.schema_uri,
            )
        except BaseException:
            writer.release()  # staged files stay for the next run's recover() (a partition moved aside too)
            raise
        writer.cleanup()
        return report

    def _chunk(
        self,
        stream: str,
        chunk: Chunk,
        schema: pa.Schema,
        source_schema: pa.Schema,
        writer: HourWriter,
        stats: dict[Hour, HourStats],
        report: StreamReport,
        windowed: bool,
    ) -> pa.Table | None:
        prepared = prepare(chunk, stream, schema, source_schema, self.options)
        quarantined = None
        if prepared.quarantine is not None and not windowed:
            quarantined = prepared.quarantine
            report.quarantined += quarantined.num_rows
            for hour in prepared.rejected_hours:
                stats.setdefault(hour, HourStats()).quarantined += 1
        for hour, rows, is_canary in prepared.hours():
            if windowed and not self._in_window(hour):
                report.outside += rows.num_rows
                continue
            s = stats.setdefault(hour, HourStats())
            s.rows_in += rows.num_rows
            if is_canary is not None:
                n_canary = pc.sum(pc.cast(is_canary, pa.int64())).as_py() or 0
                if n_canary:
                    s.canaries += n_canary
                    report.canaries += n_canary
                    rows = rows.filter(pc.invert(is_canary))
            if rows.num_rows:
                writer.stage(hour, rows)
            else:
                writer.touch(hour)
        return quarantined

    def _in_window(self, hour: Hour) -> bool:
        since, until = self.options.since, self.options.until
        return (since is None or hour.start >= since.replace(minute=0, second=0, microsecond=0)) and (
            until is None or hour.start < until
        )

    def _quarantine(self, table: str, parts: list[pa.Table]) -> None:
        if not parts:
            return
        folder = self.options.lake / "quarantine" / table
        folder.mkdir(parents=True, exist_ok=True)
        tmp = staging_root(self.options.lake) / self.run / f"quarantine-{table}.parquet"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(parts), tmp, compression="snappy")
        os.replace(tmp, folder / f"part-{self.run}.parquet")


@dataclass(slots=True)
class _Job:
    """One table's work in a run (picklable: it may go to a worker process)."""

    stream: str
    table: str
    info: TableInfo
    ranges: list[LogRange]
    records: int


def _refine_in_worker(options: Options, log_url: str, run: str, job: _Job) -> StreamReport:
    """A worker process: one table, with its own log connection and status transaction."""

    async def go() -> StreamReport:
        log = open_log(log_url)
        status = Status(options.lake)
        try:
            refiner = Refiner(options, log, None, None)  # type: ignore[arg-type]  # schemas: done
            refiner.run = run
            return await refiner._table(job, status, None)
        finally:
            status.close()
            await log.close()

    return asyncio.run(go())


def _merged(head: StreamReport, body: StreamReport) -> StreamReport:
    """The report of a table's work with what the schema step found (columns added, clashes)."""
    body.added, body.clashes = head.added, head.clashes
    return body


def describe_report(r: StreamReport) -> dict[str, Any]:
    return {k: getattr(r, k) for k in r.__slots__}  # type: ignore[attr-defined]
