"""JSON Schema -> Arrow types, as the reference's converter maps them (reference §1.5), everything nullable.

integer -> int64, number -> float64, boolean -> bool, string (date-time too) -> string; an object with
``properties`` -> struct in the schema's property order; an object whose ``additionalProperties`` is a
schema -> map<string, X> (properties beside it are only hints); array -> list<items>. Unions (``type: [a,
b]``), ``type: null``, tuple arrays and objects with neither properties nor an ``additionalProperties``
schema are refused with the JSON pointer and the reason: the guidelines forbid them and no table type fits.

Names: top-level columns are normalized (lower-cased, ``$schema`` -> ``_schema``), nested struct fields are
cleaned but keep their case; map keys are data and never touched. The converter reads events by their
source names, kept in the field's metadata (:func:`source_name`) where they differ.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from eventplatform.lake.naming import clean, normalize

_PRIMITIVES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}


class UnsupportedSchema(ValueError):
    """A schema (or a part of it) has no table type; the message names the JSON pointer and why."""

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer or '/'}: {reason}")
        self.pointer = pointer or "/"
        self.reason = reason


SOURCE = b"source"  # field metadata: the event's own name of a field whose column name differs


def source_name(field: pa.Field) -> str:
    meta = field.metadata
    return meta[SOURCE].decode() if meta and SOURCE in meta else field.name


def _type_name(node: Any, pointer: str) -> str:
    if not isinstance(node, dict):
        raise UnsupportedSchema(pointer, "not a schema object")
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1:
            raise UnsupportedSchema(pointer, f"union type {kind!r}: a column has one type")
        kind = kinds[0]  # ["string", "null"]: nullable anyway
    if kind is None:
        if "properties" in node or isinstance(node.get("additionalProperties"), dict):
            return "object"
        raise UnsupportedSchema(pointer, "no 'type'")
    if kind == "null":
        raise UnsupportedSchema(pointer, "type 'null' has no column type")
    if kind not in (*_PRIMITIVES, "object", "array"):
        raise UnsupportedSchema(pointer, f"unknown type {kind!r}")
    return str(kind)


def _convert(node: Any, pointer: str) -> pa.DataType:
    kind = _type_name(node, pointer)
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    if kind == "array":
        items = node.get("items")
        if items is None:
            raise UnsupportedSchema(pointer, "array without 'items'")
        if isinstance(items, list):
            raise UnsupportedSchema(pointer + "/items", "tuple arrays (items as a list) have no column type")
        return pa.list_(_convert(items, pointer + "/items"))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        return pa.map_(pa.string(), _convert(extra, pointer + "/additionalProperties"))
    props = node.get("properties")
    if not isinstance(props, dict) or not props:
        raise UnsupportedSchema(
            pointer, "object with neither 'properties' nor an 'additionalProperties' schema"
        )
    return pa.struct(_fields(props, pointer, top=False))


def _fields(props: dict[str, Any], pointer: str, *, top: bool) -> list[pa.Field]:
    fields: list[pa.Field] = []
    seen: dict[str, str] = {}
    for name, sub in props.items():
        col = normalize(name) if top else clean(name)
        key = col
        if key in seen:
            raise UnsupportedSchema(
                f"{pointer}/properties/{name}", f"{name!r} and {seen[key]!r} both become column {col!r}"
            )
        seen[key] = name
        kind = _convert(sub, f"{pointer}/properties/{name}")
        fields.append(pa.field(col, kind, nullable=True, metadata=None if col == name else {SOURCE: name}))
    return fields


def arrow_schema(schema: dict[str, Any]) -> pa.Schema:
    """The table schema of a (materialized) event schema; raises :class:`UnsupportedSchema`."""
    if _type_name(schema, "") != "object" or not isinstance(schema.get("properties"), dict):
        raise UnsupportedSchema("", "an event schema must be an object with properties")
    return pa.schema(_fields(schema["properties"], "", top=True))
