"""The vocabulary of ``schema test``: case names, results, the run, skips and the context every suite gets.

Shared by the suite runner (:mod:`.repotest`) and the structure suite (:mod:`.repostructure`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from eventplatform.schemas.compat import Finding

if TYPE_CHECKING:
    from eventplatform.schemas.config import Options

Status = Literal["pass", "fail", "skip"]
Suite = Literal["structure", "robustness", "compatibility"]

COMPATIBILITY_CASE = "schema-version-compatibility"
# Names for the structure cases (the reference has none; like the reference, they are never skipped).
STRUCTURE_CASES = {
    "same-directory": "structure-same-directory",
    "title-directory": "structure-title-matches-directory",
    "current-exists": "structure-current-exists",
    "no-current-symlink": "structure-no-extensionless-current",
    "latest-file": "structure-latest-file",
    "current-equals-latest": "structure-current-equals-latest",
    "latest-symlink": "structure-latest-symlink",
    "latest-extensionless": "structure-latest-extensionless-symlink",
    "version-file": "structure-version-file",
    "version-symlink": "structure-version-symlink",
    "version-title": "structure-version-title",
    "version-directory": "structure-version-directory",
    "id-directory": "structure-id-matches-directory",
    "content-types-equal": "structure-content-types-equal",
    "file-readable": "structure-file-readable",
}


@dataclass(slots=True)
class CaseResult:
    """One test case. ``name`` is the case name usable in ``skipSchemaTestCases``."""

    suite: Suite
    title: str
    name: str
    description: str
    subject: str  # the file or version the case is about ("1.0.0.yaml", "current.yaml", "1.2.0", ...)
    full_title: str
    status: Status = "pass"
    messages: list[str] = field(default_factory=list)
    path: str | None = None
    findings: list[Finding] = field(default_factory=list)
    old_version: str | None = None
    new_version: str | None = None
    suggested_bump: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "suite": self.suite,
            "title": self.title,
            "name": self.name,
            "description": self.description,
            "subject": self.subject,
            "full_title": self.full_title,
            "status": self.status,
            "messages": self.messages,
        }
        if self.path is not None:
            out["path"] = self.path
        if self.suite == "compatibility":
            out["old_version"] = self.old_version
            out["new_version"] = self.new_version
            out["suggested_bump"] = self.suggested_bump
            out["findings"] = [f.to_dict() for f in self.findings]
        return out


@dataclass(slots=True)
class TestRun:
    """All results of one run, in the reference's declaration order (structure, robustness, compatibility)."""

    base_label: str
    results: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0

    __test__ = False  # not a pytest class

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def passed(self) -> int:
        return self.count("pass")

    @property
    def failed(self) -> int:
        return self.count("fail")

    @property
    def skipped(self) -> int:
        return self.count("skip")

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == "fail"]

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base_label,
            "summary": {
                "tests": len(self.results),
                "passed": self.passed,
                "failed": self.failed,
                "skipped": self.skipped,
                "seconds": round(self.seconds, 3),
            },
            "results": [r.to_dict() for r in self.results],
        }


# ------------------------------------------------------------------------------------------ skips


class Skipper:
    """``skipSchemaTestCases``: $id regex (unanchored) -> case names; matched against a file's own $id."""

    def __init__(self, skip_map: dict[str, Any]) -> None:
        self._rules: list[tuple[re.Pattern[str], frozenset[str]]] = []
        for pattern, names in (skip_map or {}).items():
            try:
                rx = re.compile(_js_regex(str(pattern)))
            except re.error as exc:
                raise ValueError(f"skipSchemaTestCases: invalid regex {pattern!r}: {exc}") from exc
            if names is not None and not isinstance(names, list):
                names = [names]  # one name
            self._rules.append((rx, frozenset(str(n) for n in names or [])))

    def names_for(self, schema: Any) -> frozenset[str]:
        schema_id = schema.get("$id", "") if isinstance(schema, dict) else ""
        if not isinstance(schema_id, str):
            schema_id = str(schema_id)
        out: set[str] = set()
        for rx, names in self._rules:
            if rx.search(schema_id):
                out |= names
        return frozenset(out)

    def skips(self, name: str, schema: Any) -> bool:
        return bool(self._rules) and name in self.names_for(schema)


def _js_regex(pattern: str) -> str:
    """The few JS regex spellings Python lacks (named groups); everything else reads the same."""
    return re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)


# ------------------------------------------------------------------------------------------ context


@dataclass(slots=True)
class SuiteContext:
    options: Options
    base_label: str  # "./jsonschema/" as the reference prints it
    cwd: str
    skipper: Skipper
    materialize: Callable[[dict[str, Any]], Any]

    def rel(self, path: str) -> str:
        """A path as the reference prints it (relative to the cwd)."""
        return os.path.relpath(path, self.cwd)

    def rel_base(self, path: str) -> str:
        return os.path.relpath(path, self.options.schema_base_path)


class Cases:
    """Collects the results of one title; each ``case`` runs one check function."""

    def __init__(self, ctx: SuiteContext, suite: Suite, title: str, prefix: str) -> None:
        self.ctx = ctx
        self.suite: Suite = suite
        self.title = title
        self.prefix = prefix
        self.results: list[CaseResult] = []

    def case(
        self,
        key: str,
        description: str,
        check: Callable[[], list[str] | None],
        *,
        subject: str = "",
        path: str | None = None,
        skip_schema: Any = None,
        name: str | None = None,
        parents: str = "",
    ) -> CaseResult:
        case_name = name or STRUCTURE_CASES.get(key, key)
        full = " ".join(p for p in (self.prefix, parents, description) if p)
        result = CaseResult(self.suite, self.title, case_name, description, subject, full, path=path)
        if skip_schema is not None and self.ctx.skipper.skips(case_name, skip_schema):
            result.status = "skip"
        else:
            try:
                problems = check() or []
            except Exception as exc:  # a check must never take the run down
                problems = [f"{type(exc).__name__}: {exc}"]
            if problems:
                result.status = "fail"
                result.messages = problems
        self.results.append(result)
        return result
