"""What the catalog page shows: every configured stream with its settings and schema, and its events and
validation errors per minute, counted from the log.

The counts are read from the log by time (:class:`RateCounter`): on its first use it reads the last
``hours`` of every stream's topics and then follows them, so a restart loses nothing (the log is the
source). Per stream it keeps one number per minute and the last error messages: the API answers hundreds
of streams from memory. It starts only when someone looks at the catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from eventplatform.log import EventLog, Start
from eventplatform.schemas.version import is_semver, semver_key

logger = logging.getLogger("eventplatform.eventstreams")

MINUTE_MS = 60_000
LAST_ERRORS = 10
RESTART_CHECK = 30.0  # seconds between checks that the streams (and so the topics) are the same
# stream settings shown as they are (descriptive; the reference's schema talk pages carried them)
DESCRIPTIVE = ("description", "owner", "owners", "status", "retention", "purging", "contact", "team")


class RateCounter:
    """Events and validation errors per stream and minute over the last ``hours``, from the log."""

    def __init__(
        self,
        log: EventLog,
        topics: Callable[[], Mapping[str, str]],
        error_topics: Callable[[], set[str]],
        hours: int,
    ) -> None:
        self.log = log
        self._topics = topics  # topic -> stream, for every readable stream
        self._error_topics = error_topics
        self.hours = hours
        self.events: dict[str, dict[int, int]] = {}  # stream -> minute -> count
        self.errors: dict[str, dict[int, int]] = {}  # errored stream -> minute -> count
        self.last_errors: dict[str, deque[dict[str, Any]]] = {}
        self.task: asyncio.Task[None] | None = None
        self.caught_up = asyncio.Event()

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name="eventstreams-rates")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    def _first_minute(self) -> int:
        return int(time.time() * 1000) // MINUTE_MS - self.hours * 60

    async def _run(self) -> None:
        since = self._first_minute() * MINUTE_MS
        positions: dict[tuple[str, int], int] = {}
        while True:
            topics = dict(self._topics())
            error_topics = self._error_topics()
            start = Start.at_offsets(positions, fallback="beginning") if positions else Start.at_time(since)
            # first up to the end as it is now (then the counts are complete), then following
            follow = self.caught_up.is_set()
            stream = self.log.consume(sorted(topics), start, follow=follow)
            check_at = time.monotonic() + RESTART_CHECK
            try:
                async for record in stream:
                    positions[(record.topic, record.partition)] = record.offset + 1
                    self._count(record.topic, record.timestamp_ms, record.value, topics, error_topics)
                    if time.monotonic() >= check_at:
                        check_at = time.monotonic() + RESTART_CHECK
                        self._prune()
                        if dict(self._topics()) != topics:
                            break  # streams changed: read the new set from here
                if not follow:
                    self.caught_up.set()
                    continue
            except Exception as exc:
                logger.warning("eventstreams: counting the catalog's rates failed (retrying): %s", exc)
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]
            if not positions:  # nothing read: start again from the time, not from the beginning
                since = self._first_minute() * MINUTE_MS
            await asyncio.sleep(1.0)

    def _count(
        self, topic: str, ts: int, value: bytes, topics: Mapping[str, str], error_topics: set[str]
    ) -> None:
        minute = ts // MINUTE_MS
        if topic in error_topics:
            try:
                error = orjson.loads(value)
            except orjson.JSONDecodeError:
                return
            if not isinstance(error, dict):
                return
            errored = str(error.get("errored_stream_name") or "unknown")
            per = self.errors.setdefault(errored, {})
            per[minute] = per.get(minute, 0) + 1
            last = self.last_errors.setdefault(errored, deque(maxlen=LAST_ERRORS))
            last.append(
                {
                    "dt": error.get("dt"),
                    "message": error.get("message"),
                    "error_type": error.get("error_type"),
                    "schema": error.get("errored_schema_uri"),
                }
            )
        name = topics.get(topic)
        if name is not None:
            per = self.events.setdefault(name, {})
            per[minute] = per.get(minute, 0) + 1

    def _prune(self) -> None:
        first = self._first_minute()
        for table in (self.events, self.errors):
            for per in table.values():
                for minute in [m for m in per if m < first]:
                    del per[minute]

    def series(self) -> dict[str, Any]:
        """The per-minute arrays of every stream with counts, over the window (oldest first)."""
        first = self._first_minute()
        n = self.hours * 60 + 1

        def arrays(per: dict[int, int]) -> list[int]:
            out = [0] * n
            for minute, count in per.items():
                i = minute - first
                if 0 <= i < n:
                    out[i] = count
            return out

        streams: dict[str, dict[str, list[int]]] = {}
        for name, per in self.events.items():
            streams.setdefault(name, {})["events"] = arrays(per)
        for name, per in self.errors.items():
            streams.setdefault(name, {})["errors"] = arrays(per)
        return {"start": first * MINUTE_MS, "step": MINUTE_MS, "points": n, "streams": streams}


def schema_versions(base_uris: list[str], title: str) -> list[str]:
    """The versions of schema ``title`` in the local repositories (semver file names), oldest first."""
    found: set[str] = set()
    for base in base_uris:
        if base.startswith(("http://", "https://")):
            continue
        directory = Path(base.removeprefix("file://")) / title.strip("/")
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                stem = entry.name.rsplit(".", 1)[0] if entry.name.count(".") > 2 else entry.name
                if is_semver(stem):
                    found.add(stem)
    return sorted(found, key=semver_key)


def stream_entry(
    name: str, settings: Mapping[str, Any], versions: list[str], topics: list[str]
) -> dict[str, Any]:
    """One stream of ``/v2/api/streams``."""
    described = {k: settings[k] for k in DESCRIPTIVE if settings.get(k) is not None}
    for key, value in settings.items():  # anything else descriptive the config carries (x_owner, …)
        if key.startswith(("x_", "x-")) and key not in described:
            described[key] = value
    return {
        "name": name,
        "schema_title": settings.get("schema_title"),
        "latest_version": versions[-1] if versions else None,
        "versions": versions,
        "destination": settings.get("destination_event_service"),
        "sampling": settings.get("sample"),
        "canary_events_enabled": bool(settings.get("canary_events_enabled")),
        "topics": topics,
        "settings": described,
    }
