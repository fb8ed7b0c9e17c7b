"""A readable diff between two versions of a schema: what was added, removed or changed, by JSON pointer.

Text diffs of materialized YAML are noisy (key order, folding, generated examples); a schema author wants
to know "property x was added, `required` gained y". Each change is marked when the compatibility rules
(:mod:`eventplatform.schemas.compat`) call it breaking, and the diff ends with the verdict and the
suggested version bump. ``unified_diff`` gives the classic line diff for those who prefer it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

from eventplatform.schemas.compat import (
    Bump,
    Finding,
    bump_hint,
    check_compatible,
    classify_change,
    deep_equal,
    escape_token,
)

Op = Literal["added", "removed", "changed"]
_SETS = ("required", "enum")


@dataclass(frozen=True, slots=True)
class Change:
    op: Op
    pointer: str
    old: Any = None
    new: Any = None
    breaking: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "pointer": self.pointer,
            "old": self.old,
            "new": self.new,
            "breaking": self.breaking,
        }


@dataclass(slots=True)
class SchemaDiff:
    old_label: str
    new_label: str
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    bump: Bump = "none"
    old_version: str | None = None

    @property
    def compatible(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old_label,
            "new": self.new_label,
            "compatible": self.compatible,
            "suggested_bump": self.bump,
            "changes": [c.to_dict() for c in self.changes],
            "findings": [f.to_dict() for f in self.findings],
        }

    def lines(self) -> list[tuple[str, str]]:
        """(style, text) lines; style is one of header, added, removed, changed, breaking, verdict."""
        out: list[tuple[str, str]] = [
            ("header", f"--- {self.old_label}"),
            ("header", f"+++ {self.new_label}"),
        ]
        if not self.changes:
            out.append(("verdict", "no differences"))
            return out
        for change in self.changes:
            where = change.pointer or "/"
            mark = "  [breaking]" if change.breaking else ""
            if change.op == "added":
                text = f"+ {where}: {render(change.new)}{mark}"
            elif change.op == "removed":
                text = f"- {where}: {render(change.old)}{mark}"
            else:
                text = f"~ {where}: {render(change.old)} -> {render(change.new)}{mark}"
            out.append(("breaking" if change.breaking else change.op, text))
        for finding in self.findings:
            if not any(c.breaking and c.pointer == finding.pointer for c in self.changes):
                out.append(("breaking", f"! {finding.pointer or '/'}: {finding.message}"))
        if self.compatible:
            verdict = "compatible"
        else:
            n = len(self.findings)
            verdict = f"NOT compatible ({n} breaking change{'s' if n != 1 else ''})"
        hint = bump_hint(self.old_version, self.bump) if self.old_version else f"{self.bump} change"
        out.append(("verdict", f"{verdict}; {hint}"))
        return out

    def text(self) -> str:
        return "\n".join(text for _, text in self.lines())


def render(value: Any, limit: int = 100) -> str:
    """Compact one-line JSON-ish rendering."""
    import orjson

    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _walk(old: Any, new: Any, tokens: list[str], out: list[Change]) -> None:
    pointer = "".join("/" + escape_token(t) for t in tokens)
    if isinstance(old, dict) and isinstance(new, dict):
        for key, old_value in old.items():
            if key not in new:
                out.append(Change("removed", pointer + "/" + escape_token(key), old=old_value))
            else:
                tokens.append(key)
                _walk(old_value, new[key], tokens, out)
                tokens.pop()
        for key, new_value in new.items():
            if key not in old:
                out.append(Change("added", pointer + "/" + escape_token(key), new=new_value))
        return
    if isinstance(old, list) and isinstance(new, list):
        if tokens and tokens[-1] in _SETS:
            # unordered lists: show the values that came and went
            for value in old:
                if not any(deep_equal(value, v) for v in new):
                    out.append(Change("removed", pointer + "/-", old=value))
            for value in new:
                if not any(deep_equal(value, v) for v in old):
                    out.append(Change("added", pointer + "/-", new=value))
            return
        if tokens[-1:] == ["examples"] and len(old) != len(new):
            out.append(Change("changed", pointer, old=old, new=new))
            return
        common = min(len(old), len(new))
        for index in range(common):
            tokens.append(str(index))
            _walk(old[index], new[index], tokens, out)
            tokens.pop()
        for index in range(common, len(old)):
            out.append(Change("removed", f"{pointer}/{index}", old=old[index]))
        for index in range(common, len(new)):
            out.append(Change("added", f"{pointer}/{index}", new=new[index]))
        return
    if not deep_equal(old, new):
        out.append(Change("changed", pointer, old=old, new=new))


def _is_breaking(change: Change, breaking_pointers: set[str]) -> bool:
    pointer = change.pointer
    if pointer in breaking_pointers:
        return True
    parent = pointer.rsplit("/", 1)[0]
    return pointer.endswith("/-") and parent in breaking_pointers


def diff_schemas(
    old: Any,
    new: Any,
    old_label: str = "old",
    new_label: str = "new",
    old_version: str | None = None,
) -> SchemaDiff:
    """Structural diff of two schema documents, with the compatibility verdict of ``new`` against ``old``."""
    changes: list[Change] = []
    _walk(old, new, [], changes)
    findings = check_compatible(new, old)
    breaking = {f.pointer for f in findings}
    marked = [
        Change(c.op, c.pointer, c.old, c.new, True) if _is_breaking(c, breaking) else c for c in changes
    ]
    return SchemaDiff(
        old_label, new_label, marked, findings, classify_change(new, old, findings), old_version
    )


def unified_diff(old_text: str, new_text: str, old_label: str, new_label: str, context: int = 3) -> str:
    """Classic unified line diff of two serialized schemas."""
    return "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=old_label,
            tofile=new_label,
            n=context,
        )
    )
