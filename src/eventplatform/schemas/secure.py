"""The "secure schema" check of AJV's json-schema-secure meta-schema (reference/intake.md §4.6).

A schema that lets a producer make validation expensive is refused unless ``allow_insecure_schemas``.
"""

from __future__ import annotations

from typing import Any

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")
_SUBSCHEMA_ONE = (
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "items",
)
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")


def insecure_reasons(schema: Any) -> list[str]:
    """Why a schema would let a producer make validation expensive; [] when secure.

    A string with ``pattern`` or ``format`` needs ``maxLength``; ``patternProperties`` needs
    ``propertyNames.maxLength``; ``uniqueItems: true`` over object/array items needs ``maxItems``."""
    out: list[str] = []

    def walk(s: Any, ptr: str, depth: int) -> None:
        if not isinstance(s, dict) or depth > 64 or len(out) >= 20:
            return
        for kw in ("pattern", "format"):
            if kw in s and "maxLength" not in s:
                out.append(f"{ptr or '/'}: '{kw}' without 'maxLength'")
        if "patternProperties" in s:
            pn = s.get("propertyNames")
            if not (isinstance(pn, dict) and "maxLength" in pn):
                out.append(f"{ptr or '/'}: 'patternProperties' without 'propertyNames.maxLength'")
        if s.get("uniqueItems") is True and "maxItems" not in s:
            items = s.get("items")
            item_types = items.get("type") if isinstance(items, dict) else None
            simple = {"string", "number", "integer", "boolean", "null"}
            if not (
                (isinstance(item_types, str) and item_types in simple)
                or (isinstance(item_types, list) and set(item_types) <= simple)
            ):
                out.append(f"{ptr or '/'}: 'uniqueItems' over non-scalar items without 'maxItems'")
        for kw in _SUBSCHEMA_MAPS:
            m = s.get(kw)
            if isinstance(m, dict):
                for k, sub in m.items():
                    walk(sub, f"{ptr}/{kw}/{k}", depth + 1)
        deps = s.get("dependencies")
        if isinstance(deps, dict):
            for k, sub in deps.items():
                walk(sub, f"{ptr}/dependencies/{k}", depth + 1)
        for kw in _SUBSCHEMA_ONE:
            if isinstance(s.get(kw), dict):
                walk(s[kw], f"{ptr}/{kw}", depth + 1)
        for kw in _SUBSCHEMA_LISTS:
            if isinstance(s.get(kw), list):
                for i, sub in enumerate(s[kw]):
                    walk(sub, f"{ptr}/{kw}/{i}", depth + 1)

    walk(schema, "", 0)
    return out
