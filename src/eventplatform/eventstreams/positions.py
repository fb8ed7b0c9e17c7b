"""Where a client starts and resumes: ``since``, ``Last-Event-ID`` and the position vector sent as ``id:``.

The id is the reference's JSON array, one entry per topic-partition. Each entry carries **both** the next
offset and ``timestamp`` (last delivered event's timestamp + 1, as the reference), plus ``log``, the
identity of the log the offsets belong to. On resume an entry whose ``log`` is ours is resumed by offset:
exact, even for events that share a millisecond. Any other entry (another datacenter's log, a hand-made
id, the reference's own ids) falls back to the reference's rules: ``offset`` as given, else ``timestamp``
resolved by time, ``offset: -1`` = the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_ID_BYTES = 64 * 1024  # a Last-Event-ID larger than this is refused, not parsed
MAX_ENTRIES = 4096
_INT = re.compile(r"^-?\d+$")
TopicPartition = tuple[str, int]


class RequestError(Exception):
    """A request the stream cannot start for: the HTTP status and the body's fields."""

    def __init__(self, status: int, kind: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail


class InvalidAssignment(RequestError):
    """A bad ``Last-Event-ID`` (the reference's KafkaSSE ``InvalidAssignmentError``)."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(status, "InvalidAssignmentError", "Invalid Last-Event-ID", detail)


def parse_since(text: str, now_ms: int | None = None) -> int:
    """``since``: integer epoch milliseconds or an ISO 8601 date/time (what ``Date.parse`` takes in
    practice); a time in the future is refused rather than silently meaning "the end"."""
    value = text.strip()
    ms: int | None = None
    if _INT.match(value):
        ms = int(value)
    else:
        try:
            dt = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            dt = None
        if dt is not None:
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            ms = int(dt.timestamp() * 1000)
    if ms is None or ms < 0:
        raise RequestError(
            400,
            "invalid_timestamp",
            "Invalid timestamp",
            f"since={text!r} is neither epoch milliseconds nor an ISO 8601 date-time",
        )
    now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    if ms > now + 60_000:  # a minute of clock skew is tolerated
        raise RequestError(400, "invalid_timestamp", "Invalid timestamp", f"since={text!r} is in the future")
    return ms


@dataclass(frozen=True, slots=True)
class Entry:
    """One assignment of a ``Last-Event-ID``: an offset (-1 = end) and/or a timestamp."""

    topic: str
    partition: int
    offset: int | None
    timestamp: int | None
    log: str | None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_last_event_id(text: str, allowed_topics: set[str]) -> list[Entry]:
    """The assignments of a ``Last-Event-ID`` header; :class:`InvalidAssignment` says precisely why not."""
    if len(text) > MAX_ID_BYTES:
        raise InvalidAssignment(f"Last-Event-ID is {len(text)} bytes long; at most {MAX_ID_BYTES} are read")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidAssignment(f"Last-Event-ID is not JSON: {exc}") from None
    if not isinstance(doc, list) or not doc:
        raise InvalidAssignment("Last-Event-ID must be a non-empty JSON array of {topic, partition, offset}")
    if len(doc) > MAX_ENTRIES:
        raise InvalidAssignment(f"Last-Event-ID has {len(doc)} assignments; at most {MAX_ENTRIES}")
    out = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict):
            raise InvalidAssignment(f"Last-Event-ID[{i}] is not an object")
        topic, partition = item.get("topic"), item.get("partition")
        offset, timestamp, log = item.get("offset"), item.get("timestamp"), item.get("log")
        if not isinstance(topic, str) or not topic:
            raise InvalidAssignment(f"Last-Event-ID[{i}].topic must be a topic name")
        if not _int(partition) or partition < 0:
            raise InvalidAssignment(f"Last-Event-ID[{i}].partition must be an integer >= 0")
        if offset is not None and (not _int(offset) or offset < -1):
            raise InvalidAssignment(f"Last-Event-ID[{i}].offset must be an integer >= -1 (-1: the end)")
        if timestamp is not None and (not _int(timestamp) or timestamp < 0):
            raise InvalidAssignment(f"Last-Event-ID[{i}].timestamp must be epoch milliseconds >= 0")
        if offset is None and timestamp is None:
            raise InvalidAssignment(f"Last-Event-ID[{i}] needs an offset or a timestamp")
        if log is not None and not isinstance(log, str):
            raise InvalidAssignment(f"Last-Event-ID[{i}].log must be a string")
        if topic not in allowed_topics:
            raise InvalidAssignment(
                f"Last-Event-ID[{i}]: topic {topic!r} is not a topic of the requested streams "
                f"(available: {', '.join(sorted(allowed_topics))})",
                status=404,
            )
        out.append(Entry(topic, partition, offset, timestamp, log))
    return out


class Vector:
    """The position of one client in every topic-partition it reads, and its ``id:`` text.

    ``next[tp]`` is the next offset to deliver; ``ts[tp]`` the timestamp to resume from on another log.
    Each entry's JSON is cached and rebuilt only for the partition that moved (hot: once per delivery)."""

    __slots__ = ("_entries", "_id", "_log", "_topics", "log", "next", "ts")

    def __init__(self, log: str, next_offsets: dict[TopicPartition, int], ts: dict[TopicPartition, int]):
        self.log = log
        self._log = orjson.dumps(log)
        self._topics: dict[str, bytes] = {}  # topic -> its JSON string
        self.next = next_offsets
        self.ts = ts
        self._entries: dict[TopicPartition, bytes] = {}
        self._id: bytes | None = None
        for tp in sorted(next_offsets):
            self._entries[tp] = self._entry(tp, self.next[tp], self.ts.get(tp, 0))

    def _entry(self, tp: TopicPartition, offset: int, timestamp: int) -> bytes:
        topic = self._topics.get(tp[0])
        if topic is None:
            topic = self._topics[tp[0]] = orjson.dumps(tp[0])
        return _ENTRY % (topic, tp[1], timestamp, offset, self._log)

    def advance(self, tp: TopicPartition, offset: int, timestamp: int) -> None:
        """Hot function: ``offset`` was delivered (or filtered out)."""
        self.next[tp] = offset + 1
        self.ts[tp] = timestamp + 1
        self._entries[tp] = self._entry(tp, offset + 1, timestamp + 1)
        self._id = None

    def id(self) -> bytes:
        if self._id is None:
            entries = self._entries
            if len(entries) == 1:
                for entry in entries.values():
                    self._id = b"[" + entry + b"]"
            else:
                self._id = b"[" + b",".join(entries.values()) + b"]"
        return self._id  # type: ignore[return-value]


_ENTRY = b'{"topic":%s,"partition":%d,"timestamp":%d,"offset":%d,"log":%s}'
