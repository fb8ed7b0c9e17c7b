"""Writing hour partitions: staged parts during a run, then per hour merge, deduplicate, write aside, swap.

Each partition file carries in its Parquet metadata the log ranges it holds (``eventplatform.spans``:
"topic:partition" -> [[first, end), ...]). A re-run after a crash, or a run over a window, skips records
already inside: late data re-refine their hour (old rows + new ones, deduplicated again), and nothing is
doubled. A partition directory is replaced by two renames (old one aside, new one in), so a reader never
sees a partial partition; :func:`recover` undoes a swap a crash cut in half.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventplatform.lake.evolve import conform_table
from eventplatform.lake.naming import Hour
from eventplatform.lake.transforms import column

SPANS_KEY = b"eventplatform.spans"
HIDDEN = ("__topic", "__partition", "__offset")
Spans = dict[str, list[list[int]]]


def staging_root(lake: Path) -> Path:
    return lake / "_staging"


def recover(lake: Path) -> None:
    """After a crash: put back partitions a swap moved aside, then drop what dead runs staged."""
    root = staging_root(lake)
    if not root.exists():
        return
    for run in root.iterdir():
        for marker in run.glob("*/trash/*/_target"):  # <run>/<table>/trash/<id>/_target
            target = Path(marker.read_text())
            moved = marker.parent / "data"
            if moved.exists() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(moved, target)
        shutil.rmtree(run, ignore_errors=True)


def read_spans(path: Path) -> Spans:
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(SPANS_KEY)
    return json.loads(raw) if raw else {}


def merge_spans(a: Spans, b: Spans) -> Spans:
    out: Spans = {}
    for key in sorted(set(a) | set(b)):
        ranges = sorted(a.get(key, []) + b.get(key, []))
        merged: list[list[int]] = []
        for lo, hi in ranges:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        out[key] = merged
    return out


def _inside(table: pa.Table, spans: Spans) -> pa.Array:
    """True for staged rows whose log position a partition already holds."""
    keep = pa.repeat(False, table.num_rows)
    if not spans or not table.num_rows:
        return keep
    tp = pc.binary_join_element_wise(
        table.column("__topic"), pc.cast(table.column("__partition"), pa.string()), ":"
    )
    offsets = table.column("__offset")
    for key, ranges in spans.items():
        on = pc.equal(tp, key)
        for lo, hi in ranges:
            hit = pc.and_(on, pc.and_(pc.greater_equal(offsets, lo), pc.less(offsets, hi)))
            keep = pc.or_(keep, hit)
    return keep


def deduplicate(table: pa.Table) -> pa.Table:
    """One row per ``meta.id``: the latest ``meta.dt``, then ``meta.request_id``, then ``meta.uri``
    (descending, nulls last); rows without an id are all kept. Row order otherwise kept."""
    ids = column(table, "meta.id")
    if ids is None or table.num_rows < 2:
        return table
    keys = {"__i": pa.array(range(table.num_rows), pa.int64()), "__id": ids}
    order = [("__id", "ascending", "at_end")]
    for name in ("dt", "request_id", "uri"):
        col = column(table, f"meta.{name}")
        if col is not None:
            keys[f"__{name}"] = col
            order.append((f"__{name}", "descending", "at_end"))
    small = pa.table(keys)
    small = small.take(pc.sort_indices(small, sort_keys=order))
    sid = small.column("__id").combine_chunks()
    prev = pa.concat_arrays([pa.nulls(1, sid.type), sid.slice(0, len(sid) - 1)])
    first = pc.fill_null(pc.not_equal(sid, prev), True)
    keep = pc.or_(first, pc.is_null(sid))
    rows = pc.sort_indices(pc.filter(small.column("__i"), keep))
    return table.take(pc.take(pc.filter(small.column("__i"), keep), rows))


class HourWriter:
    """The hours one run of one table touches. Staged rows stay in memory up to ``memory`` bytes, then
    are spilled to uncompressed Arrow files: a run's memory does not grow with the number of events."""

    def __init__(self, lake: Path, table: str, run: str, memory: int = 256 << 20) -> None:
        self.table_dir = lake / "event" / table
        self.run_dir = staging_root(lake) / run / table
        self.memory = memory
        self.parts: dict[Hour, list[pa.Table | Path]] = {}
        self._held = 0
        self._spilled = 0

    def stage(self, hour: Hour, rows: pa.Table) -> None:
        self.parts.setdefault(hour, []).append(rows)
        self._held += rows.nbytes
        if self._held > self.memory:
            self._spill()

    def _spill(self) -> None:
        for hour, parts in self.parts.items():
            for i, part in enumerate(parts):
                if isinstance(part, pa.Table):
                    folder = self.run_dir / "parts" / hour.path
                    folder.mkdir(parents=True, exist_ok=True)
                    path = folder / f"part-{self._spilled:06d}.arrow"
                    self._spilled += 1
                    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, part.schema) as out:
                        out.write_table(part)
                    parts[i] = path
        self._held = 0

    @staticmethod
    def _load(part: pa.Table | Path) -> pa.Table:
        if isinstance(part, pa.Table):
            return part
        if part.suffix == ".parquet":  # the Spark engine's output
            return pq.ParquetFile(part).read()
        with pa.memory_map(str(part)) as source:
            return pa.ipc.open_file(source).read_all()

    def touch(self, hour: Hour) -> None:
        """An hour with input but no row left (only canaries): it still gets its (empty) partition."""
        self.parts.setdefault(hour, [])

    def finish(self, hour: Hour, schema: pa.Schema, read: Spans) -> tuple[int, int, int, int]:
        """Merge, deduplicate and swap one hour in; returns (rows out, duplicates removed here, rows skipped
        as already present, rows the partition held before)."""
        target = self.table_dir / hour.path
        old_files = sorted(target.glob("*.parquet")) if target.exists() else []
        spans: Spans = {}
        tables = []
        for path in old_files:
            spans = merge_spans(spans, read_spans(path))
            tables.append(conform_table(pq.ParquetFile(path).read(), schema))
        skipped = 0
        existing = sum(t.num_rows for t in tables)
        for part in self.parts.pop(hour, []):
            staged = self._load(part)
            inside = _inside(staged, spans)
            skipped += pc.sum(pc.cast(inside, pa.int64())).as_py() or 0
            staged = staged.filter(pc.invert(inside)).drop_columns(list(HIDDEN))
            tables.append(conform_table(staged, schema))
        combined = pa.concat_tables(tables) if tables else schema.empty_table()
        before = combined.num_rows
        combined = deduplicate(combined)
        spans = merge_spans(spans, read)
        meta = dict(schema.metadata or {})
        meta[SPANS_KEY] = json.dumps(spans, separators=(",", ":")).encode()
        combined = combined.replace_schema_metadata(meta)
        out = self.run_dir / "out" / hour.path
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(combined, out / f"part-{uuid.uuid4().hex[:12]}.parquet", compression="snappy")
        self._swap(out, target)
        return combined.num_rows, before - combined.num_rows, skipped, existing

    def _swap(self, new: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            aside = self.run_dir / "trash" / uuid.uuid4().hex
            aside.mkdir(parents=True)
            (aside / "_target").write_text(str(target))
            os.replace(target, aside / "data")
            os.replace(new, target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(new, target)

    def cleanup(self) -> None:
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def release(self) -> None:
        """After a failure: drop staged rows from memory, leave the directory to :func:`recover`."""
        self.parts.clear()
        self._held = 0


def hidden_columns(topics: pa.Array, partitions: pa.Array, offsets: pa.Array) -> Mapping[str, pa.Array]:
    return {
        "__topic": topics.cast(pa.string()),
        "__partition": partitions.cast(pa.int32()),
        "__offset": offsets.cast(pa.int64()),
    }
