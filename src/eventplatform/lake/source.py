"""What to refine and reading it: streams of the stream config, their topics, and the log in chunks."""

from __future__ import annotations

from array import array
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from eventplatform.log import Block, EventLog, Record
from eventplatform.streamconfig.config import StreamConfig


def _int64(values: Sequence[int]) -> pa.Array:
    if isinstance(values, array) and values.typecode == "q":
        return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])
    return pa.array(values, pa.int64())


@dataclass(slots=True)
class Chunk:
    """Records of one stream as columns: log :class:`Block` s, their values one newline-delimited buffer."""

    blocks: list[Block] = field(default_factory=list)
    _values: list[bytes] | None = None

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks)

    @classmethod
    def of(cls, records: Sequence[Record]) -> Chunk:
        """Records (any topic partitions) as a chunk, one block per run of the same topic partition."""
        blocks: list[Block] = []
        run: list[Record] = []
        for r in records:
            if run and (r.topic, r.partition) != (run[-1].topic, run[-1].partition):
                blocks.append(Block.of(run))
                run = []
            run.append(r)
        if run:
            blocks.append(Block.of(run))
        return cls(blocks)

    @property
    def data(self) -> bytes:
        """The values as newline-delimited JSON (no value holds a newline: see :class:`Block`)."""
        return self.blocks[0].data if len(self.blocks) == 1 else b"\n".join(b.data for b in self.blocks)

    @property
    def values(self) -> list[bytes]:
        if self._values is None:
            self._values = [v for b in self.blocks for v in b.values()]
        return self._values

    @property
    def offsets(self) -> pa.Array:
        return pa.concat_arrays([_int64(b.offsets) for b in self.blocks]) if self.blocks else _int64([])

    @property
    def timestamps(self) -> pa.Array:
        return pa.concat_arrays([_int64(b.timestamps) for b in self.blocks]) if self.blocks else _int64([])

    @property
    def topics(self) -> pa.Array:
        return pa.concat_arrays([pa.repeat(b.topic, len(b)) for b in self.blocks]).cast(pa.string())

    @property
    def partitions(self) -> pa.Array:
        return pa.concat_arrays([pa.repeat(pa.scalar(b.partition, pa.int32()), len(b)) for b in self.blocks])

    def spans(self) -> dict[str, list[int]]:
        """ "topic:partition" -> [first, last + 1] of the offsets read."""
        out: dict[str, list[int]] = {}
        for b in self.blocks:
            if not len(b):
                continue
            span = out.setdefault(f"{b.topic}:{b.partition}", [b.offsets[0], b.offsets[-1] + 1])
            span[0] = min(span[0], b.offsets[0])
            span[1] = max(span[1], b.offsets[-1] + 1)
        return out


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


LogRange = tuple[str, int, int, int]  # topic, partition, first offset, end offset


async def log_ranges(
    log: EventLog, topics: Sequence[str], positions: Mapping[tuple[str, int], int]
) -> list[LogRange]:
    """What is left to read of ``topics``: from ``positions`` (else the beginning) to the end now."""
    ranges = []
    for topic in topics:
        for partition, (low, high) in sorted((await log.watermarks(topic)).items()):
            first = max(positions.get((topic, partition), low), low)
            if first < high:
                ranges.append((topic, partition, first, high))
    return ranges


async def read_chunks(log: EventLog, ranges: Sequence[LogRange], size: int) -> AsyncIterator[Chunk]:
    """The records of ``ranges`` in chunks of about ``size`` records (the log's bulk read: no object per
    record)."""
    chunk = Chunk()
    held = 0
    for topic, partition, first, end in ranges:
        async for block in log.read_blocks(topic, partition, first, end, max_records=min(size, 50_000)):
            chunk.blocks.append(block)
            held += len(block)
            if held >= size:
                yield chunk
                chunk, held = Chunk(), 0
    if held:
        yield chunk
