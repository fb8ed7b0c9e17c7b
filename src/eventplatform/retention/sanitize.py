"""Sanitization: the allowlisted copy of each refined hour, ``<lake>/event/<table>/<partition>`` ->
``<lake>/event_sanitized/<table>/<partition>`` (same layout, same columns, NULL where data was dropped).

Incremental and idempotent like refine: ``<lake>/_sanitize_status.sqlite`` records per table and
partition the input's fingerprint (names, sizes and mtimes of its files), the digest of the table's
allowlist entry and the salt used. An hour is sanitized again when any of them changes: late data
re-refined, **an allowlist change** (the reference's delayed pass only did this when forced), a new salt.
A partition is written aside and swapped in by two renames; a crash between them is undone at the next
run, so a reader never sees half a partition.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventplatform.retention.allowlist import Allowlist, AllowlistError, Spec, lint_table, norm
from eventplatform.retention.salts import Salts, hmac_hex

SOURCE, TARGET = "event", "event_sanitized"
STAGING = "_sanitize_staging"
_KEY = re.compile(r"^(\w+)=(.*)$")


@dataclass(frozen=True)
class Partition:
    table: str
    relative: str  # datacenter=eqiad/year=2026/month=12/day=5/hour=8
    files: tuple[Path, ...]

    @property
    def keys(self) -> dict[str, str]:
        return dict(m.groups() for part in self.relative.split("/") if (m := _KEY.match(part)))

    @property
    def hour_start(self) -> datetime:
        k = self.keys
        return datetime(
            int(k["year"]), int(k.get("month", 1)), int(k.get("day", 1)), int(k.get("hour", 0)), tzinfo=UTC
        )

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for f in self.files:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:16]


def partitions(lake: Path, table: str) -> Iterator[Partition]:
    root = lake / SOURCE / table
    if not root.is_dir():
        return
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        parquet = sorted(Path(directory) / f for f in files if f.endswith(".parquet"))
        rel = Path(directory).relative_to(root).as_posix()
        if parquet and "year=" in rel:
            yield Partition(table, rel, tuple(parquet))


def table_schema(lake: Path, table: str) -> pa.Schema | None:
    """The table's columns: the union of its files' schemas (evolution only adds)."""
    schemas = [pq.read_schema(f) for p in partitions(lake, table) for f in p.files]
    return pa.unify_schemas(schemas) if schemas else None


def lake_tables(lake: Path) -> list[str]:
    root = lake / SOURCE
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def lint(
    allowlist: Allowlist,
    lake: Path,
    known_tables: Sequence[str] = (),
    json_schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[str], list[str]]:
    """(problems, notes): problems refuse the allowlist; notes say what could not be checked."""
    problems: list[str] = []
    notes: list[str] = []
    in_lake = set(lake_tables(lake))
    for table, spec in sorted(allowlist.tables.items()):
        if table not in in_lake and table not in known_tables:
            problems.append(
                f"{table}: unknown table (not in {lake / SOURCE} nor a configured stream's table)"
            )
            continue
        schema = table_schema(lake, table)
        if schema is None:
            notes.append(f"{table}: no data in the lake yet: its fields are not checked")
            continue
        problems += lint_table(table, spec, schema, (json_schemas or {}).get(table))
    return problems, notes


# -- masking -----------------------------------------------------------------------------------------


def mask_array(arr: pa.Array, spec: Spec | None, hasher: Callable[[str], str] | None) -> pa.Array:
    """``arr`` with the allowlist entry ``spec`` applied (None = not listed = NULL)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    kind = arr.type
    if spec is None:
        return pa.nulls(len(arr), kind)
    if spec in ("keep", "keep_all"):
        return arr
    if spec == "hash":
        if hasher is None:
            raise AllowlistError("hash needs a salt")
        return pa.array([None if v is None else hasher(v) for v in arr.to_pylist()], type=kind)
    if pa.types.is_struct(kind):
        children = [mask_array(arr.field(i), spec.get(norm(f.name)), hasher) for i, f in enumerate(kind)]
        return pa.StructArray.from_arrays(children, fields=list(kind), mask=arr.is_null())
    if pa.types.is_map(kind):
        return _mask_map(arr, spec, hasher)
    raise AllowlistError(f"a nested entry for a {kind} column")


def _mask_map(arr: pa.MapArray, spec: dict[str, Spec], hasher: Callable[[str], str] | None) -> pa.Array:
    """Keep the listed keys of each map (hashing the values of ``hash`` keys); columnar, not per row."""
    keys, items, offsets = arr.keys, arr.items, arr.offsets
    names = pc.replace_substring_regex(pc.utf8_lower(keys), "[^a-z0-9_]", "_")  # as norm()
    listed = [k for k, v in spec.items() if v in ("keep", "hash")]
    keep = pc.fill_null(pc.is_in(names, value_set=pa.array(listed, pa.string())), False)
    hashed = [k for k, v in spec.items() if v == "hash"]
    if hashed and hasher is not None:
        to_hash = pc.fill_null(pc.is_in(names, value_set=pa.array(hashed, pa.string())), False)
        values = items.to_pylist()
        flags = to_hash.to_pylist()
        items = pa.array(
            [hasher(v) if f and v is not None else v for v, f in zip(values, flags, strict=True)], items.type
        )
    prefix = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(pc.cast(keep, pa.int64()))])
    new_offsets = pc.cast(pc.take(prefix, pc.subtract(offsets, offsets[0])), pa.int32())
    return pa.MapArray.from_arrays(
        new_offsets, pc.filter(keys, keep), pc.filter(items, keep), type=arr.type, mask=arr.is_null()
    )


def mask_table(table: pa.Table, spec: Spec, hasher: Callable[[str], str] | None) -> pa.Table:
    if spec == "keep_all":
        return table
    columns = [
        mask_array(table.column(i), spec.get(norm(f.name)), hasher) for i, f in enumerate(table.schema)
    ]
    return pa.Table.from_arrays(columns, schema=table.schema)


# -- status and the swap -----------------------------------------------------------------------------


class SanitizeStatus:
    def __init__(self, lake: Path) -> None:
        self.db = sqlite3.connect(lake / "_sanitize_status.sqlite", isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS sanitized (table_name TEXT, partition TEXT, fingerprint TEXT, "
            "allowlist TEXT, salt TEXT, rows INTEGER, seconds REAL, sanitized_at TEXT, "
            "PRIMARY KEY (table_name, partition))"
        )

    def current(self, table: str, partition: str) -> tuple[str, str, str] | None:
        return self.db.execute(
            "SELECT fingerprint, allowlist, salt FROM sanitized WHERE table_name = ? AND partition = ?",
            (table, partition),
        ).fetchone()

    def record(self, table: str, partition: str, state: tuple[str, str, str], rows: int, secs: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sanitized VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (table, partition, *state, rows, secs, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        )

    def close(self) -> None:
        self.db.close()


def recover(lake: Path) -> None:
    """After a crash: a partition moved aside whose replacement never arrived goes back; the rest of
    what dead runs staged is removed."""
    root = lake / STAGING
    if not root.is_dir():
        return
    for run in root.iterdir():
        for marker in run.glob("*/_target"):
            target, old = Path(marker.read_text()), marker.parent / "old"
            if old.is_dir() and not target.exists():
                os.replace(old, target)
        shutil.rmtree(run, ignore_errors=True)


def write_partition(lake: Path, part: Partition, table: pa.Table, run: Path) -> None:
    target = lake / TARGET / part.table / part.relative
    slot = run / uuid.uuid4().hex
    (slot / "new").mkdir(parents=True)
    pq.write_table(table, slot / "new" / "part-0.parquet", compression="snappy")
    (slot / "_target").write_text(str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        os.replace(target, slot / "old")
    os.replace(slot / "new", target)
    shutil.rmtree(slot, ignore_errors=True)


@dataclass
class SanitizeReport:
    sanitized: list[tuple[str, str, int]] = field(default_factory=list)  # (table, partition, rows)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)


def sanitize(
    lake: Path,
    allowlist: Allowlist,
    salts: Salts,
    *,
    tables: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> SanitizeReport:
    report = SanitizeReport()
    recover(lake)
    status = SanitizeStatus(lake)
    run = lake / STAGING / uuid.uuid4().hex
    try:
        for table in sorted(allowlist.tables):
            if tables and table not in tables:
                continue
            spec = allowlist.tables[table]
            digest = allowlist.digest(table)
            for part in partitions(lake, table):
                hour = part.hour_start
                if (since and hour < since) or (until and hour >= until):
                    continue
                salt = None
                hasher = None
                if allowlist.uses_hash(table):
                    try:
                        salt = salts.for_hour(hour)
                    except Exception as exc:
                        report.failed.append(f"{table}/{part.relative}: {exc}")
                        continue
                    value = salt.value
                    # values repeat (titles, domains): each distinct one is hashed once per hour
                    hasher = functools.lru_cache(maxsize=65536)(lambda v, _s=value: hmac_hex(_s, v))
                state = (part.fingerprint(), digest, salt.path.name if salt else "")
                if status.current(table, part.relative) == state:
                    report.unchanged += 1
                    continue
                started = time.monotonic()
                data = pa.concat_tables([pq.read_table(f) for f in part.files], promote_options="default")
                write_partition(lake, part, mask_table(data, spec, hasher), run)
                status.record(table, part.relative, state, data.num_rows, time.monotonic() - started)
                report.sanitized.append((table, part.relative, data.num_rows))
    finally:
        shutil.rmtree(run, ignore_errors=True)
        status.close()
    return report
