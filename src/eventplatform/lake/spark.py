"""``eventplatform refine --engine spark``: the same refine as a PySpark job, same layout, same status.

Reading: **the log protocol, per (topic, partition) range**, not Spark's Kafka source. The driver plans
offset ranges from the status table's positions to the high watermarks (exactly what the local engine
reads), and each Spark task opens the log by URL and reads its range. This works for both backends (the
SQLite log has no Spark source; Spark's Kafka source needs the spark-sql-kafka jar, which pyspark does not
ship and which would have to be fetched at run time) and keeps the positions in our status table rather than
in Spark checkpoints, so both engines resume each other's work. A SQLite log must be on storage every
executor can read (always true in ``local[*]``); Kafka works from anywhere.

In the executors: :func:`eventplatform.lake.prepare.prepare` (the local engine's conversion, quarantine,
hours, canaries and transforms) through ``mapInArrow``. In Spark: canaries dropped, deduplication per hour
(window by ``meta.id``, latest ``meta.dt`` first), per-hour figures, and the write partitioned by
``datacenter/year/month/day/hour``. In the driver: each hour Spark wrote is merged into its partition exactly
as the local engine does (:meth:`HourWriter.finish`: spans, swap), then positions and figures are committed.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from eventplatform.lake.ddl import PARTITIONS, hive_type
from eventplatform.lake.hours import HourWriter, Spans
from eventplatform.lake.naming import Hour
from eventplatform.lake.prepare import QUARANTINE, prepare
from eventplatform.lake.refine import Options, Refiner, StreamReport
from eventplatform.lake.source import Chunk
from eventplatform.lake.status import HourStats, Status
from eventplatform.lake.transforms import transform_fields
from eventplatform.log import open_log

EXTRA = [
    ("__canary", pa.bool_()),
    ("__kind", pa.string()),
    ("__reason", pa.string()),
    ("__value", pa.string()),
    ("__ts", pa.int64()),
]


def _ddl(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {hive_type(f.type)}" for f in schema)


@dataclass(frozen=True, slots=True)
class _Task:
    url: str
    stream: str
    schema: pa.Schema  # table columns + hidden + partitions + extra
    table_schema: pa.Schema
    source_schema: pa.Schema
    own_domains: tuple[str, ...]
    default_datacenter: str
    chunk_size: int


async def _read_range(url: str, topic: str, partition: int, start: int, end: int, size: int) -> list[Chunk]:
    log = open_log(url)
    chunks = [Chunk()]
    try:
        async for block in log.read_blocks(topic, partition, start, end, max_records=min(size, 50_000)):
            if len(chunks[-1]) >= size:
                chunks.append(Chunk())
            chunks[-1].blocks.append(block)
    finally:
        await log.close()
    return [c for c in chunks if len(c)]


def _run_task(task: _Task, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Executor side: read each range of the input rows, prepare its chunks, emit rows and quarantine."""
    for batch in batches:
        for row in batch.to_pylist():
            chunks = asyncio.run(
                _read_range(
                    task.url, row["topic"], row["partition"], row["start"], row["end"], task.chunk_size
                )
            )
            for chunk in chunks:
                yield from _emit(task, chunk)


def _emit(task: _Task, chunk: Chunk) -> Iterator[pa.RecordBatch]:
    prepared = prepare(chunk, task.stream, task.table_schema, task.source_schema, task)
    if prepared.quarantine is not None:
        q = prepared.quarantine
        n = q.num_rows
        cols = {f.name: pa.nulls(n, f.type) for f in task.schema}
        cols.update(
            {
                "__topic": q.column("topic"),
                "__partition": q.column("partition"),
                "__offset": q.column("offset"),
                "__kind": pa.repeat("quarantine", n).cast(pa.string()),
                "__reason": q.column("reason"),
                "__value": q.column("value"),
                "__ts": q.column("timestamp_ms"),
            }
        )
        for (name, _), value in zip(PARTITIONS, _parts(prepared.rejected_hours), strict=True):
            cols[name] = value
        yield from pa.table(cols, schema=task.schema).to_batches()
    for hour, rows, canary in prepared.hours():
        n = rows.num_rows
        cols = {name: rows.column(name) for name in rows.column_names}
        for (name, _), value in zip(PARTITIONS, _parts([hour] * n), strict=True):
            cols[name] = value
        cols["__canary"] = canary if canary is not None else pa.repeat(False, n)
        cols["__kind"] = pa.repeat("row", n).cast(pa.string())
        for name in ("__reason", "__value", "__ts"):
            cols[name] = pa.nulls(n, task.schema.field(name).type)
        yield from pa.table(cols, schema=task.schema).to_batches()


def _parts(hours: Sequence[Hour]) -> list[pa.Array]:
    return [
        pa.array([h.datacenter for h in hours], pa.string()),
        pa.array([h.year for h in hours], pa.int64()),
        pa.array([h.month for h in hours], pa.int64()),
        pa.array([h.day for h in hours], pa.int64()),
        pa.array([h.hour for h in hours], pa.int64()),
    ]


def session(master: str | None = None) -> Any:
    """A Spark session: ``master`` (default ``local[*]``, or Spark's own configuration when it sets one)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("eventplatform-refine")
    if master or not os.environ.get("MASTER"):
        builder = builder.master(master or "local[*]")
    return (
        builder.config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(max(2, os.cpu_count() or 2)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def stop(spark: Any) -> None:
    """Stops the session and its JVM gateway. ``SparkSession.stop`` leaves py4j's gateway, and a thread of
    it, running for the rest of the process: a process that goes on (a test run) must not keep them."""
    from py4j.clientserver import FinalizerWorker
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    for thread in threading.enumerate():
        if isinstance(thread, FinalizerWorker):
            thread.join(timeout=5)  # it sees the shutdown at its next poll (every second)


class SparkRefiner(Refiner):
    """The local engine's run (lock, recovery, schemas, status), with each stream's work done by Spark."""

    def __init__(self, *args: Any, spark: Any, log_url: str, **kwargs: Any) -> None:
        super().__init__(*args, log_url=log_url, **kwargs)
        self.spark = spark

    async def _table(self, job: Any, status: Status, progress: Any) -> StreamReport:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        stream, name, info = job.stream, job.table, job.info
        report = StreamReport(stream, name)
        windowed = self.options.windowed
        ranges = []
        step = self.options.chunk_size * 4
        for topic, partition, start, high in job.ranges:
            for lo in range(start, high, step):
                ranges.append((topic, partition, lo, min(lo + step, high)))
        if not ranges:
            return report
        extra = {t.name for t in transform_fields()}
        source_schema = pa.schema([f for f in info.schema if f.name not in extra])
        schema = pa.schema(
            [
                *info.schema,
                ("__topic", pa.string()),
                ("__partition", pa.int32()),
                ("__offset", pa.int64()),
                *PARTITIONS,
                *EXTRA,
            ]
        )
        task = _Task(
            self.log_url,
            stream,
            schema,
            info.schema,
            source_schema,
            tuple(self.options.own_domains),
            self.options.default_datacenter,
            self.options.chunk_size,
        )
        plan = self.spark.createDataFrame(ranges, "topic STRING, partition INT, start BIGINT, `end` BIGINT")
        rows = plan.repartition(min(len(ranges), 64)).mapInArrow(
            functools.partial(_run_task, task), _ddl(schema)
        )
        rows = rows.persist()
        began = time.perf_counter()
        try:
            report.read = sum(e - s for _, _, s, e in ranges)
            part_cols = [name for name, _ in PARTITIONS]
            if windowed:
                in_window = F.lit(True)
                if self.options.since is not None:
                    start_hour = self.options.since.replace(minute=0, second=0, microsecond=0)
                    in_window = in_window & (
                        F.make_timestamp("year", "month", "day", "hour", F.lit(0), F.lit(0))
                        >= F.lit(start_hour)
                    )
                if self.options.until is not None:
                    in_window = in_window & (
                        F.make_timestamp("year", "month", "day", "hour", F.lit(0), F.lit(0))
                        < F.lit(self.options.until)
                    )
                report.outside = rows.filter((F.col("__kind") == "row") & ~in_window).count()
                rows = rows.filter((F.col("__kind") == "quarantine") | in_window)
            figures = (
                rows.groupBy(*part_cols)
                .agg(
                    F.sum((F.col("__kind") == "row").cast("long")).alias("rows_in"),
                    F.sum(((F.col("__kind") == "row") & F.col("__canary")).cast("long")).alias("canaries"),
                    F.sum((F.col("__kind") == "quarantine").cast("long")).alias("quarantined"),
                )
                .collect()
            )
            stats: dict[Hour, HourStats] = {}
            for f in figures:
                hour = Hour(f["datacenter"], f["year"], f["month"], f["day"], f["hour"])
                stats[hour] = HourStats(
                    rows_in=f["rows_in"],
                    canaries=f["canaries"],
                    quarantined=0 if windowed else f["quarantined"],
                )
                report.canaries += f["canaries"]
            quarantine = None
            if not windowed:
                q = (
                    rows.filter(F.col("__kind") == "quarantine")
                    .select(
                        F.lit(stream).alias("stream"),
                        F.col("__topic").alias("topic"),
                        F.col("__partition").alias("partition"),
                        F.col("__offset").alias("offset"),
                        F.col("__ts").alias("timestamp_ms"),
                        F.col("__reason").alias("reason"),
                        F.col("__value").alias("value"),
                    )
                    .toArrow()
                )
                if q.num_rows:
                    quarantine = q.cast(QUARANTINE)
                    report.quarantined = q.num_rows
            data = rows.filter((F.col("__kind") == "row") & ~F.col("__canary"))
            names = set(info.schema.names)
            if "meta" in names and "id" in info.schema.field("meta").type.names:
                meta_names = info.schema.field("meta").type.names
                order = [
                    F.col(f"meta.{n}").desc_nulls_last()
                    for n in ("dt", "request_id", "uri")
                    if n in meta_names
                ]
                key = F.coalesce(
                    F.col("meta.id"),
                    F.concat(
                        F.lit("\u0000"),
                        F.col("__topic"),
                        F.col("__partition").cast("string"),
                        F.col("__offset").cast("string"),
                    ),
                )
                window = Window.partitionBy(*part_cols, key).orderBy(*(order or [F.col("__offset")]))
                data = data.withColumn("__n", F.row_number().over(window)).filter("__n = 1").drop("__n")
            out_dir = self.options.lake / "_staging" / self.run / name / "spark"
            keep = [*info.schema.names, "__topic", "__partition", "__offset", *part_cols]
            data.select(*keep).write.partitionBy(*part_cols).parquet(str(out_dir))
            writer = HourWriter(self.options.lake, name, self.run)
            for hour in stats:
                folder = out_dir / hour.path
                files = sorted(folder.glob("*.parquet")) if folder.exists() else []
                writer.parts[hour] = list(files)
            spans: Spans = {}
            for topic, partition, lo, hi in ranges:
                spans.setdefault(f"{topic}:{partition}", []).append([lo, hi])
            for hour in sorted(writer.parts):
                out, _, skipped, existing = writer.finish(hour, info.schema, spans)
                s = stats[hour]
                s.rows_out = out
                # removed by Spark's window and by the merge: what came in, less canaries and rows already
                # present, less what the partition gained
                s.duplicates = (s.rows_in - s.canaries - skipped) - (out - existing)
                report.duplicates += s.duplicates
                report.skipped += skipped
                report.written += out
                report.hours += 1
            elapsed = time.perf_counter() - began
            total = sum(s.rows_in for s in stats.values()) or 1
            for s in stats.values():
                s.seconds = elapsed * s.rows_in / total
            self._quarantine(name, [quarantine] if quarantine is not None else [])
            new_positions = {} if windowed else {(t, p): hi for t, p, _, hi in ranges}
            status.commit(
                stream,
                name,
                new_positions,
                {(h.datacenter, h.start.strftime("%Y-%m-%dT%H")): s for h, s in stats.items()},
                info.schema_uri,
            )
            writer.cleanup()
        finally:
            rows.unpersist()
        if progress:
            progress(stream, report.read)
        return report


def run_spark(
    options: Options, settings: Any, config: Any, *, master: str | None = None, spark: Any = None
) -> list[StreamReport]:
    """The Spark engine from the command line (or with a given session, for tests)."""
    from eventplatform.schemas.registry import SchemaRegistry

    own = spark is None
    spark = spark or session(master)
    log = open_log(settings.log.url)
    registry = SchemaRegistry(settings.schemas.base_uris, file_extension=settings.schemas.file_extension)

    async def go() -> list[StreamReport]:
        try:
            refiner = SparkRefiner(options, log, config, registry, spark=spark, log_url=settings.log.url)
            return await refiner.run_all()
        finally:
            await registry.close()
            await log.close()

    try:
        return asyncio.run(go())
    finally:
        if own:
            stop(spark)
