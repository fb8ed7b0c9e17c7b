"""Schema ``default`` values and integral numbers: the one implementation intake uses.

AJV (EventGate's validator) fills ``default`` values (``useDefaults``) and, JSON having a single number
type, accepts ``2.0`` where a schema says ``integer``. Both are precomputed once per schema
(:class:`SchemaFill`) and applied to each event before validation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

Path = tuple[str, ...]
MAX_DEPTH = 32


class SchemaFill:
    """The ``default`` values and integer-typed fields of one schema, reachable through ``properties``."""

    __slots__ = ("defaults", "integer_paths")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        defaults: list[tuple[Path, Any]] = []
        integers: list[Path] = []
        _walk(schema, (), defaults, integers, 0)
        self.defaults = tuple(defaults)
        self.integer_paths = tuple(integers)

    def apply(self, event: dict[str, Any]) -> None:
        """Fill the absent fields that have a default (parents are not created) and turn integral floats of
        integer fields into ints. Mutates ``event``."""
        for path, value in self.defaults:
            set_default(event, path, copy.deepcopy(value) if isinstance(value, dict | list) else value, False)
        for path in self.integer_paths:
            normalize_integer(event, path)


def _walk(node: Any, path: Path, defaults: list[tuple[Path, Any]], integers: list[Path], depth: int) -> None:
    if not isinstance(node, Mapping) or depth > MAX_DEPTH:
        return
    props = node.get("properties")
    if not isinstance(props, Mapping):
        return
    for name, sub in props.items():
        if not isinstance(sub, Mapping):
            continue
        p = (*path, str(name))
        if "default" in sub:
            defaults.append((p, sub["default"]))
        t = sub.get("type")
        if t == "integer" or (isinstance(t, list) and "integer" in t):
            integers.append(p)
        _walk(sub, p, defaults, integers, depth + 1)


def is_open_object(schema: Mapping[str, Any], path: Sequence[str]) -> bool:
    """Whether ``path`` (through ``properties``) is an object the schema declares, so fields may go in it."""
    node: Any = schema
    for part in path:
        if not isinstance(node, Mapping):
            return False
        props = node.get("properties")
        if not isinstance(props, Mapping) or part not in props:
            return False
        node = props[part]
    return isinstance(node, Mapping) and node.get("type") == "object"


def get_path(event: Any, path: Sequence[str]) -> Any:
    node = event
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def set_default(event: dict[str, Any], path: Sequence[str], value: Any, create: bool) -> None:
    """Set ``path`` to ``value`` if absent. With ``create``, missing parent objects are created."""
    node = event
    for part in path[:-1]:
        nxt = node.get(part)
        if nxt is None:
            if not create:
                return
            nxt = node[part] = {}
        elif not isinstance(nxt, dict):
            return
        node = nxt
    if path[-1] not in node:
        node[path[-1]] = value


def normalize_integer(event: dict[str, Any], path: Sequence[str]) -> None:
    """``2.0`` at ``path`` becomes ``2`` (only integral floats that fit in 64 bits)."""
    node: Any = event
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        v = node.get(path[-1])
        if type(v) is float and v.is_integer() and abs(v) < 2**63:
            node[path[-1]] = int(v)
