"""Compatibility between two materialized versions of one schema (reference rule set, §3).

The reference (jsonschema-tools 1.3.0) walks the *old* document and demands that every key it has is still
in the new one with a compatible value; keys only in the new document are never looked at. We keep that walk
and its quirks, because a repository's verdicts must not change when it switches tools:

* ``$id``, ``description``, ``examples`` and ``maxLength`` are skipped at any depth, even when they are
  property *names* (a property called ``description`` may disappear);
* ``required`` must keep exactly the same set of names (order free); removing it fails;
* ``enum`` may only grow; removing it fails;
* everything else must still be there and be compatible; scalars must be strictly equal (JS ``!==``),
  so ``1`` and ``1.0`` are equal but ``true`` and ``1`` are not.

Unlike the reference, which stops at the first problem with a message like ``Error at path: .a.b``, we
collect *every* finding, each with a JSON pointer, what changed and the version bump it calls for.
Where the reference crashes (a ``null`` in the old document, a property named ``required`` or ``enum``
whose value is not a list) we make a decision instead: ``null`` equals ``null``, and non-list values
of those keys are walked like any other key.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

#: Keys the reference allows to change between versions, at any depth (1.3.0 added maxLength).
ALLOWED_TO_CHANGE: frozenset[str] = frozenset({"$id", "description", "examples", "maxLength"})

Bump = Literal["none", "patch", "minor", "major"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One incompatible change. ``pointer`` is a JSON pointer into the schema documents."""

    pointer: str
    kind: str  # stable code: type_changed, removed, value_changed, required_removed, required_changed, ...
    message: str  # what changed, for humans
    old: Any = None
    new: Any = None
    bump: Bump = "major"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pointer": self.pointer,
            "kind": self.kind,
            "message": self.message,
            "old": self.old,
            "new": self.new,
            "bump": self.bump,
        }


@dataclass(slots=True)
class PairResult:
    """The verdict for ``new_version`` of ``title`` against ``old_version``."""

    title: str
    old_version: str
    new_version: str
    findings: list[Finding] = field(default_factory=list)
    suggested_bump: Bump = "none"

    @property
    def compatible(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        if self.compatible:
            return f"{self.title}: {self.new_version} is compatible with {self.old_version}"
        lines = [
            f"{self.title}: {self.new_version} is NOT compatible with {self.old_version} "
            f"({len(self.findings)} incompatible change{'s' if len(self.findings) != 1 else ''}):"
        ]
        lines += [f"  {f.pointer or '/'}: {f.message}" for f in self.findings]
        lines.append(f"  suggestion: {bump_hint(self.old_version, 'major')}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "compatible": self.compatible,
            "suggested_bump": self.suggested_bump,
            "findings": [f.to_dict() for f in self.findings],
        }


# --- JS semantics


def js_type(value: Any) -> str:
    """``typeof`` as JavaScript sees parsed JSON/YAML (null, lists and dicts are all "object")."""
    if value is None or isinstance(value, dict | list):
        return "object"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "undefined"


def js_strict_equal(a: Any, b: Any) -> bool:
    """``a === b`` for scalars (numbers compare by value, NaN never equals)."""
    ta, tb = js_type(a), js_type(b)
    if ta != tb:
        return False
    if ta == "number":
        return not (isinstance(a, float) and math.isnan(a)) and a == b
    if ta == "object":
        return a is b
    return a == b


def deep_equal(a: Any, b: Any) -> bool:
    """Structural equality with JS number semantics (``True`` is not ``1``, ``1`` is ``1.0``)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(deep_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(deep_equal, a, b))
    if a is None or b is None:
        return a is b
    return js_strict_equal(a, b)


def same_data(a: Any, b: Any) -> bool:
    """:func:`deep_equal` for whole documents, with a fast path for the common equal case.

    Equal canonical JSON *and* Python equality means JS-equal (JSON keeps ``true`` apart from ``1``,
    Python keeps NaN apart from null); anything else takes the exact walk.
    """
    import orjson

    option = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    try:
        if orjson.dumps(a, option=option) == orjson.dumps(b, option=option) and a == b:
            return True
    except (TypeError, orjson.JSONEncodeError):
        pass
    return deep_equal(a, b)


def escape_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _show(value: Any, limit: int = 60) -> str:
    """A short, readable rendering of a value for messages."""
    if isinstance(value, str):
        text = repr(value)
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "{" + ", ".join(list(value)[:5]) + (", …" if len(value) > 5 else "") + "}"
        text = "object " + text
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v, 20) for v in value[:5]) + (", …" if len(value) > 5 else "") + "]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind_name(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    return js_type(value)


def _subject(pointer_tokens: list[str]) -> str:
    """Name what sits at a location: 'property x', 'keyword type', 'item 0'."""
    if not pointer_tokens:
        return "the schema"
    last = pointer_tokens[-1]
    parent = pointer_tokens[-2] if len(pointer_tokens) > 1 else None
    if parent in ("properties", "patternProperties", "definitions", "dependencies"):
        noun = {"properties": "property", "patternProperties": "pattern property"}.get(parent, parent[:-1])
        return f"{noun} '{last}'"
    if last.isdigit() and parent is not None:
        return f"{parent}[{last}]"
    return f"'{last}'"


# --- the walk


def check_compatible(new: Any, old: Any) -> list[Finding]:
    """All incompatible changes; an empty list means ``new`` is compatible with ``old``."""
    return list(_walk(new, old, []))


def _pointer(tokens: list[str]) -> str:
    return "".join("/" + escape_token(t) for t in tokens)


def _walk(new: Any, old: Any, tokens: list[str]) -> Iterator[Finding]:
    old_is_list, new_is_list = isinstance(old, list), isinstance(new, list)
    if js_type(new) != js_type(old) or old_is_list != new_is_list or (old is None) != (new is None):
        before = _kind_name(old) if isinstance(old, dict | list) else f"{_kind_name(old)} {_show(old)}"
        message = f"{_subject(tokens)} changed from {before} to {_kind_name(new)} {_show(new)}"
        yield Finding(_pointer(tokens), "type_changed", message, old, new)
        return
    if old is None:  # both null: the reference crashes here; equal values are compatible.
        return
    if isinstance(old, dict):
        items: Iterator[tuple[str, Any]] = iter(old.items())
        for key, old_value in items:
            if key in ALLOWED_TO_CHANGE:
                continue
            if key == "required" and isinstance(old_value, list):
                yield from _required(new, old_value, tokens)
            elif key == "enum" and isinstance(old_value, list):
                yield from _enum(new, old_value, tokens)
            elif key in new:
                tokens.append(key)
                yield from _walk(new[key], old_value, tokens)
                tokens.pop()
            else:
                sub = [*tokens, key]
                yield Finding(_pointer(sub), "removed", f"{_subject(sub)} was removed", old_value, None)
        return
    if isinstance(old, list):
        for index, old_value in enumerate(old):
            tokens.append(str(index))
            if index < len(new):
                yield from _walk(new[index], old_value, tokens)
            else:
                yield Finding(_pointer(tokens), "removed", f"{_subject(tokens)} was removed", old_value, None)
            tokens.pop()
        return
    if not js_strict_equal(new, old):
        yield Finding(
            _pointer(tokens),
            "value_changed",
            f"{_subject(tokens)} changed from {_show(old)} to {_show(new)}",
            old,
            new,
        )


def _required(new: dict[str, Any], old_required: list[Any], tokens: list[str]) -> Iterator[Finding]:
    sub = [*tokens, "required"]
    new_required = new.get("required")
    if new_required is None:
        yield Finding(
            _pointer(sub),
            "required_removed",
            "the list of required properties was removed",
            old_required,
            None,
        )
        return
    if not isinstance(new_required, list):
        yield Finding(
            _pointer(sub), "type_changed", "'required' is no longer a list", old_required, new_required
        )
        return
    old_set, new_set = _string_multiset(old_required), _string_multiset(new_required)
    if old_set == new_set:
        return
    added = sorted(set(new_set) - set(old_set))
    dropped = sorted(set(old_set) - set(new_set))
    parts = []
    if added:
        parts.append("became required: " + ", ".join(added))
    if dropped:
        parts.append("no longer required: " + ", ".join(dropped))
    if not parts:
        parts.append("duplicate entries changed")
    yield Finding(
        _pointer(sub),
        "required_changed",
        "requiredness changed (" + "; ".join(parts) + ")",
        old_required,
        new_required,
    )


def _string_multiset(values: list[Any]) -> list[str]:
    """What JS ``.sort()`` compares: elements as strings, sorted."""
    return sorted(_js_string(v) for v in values)


def _js_string(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _enum(new: dict[str, Any], old_enum: list[Any], tokens: list[str]) -> Iterator[Finding]:
    sub = [*tokens, "enum"]
    new_enum = new.get("enum")
    if new_enum is None:
        yield Finding(_pointer(sub), "enum_removed", "the enum was removed", old_enum, None)
        return
    if not isinstance(new_enum, list):
        yield Finding(_pointer(sub), "type_changed", "'enum' is no longer a list", old_enum, new_enum)
        return
    missing = [v for v in old_enum if not any(deep_equal(v, n) for n in new_enum)]
    if missing:
        yield Finding(
            _pointer(sub),
            "enum_narrowed",
            "enum value" + ("s" if len(missing) > 1 else "") + " removed: " + ", ".join(map(_show, missing)),
            old_enum,
            new_enum,
        )


# --- bumps


_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "definitions", "dependencies"})
_SETS = frozenset({"required", "enum"})


def _differs_outside_allowed(new: Any, old: Any, in_map: bool = False) -> bool:
    """Whether anything other than the free-to-change keywords differs (additions included).

    Unlike the compatibility walk, this is about meaning: the free keys are skipped only in keyword
    position (a property *named* ``description`` counts), and ``required``/``enum`` compare as sets.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() | new.keys():
            if key in ALLOWED_TO_CHANGE and not in_map:
                continue
            if key not in old or key not in new:
                return True
            a, b = new[key], old[key]
            if not in_map and key in _SETS and isinstance(a, list) and isinstance(b, list):
                if not _same_set(a, b):
                    return True
            elif _differs_outside_allowed(a, b, not in_map and key in _SCHEMA_MAPS):
                return True
        return False
    if isinstance(old, list) and isinstance(new, list):
        return len(old) != len(new) or any(map(_differs_outside_allowed, new, old))
    return not deep_equal(new, old)


def _same_set(a: list[Any], b: list[Any]) -> bool:
    return all(any(deep_equal(x, y) for y in b) for x in a) and all(
        any(deep_equal(x, y) for y in a) for x in b
    )


def classify_change(new: Any, old: Any, findings: list[Finding] | None = None) -> Bump:
    """The smallest semver bump that describes going from ``old`` to ``new``.

    major: an incompatible change; minor: compatible additions or changes; patch: only the free-to-change
    keys (``description``, ``examples``, ``$id``, ``maxLength``) differ; none: equal as data.
    """
    if findings is None:
        findings = check_compatible(new, old)
    if findings:
        return "major"
    if _differs_outside_allowed(new, old):
        return "minor"
    if not deep_equal(new, old):
        return "patch"
    return "none"


def next_version(version: str, bump: Bump) -> str:
    """``1.2.3`` + minor -> ``1.3.0``."""
    parts = [int(p) for p in version.split(".")[:3]] + [0] * (3 - len(version.split(".")[:3]))
    major, minor, patch = parts
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    if bump == "patch":
        return f"{major}.{minor}.{patch + 1}"
    return version


def bump_hint(old_version: str, bump: Bump) -> str:
    if bump == "major":
        return (
            "this is a breaking change: publish it as a new major version "
            f"({next_version(old_version, 'major')}) or undo the listed changes"
        )
    if bump == "none":
        return "no change"
    return f"a {bump} bump is enough ({next_version(old_version, bump)})"


def compare(title: str, old_version: str, old: Any, new_version: str, new: Any) -> PairResult:
    """Check ``new`` against ``old`` and suggest the bump."""
    findings = check_compatible(new, old)
    return PairResult(title, old_version, new_version, findings, classify_change(new, old, findings))
