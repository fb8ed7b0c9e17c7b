"""The EventLog protocol and its types: what intake, tail, live streams and the lake need from a log.

Positions are (topic, partition, offset) everywhere, as in Kafka, so the embedded SQLite backend and the
Kafka backend are interchangeable behind this protocol. This module imports no backend: opening a log by
URL is :mod:`eventplatform.log.open`.
"""

from __future__ import annotations

from array import array
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eventplatform.errors import Codes, EventError


class NotSupported(EventError):
    """A backend cannot do what was asked (documented on the method that raises it)."""

    def __init__(self, message: str) -> None:
        super().__init__(Codes.LOG_UNAVAILABLE, message)


@dataclass(frozen=True, slots=True)
class Message:
    """One event to produce. ``value`` is the serialized JSON of the event. A convenience: logs take a
    :class:`Batch` (see :meth:`Batch.of`)."""

    topic: str
    value: bytes
    key: bytes | None = None
    timestamp_ms: int | None = None  # from meta.dt; the log fills in "now" when None


@dataclass(frozen=True, slots=True)
class Batch:
    """What one ``produce`` call appends: event ``i`` is ``(topics[i], values[i], keys[i], timestamps[i])``.

    Columns rather than an object per event: the intake pipeline builds these lists anyway, and the
    backends hand them as they are to librdkafka or to SQLite's multi-row INSERTs. The sequences must not
    change until ``produce`` returns. A ``None`` timestamp means "now" (the log's clock or the broker's)."""

    topics: Sequence[str]
    values: Sequence[bytes]
    keys: Sequence[bytes | None]
    timestamps: Sequence[int | None]

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def of(cls, messages: Sequence[Message]) -> Batch:
        return cls(
            [m.topic for m in messages],
            [m.value for m in messages],
            [m.key for m in messages],
            [m.timestamp_ms for m in messages],
        )

    @classmethod
    def to(
        cls,
        topic: str,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        timestamps: Sequence[int | None] | None = None,
    ) -> Batch:
        """Every event to one topic; no keys and "now" unless given."""
        n = len(values)
        return cls(
            [topic] * n,
            values,
            [None] * n if keys is None else keys,
            [None] * n if timestamps is None else timestamps,
        )


@dataclass(frozen=True, slots=True)
class Position:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Record:
    """One event read back from the log."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes

    @property
    def position(self) -> Position:
        return Position(self.topic, self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive records of one topic partition as columns, for bulk readers (the lake) that would
    otherwise pay for a :class:`Record` per event: ``data`` is the values joined by ``b"\\n"``, each value's
    own newlines replaced by spaces (in JSON a newline is only ever whitespace), so the block is
    newline-delimited JSON as it is. ``offsets`` and ``timestamps`` are int64 sequences (``array('q')``)."""

    topic: str
    partition: int
    offsets: Sequence[int]
    timestamps: Sequence[int]
    data: bytes

    def __len__(self) -> int:
        return len(self.offsets)

    def values(self) -> list[bytes]:
        return self.data.split(b"\n") if len(self.offsets) else []

    @classmethod
    def of(cls, records: Sequence[Record]) -> Block:
        """Records of one topic partition as a block (backends without a bulk read, tests)."""
        first = records[0]
        return cls(
            first.topic,
            first.partition,
            array("q", [r.offset for r in records]),
            array("q", [r.timestamp_ms for r in records]),
            b"\n".join(r.value.replace(b"\n", b" ") for r in records),
        )


async def blocks_of(records: AsyncIterator[Record], end: int, max_records: int) -> AsyncIterator[Block]:
    """:meth:`EventLog.read_blocks` over ``consume`` of one topic partition (what a backend without a
    bulk read does): records below ``end`` in blocks of at most ``max_records``."""
    held: list[Record] = []
    try:
        async for r in records:
            if r.offset >= end:
                break
            held.append(r)
            if len(held) >= max_records:
                yield Block.of(held)
                held = []
    finally:
        await records.aclose()  # type: ignore[attr-defined]
    if held:
        yield Block.of(held)


@dataclass(frozen=True, slots=True)
class Start:
    """Where a consumer starts: exactly one of the forms below (see the constructors)."""

    kind: str  # "beginning" | "end" | "timestamp" | "offsets"
    timestamp_ms: int | None = None
    # (topic, partition) -> next offset to read; partitions not listed start at ``fallback``
    offsets: Mapping[tuple[str, int], int] | None = None
    fallback: str = "end"

    @classmethod
    def beginning(cls) -> Start:
        return cls("beginning")

    @classmethod
    def end(cls) -> Start:
        return cls("end")

    @classmethod
    def at_time(cls, timestamp_ms: int) -> Start:
        return cls("timestamp", timestamp_ms=timestamp_ms)

    @classmethod
    def at_offsets(cls, offsets: Mapping[tuple[str, int], int], fallback: str = "end") -> Start:
        return cls("offsets", offsets=dict(offsets), fallback=fallback)


@runtime_checkable
class EventLog(Protocol):
    """A partitioned, durable, append-only log of events."""

    async def produce(self, batch: Batch, *, hasty: bool = False) -> list[Exception | None]:
        """Append ``batch``; one outcome per event, in order (None = durable).

        Without ``hasty`` this returns only once every event is durable (fsynced / acked by the broker).
        A failed event gets an :class:`eventplatform.errors.EventFailure` (usually an ``EventError``);
        nothing is raised for a bad event. With ``hasty`` it returns once the events are queued.
        """
        ...

    async def flush(self, timeout: float | None = None) -> int:
        """Wait until everything produced so far (hasty included) is durable; returns how many events are
        still queued (0 = all). Raises ``EventError(LOG_UNAVAILABLE)`` if the log knows they were lost."""
        ...

    def consume(
        self, topics: Sequence[str], start: Start, *, follow: bool = False, poll_interval: float = 0.2
    ) -> AsyncIterator[Record]:
        """Records of ``topics`` from ``start``; with ``follow`` it waits for new records forever,
        otherwise it stops at the high-water marks seen when it began. Topics that do not exist are
        skipped (with ``follow`` they are picked up once they appear)."""
        ...

    def read_blocks(
        self, topic: str, partition: int, start: int, end: int, *, max_records: int = 50_000
    ) -> AsyncIterator[Block]:
        """The records of one topic partition with offsets in ``[start, end)`` as :class:`Block` s of at most
        ``max_records`` records, in offset order: the bulk read of the lake, with no object per event.
        Offsets that hold no record (deleted by retention, Kafka's control records) are skipped."""
        ...

    async def list_topics(self) -> list[str]: ...

    async def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """partition -> (low, high): the first offset held and the next offset to be written."""
        ...

    async def ensure_topics(
        self, topics: Sequence[str], *, partitions: int | None = None, replication: int | None = None
    ) -> None:
        """Create ``topics`` where they do not exist yet; ``None`` partitions/replication mean the backend's
        configured defaults. SQLite raises :class:`NotSupported` for other values (its partitions are
        its writer processes)."""
        ...

    async def delete_before(
        self, topic: str, timestamp_ms: int | None = None, *, offsets: Mapping[int, int] | None = None
    ) -> int:
        """Retention: delete the records of ``topic`` before the first record at or after ``timestamp_ms``
        (in offset order, per partition), or before ``offsets`` (partition -> first offset to keep).
        Offsets never restart. Returns how many records were deleted."""
        ...

    def claim(self) -> int | None:
        """Take this process's share of writing now rather than at the first produce (fail at startup, not
        at the first request). Blocking. SQLite: the partition claimed; Kafka: None (nothing to claim)."""
        ...

    def describe(self) -> Mapping[str, Any]:
        """The backend's state, for diagnostics and tests; ``backend`` names it."""
        ...

    @property
    def counters(self) -> Mapping[str, int]:
        """Monotonic counters of this process's log work (which ones depends on the backend)."""
        ...

    async def close(self) -> None: ...
