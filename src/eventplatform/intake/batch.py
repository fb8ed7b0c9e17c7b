"""What the pipeline is given and what it answers: the request context of a batch and its results.

Shared by the pipeline, the HTTP gate (answers, metrics) and the ``produce`` command.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import uuid_utils

from eventplatform.errors import EventFailure

Status = Literal["success", "invalid", "error"]


def new_uuid() -> str:
    """A v1 UUID as eventgate-wikimedia uses for ``meta.id`` (uuid-utils: see docs/benchmarks.md)."""
    return str(uuid_utils.uuid1())


_iso_second: list[Any] = [-1, ""]  # (epoch second, "YYYY-MM-DDTHH:MM:SS") of the last call


def iso_now(now: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, like JavaScript's ``Date.toISOString()``.

    The date-time part is formatted once per second (datetime formatting costs more than the rest)."""
    t = time.time() if now is None else now
    sec = int(t)
    cached = _iso_second
    if cached[0] != sec:
        cached[1] = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached[0] = sec
    return f"{cached[1]}.{int((t - sec) * 1000):03d}Z"


@dataclass(slots=True)
class RequestContext:
    """What the pipeline needs to know about the request that carried the events."""

    request_id: str
    received_ms: int
    received_iso: str
    user_agent: str | None = None
    client_ip: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    query: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def now(
        cls,
        *,
        request_id: str | None = None,
        user_agent: str | None = None,
        client_ip: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> RequestContext:
        t = time.time()
        return cls(
            request_id=request_id or new_uuid(),
            received_ms=int(t * 1000),
            received_iso=iso_now(t),
            user_agent=user_agent,
            client_ip=client_ip,
            headers=headers or {},
            query=query or {},
        )


@dataclass(slots=True)
class EventOutcome:
    """The fate of one event of the batch. ``event`` is the event as mutated by defaults."""

    index: int
    status: Status
    event: Any
    failure: EventFailure | None = None
    stream: str | None = None
    schema_uri: str | None = None


@dataclass(slots=True)
class BatchResult:
    total: int
    invalid: list[EventOutcome] = field(default_factory=list)
    error: list[EventOutcome] = field(default_factory=list)
    # (stream, schema_uri) -> count, per status; for metrics without walking the outcomes again
    accepted_by: dict[tuple[str, str], int] = field(default_factory=dict)
    # the accepted events, in order: as mutated by defaults, serialized, their index in the batch and their
    # (stream, schema URI); parallel lists rather than an object per event (the hot path). An event accepted
    # by the compiled path is None in ``accepted_events``: it is its JSON in ``accepted_values``.
    accepted_events: list[Any] = field(default_factory=list)
    accepted_values: list[bytes] = field(default_factory=list)
    accepted_index: list[int] = field(default_factory=list)
    accepted_routes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def success(self) -> list[EventOutcome]:
        """The accepted events as outcomes (built on demand)."""
        return [
            EventOutcome(i, "success", orjson.loads(v) if e is None else e, None, stream, uri)
            for i, e, v, (stream, uri) in zip(
                self.accepted_index,
                self.accepted_events,
                self.accepted_values,
                self.accepted_routes,
                strict=True,
            )
        ]

    def status_counts(self) -> tuple[int, int, int]:
        return len(self.accepted_index), len(self.invalid), len(self.error)


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value, for messages (``integer`` apart from ``number``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "integer" if isinstance(value, int) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__
