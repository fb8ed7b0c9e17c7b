"""The sanitization allowlist, in the reference's format (data-lake.md §2.2), and its lint.

```yaml
__defaults__:            # merged into every table listed below
  dt: keep
mediawiki_interwiki_link_hover:
  link_title: keep       # kept as is
  meta:                  # a struct: recurse
    domain: keep
    id: hash             # HMAC-SHA256 with the period's salt (strings only)
  geocoded_data:         # a map: the listed keys are kept, every other key removed
    country: keep
other_table: keep_all    # the whole table
```

Keys are normalized like table and column names (lower-cased, ``[^A-Za-z0-9_]`` -> ``_``), so matching is
case-insensitive. Not listed -> NULL. ``__defaults__`` is the base and a table's entry is laid on top;
"not listed" never overrides a default. The lint refuses what the reference would fail on at run time
(``keep`` of a struct or map, ``hash`` of a non-string, a nested map for a primitive, unknown tables or
fields) and, unlike the reference, what must never outlive retention: ``http.client_ip``, user-agent
fields and any field whose JSON schema says ``sensitive: true``, whether kept, hashed or inside a
``keep_all``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

DEFAULTS = "__defaults__"
ACTIONS = ("keep", "hash", "keep_all")
_BAD = re.compile(r"[^A-Za-z0-9_]")
# fields that may never be allowlisted (normalized dotted paths; a map key is one more part)
SENSITIVE_PATHS = {
    ("http", "client_ip"),
    ("client_ip",),
    ("ip",),
    ("clientip",),
    ("user_agent_map",),
    ("useragent",),
    ("user_agent",),
    ("agent",),
}
_USER_AGENT = re.compile(r"user[-_]?agent", re.IGNORECASE)

Spec = Any  # "keep" | "hash" | "keep_all" | dict[str, Spec]


class AllowlistError(ValueError):
    """The allowlist is malformed or allows what it must not (the message names the entry and why)."""


@functools.lru_cache(maxsize=4096)  # map keys repeat on every row
def norm(name: str) -> str:
    return _BAD.sub("_", str(name)).lower()


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        n = norm(key)
        if n in seen:
            raise AllowlistError(
                f"line {key_node.start_mark.line + 1}: duplicate entry {key!r} (same as line {seen[n]} once "
                "normalized)"
            )
        seen[n] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)  # type: ignore[no-untyped-call,no-any-return]


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _normalize(spec: Any, where: str) -> Spec:
    if isinstance(spec, str):
        if spec not in ACTIONS:
            raise AllowlistError(f"{where}: unknown action {spec!r} (keep, hash, keep_all or a nested map)")
        return spec
    if isinstance(spec, Mapping):
        return {norm(k): _normalize(v, f"{where}.{k}") for k, v in spec.items()}
    raise AllowlistError(f"{where}: expected keep, hash, keep_all or a nested map, got {spec!r}")


def merge_defaults(defaults: Spec, table: Spec) -> Spec:
    """``table`` over ``defaults``: maps merge key by key; "not listed" never removes a default."""
    if isinstance(defaults, dict) and isinstance(table, dict):
        out = dict(defaults)
        for k, v in table.items():
            out[k] = merge_defaults(out[k], v) if k in out else v
        return out
    return table


@dataclass
class Allowlist:
    tables: dict[str, Spec]  # normalized table -> spec, defaults merged in

    @classmethod
    def parse(cls, text: str, source: str = "allowlist") -> Allowlist:
        try:
            doc = yaml.load(text, Loader=_UniqueKeyLoader)
        except AllowlistError as exc:
            raise AllowlistError(f"{source}: {exc}") from None
        except yaml.YAMLError as exc:
            raise AllowlistError(f"{source}: not valid YAML: {exc}") from None
        if doc is None:
            doc = {}
        if not isinstance(doc, Mapping):
            raise AllowlistError(f"{source}: the allowlist must be a map from table name to its fields")
        defaults = _normalize(doc.get(DEFAULTS) or {}, f"{source}: {DEFAULTS}")
        if not isinstance(defaults, dict):
            raise AllowlistError(f"{source}: {DEFAULTS} must be a map of fields")
        tables: dict[str, Spec] = {}
        for name, spec in doc.items():
            if name == DEFAULTS:
                continue
            spec = _normalize(spec, f"{source}: {name}")
            if spec in ("keep", "hash"):
                raise AllowlistError(f"{source}: {name}: a table is keep_all or a map of fields, not {spec}")
            tables[norm(name)] = spec if spec == "keep_all" else merge_defaults(defaults, spec)
        return cls(tables)

    @classmethod
    def load(cls, path: str | Path) -> Allowlist:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise AllowlistError(f"cannot read allowlist {p}: {exc.strerror}") from None
        return cls.parse(text, str(p))

    def digest(self, table: str) -> str:
        """Changes when the table's effective entry changes: its hours are sanitized again."""
        spec = json.dumps(self.tables.get(table), sort_keys=True)
        return hashlib.sha256(spec.encode()).hexdigest()[:16]

    def uses_hash(self, table: str) -> bool:
        return "hash" in json.dumps(self.tables.get(table))


# -- the lint ----------------------------------------------------------------------------------------


def _sensitive_paths(schema: Mapping[str, Any] | None, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Paths of the JSON schema's properties marked ``sensitive: true``."""
    out: set[tuple[str, ...]] = set()
    if not isinstance(schema, Mapping):
        return out
    for name, sub in (schema.get("properties") or {}).items():
        path = (*prefix, norm(name))
        if isinstance(sub, Mapping):
            if sub.get("sensitive") is True:
                out.add(path)
            out |= _sensitive_paths(sub, path)
    return out


def _is_sensitive(path: tuple[str, ...], marked: set[tuple[str, ...]]) -> bool:
    return path in SENSITIVE_PATHS or path in marked or bool(_USER_AGENT.search(path[-1]))


def _inside(path: tuple[str, ...], arrow: pa.DataType, marked: set[tuple[str, ...]]) -> list[str]:
    """Sensitive fields under ``path`` (what a keep_all of it would keep)."""
    found = [".".join(path)] if _is_sensitive(path, marked) else []
    if pa.types.is_struct(arrow):
        for f in arrow:
            found += _inside((*path, norm(f.name)), f.type, marked)
    elif pa.types.is_map(arrow) and path == ("http", "request_headers"):
        found.append(".".join(path) + "[user-agent]")  # headers carry the user agent
    return found


def lint_table(
    table: str, spec: Spec, schema: pa.Schema, json_schema: Mapping[str, Any] | None = None
) -> list[str]:
    """Every problem of one table's entry against its columns (empty = fine)."""
    marked = _sensitive_paths(json_schema)
    if spec == "keep_all":
        leaks = [s for f in schema for s in _inside((norm(f.name),), f.type, marked)]
        return [f"{table}: keep_all would keep sensitive field(s) {', '.join(leaks)}"] if leaks else []
    fields = {norm(f.name): f.type for f in schema}
    return _lint_fields(table, (), spec, fields, marked)


def _lint_fields(
    table: str,
    path: tuple[str, ...],
    spec: dict[str, Spec],
    fields: Mapping[str, pa.DataType] | None,
    marked: set[tuple[str, ...]],
) -> list[str]:
    problems: list[str] = []
    for name, action in spec.items():
        p = (*path, name)
        where = f"{table}.{'.'.join(p)}"
        if fields is not None and name not in fields:
            problems.append(f"{where}: no such field")
            continue
        arrow = fields[name] if fields is not None else pa.string()  # map keys: the map's value type
        if _is_sensitive(p, marked):
            why = "marked sensitive in the schema" if p in marked else "personal data (IP or user agent)"
            problems.append(f"{where}: may not be allowlisted: {why}")
            continue
        nested = pa.types.is_struct(arrow) or pa.types.is_map(arrow)
        if action == "keep" and nested:
            problems.append(f"{where}: keep of a struct or map is not allowed: list its fields, or keep_all")
        elif action == "hash" and not pa.types.is_string(arrow) and not pa.types.is_large_string(arrow):
            problems.append(f"{where}: hash applies to strings only, this is {arrow}")
        elif action == "keep_all":
            if not nested:
                problems.append(f"{where}: keep_all applies to structs and maps; use keep")
            else:
                leaks = _inside(p, arrow, marked)
                if leaks:
                    problems.append(f"{where}: keep_all would keep sensitive field(s) {', '.join(leaks)}")
        elif isinstance(action, dict):
            if pa.types.is_struct(arrow):
                sub = {norm(f.name): f.type for f in arrow}
                problems += _lint_fields(table, p, action, sub, marked)
            elif pa.types.is_map(arrow):
                value = arrow.item_type
                bad = [k for k, v in action.items() if not isinstance(v, str) or v == "keep_all"]
                if bad:
                    problems.append(f"{where}: map keys take keep or hash only ({', '.join(bad)})")
                elif "hash" in action.values() and not pa.types.is_string(value):
                    problems.append(f"{where}: hash of map values needs string values, these are {value}")
                problems += [
                    f"{where}.{k}: may not be allowlisted: personal data (IP or user agent)"
                    for k in action
                    if _is_sensitive((*p, k), marked)
                ]
            else:
                problems.append(f"{where}: a nested map applies to structs and maps, this is {arrow}")
    return problems
