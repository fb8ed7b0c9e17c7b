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

This module finds the files and runs the suites; the structure suite is :mod:`.repostructure`, the
results and context all suites share are :mod:`.repocases`.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eventplatform.schemas.compat import compare
from eventplatform.schemas.forking import fork_map, free_workers
from eventplatform.schemas.repocases import (
    COMPATIBILITY_CASE,
    STRUCTURE_CASES,
    CaseResult,
    Cases,
    Skipper,
    Suite,
    SuiteContext,
    TestRun,
)
from eventplatform.schemas.repostructure import structure_title
from eventplatform.schemas.robustness import CASES as ROBUSTNESS_CASES
from eventplatform.schemas.robustness import run_case

if TYPE_CHECKING:
    from eventplatform.schemas.config import Options
    from eventplatform.schemas.discovery import SchemaInfo

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


def _base_label(options: Options) -> str:
    rel = os.path.relpath(options.schema_base_path, options.cwd)
    if rel == ".":
        return options.schema_base_path.rstrip("/") + "/"
    if rel.startswith(".."):
        return options.schema_base_path.rstrip("/") + "/"
    return f"./{rel}/"


def _materializer(options: Options) -> Callable[[dict[str, Any]], Any]:
    def run(schema: dict[str, Any]) -> Any:
        from eventplatform.schemas.materialize import materialize_schema  # imported by the warm-up

        return materialize_schema(schema, options)  # leaves its input alone (shared with other suites)

    return run


# ------------------------------------------------------------------------------------------ robustness


def _robustness_title(ctx: SuiteContext, title: str, infos: list[SchemaInfo]) -> list[CaseResult]:
    bounds = ctx.options.enforced_numeric_bounds
    cases = Cases(ctx, "robustness", title, f"Schema Robustness in Repository {ctx.base_label} {title}")
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


def _compatibility_title(ctx: SuiteContext, title: str, infos: list[SchemaInfo]) -> list[CaseResult]:
    cases = Cases(ctx, "compatibility", title, f"Schema Compatibility in Repository {ctx.base_label} {title}")
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
_SUITE_FUNCS: dict[str, Callable[[SuiteContext, str, list[SchemaInfo]], list[CaseResult]]] = {
    "structure": structure_title,
    "robustness": _robustness_title,
    "compatibility": _compatibility_title,
}


def _run_titles(
    ctx: SuiteContext, groups: list[tuple[str, list[SchemaInfo]]], suites: Iterable[str]
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
    ctx = SuiteContext(options, _base_label(options), options.cwd, skipper, _materializer(options))
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
