"""Canary events: one synthetic event per canary-enabled stream, posted to intake in every datacenter, and
the check that finds hours without one (an idle stream still has its canaries; a broken one has none).

As the reference (data-lake.md §4): the event is the stream's schema's ``examples[0]`` (latest version)
with ``meta.domain = "canary"`` and ``meta.stream`` set; ``meta.dt`` is the intended time; only 201 and
202 count as success (207 is a failure); failures are retried, then reported, and the exit code says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from eventplatform.errors import EventFailure
from eventplatform.log import EventLog, Start
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.streamconfig.canary import canary_enabled, is_canary_value, make_canary
from eventplatform.streamconfig.config import StreamConfig

HOUR_MS = 3_600_000


class CanaryError(Exception):
    """A canary could not be built or was not accepted (the message says which stream and why)."""


def canary_streams(config: StreamConfig, only: Sequence[str] = ()) -> list[str]:
    """The concrete streams that get canaries: ``only`` (each must be configured and canary-enabled), or
    every exact-name stream with ``canary_events_enabled: true`` (regex entries name no stream)."""
    if only:
        for s in only:
            settings = config.get(s)
            if settings is None:
                raise CanaryError(f"stream {s} is not in the stream config")
            if not canary_enabled(settings):
                raise CanaryError(f"stream {s} does not have canary_events_enabled: true")
        return list(only)
    return [n for n in config.names if not n.startswith("/") and canary_enabled(config.get(n))]


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


async def build_canaries(
    registry: SchemaRegistry, config: StreamConfig, streams: Sequence[str], dt: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(canary events, problems): one event per stream from its schema's first example."""
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    for stream in streams:
        settings = config.get(stream) or {}
        title = settings.get("schema_title")
        if not title:
            problems.append(f"{stream}: no schema_title in the stream config")
            continue
        try:
            compiled = await registry.get(f"/{title}/latest")
        except EventFailure as exc:
            problems.append(f"{stream}: schema {title} cannot be loaded: {exc.message}")
            continue
        examples = compiled.schema.get("examples")
        if not isinstance(examples, list) or not examples or not isinstance(examples[0], dict):
            problems.append(f"{stream}: schema {title} has no example to make a canary from")
            continue
        events.append(make_canary(examples[0], stream, dt))
    return events, problems


class _Retry(Exception):
    """An answer worth retrying (5xx, or the connection failed)."""


@dataclass
class PostResult:
    url: str
    status: int | None
    ok: bool
    detail: str = ""


async def post_canaries(
    events: Sequence[Mapping[str, Any]], urls: Sequence[str], *, attempts: int = 3, timeout: float = 10.0
) -> list[PostResult]:
    """POST the canaries as one JSON array to each intake URL (one per datacenter)."""
    body = orjson.dumps(list(events))
    out: list[PostResult] = []
    async with httpx.AsyncClient(timeout=timeout) as client:
        for url in urls:
            status: int | None = None
            detail = ""
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(attempts),
                    wait=wait_exponential(multiplier=0.2, max=5),
                    retry=retry_if_exception_type(_Retry),
                    reraise=True,
                ):
                    with attempt:
                        try:
                            r = await client.post(
                                url, content=body, headers={"content-type": "application/json"}
                            )
                        except httpx.HTTPError as exc:
                            detail = f"{type(exc).__name__}: {exc}"
                            raise _Retry from exc
                        status, detail = r.status_code, r.text[:500]
                        if status >= 500:
                            raise _Retry
            except _Retry:
                pass
            out.append(PostResult(url, status, status in (201, 202), detail))
    return out


@dataclass
class CanaryRun:
    """What one ``eventplatform canary`` pass did."""

    streams: list[str]
    events: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    posts: list[PostResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(p.ok for p in self.posts)


async def run_canaries(
    registry: SchemaRegistry,
    config: StreamConfig,
    urls: Sequence[str],
    *,
    only: Sequence[str] = (),
    dt: str | None = None,
    dry_run: bool = False,
) -> CanaryRun:
    streams = canary_streams(config, only)
    events, problems = await build_canaries(registry, config, streams, dt)
    run = CanaryRun(streams, events, problems)
    if events and not dry_run:
        run.posts = await post_canaries(events, urls)
    return run


# -- the check: which stream-datacenter-hours have no canary --------------------------------------------


@dataclass(frozen=True, slots=True)
class Missing:
    stream: str
    topic: str
    hour_ms: int  # start of the hour, epoch ms

    @property
    def hour(self) -> str:
        return datetime.fromtimestamp(self.hour_ms / 1000, UTC).strftime("%Y-%m-%dT%H")


def hours(since_ms: int, until_ms: int) -> list[int]:
    """Start of every whole hour in ``[ceil_hour(since), floor_hour(until))`` (the reference's window)."""
    first = -(-since_ms // HOUR_MS) * HOUR_MS
    last = until_ms // HOUR_MS * HOUR_MS
    return list(range(first, last, HOUR_MS))


async def missing_canaries(
    log: EventLog,
    config: StreamConfig,
    streams: Iterable[str],
    since_ms: int,
    until_ms: int | None = None,
    *,
    datacenters: Sequence[str] = (),
) -> list[Missing]:
    """Every (stream, topic, hour) in the window with no canary in the log. The topics are the stream's
    configured ones, plus ``<dc>.<stream>`` for ``datacenters``; a topic that does not exist at all is
    missing every hour (nothing ever reached it)."""
    until = int(time.time() * 1000) // HOUR_MS * HOUR_MS if until_ms is None else until_ms
    window = hours(since_ms, until)
    if not window:
        return []
    existing = set(await log.list_topics())
    missing: list[Missing] = []
    for stream in streams:
        topics = [t for t in config.topics(stream) if not t.startswith("/")]
        topics += [f"{dc}.{stream}" for dc in datacenters if f"{dc}.{stream}" not in topics]
        for topic in topics:
            seen: set[int] = set()
            if topic in existing:
                end = window[-1] + HOUR_MS
                records = log.consume([topic], Start.at_time(window[0]))
                try:
                    async for record in records:  # offset order per partition: no early stop
                        if record.timestamp_ms < end and is_canary_value(record.value):
                            seen.add(record.timestamp_ms // HOUR_MS * HOUR_MS)
                finally:
                    await records.aclose()  # type: ignore[attr-defined]
            missing += [Missing(stream, topic, h) for h in window if h not in seen]
    return missing


async def repeat(every: float, once: Any) -> None:
    """Run ``once()`` now and then every ``every`` seconds, on the wall clock (no drift)."""
    while True:
        started = time.monotonic()
        await once()
        await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))
