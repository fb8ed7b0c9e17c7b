"""One chunk of a stream's records -> rows ready for their hours, and the records that go to quarantine.

Pure (no I/O): the local engine runs it in the refine process, the Spark engine in its executors, so both
engines produce the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from eventplatform.lake.convert import convert_buffer
from eventplatform.lake.evolve import conform_table
from eventplatform.lake.hours import hidden_columns
from eventplatform.lake.naming import Hour, split_topic
from eventplatform.lake.source import Chunk
from eventplatform.lake.transforms import add_columns, canary_mask, column


class Settings(Protocol):
    own_domains: Sequence[str]
    default_datacenter: str


_ISO_Z = r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z$"
QUARANTINE = pa.schema(
    [
        ("stream", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp_ms", pa.int64()),
        ("reason", pa.string()),
        ("value", pa.string()),
    ]
)


def hour_keys(table: pa.Table, timestamps: pa.Array) -> pa.Array:
    """``YYYY-MM-DDTHH`` (UTC) of each row: ``meta.dt``, else ``dt``, else the log timestamp (each looked
    at only for the rows the previous one left without an hour)."""
    out = None
    for name in ("meta.dt", "dt"):
        if out is not None and not out.null_count:
            return out
        dt = column(table, name)
        if dt is None or not pa.types.is_string(dt.type):
            continue
        dt = dt.combine_chunks() if isinstance(dt, pa.ChunkedArray) else dt
        quick = pc.if_else(
            pc.fill_null(pc.match_substring_regex(dt, _ISO_Z), False),
            pc.utf8_slice_codeunits(dt, 0, 13),
            None,
        )
        slow = pc.and_(pc.is_null(quick), pc.is_valid(dt))
        if pc.any(slow).as_py():
            parsed = [
                _iso_hour(v) if s else q
                for v, s, q in zip(dt.to_pylist(), slow.to_pylist(), quick.to_pylist(), strict=True)
            ]
            quick = pa.array(parsed, pa.string())
        out = quick if out is None else pc.coalesce(out, quick)
    if out is not None and (not out.null_count or table.num_rows == 0):
        return out
    log_hours = pc.strftime(timestamps.cast(pa.timestamp("ms", tz="UTC")), "%Y-%m-%dT%H")
    return log_hours if out is None else pc.coalesce(out, log_hours)


def _iso_hour(text: str) -> str | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H")


@dataclass(slots=True)
class Prepared:
    table: pa.Table  # table columns + hidden log positions, rows grouped by hour
    keys: list[str] = field(default_factory=list)  # Hour keys of the groups
    ends: list[int] = field(default_factory=list)  # end row of each group
    canaries: pa.Array | None = None  # per row, same order
    quarantine: pa.Table | None = None
    rejected_hours: list[Hour] = field(default_factory=list)

    def hours(self) -> Iterator[tuple[Hour, pa.Table, pa.Array | None]]:
        start = 0
        for key, end in zip(self.keys, self.ends, strict=True):
            rows = self.table.slice(start, end - start)
            canary = self.canaries.slice(start, end - start) if self.canaries is not None else None
            start = end
            yield Hour.from_key(key), rows, canary


def prepare(
    chunk: Chunk, stream: str, schema: pa.Schema, source_schema: pa.Schema, settings: Settings
) -> Prepared:
    """Convert, place in hours (by ``meta.dt``), mark canaries, add the transform columns."""
    n = len(chunk)
    converted = convert_buffer(chunk.data, n, lambda: chunk.values, source_schema)
    out = Prepared(schema.empty_table())
    if converted.rejected:
        idx = [i for i, _ in converted.rejected]
        where = pa.array(idx, pa.int64())
        values = chunk.values
        out.quarantine = pa.table(
            {
                "stream": pa.array([stream] * len(idx), pa.string()),
                "topic": chunk.topics.take(where),
                "partition": chunk.partitions.take(where),
                "offset": chunk.offsets.take(where),
                "timestamp_ms": chunk.timestamps.take(where),
                "reason": pa.array([r for _, r in converted.rejected], pa.string()),
                "value": pa.array([values[i].decode("utf-8", "replace") for i in idx], pa.string()),
            },
            schema=QUARANTINE,
        )
        out.rejected_hours = [_hour_of_rejected(chunk, i, stream, settings.default_datacenter) for i in idx]
    table = converted.table
    if not table.num_rows:
        return out
    topics, partitions, offsets, timestamps = chunk.topics, chunk.partitions, chunk.offsets, chunk.timestamps
    if converted.kept is not None:
        kept = pa.array(converted.kept, pa.int64())
        topics, partitions = topics.take(kept), partitions.take(kept)
        offsets, timestamps = offsets.take(kept), timestamps.take(kept)
    keys = hour_keys(table, timestamps)
    names = {b.topic for b in chunk.blocks}
    dcs = pa.array([split_topic(t, stream, settings.default_datacenter) for t in sorted(names)], pa.string())
    dc_col = dcs.take(pc.index_in(topics, pa.array(sorted(names), pa.string())))
    canaries = canary_mask(table)
    table = add_columns(table, settings.own_domains)
    table = conform_table(table, schema)
    for name, arr in hidden_columns(topics, partitions, offsets).items():
        table = table.append_column(name, arr)
    group = pc.dictionary_encode(pc.binary_join_element_wise(dc_col, keys, "/"))
    order = pc.sort_indices(group.indices)
    out.table = table.take(order)
    out.canaries = canaries.take(order) if canaries is not None else None
    runs = pc.run_end_encode(group.indices.take(order))
    out.keys = [group.dictionary[c].as_py() for c in runs.values.to_pylist()]
    out.ends = runs.run_ends.to_pylist()
    return out


def _hour_of_rejected(chunk: Chunk, i: int, stream: str, default_dc: str) -> Hour:
    """The hour a rejected record counts in: its ``meta.dt`` if it can be read, else the log time."""
    dc = split_topic(chunk.topics[i].as_py(), stream, default_dc)
    try:
        doc = orjson.loads(chunk.values[i])
        dt = doc.get("meta", {}).get("dt") or doc.get("dt")
        key = _iso_hour(dt) if isinstance(dt, str) else None
    except (orjson.JSONDecodeError, AttributeError):
        key = None
    if key is not None:
        return Hour.from_key(f"{dc}/{key}")
    return Hour.of(dc, datetime.fromtimestamp(chunk.timestamps[i].as_py() / 1000, UTC))
