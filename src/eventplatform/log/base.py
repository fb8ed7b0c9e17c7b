"""The EventLog protocol: what intake, tail, live streams and the lake need from a log.

Positions are (topic, partition, offset) everywhere, as in Kafka, so the embedded SQLite backend and the
Kafka backend are interchangeable behind this protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Message:
    """One event to produce. ``value`` is the serialized JSON of the event."""

    topic: str
    value: bytes
    key: bytes | None = None
    timestamp_ms: int | None = None  # from meta.dt; the log fills in "now" when None


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

    async def produce(self, messages: Sequence[Message], *, hasty: bool = False) -> list[Exception | None]:
        """Append ``messages``; one outcome per message, in order (None = durable).

        Without ``hasty`` this returns only once every message is durable (fsynced / acked by the broker).
        A failed message gets an :class:`eventplatform.errors.EventFailure` (usually an ``EventError``).
        With ``hasty`` it returns once the messages are queued.
        """
        ...

    def consume(
        self, topics: Sequence[str], start: Start, *, follow: bool = False, poll_interval: float = 0.2
    ) -> AsyncIterator[Record]:
        """Records of ``topics`` from ``start``; with ``follow`` it waits for new records forever,
        otherwise it stops at the high-water marks seen when it began."""
        ...

    async def list_topics(self) -> list[str]: ...

    async def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """partition -> (low, high): the first offset held and the next offset to be written."""
        ...

    async def ensure_topics(
        self, topics: Sequence[str], *, partitions: int | None = None, replication: int | None = None
    ) -> None:
        """Create ``topics`` where they do not exist yet; ``None`` partitions/replication mean the backend's
        configured defaults."""
        ...

    async def close(self) -> None: ...


class ColumnarLog:
    """Base of the logs whose native produce call takes columns (:meth:`produce_columns`): the intake pipeline
    builds them directly, with no :class:`Message` per event (a dataclass each costs ~1 µs on the hot path);
    :meth:`produce` serves the Message API on top of it."""

    async def produce_columns(
        self,
        topics: Sequence[str],
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        timestamps: Sequence[int | None],
        *,
        hasty: bool = False,
    ) -> list[Exception | None]:
        """:meth:`EventLog.produce` of the messages ``(topics[i], values[i], keys[i], timestamps[i])``. The
        sequences must not change until this returns."""
        raise NotImplementedError

    async def produce(self, messages: Sequence[Message], *, hasty: bool = False) -> list[Exception | None]:
        if not messages:
            return []
        return await self.produce_columns(
            [m.topic for m in messages],
            [m.value for m in messages],
            [m.key for m in messages],
            [m.timestamp_ms for m in messages],
            hasty=hasty,
        )


def open_log(url: str, **options: object) -> EventLog:
    """Open a log from its URL: ``sqlite:///PATH`` (a directory) or ``kafka://HOST:PORT[,HOST:PORT]``."""
    if url.startswith("sqlite://"):
        from eventplatform.log.sqlite import SQLiteLog

        return SQLiteLog.from_url(url, **options)  # type: ignore[arg-type]
    if url.startswith("kafka://"):
        from eventplatform.log.kafka import KafkaLog

        return KafkaLog.from_url(url, **options)  # type: ignore[arg-type]
    raise ValueError(f"unsupported log URL {url!r}: expected sqlite:///PATH or kafka://HOST:PORT")
