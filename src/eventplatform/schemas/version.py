"""Schema version from ``$id`` like jsonschema-tools: ``semver.coerce(basename(get(schema, field)))``."""

from __future__ import annotations

import re
from typing import Any

from eventplatform.schemas.tool_errors import SchemaToolError

# semver 6 coerce: first run of 1-3 dot-separated groups of up to 16 digits
_COERCE_RE = re.compile(r"(?:^|[^\d])(\d{1,16})(?:\.(\d{1,16}))?(?:\.(\d{1,16}))?(?:$|[^\d])")
_SEMVER_RE = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


def lodash_get(obj: Any, path: str) -> Any:
    """``_.get(obj, path)`` for dotted/bracketed paths (a key that exists verbatim wins)."""
    if isinstance(obj, dict) and path in obj:
        return obj[path]
    cur = obj
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def coerce_version(text: str) -> str | None:
    """semver 6 ``coerce(...).version`` or None."""
    m = _COERCE_RE.search(text)
    if not m:
        return None
    return f"{int(m.group(1))}.{int(m.group(2) or 0)}.{int(m.group(3) or 0)}"


def basename(path: str) -> str:
    """Node's ``path.basename`` (trailing slashes ignored)."""
    stripped = path.rstrip("/")
    if not stripped:
        return ""  # Node: basename("/") == basename("") == ""
    return stripped.rsplit("/", 1)[-1]


def schema_version(schema: Any, version_field: str = "$id", source: str = "<schema>") -> str:
    """The X.Y.Z version read from ``schema[version_field]``; a clear error when missing or versionless."""
    if not isinstance(schema, dict):
        raise SchemaToolError(source, "", "schema is not a mapping")
    value = lodash_get(schema, version_field)
    pointer = "/" + version_field.replace("~", "~0").replace("/", "~1")
    if value is None:
        raise SchemaToolError(
            source, pointer, f"missing {version_field}; cannot determine the schema version"
        )
    if not isinstance(value, str):
        value = str(value)
    version = coerce_version(basename(value))
    if version is None:
        raise SchemaToolError(source, pointer, f"{version_field} {value!r} contains no version")
    return version


def is_semver(text: str) -> bool:
    """semver.valid (strict, a leading 'v' tolerated like semver 6 loose parsing is not)."""
    return bool(_SEMVER_RE.match(text)) and not text.startswith("v")


def semver_key(version: str) -> tuple[Any, ...]:
    """Sort key for semver precedence (prerelease before release)."""
    m = _SEMVER_RE.match(version)
    if not m:
        return (0, 0, 0, 0, ())
    pre = m.group(4)
    if pre is None:
        return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0, parts)


def major(version: str) -> int:
    return int(version.split(".", 1)[0])
