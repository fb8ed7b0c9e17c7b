"""Schema evolution, additive only (reference §1.6), and the table registry ``<table>/_schema.json``.

New top-level columns are appended in alphabetical order, new struct fields at the end of their struct;
nothing is dropped, renamed or retyped. A field whose new type differs from the table's is a **clash**:
the table keeps its type, the clash is reported, and events whose value does not fit go to quarantine
(they fail conversion against the table type) instead of being cast.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa


@dataclass(slots=True)
class Merged:
    schema: pa.Schema
    added: list[str] = field(default_factory=list)  # dotted names of new columns and struct fields
    clashes: list[str] = field(default_factory=list)  # "name: table T, schema U"


def _merge_type(old: pa.DataType, new: pa.DataType, where: str, out: Merged) -> pa.DataType:
    if old.equals(new):
        return old
    if pa.types.is_struct(old) and pa.types.is_struct(new):
        names = {old.field(i).name for i in range(old.num_fields)}
        fields = []
        for f in old:
            idx = new.get_field_index(f.name)
            kind = f.type if idx < 0 else _merge_type(f.type, new.field(idx).type, f"{where}.{f.name}", out)
            fields.append(f.with_type(kind))
        for f in new:
            if f.name not in names:
                fields.append(f)
                out.added.append(f"{where}.{f.name}")
        return pa.struct(fields)
    if pa.types.is_list(old) and pa.types.is_list(new):
        return pa.list_(_merge_type(old.value_type, new.value_type, f"{where}[]", out))
    if pa.types.is_map(old) and pa.types.is_map(new):
        return pa.map_(old.key_type, _merge_type(old.item_type, new.item_type, f"{where}[]", out))
    out.clashes.append(f"{where}: the table has {old}, the schema says {new}")
    return old


def merge(table: pa.Schema | None, new: pa.Schema) -> Merged:
    """The table's schema after ``new`` (a schema version's columns) is applied to it."""
    if table is None:
        return Merged(new, [f.name for f in new])
    out = Merged(table)
    fields = []
    for f in table:
        idx = new.get_field_index(f.name)
        fields.append(f if idx < 0 else f.with_type(_merge_type(f.type, new.field(idx).type, f.name, out)))
    fresh = sorted((f for f in new if table.get_field_index(f.name) < 0), key=lambda f: f.name)
    out.added[:0] = [f.name for f in fresh]
    out.schema = pa.schema(fields + fresh)
    return out


def conform(array: pa.Array, target: pa.DataType) -> pa.Array:
    """Rows of an older file as ``target`` (a later, merged type): missing fields are null, NULL structs
    stay NULL (not Spark's struct of nulls)."""
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([conform(c, target) for c in array.chunks], target)
    kind = array.type
    if kind.equals(target):
        return array
    if pa.types.is_struct(target) and pa.types.is_struct(kind):
        children = dict(
            zip([kind.field(i).name for i in range(kind.num_fields)], array.flatten(), strict=True)
        )
        out = [
            conform(children[f.name], f.type) if f.name in children else pa.nulls(len(array), f.type)
            for f in target
        ]
        return pa.StructArray.from_arrays(
            out, fields=list(target), mask=array.is_null() if array.null_count else None
        )
    if pa.types.is_list(target) and pa.types.is_list(kind):
        values = conform(array.flatten(), target.value_type)
        offsets = pa.compute.subtract(array.offsets, array.offsets[0]) if len(array) else array.offsets
        return pa.ListArray.from_arrays(
            offsets, values, type=target, mask=array.is_null() if array.null_count else None
        )
    if pa.types.is_map(target) and pa.types.is_map(kind):
        items = conform(array.items, target.item_type)
        offsets = pa.compute.subtract(array.offsets, array.offsets[0]) if len(array) else array.offsets
        return pa.MapArray.from_arrays(
            offsets, array.keys, items, type=target, mask=array.is_null() if array.null_count else None
        )
    return array.cast(target)


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for f in schema:
        idx = table.schema.get_field_index(f.name)
        cols.append(pa.nulls(table.num_rows, f.type) if idx < 0 else conform(table.column(idx), f.type))
    return pa.Table.from_arrays(cols, schema=schema)


# -- the registry ------------------------------------------------------------------------------------


def _encode(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _decode(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


@dataclass(slots=True)
class TableInfo:
    """What stands in for the metastore: the table's merged schema and where it came from."""

    name: str
    schema: pa.Schema
    stream: str
    schema_uri: str | None
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per change

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stream": self.stream,
            "schema_uri": self.schema_uri,
            "columns": [f.name for f in self.schema],
            "partition_keys": ["datacenter", "year", "month", "day", "hour"],
            "history": self.history,
            "arrow_schema": _encode(self.schema),
        }


def registry_path(table_dir: Path) -> Path:
    return table_dir / "_schema.json"


def load_info(table_dir: Path) -> TableInfo | None:
    path = registry_path(table_dir)
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    return TableInfo(
        doc["name"],
        _decode(doc["arrow_schema"]),
        doc["stream"],
        doc.get("schema_uri"),
        doc.get("history", []),
    )


def save_info(table_dir: Path, info: TableInfo) -> None:
    """Written aside then renamed: a reader sees the old registry or the new one."""
    table_dir.mkdir(parents=True, exist_ok=True)
    tmp = table_dir / f"._schema.json.{os.getpid()}"
    tmp.write_text(json.dumps(info.to_json(), indent=1))
    os.replace(tmp, registry_path(table_dir))
