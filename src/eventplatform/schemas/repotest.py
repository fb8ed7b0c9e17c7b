"""The repository test suite: structure, robustness and compatibility (reference §4), as plain results.

The reference declares mocha ``describe``/``it`` blocks; here every test case becomes a :class:`CaseResult`
with the reference's names (the ``skipSchemaTestCases`` name and the ``it`` description), so counts and
skips line up with jsonschema-tools: 1626 cases, 1614 passing and 12 skipped on Wikimedia's primary
repository. ``full_title`` reproduces mocha's full test title for cross-checking.

Deliberate differences from the reference, all about not hiding problems:

* a schema in the wrong directory (or with no current/latest file) is reported as a failure of that title
  and the other titles are still tested; the reference declares an ``it.only`` that silently hides every
  other test of the run;
* an unreadable file, or one without a title or version, is a failure of its own instead of a crash;
* checks report every problem they find, not only the first.

Work is split over processes (fork) when the repository is large enough: parsing YAML and materializing
dominate, and both are independent per file / per title.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from eventplatform.schemas.compat import Finding, compare, same_data
from eventplatform.schemas.forking import fork_map, free_workers
from eventplatform.schemas.robustness import CASES as ROBUSTNESS_CASES
from eventplatform.schemas.robustness import run_case

if TYPE_CHECKING:
    from eventplatform.schemas.config import Options
    from eventplatform.schemas.discovery import SchemaInfo

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


# ------------------------------------------------------------------------------------------ discovery


@dataclass(slots=True)
class FileError:
    path: str
    message: str


def _parse_files_json(paths: Sequence[str], options: Options) -> bytes:
    """Parse in a worker; JSON crosses the pipe 3x faster than pickled dicts."""
    import orjson

    rows: list[Any] = []
    for item in _parse_files(paths, options):
        if isinstance(item, FileError):
            rows.append([item.path, item.message])
        else:
            rows.append([item.title, item.path, item.version, item.current, item.content_type, item.schema])
    return orjson.dumps(rows)


def _from_json(data: bytes) -> list[SchemaInfo | FileError]:
    import orjson

    from eventplatform.schemas.discovery import SchemaInfo

    return [FileError(*row) if len(row) == 2 else SchemaInfo(*row) for row in orjson.loads(data)]


def _parse_files(paths: Sequence[str], options: Options) -> list[SchemaInfo | FileError]:
    from eventplatform.schemas.discovery import schema_path_to_info
    from eventplatform.schemas.tool_errors import SchemaToolError

    out: list[SchemaInfo | FileError] = []
    for path in paths:
        try:
            out.append(schema_path_to_info(path, options))
        except SchemaToolError as exc:
            out.append(FileError(path, exc.message))
        except (OSError, ValueError, RecursionError) as exc:
            out.append(FileError(path, str(exc)))
    return out


def _split(items: Sequence[Any], n: int, weights: Sequence[int] | None = None) -> list[list[Any]]:
    """Round-robin split keeps the chunks balanced when item costs vary with position; ``weights`` give
    chunk k ``weights[k]`` items per round."""
    if weights is None:
        return [list(items[i::n]) for i in range(n)]
    pattern = [k for r in range(max(weights)) for k in range(n) if r < weights[k]]
    chunks: list[list[Any]] = [[] for _ in range(n)]
    for index, item in enumerate(items):
        chunks[pattern[index % len(pattern)]].append(item)
    return chunks


def discover(
    options: Options, warm_up: Callable[[], object] | None = None, workers: int | None = None
) -> tuple[list[SchemaInfo], list[FileError]]:
    """Every schema file parsed into info records (in the reference's order) plus files that failed.

    ``warm_up`` runs here while worker processes are still parsing (e.g. imports the next phase needs,
    so that the processes forked for it inherit them).
    """
    from eventplatform.schemas.discovery import find_schema_paths, is_ignored, sort_infos

    paths = find_schema_paths(options)
    n = workers if workers is not None else free_workers(len(paths), 60)
    parsed: list[SchemaInfo | FileError] = []
    # this process also does the warm-up while the workers parse, so it takes a smaller share of files
    chunks = _split(paths, n, [3] * (n - 1) + [2] if warm_up is not None and n > 1 else None)

    def local(chunk: list[str]) -> list[SchemaInfo | FileError]:
        out = _parse_files(chunk, options)
        if warm_up is not None:
            warm_up()
        return out

    results = fork_map(lambda c: _parse_files_json(c, options), chunks, local)
    for result in results:
        parsed.extend(_from_json(result) if isinstance(result, bytes) else result)
    order = {path: index for index, path in enumerate(paths)}
    parsed.sort(key=lambda item: order[item.path])  # the same order whatever the number of workers
    infos: list[SchemaInfo] = []
    errors: list[FileError] = []
    for item in parsed:
        if isinstance(item, FileError):
            errors.append(item)
        elif not isinstance(item.title, str):
            errors.append(FileError(item.path, f"schema has no {options.schema_title_field!r} string"))
        elif not is_ignored(item.schema, options):
            infos.append(item)
    errors.sort(key=lambda e: e.path)
    return sort_infos(infos), errors


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
class _Ctx:
    options: Options
    base_label: str  # "./jsonschema/" as the reference prints it
    cwd: str
    skipper: Skipper
    materialize: Callable[[dict[str, Any]], Any] | None
    materialize_error: str | None

    def rel(self, path: str) -> str:
        """A path as the reference prints it (relative to the cwd)."""
        return os.path.relpath(path, self.cwd)

    def rel_base(self, path: str) -> str:
        return os.path.relpath(path, self.options.schema_base_path)


def _base_label(options: Options) -> str:
    rel = os.path.relpath(options.schema_base_path, options.cwd)
    if rel == ".":
        return options.schema_base_path.rstrip("/") + "/"
    if rel.startswith(".."):
        return options.schema_base_path.rstrip("/") + "/"
    return f"./{rel}/"


def _materializer(options: Options) -> tuple[Callable[[dict[str, Any]], Any] | None, str | None]:
    try:
        from eventplatform.schemas.materialize import materialize_schema
    except Exception as exc:  # the materializer is another module; report, don't crash
        return None, f"materialization is not available: {type(exc).__name__}: {exc}"

    def run(schema: dict[str, Any]) -> Any:
        return materialize_schema(schema, options)  # leaves its input alone (shared with other suites)

    return run, None


# ------------------------------------------------------------------------------------------ structure


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _is_link(path: str) -> bool:
    return os.path.islink(path)


def _not_a_symlink(ctx: _Ctx, link: str) -> list[str]:
    """What is wrong when ``link`` is missing, dangling or a regular file; empty when it is a live symlink."""
    if not _exists(link):
        return [f"{ctx.rel(link)} does not exist" + (" (dangling symlink)" if _is_link(link) else "")]
    if not _is_link(link):
        return [f"{ctx.rel(link)} is not a symlink"]
    return []


class _Cases:
    """Collects the results of one title; each ``case`` runs one check function."""

    def __init__(self, ctx: _Ctx, suite: Suite, title: str, prefix: str) -> None:
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


def _structure_title(ctx: _Ctx, title: str, infos: list[SchemaInfo]) -> list[CaseResult]:
    options = ctx.options
    ct0 = options.content_types[0]
    cases = _Cases(
        ctx, "structure", title, f"Schema Repository Structure in {ctx.base_label} Schema with title {title}"
    )

    def same_directory() -> list[str]:
        return [
            f"{ctx.rel(b.path)} is not in the same directory as {ctx.rel(a.path)}"
            for a, b in itertools.pairwise(infos)
            if os.path.dirname(a.path) != os.path.dirname(b.path)
        ]

    cases.case("same-directory", "all materialized files should be in the same directory", same_directory)

    misplaced = [i for i in infos if os.path.dirname(ctx.rel_base(i.path)) != title]
    if misplaced:
        # The reference declares an it.only here, which hides every other test of the whole run. We fail
        # this title loudly and keep testing the rest of the repository.
        cases.case(
            "title-directory",
            "all materialized files should be in directory that matches schema title",
            lambda: [
                f"{ctx.rel(i.path)}: directory {os.path.dirname(ctx.rel_base(i.path)) or '.'!r} "
                f"does not match title {title!r}"
                for i in misplaced
            ],
        )
        return cases.results

    schema_dir = os.path.dirname(infos[0].path)
    current_file = options.current_file_name
    cases.case(
        "current-exists",
        f"must contain {current_file} schema file",
        lambda: (
            []
            if _exists(os.path.join(schema_dir, "current.yaml"))
            else [f"no current.yaml in {ctx.rel(schema_dir)}"]
        ),
    )
    cases.case(
        "no-current-symlink",
        "must not contain extensionless current symlink",
        lambda: (
            [f"{ctx.rel(os.path.join(schema_dir, 'current'))} exists"]
            if _exists(os.path.join(schema_dir, "current"))
            else []
        ),
    )

    current = next((i for i in infos if i.current), None)
    if current is None:
        cases.case(
            "current-exists",
            f"must have a {current_file} file",
            lambda: [f"could not find a current schema file for title {title!r}"],
        )
        return cases.results

    from eventplatform.schemas.version import semver_key

    candidates = [i for i in infos if not i.current and i.content_type == ct0]
    latest = max(candidates, key=lambda i: semver_key(i.version)) if candidates else None
    # max() keeps the first of equal versions; the reference's stable sort + pop() keeps the last
    if latest is not None:
        top = semver_key(latest.version)
        latest = [i for i in candidates if semver_key(i.version) == top][-1]
    if latest is None:
        cases.case(
            "latest-file",
            "Must be able to find the latest schema version file",
            lambda: [f"could not find a materialized {ct0} version file for title {title!r}"],
        )
        return cases.results

    expected_latest = os.path.join(schema_dir, f"{current.version}.{ct0}")

    def latest_file() -> list[str]:
        problems = []
        if os.path.normpath(latest.path) != os.path.normpath(expected_latest):
            problems.append(
                f"the greatest {ct0} version is {ctx.rel(latest.path)}, "
                f"expected {ctx.rel(expected_latest)} (the version of {current_file})"
            )
        if not _exists(latest.path):
            problems.append(f"{ctx.rel(latest.path)} does not exist")
        return problems

    cases.case(
        "latest-file",
        "must contain materialized current schema file as\u00a0the greatest "  # sic: a no-break space
        f"{ct0} version {current.version}.{ct0}",
        latest_file,
    )

    def current_equals_latest() -> list[str]:
        command = f"`eventplatform schema materialize {ctx.rel(current.path)}`"
        if latest.version != current.version:
            return [
                f"current version {current.version} (from {options.schema_version_field}) does not match "
                f"latest version {latest.version}; run {command}"
            ]
        if ctx.materialize is None:
            return [ctx.materialize_error or "materialization is not available"]
        try:
            materialized = ctx.materialize(current.schema)
        except Exception as exc:
            return [f"materializing {ctx.rel(current.path)} failed: {getattr(exc, 'message', None) or exc}"]
        if same_data(latest.schema, materialized):
            return []
        from eventplatform.schemas.diff import diff_schemas

        d = diff_schemas(latest.schema, materialized)
        shown = [f"  {line}" for _, line in d.lines()[2:-1]][:10]
        return [
            f"materialized {ctx.rel(current.path)} does not equal {ctx.rel(latest.path)}; bump the version "
            f"in {options.schema_version_field} and run {command} (a published version never changes):",
            *shown,
        ]

    cases.case(
        "current-equals-latest",
        f"current version {current.version} must be equal to materialized latest version {latest.version}",
        current_equals_latest,
    )

    target = os.path.join(schema_dir, f"{latest.version}.{ct0}")

    def symlink_check(link: str) -> Callable[[], list[str]]:
        def check() -> list[str]:
            problems = _not_a_symlink(ctx, link)
            if problems:
                return problems
            if os.path.realpath(link) != os.path.realpath(target):
                return [f"{ctx.rel(link)} points to {os.readlink(link)!r}, not {os.path.basename(target)!r}"]
            return []

        return check

    if options.should_symlink_latest:
        cases.case(
            "latest-symlink",
            f"Should have latest.{latest.content_type} symlink pointing to latest version file "
            + ctx.rel(latest.path),
            symlink_check(os.path.join(schema_dir, f"latest.{latest.content_type}")),
        )
        if options.should_symlink_extensionless:
            cases.case(
                "latest-extensionless",
                "Should have extensionless latest symlink pointing to latest version file "
                + ctx.rel(latest.path),
                symlink_check(os.path.join(schema_dir, "latest")),
            )

    by_version: dict[str, list[SchemaInfo]] = {}
    for info in infos:
        by_version.setdefault(info.version, []).append(info)
    for version, group in by_version.items():
        for ct in options.content_types:
            info = next((i for i in group if i.content_type == ct), None)
            _version_cases(ctx, cases, title, schema_dir, version, ct, info)

        materialized = [i for i in group if not i.current]

        def content_types_equal(
            materialized: list[SchemaInfo] = materialized, version: str = version
        ) -> list[str]:
            return [
                f"{title} {version}.{b.content_type} does not equal {version}.{a.content_type}"
                for a, b in itertools.pairwise(materialized)
                if not same_data(b.schema, a.schema)
            ]

        cases.case(
            "content-types-equal",
            "all materialized content types must be equal",
            content_types_equal,
            subject=version,
            parents=version,
        )
    return cases.results


def _version_cases(
    ctx: _Ctx,
    cases: _Cases,
    title: str,
    schema_dir: str,
    version: str,
    ct: str,
    info: SchemaInfo | None,
) -> None:
    options = ctx.options
    missing = [f"no {ct} file for version {version} in {ctx.rel(schema_dir)}"]

    def version_file() -> list[str]:
        if info is None:
            return missing
        problems = []
        if os.path.dirname(info.path) != schema_dir:
            problems.append(f"{ctx.rel(info.path)} is not in expected {ctx.rel(schema_dir)}")
        if not _exists(info.path):
            problems.append(f"{ctx.rel(info.path)} does not exist")
        return problems

    cases.case(
        "version-file",
        f"must have {ct} version in {ctx.rel(schema_dir)}",
        version_file,
        subject=version,
        parents=version,
    )

    if options.should_symlink_extensionless and ct == options.content_types[0]:
        link = os.path.join(schema_dir, version)

        def version_symlink() -> list[str]:
            problems = _not_a_symlink(ctx, link)
            if problems:
                return problems
            if os.readlink(link) != f"{version}.{ct}":
                return [f"{ctx.rel(link)} points to {os.readlink(link)!r}, not {version}.{ct!r}"]
            return []

        cases.case(
            "version-symlink",
            f"must have extensionless symlink version pointing to {ct}",
            version_symlink,
            subject=version,
            parents=version,
        )

    cases.case(
        "version-title",
        f"{ct} version must have correct {options.schema_title_field}",
        lambda: (
            missing
            if info is None
            else (
                []
                if info.title == title
                else [f"{ctx.rel(info.path)} has title {info.title!r}, expected {title!r}"]
            )
        ),
        subject=version,
        parents=version,
    )

    def version_directory() -> list[str]:
        if info is None:
            return missing
        directory = os.path.dirname(ctx.rel_base(info.path))
        return [] if directory == title else [f"{ctx.rel(info.path)} is in {directory!r}, not {title!r}"]

    cases.case(
        "version-directory",
        f"{ct} version must be in directory that matches title",
        version_directory,
        subject=version,
        parents=version,
    )

    def id_directory() -> list[str]:
        if info is None:
            return missing
        schema_id = info.schema.get("$id")
        if not isinstance(schema_id, str):
            return [f"{ctx.rel(info.path)} has no string $id"]
        if schema_id[1:] in ctx.rel_base(info.path):
            return []
        return [f"$id {schema_id!r} does not match the path {ctx.rel_base(info.path)!r}"]

    cases.case("id-directory", "$id must match directory", id_directory, subject=version, parents=version)


# ------------------------------------------------------------------------------------------ robustness


def _robustness_title(ctx: _Ctx, title: str, infos: list[SchemaInfo]) -> list[CaseResult]:
    bounds = ctx.options.enforced_numeric_bounds
    cases = _Cases(ctx, "robustness", title, f"Schema Robustness in Repository {ctx.base_label} {title}")
    for info in infos:
        subject = ("current" if info.current else info.version) + (
            f".{info.content_type}" if info.content_type else ""
        )
        for check in ROBUSTNESS_CASES:
            if not check.applies(info.schema, info.current, bounds):
                continue
            cases.case(
                check.name,
                check.description,
                lambda check=check, info=info: run_case(check, info.schema, bounds),
                subject=subject,
                path=info.path,
                skip_schema=info.schema,
                name=check.name,
                parents=subject,
            )
    return cases.results


# ------------------------------------------------------------------------------------------ compatibility


def compatibility_pairs(
    infos: list[SchemaInfo], options: Options
) -> list[tuple[int, SchemaInfo, SchemaInfo]]:
    """(major, old, new) for consecutive materialized versions of one title within a major (§3)."""
    from eventplatform.schemas.version import major

    by_major: dict[int, list[SchemaInfo]] = {}
    for info in infos:
        by_major.setdefault(major(info.version), []).append(info)
    pairs = []
    for major_version in sorted(by_major):
        versions = [
            i for i in by_major[major_version] if not i.current and i.content_type == options.content_types[0]
        ]
        pairs.extend((major_version, a, b) for a, b in itertools.pairwise(versions))
    return pairs


def _compatibility_title(ctx: _Ctx, title: str, infos: list[SchemaInfo]) -> list[CaseResult]:
    cases = _Cases(
        ctx, "compatibility", title, f"Schema Compatibility in Repository {ctx.base_label} {title}"
    )
    for major_version, old, new in compatibility_pairs(infos, ctx.options):
        pair = compare(title, old.version, old.schema, new.version, new.schema)
        description = f"{new.version} must be compatible with {old.version}"

        def check(pair: Any = pair, old: SchemaInfo = old, new: SchemaInfo = new) -> list[str]:
            if pair.compatible:
                return []
            return [
                f"{title} {new.version} ({ctx.rel(new.path)}) is not compatible with {old.version}:",
                *(f"  {f.pointer or '/'}: {f.message}" for f in pair.findings),
                f"  suggestion: {_bump_suggestion(old.version)}",
            ]

        result = cases.case(
            COMPATIBILITY_CASE,
            description,
            check,
            subject=description,
            path=new.path,
            skip_schema=new.schema,
            name=COMPATIBILITY_CASE,
            parents=f"Major Version {major_version}",
        )
        result.old_version, result.new_version = old.version, new.version
        result.findings = pair.findings
        result.suggested_bump = pair.suggested_bump
    return cases.results


def _bump_suggestion(old_version: str) -> str:
    from eventplatform.schemas.compat import bump_hint

    return bump_hint(old_version, "major")


# ------------------------------------------------------------------------------------------ run

SUITES: tuple[Suite, ...] = ("structure", "robustness", "compatibility")
_SUITE_FUNCS: dict[str, Callable[[_Ctx, str, list[SchemaInfo]], list[CaseResult]]] = {
    "structure": _structure_title,
    "robustness": _robustness_title,
    "compatibility": _compatibility_title,
}


def _run_titles(
    ctx: _Ctx, groups: list[tuple[str, list[SchemaInfo]]], suites: Iterable[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for suite in suites:
        func = _SUITE_FUNCS[suite]
        out[suite] = {title: func(ctx, title, infos) for title, infos in groups}
    return out


def _warm_up(suites: Sequence[str]) -> Callable[[], None]:
    """Import what the checks need once, before the workers for the checks are forked."""

    def warm() -> None:
        if "robustness" in suites:
            import jsonschema_rs  # noqa: F401

            from eventplatform.schemas.robustness import _meta_validator

            _meta_validator()
        if "structure" in suites:
            import eventplatform.schemas.materialize  # noqa: F401

    return warm


def run_tests(
    options: Options,
    suites: Sequence[str] = SUITES,
    *,
    workers: int | None = None,
    discovered: tuple[list[SchemaInfo], list[FileError]] | None = None,
) -> TestRun:
    """Run the repository tests on ``options.schema_base_path`` and return every case result.

    ``discovered`` (from :func:`discover`) saves parsing the repository again when the caller has it.
    """
    started = time.perf_counter()
    for suite in suites:
        if suite not in _SUITE_FUNCS:
            raise ValueError(f"unknown suite {suite!r} (choose from {', '.join(SUITES)})")
    skipper = Skipper(options.skip_schema_test_cases)
    if discovered is None:
        discovered = discover(options, _warm_up(suites), workers)
    else:
        _warm_up(suites)()
    infos, errors = discovered
    # after discovery: the materializer's modules are imported during it, in parallel with the parsing
    materialize, materialize_error = _materializer(options) if "structure" in suites else (None, None)
    ctx = _Ctx(options, _base_label(options), options.cwd, skipper, materialize, materialize_error)
    groups_by_title: dict[str, list[SchemaInfo]] = {}
    for info in infos:
        groups_by_title.setdefault(info.title, []).append(info)
    groups = list(groups_by_title.items())

    n = workers if workers is not None else free_workers(len(groups), 16)
    chunks = _split(groups, max(1, n))
    partials = fork_map(lambda chunk: _run_titles(ctx, chunk, suites), [c for c in chunks if c] or [[]])

    run = TestRun(ctx.base_label)
    for error in errors:
        title = os.path.dirname(ctx.rel_base(error.path))
        run.results.append(
            CaseResult(
                "structure",
                title,
                STRUCTURE_CASES["file-readable"],
                "schema file must be readable",
                os.path.basename(error.path),
                f"Schema Repository Structure in {ctx.base_label} {ctx.rel(error.path)} must be readable",
                "fail",
                [f"{ctx.rel(error.path)}: {error.message}"],
                path=error.path,
            )
        )
    for suite in suites:
        merged: dict[str, list[CaseResult]] = {}
        for partial in partials:
            merged.update(partial[suite])
        for title, _ in groups:
            run.results.extend(merged.get(title, []))
    run.seconds = time.perf_counter() - started
    return run
