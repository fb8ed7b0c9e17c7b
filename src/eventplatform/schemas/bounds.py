"""Enforced numeric bounds: every ``integer``/``number`` node gets ``minimum``/``maximum`` when absent.

Nodes are visited like json-schema-traverse 0.4.1 (not inside ``examples``); ``type`` must be the *string*
``integer`` or ``number``, so ``[integer, null]`` gets no bounds. Existing values are never clamped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventplatform.schemas.dereference import clone

SCHEMA_KEYWORDS = frozenset(
    ("additionalItems", "items", "contains", "additionalProperties", "propertyNames", "not")
)
ARRAY_KEYWORDS = frozenset(("items", "allOf", "anyOf", "oneOf"))
PROPS_KEYWORDS = frozenset(("definitions", "properties", "patternProperties", "dependencies"))


def iter_schema_nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Pre-order walk over sub-schemas with json-schema-traverse's keyword sets."""
    if not isinstance(schema, dict):
        return
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield node
        children: list[Any] = []
        for key, sub in node.items():
            if isinstance(sub, list):
                if key in ARRAY_KEYWORDS:
                    children.extend(sub)
            elif key in PROPS_KEYWORDS:
                if isinstance(sub, dict):
                    children.extend(sub.values())
            elif key in SCHEMA_KEYWORDS:
                children.append(sub)
        stack.extend(reversed(children))


def walk(schema: Any, callback: Callable[[dict[str, Any]], None]) -> None:
    for node in iter_schema_nodes(schema):
        callback(node)


def enforce_numeric_bounds(schema: Any, bounds: Sequence[float] | None, *, copy: bool = True) -> Any:
    """``schema`` with bounds filled in; a copy unless ``copy=False`` (then changed in place)."""
    if not bounds:
        return schema
    lo, hi = bounds[0], bounds[1]
    if copy:
        schema = clone(schema, {})
    for node in iter_schema_nodes(schema):
        t = node.get("type")
        if t == "integer" or t == "number":
            if "minimum" not in node:
                node["minimum"] = lo
            if "maximum" not in node:
                node["maximum"] = hi
    return schema
