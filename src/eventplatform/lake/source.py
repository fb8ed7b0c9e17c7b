"""What to refine and reading it: streams of the stream config, their topics, and the log in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventplatform.log import EventLog, Start
from eventplatform.streamconfig.config import StreamConfig


@dataclass(slots=True)
class Chunk:
    """Records of one stream as columns."""

    topics: list[str] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)


def ingested(settings: Mapping[str, Any]) -> bool:
    """False when the stream config turns the lake off for a stream (the reference's
    ``consumers.analytics_hadoop_ingestion.enabled: false``)."""
    consumers = settings.get("consumers") or {}
    hadoop = consumers.get("analytics_hadoop_ingestion") if isinstance(consumers, Mapping) else None
    return not (isinstance(hadoop, Mapping) and hadoop.get("enabled") is False)


def streams_of(config: StreamConfig, topics: Sequence[str]) -> dict[str, list[str]]:
    """stream -> its topics in the log: ``<stream>`` and ``<dc>.<stream>`` where the config knows the
    stream (by name or regex) and gives it a schema_title."""
    out: dict[str, list[str]] = {}
    for topic in sorted(topics):
        candidates = [topic]
        _, dot, rest = topic.partition(".")
        if dot and rest:
            candidates.insert(0, rest)
        for stream in candidates:
            settings = config.get(stream)
            if settings and settings.get("schema_title") and ingested(settings):
                out.setdefault(stream, []).append(topic)
                break
    return out


async def read_chunks(
    log: EventLog, topics: Sequence[str], positions: Mapping[tuple[str, int], int], size: int
) -> AsyncIterator[Chunk]:
    """The records of ``topics`` from ``positions`` (else the beginning) to the end seen at the start."""
    chunk = Chunk()
    stream = log.consume(list(topics), Start.at_offsets(positions, fallback="beginning"))
    try:
        async for r in stream:
            chunk.topics.append(r.topic)
            chunk.partitions.append(r.partition)
            chunk.offsets.append(r.offset)
            chunk.timestamps.append(r.timestamp_ms)
            chunk.values.append(r.value)
            if len(chunk) >= size:
                yield chunk
                chunk = Chunk()
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    if len(chunk):
        yield chunk
