"""Events (JSON bytes) -> an Arrow table of the table's schema, with the events that do not fit set aside.

Parsing is pyarrow's JSON reader with an explicit schema (C++; strict: ``1.5`` in an integer column, a
number in a string column or ``"true"`` in a boolean one is an error, never a silent cast). It cannot read
JSON objects into maps, so fields holding a map are left to its inference and turned into maps afterwards
(:func:`_fit`), which also checks the inferred types against the table's. When a chunk fails, it is split
in halves until the failing events are alone: each goes to quarantine with the reader's message, the rest
is kept (a few bad events cost a few extra parses, not the hour).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from eventplatform.lake.types import source_name

BLOCK = 4 << 20  # bytes the JSON reader parses at a time


class Mismatch(ValueError):
    """A value whose type is not the column's (found after inference)."""


@dataclass(slots=True)
class Converted:
    table: pa.Table  # rows in input order, minus the rejected ones
    kept: list[int] | None  # input index of each row of ``table``; None: every input, in order
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (input index, reason)


def _has_map(kind: pa.DataType) -> bool:
    if pa.types.is_map(kind):
        return True
    if pa.types.is_struct(kind):
        return any(_has_map(f.type) for f in kind)
    if pa.types.is_list(kind):
        return _has_map(kind.value_type)
    return False


def _source_type(kind: pa.DataType) -> pa.DataType | None:
    """What the JSON reader is told: source names, and no field that holds a map (None = leave out)."""
    if _has_map(kind) and not pa.types.is_struct(kind):
        return None
    if pa.types.is_struct(kind):
        fields = []
        for f in kind:
            sub = _source_type(f.type)
            if sub is not None:
                fields.append(pa.field(source_name(f), sub))
        return pa.struct(fields)
    return kind


def reader_schema(schema: pa.Schema) -> pa.Schema:
    fields = []
    for f in schema:
        sub = _source_type(f.type)
        if sub is not None:
            fields.append(pa.field(source_name(f), sub))
    return pa.schema(fields)


def _struct_to_map(array: pa.Array, target: pa.MapType, where: str) -> pa.Array:
    """An inferred struct (one field per key seen) as ``map<string, value>``, absent/null keys left out."""
    n = len(array)
    value_type = target.item_type
    if pa.types.is_null(array.type):
        return pa.nulls(n, target)
    if not pa.types.is_struct(array.type):
        raise Mismatch(f"{where}: expected an object, got {array.type}")
    children = array.flatten()
    names = [array.type.field(i).name for i in range(array.type.num_fields)]
    rows, keys, values = [], [], []
    counts = pa.repeat(0, n).cast(pa.int32()) if n else pa.array([], pa.int32())
    for name, child in zip(names, children, strict=True):
        child = _fit(child, value_type, f"{where}[{name!r}]")
        valid = pc.is_valid(child)
        counts = pc.add(counts, pc.cast(valid, pa.int32()))
        idx = pc.indices_nonzero(valid)
        rows.append(idx)
        keys.append(pa.repeat(name, len(idx)))
        values.append(child.take(idx))
    if rows:
        order = pc.sort_indices(pa.concat_arrays(rows))  # stable: keys keep their order within a row
        flat_keys = pa.concat_arrays(keys).take(order)
        flat_values = pa.concat_arrays(values).take(order) if values else pa.array([], value_type)
    else:
        flat_keys, flat_values = pa.array([], pa.string()), pa.array([], value_type)
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(counts).cast(pa.int32())])
    mask = array.is_null() if array.null_count else None
    return pa.MapArray.from_arrays(offsets, flat_keys.cast(pa.string()), flat_values, type=target, mask=mask)


def _fit(array: pa.Array, target: pa.DataType, where: str) -> pa.Array:
    """``array`` (as read, source names) as ``target`` (table names); raises :class:`Mismatch`."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if kind.equals(target):
        return array
    if pa.types.is_null(kind):
        return pa.nulls(len(array), target)
    if pa.types.is_map(target):
        return _struct_to_map(array, target, where)
    if pa.types.is_struct(target):
        if not pa.types.is_struct(kind):
            raise Mismatch(f"{where}: expected an object, got {kind}")
        children = dict(
            zip([kind.field(i).name for i in range(kind.num_fields)], array.flatten(), strict=True)
        )
        out = []
        for f in target:
            child = children.get(source_name(f))
            out.append(
                pa.nulls(len(array), f.type) if child is None else _fit(child, f.type, f"{where}.{f.name}")
            )
        return pa.StructArray.from_arrays(
            out, fields=list(target), mask=array.is_null() if array.null_count else None
        )
    if pa.types.is_list(target):
        if not pa.types.is_list(kind):
            raise Mismatch(f"{where}: expected an array, got {kind}")
        values = _fit(array.flatten(), target.value_type, f"{where}[]")
        offsets = pc.subtract(array.offsets, array.offsets[0]) if len(array) else array.offsets
        return pa.ListArray.from_arrays(
            offsets, values, type=target, mask=array.is_null() if array.null_count else None
        )
    if pa.types.is_floating(target) and pa.types.is_integer(kind):
        return array.cast(target)  # a JSON integer is a number
    raise Mismatch(f"{where}: expected {target}, got {kind}")


def _read(buf: bytes, read_schema: pa.Schema, block_size: int) -> pa.Table:
    return pj.read_json(
        io.BytesIO(buf),
        read_options=pj.ReadOptions(use_threads=False, block_size=block_size),
        parse_options=pj.ParseOptions(explicit_schema=read_schema, unexpected_field_behavior="infer"),
    )


def _parse(buf: bytes, n: int, schema: pa.Schema, read_schema: pa.Schema) -> pa.Table:
    """``n`` newline-delimited events as ``schema``. Blocks of a few MB parse fastest; where the blocks'
    inferred types (of map fields) disagree, the buffer is read again as one block."""
    try:
        table = _read(buf, read_schema, BLOCK)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if len(buf) < BLOCK:
            raise
        table = _read(buf, read_schema, len(buf) + 1)
    if table.num_rows != n:
        raise ValueError(f"expected {n} JSON objects, read {table.num_rows}")
    columns = {name: table.column(name) for name in table.column_names}
    out = []
    for f in schema:
        col = columns.get(source_name(f))
        out.append(pa.nulls(n, f.type) if col is None else _fit(col, f.type, f.name))
    return pa.Table.from_arrays(out, schema=schema)


def convert_buffer(
    data: bytes, n: int, values: Callable[[], Sequence[bytes]], schema: pa.Schema
) -> Converted:
    """``n`` events as one newline-delimited buffer (the log's :class:`Block` s) into ``schema``: one parse
    when all fit (``kept`` is then None); else event by event through :func:`convert`."""
    if n == 0:
        return Converted(schema.empty_table(), [])
    try:
        return Converted(_parse(data, n, schema, reader_schema(schema)), None)
    except (pa.ArrowInvalid, pa.ArrowTypeError, Mismatch, ValueError):
        return convert(values(), schema)


def convert(values: Sequence[bytes], schema: pa.Schema) -> Converted:
    """Parse ``values`` into ``schema``; events that do not fit are rejected with the reason."""
    values = [v.replace(b"\n", b" ") for v in values]  # JSON has newlines only as whitespace
    read_schema = reader_schema(schema)
    tables: list[pa.Table] = []
    kept: list[int] = []
    rejected: list[tuple[int, str]] = []
    pending = [(0, len(values))]
    while pending:
        lo, hi = pending.pop()
        if lo >= hi:
            continue
        try:
            tables.append(_parse(b"\n".join(values[lo:hi]), hi - lo, schema, read_schema))
            kept.extend(range(lo, hi))
        except (pa.ArrowInvalid, pa.ArrowTypeError, Mismatch, ValueError) as exc:
            if hi - lo == 1:
                rejected.append((lo, _reason(exc)))
            else:
                mid = (lo + hi) // 2
                pending.append((mid, hi))
                pending.append((lo, mid))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return Converted(table, kept, sorted(rejected))


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if text.startswith("JSON parse error: "):
        text = text[len("JSON parse error: ") :]
    return text.split("\n", 1)[0][:500]
