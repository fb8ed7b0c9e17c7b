"""Replay of failed events: the error stream's events re-validated against the current schemas and stream
config; those that now pass go to their original stream (and datacenter) with their original ``meta.id``.

Where the reference only logs failed events, here they can be recovered once the schema or the
instrumentation is fixed. **No duplicates**, even across a crash: every replay is recorded in a small
SQLite file outside the log (``replay.sqlite`` in the retention state directory), keyed by the error
event's id, *before* the event is produced (``pending``, with the exact bytes to produce) and marked
``done`` once the log has it durably. A later run finds a ``pending`` entry, looks for its ``meta.id`` in
the target topic, and produces it only if it is not there. An original event that failed twice (a client
retry) is replayed once: its ``meta.id`` is recorded too. An event that failed before intake gave it a
``meta.id`` (e.g. an unknown schema) gets one derived from its error event's id, stable across runs.

Re-validation runs the intake pipeline itself, with error events switched off (an event that still fails
must not add a new error event each run) and a log that only captures what would be produced.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from eventplatform.intake.batch import RequestContext
from eventplatform.intake.pipeline import Pipeline, PipelineSettings
from eventplatform.log import Batch, EventLog, Record, Start
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.streamconfig.config import StreamConfig

# a replay: (error id, original meta.id, target topic, value, key, timestamp ms)
Row = tuple[str, str | None, str, bytes, bytes | None, int | None]


class _CaptureLog:
    """An EventLog stand-in for the pipeline: remembers the batch instead of writing it."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def produce(self, batch: Batch, *, hasty: bool = False) -> list[Exception | None]:
        self.batches.append(batch)
        return [None] * len(batch)


@dataclass
class Failed:
    error_id: str
    stream: str
    code: str
    message: str


@dataclass
class ReplayReport:
    replayed: list[tuple[str, str, str]] = field(default_factory=list)  # (error id, topic, meta.id)
    still_failing: list[Failed] = field(default_factory=list)
    already: int = 0  # replayed by an earlier run
    recovered: int = 0  # pending entries of a crashed run found in the log

    def to_dict(self) -> dict[str, Any]:
        return {
            "replayed": len(self.replayed),
            "still_failing": len(self.still_failing),
            "already_replayed": self.already,
            "recovered": self.recovered,
            "failures": [f.__dict__ for f in self.still_failing],
        }


class ReplayRecord:
    """The record of replays (the SQLite file): error id -> (original meta.id, topic, state, bytes)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS replayed (error_id TEXT PRIMARY KEY, event_id TEXT, topic TEXT, "
            "state TEXT NOT NULL, value BLOB, key BLOB, timestamp_ms INTEGER, at REAL)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS replayed_event ON replayed (event_id)")

    def known(self, error_id: str, event_id: str | None) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM replayed WHERE error_id = ? OR (event_id IS NOT NULL AND event_id = ?)",
            (error_id, event_id),
        ).fetchone()
        return row is not None

    def pending(self) -> list[Row]:
        return self.db.execute(
            "SELECT error_id, event_id, topic, value, key, timestamp_ms FROM replayed WHERE state = 'pending'"
        ).fetchall()

    def add_pending(self, rows: Sequence[Row]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO replayed (error_id, event_id, topic, state, value, key, timestamp_ms, at) "
                "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
                [(*r, time.time()) for r in rows],
            )

    def mark_done(self, error_ids: Sequence[str]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE replayed SET state = 'done', value = NULL, key = NULL WHERE error_id = ?",
                [(e,) for e in error_ids],
            )

    def close(self) -> None:
        self.db.close()


def error_topics(error_stream: str, config: StreamConfig, existing: Sequence[str]) -> list[str]:
    """Every topic of the error stream: configured ones, the bare name, ``<dc>.<error stream>``."""
    out = [t for t in config.topics(error_stream) if not t.startswith("/")]
    for t in existing:
        prefix = t[: -len(error_stream) - 1] if t.endswith("." + error_stream) else None
        if (t == error_stream or (prefix and "." not in prefix)) and t not in out:
            out.append(t)
    return [t for t in out if t in existing]


def datacenter_of(topic: str, error_stream: str) -> str | None:
    return topic[: -len(error_stream) - 1] if topic != error_stream else None


def _error_id(record: Record, event: Mapping[str, Any]) -> str:
    meta = event.get("meta")
    eid = meta.get("id") if isinstance(meta, Mapping) else None
    return eid if isinstance(eid, str) and eid else f"{record.topic}/{record.partition}/{record.offset}"


async def _in_topic(log: EventLog, topic: str, ids: set[str], since_ms: int) -> set[str]:
    """Which of ``ids`` (meta.id) are in ``topic`` at or after ``since_ms``."""
    found: set[str] = set()
    if topic not in await log.list_topics():
        return found
    records = log.consume([topic], Start.at_time(since_ms))
    try:
        async for r in records:
            try:
                meta = orjson.loads(r.value).get("meta")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if isinstance(meta, dict) and meta.get("id") in ids:
                found.add(meta["id"])
    finally:
        await records.aclose()  # type: ignore[attr-defined]
    return found


async def _produce(log: EventLog, rows: Sequence[Row]) -> list[str]:
    """Produce the recorded rows; the error ids of those now durable."""
    batch = Batch([r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows], [r[5] for r in rows])
    outcomes = await log.produce(batch)
    return [r[0] for r, failed in zip(rows, outcomes, strict=True) if failed is None]


async def replay(
    log: EventLog,
    registry: SchemaRegistry,
    config: StreamConfig,
    record: ReplayRecord,
    *,
    error_stream: str,
    service_name: str = "eventplatform",
    streams: Sequence[str] = (),
    since_ms: int | None = None,
    until_ms: int | None = None,
    dry_run: bool = False,
) -> ReplayReport:
    report = ReplayReport()
    # 1. a crashed run's pending entries: done if the log has them, produced again otherwise
    pending = record.pending()
    if pending and not dry_run:
        by_topic: dict[str, list[Any]] = {}
        for row in pending:
            by_topic.setdefault(row[2], []).append(row)
        for topic, rows in by_topic.items():
            ids = {r[1] for r in rows if r[1]}
            present = await _in_topic(log, topic, ids, min((r[5] or 0) for r in rows) - 3_600_000)
            done = [r[0] for r in rows if r[1] in present]
            record.mark_done(done)
            report.recovered += len(done)
            rest = [r for r in rows if r[1] not in present]
            if rest:
                produced = await _produce(log, rest)
                record.mark_done(produced)
                report.recovered += len(produced)
    # 2. the error events of the window
    existing = await log.list_topics()
    pipelines: dict[str | None, tuple[Pipeline, _CaptureLog]] = {}
    seen_now: set[str] = set()
    to_produce: list[Row] = []
    for topic in error_topics(error_stream, config, existing):
        dc = datacenter_of(topic, error_stream)
        if dc not in pipelines:
            capture = _CaptureLog()
            settings = PipelineSettings(service_name=service_name, datacenter=dc, error_stream="")
            pipelines[dc] = (Pipeline(registry, config, capture, settings), capture)  # type: ignore[arg-type]
        pipeline, capture = pipelines[dc]
        start = Start.beginning() if since_ms is None else Start.at_time(since_ms)
        records = log.consume([topic], start)
        try:
            async for rec in records:
                if until_ms is not None and rec.timestamp_ms >= until_ms:
                    continue
                await _one(rec, pipeline, capture, record, streams, report, seen_now, to_produce)
        finally:
            await records.aclose()  # type: ignore[attr-defined]
    if dry_run or not to_produce:
        report.replayed = [(r[0], r[2], r[1] or "") for r in to_produce]
        return report
    # an event that reached its stream some other way (a client's retry that passed) is not produced again
    by_topic = {}
    for r in to_produce:
        by_topic.setdefault(r[2], []).append(r)
    present: set[tuple[str, str]] = set()
    for topic, rows in by_topic.items():
        since = min((r[5] or 0) for r in rows) - 3_600_000
        present |= {(topic, i) for i in await _in_topic(log, topic, {r[1] for r in rows if r[1]}, since)}
    report.already += sum(1 for r in to_produce if (r[2], r[1]) in present)
    to_produce = [r for r in to_produce if (r[2], r[1]) not in present]
    if not to_produce:
        return report
    record.add_pending(to_produce)
    produced = set(await _produce(log, to_produce))
    record.mark_done(sorted(produced))
    report.replayed = [(r[0], r[2], r[1] or "") for r in to_produce if r[0] in produced]
    for r in to_produce:
        if r[0] not in produced:
            report.still_failing.append(Failed(r[0], r[2], "delivery_failed", "the log did not take it"))
    return report


async def _one(
    rec: Record,
    pipeline: Pipeline,
    capture: _CaptureLog,
    record: ReplayRecord,
    streams: Sequence[str],
    report: ReplayReport,
    seen_now: set[str],
    to_produce: list[Row],
) -> None:
    """Re-validate one error event's ``raw_event``; queue it for producing if it passes now."""
    try:
        err = orjson.loads(rec.value)
    except orjson.JSONDecodeError:
        return
    if not isinstance(err, dict):
        return
    stream = err.get("errored_stream_name")
    if streams and stream not in streams:
        return
    error_id = _error_id(rec, err)
    raw = err.get("raw_event")
    try:
        event = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        event = None
    meta = event.get("meta") if isinstance(event, dict) else None
    if isinstance(meta, dict) and "id" not in meta:
        # failed before intake gave it an id: one derived from the error event, the same on every run
        meta["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"eventplatform:replay:{error_id}"))
    event_id = meta.get("id") if isinstance(meta, dict) and isinstance(meta.get("id"), str) else None
    if record.known(error_id, event_id) or error_id in seen_now or (event_id and event_id in seen_now):
        report.already += 1
        return
    if not isinstance(event, dict):
        report.still_failing.append(
            Failed(error_id, str(stream), "malformed_raw_event", "raw_event is not a JSON object")
        )
        return
    capture.batches.clear()
    result = await pipeline.process([event], RequestContext.now(request_id=_request_id(meta)))
    failures = result.invalid + result.error
    if failures:
        f = failures[0].failure
        code, message = (f.code, f.message) if f is not None else ("unknown", "unknown")
        report.still_failing.append(Failed(error_id, str(stream), str(code), message))
        return
    (batch,) = capture.batches
    seen_now.add(error_id)
    produced_event = result.accepted_events[0]
    new_id = produced_event.get("meta", {}).get("id") if isinstance(produced_event, dict) else None
    if new_id:
        seen_now.add(new_id)
    to_produce.append(
        (error_id, new_id, batch.topics[0], bytes(batch.values[0]), batch.keys[0], batch.timestamps[0])
    )


def _request_id(meta: Any) -> str | None:
    rid = meta.get("request_id") if isinstance(meta, dict) else None
    return rid if isinstance(rid, str) else None
