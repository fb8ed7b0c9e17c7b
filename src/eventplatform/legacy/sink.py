"""``eventplatform legacy mysql``: the events of ``eventlogging_*`` streams into MariaDB/MySQL tables.

One table per schema and revision (:mod:`eventplatform.legacy.jrm`), created on first use and extended
when a newer schema version adds a field. Batching as the reference's writer: a batch is written when it
holds ``batch_size`` events or when its first event is ``batch_time`` seconds old (here with a timer, so an
idle batch does not wait for the next event), and at the end.

Nothing lost, no duplicates: each batch is one transaction holding its rows **and** the consumer's next log
positions (``eventplatform_positions``), and a restart consumes from those positions. A batch that the
database refuses (down, read-only, a lock timeout, a failing trigger…) is rolled back and retried with
exponential backoff, logged at each attempt, until it goes in; nothing else stops meanwhile. An event that
cannot become a row (not a legacy event, its schema gone, a value that does not fit its column, a ``uuid``
already stored) is left out with an error event on intake's error stream and a log line
``Unable to store: <event> (<reason>)``; its position still advances.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from eventplatform.errors import EventError, EventFailure, EventInvalid
from eventplatform.intake.batch import RequestContext
from eventplatform.intake.builder import Intake
from eventplatform.legacy.jrm import Column, RowError, columns_of, row_of, table_name
from eventplatform.legacy.mysqldb import LegacyDb
from eventplatform.log import Record, Start

logger = logging.getLogger("eventplatform.legacy")
DEFAULT_CONSUMER = "eventplatform-legacy-mysql"


class SinkCodes:
    """error_type of the sink's error events (added to, never renamed)."""

    NOT_AN_EVENT = "legacy_mysql_not_an_event"
    SCHEMA_UNUSABLE = "legacy_mysql_schema_unusable"
    ROW_REFUSED = "legacy_mysql_row_refused"
    DUPLICATE = "legacy_mysql_duplicate_uuid"


@dataclass
class SinkStats:
    batches: int = 0
    inserted: int = 0
    refused: int = 0
    retries: int = 0
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows inserted
    columns_added: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Refusal:
    record: Record
    code: str
    message: str
    stream: str | None = None
    schema_uri: str | None = None


class MysqlSink:
    """Consumes ``topics`` of ``intake.log`` into ``db``; ``run`` returns at the end of the log unless
    following."""

    def __init__(
        self,
        intake: Intake,
        db: LegacyDb,
        topics: Sequence[str],
        *,
        consumer: str = DEFAULT_CONSUMER,
        batch_size: int = 3000,
        batch_time: float = 300.0,
        retry_max_wait: float = 30.0,
    ) -> None:
        self.intake = intake
        self.db = db
        self.topics = list(topics)
        self.consumer = consumer
        self.batch_size = max(1, batch_size)
        self.batch_time = batch_time
        self.retry_max_wait = retry_max_wait
        self.stats = SinkStats()
        self._columns: dict[tuple[str, str], list[Column]] = {}  # (table, $schema) -> wanted columns

    async def run(self, *, follow: bool = False) -> SinkStats:
        await self._retrying(self._setup)
        positions = await self._retrying(lambda: self.db.positions(self.consumer))
        start = Start.at_offsets(positions, fallback="beginning")
        records = self.intake.log.consume(self.topics, start, follow=follow)
        pending: list[Record] = []
        first_at = 0.0
        nxt: asyncio.Task[Record | None] = asyncio.ensure_future(_next(records))
        try:
            while True:
                timeout = None if not pending else max(0.0, first_at + self.batch_time - time.monotonic())
                done, _ = await asyncio.wait({nxt}, timeout=timeout)
                if nxt in done:
                    record = nxt.result()
                    if record is None:
                        break
                    if not pending:
                        first_at = time.monotonic()
                    pending.append(record)
                    nxt = asyncio.ensure_future(_next(records))
                    if len(pending) < self.batch_size:
                        continue
                await self._flush(pending)
                pending = []
            await self._flush(pending)
        finally:
            nxt.cancel()
            with contextlib.suppress(BaseException):
                await nxt
            with contextlib.suppress(Exception):
                await records.aclose()  # type: ignore[attr-defined]
        return self.stats

    def _setup(self) -> None:
        self.db.ensure_positions()

    # -- one batch -------------------------------------------------------------------------------------

    async def _flush(self, records: list[Record]) -> None:
        if not records:
            return
        refused: list[_Refusal] = []
        groups: dict[str, list[tuple[Record, dict[str, Any], str]]] = {}  # table -> (record, event, $schema)
        wanted: dict[str, dict[str, Column]] = {}
        for record in records:
            parsed = await self._event(record, refused)
            if parsed is None:
                continue
            event, uri, table, columns = parsed
            groups.setdefault(table, []).append((record, event, uri))
            merged = wanted.setdefault(table, {})
            for column in columns:
                merged.setdefault(column.name, column)
        positions: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            positions[key] = max(positions.get(key, 0), r.offset + 1)

        def write() -> tuple[dict[str, list[dict[str, Any]]], list[_Refusal], dict[str, int]]:
            rows: dict[str, tuple[list[Column], list[dict[str, Any]]]] = {}
            bad: list[_Refusal] = []
            counts: dict[str, int] = {}
            uuids: dict[tuple[str, str], Record] = {}
            for table, items in groups.items():
                ordered = sorted(wanted[table].values(), key=_column_order)
                effective, added = self.db.prepare(table, ordered)
                if added:
                    self.stats.columns_added.setdefault(table, []).extend(added)
                    logger.info("table %s: columns %s created", table, ", ".join(added))
                table_rows = []
                for record, event, uri in items:
                    try:
                        row = row_of(event, effective, record.timestamp_ms)
                    except RowError as exc:
                        bad.append(
                            _Refusal(record, SinkCodes.ROW_REFUSED, f"{table}.{exc}", record.topic, uri)
                        )
                        continue
                    table_rows.append(row)
                    if row.get("uuid"):
                        uuids[(table, row["uuid"])] = record
                rows[table] = (effective, table_rows)
                counts[table] = len(table_rows)
            duplicates = self.db.write(self.consumer, rows, positions)
            for table, dup_rows in duplicates.items():
                counts[table] -= len(dup_rows)
                for row in dup_rows:
                    record = uuids[(table, row["uuid"])]
                    bad.append(
                        _Refusal(
                            record,
                            SinkCodes.DUPLICATE,
                            f"uuid {row['uuid']} is already stored in {table}",
                            record.topic,
                        )
                    )
            return duplicates, bad, counts

        _, bad, counts = await self._retrying(write)
        refused += bad
        self.stats.batches += 1
        for table, n in counts.items():
            self.stats.inserted += n
            self.stats.tables[table] = self.stats.tables.get(table, 0) + n
        for refusal in refused:
            await self._report(refusal)

    async def _event(
        self, record: Record, refused: list[_Refusal]
    ) -> tuple[dict[str, Any], str, str, list[Column]] | None:
        """The event of a record, its ``$schema``, table and wanted columns (or a refusal)."""
        try:
            event = orjson.loads(record.value)
        except orjson.JSONDecodeError as exc:
            refused.append(_Refusal(record, SinkCodes.NOT_AN_EVENT, f"not JSON: {exc}", record.topic))
            return None
        schema, revision, uri = (
            (event.get("schema"), event.get("revision"), event.get("$schema"))
            if isinstance(event, dict)
            else (None, None, None)
        )
        if not isinstance(schema, str) or type(revision) is not int or not isinstance(uri, str):
            refused.append(
                _Refusal(
                    record,
                    SinkCodes.NOT_AN_EVENT,
                    "not a legacy EventLogging event: it needs schema (a name), revision (an integer) "
                    "and $schema",
                    record.topic,
                )
            )
            return None
        table = table_name(schema, revision)
        key = (table, uri)
        columns = self._columns.get(key)
        if columns is None:
            try:
                compiled = await self._retrying(lambda: self.intake.registry.get(uri), is_async=True)
                columns = columns_of(compiled.schema)
            except EventInvalid as exc:
                refused.append(_Refusal(record, SinkCodes.SCHEMA_UNUSABLE, exc.message, record.topic, uri))
                return None
            self._columns[key] = columns
        return event, uri, table, columns

    async def _report(self, refusal: _Refusal) -> None:
        self.stats.refused += 1
        text = refusal.record.value.decode("utf-8", "replace")
        shown = text if len(text) <= 1000 else text[:1000] + f"... ({len(text)} characters)"
        logger.warning("Unable to store: %s (%s)", shown, refusal.message)
        failure = EventInvalid(refusal.code, refusal.message)
        ctx = RequestContext.now(user_agent=f"eventplatform legacy mysql ({self.consumer})")
        with contextlib.suppress(Exception):  # error events are best effort
            await self.intake.pipeline.report_invalid(
                text, failure, ctx, stream=refusal.stream, schema_uri=refusal.schema_uri
            )

    # -- retries ---------------------------------------------------------------------------------------

    async def _retrying(self, fn: Any, *, is_async: bool = False) -> Any:
        """``fn`` (blocking, run in a thread; or a coroutine function) until it succeeds, logging each
        failure. Only the producer's faults (an invalid schema) are not retried."""

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0
            logger.warning(
                "legacy mysql: %s: %s; retrying in %.1fs (attempt %d)",
                self.db.url,
                _describe(exc),
                wait,
                state.attempt_number,
            )
            if not is_async:
                self.db.reset()

        async for attempt in AsyncRetrying(
            retry=retry_if_exception(lambda e: not isinstance(e, EventInvalid | RowError)),
            wait=wait_exponential(multiplier=0.2, max=self.retry_max_wait),
            before_sleep=before_sleep,
            reraise=True,
        ):
            with attempt:
                if is_async:
                    return await fn()
                return await asyncio.to_thread(fn)
        raise AssertionError("unreachable")


def _column_order(c: Column) -> tuple[int, int, str]:
    return (0 if c.name == "uuid" else 1, c.name.count("_"), c.name)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "failed"
    if isinstance(exc, EventFailure):
        return exc.message
    args = getattr(exc, "args", ())
    if len(args) == 2 and isinstance(args[0], int):  # PyMySQL: (errno, message)
        return f"{type(exc).__name__} {args[0]}: {args[1]}"
    return f"{type(exc).__name__}: {exc}"


async def _next(records: AsyncIterator[Record]) -> Record | None:
    try:
        return await anext(records)
    except StopAsyncIteration:
        return None


async def legacy_topics(intake: Intake, streams: Sequence[str]) -> list[str]:
    """The topics to consume: the given streams, else every ``eventlogging_*`` stream configured or in the
    log (legacy topics have no datacenter prefix)."""
    if streams:
        return list(dict.fromkeys(streams))
    named = [n for n in intake.streams.names if n.startswith("eventlogging_")]
    try:
        present = [t for t in await intake.log.list_topics() if t.startswith("eventlogging_")]
    except EventError:
        present = []
    return sorted(set(named) | set(present))
