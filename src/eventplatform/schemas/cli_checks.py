"""``eventplatform schema check|test|diff``: compatibility, the repository test suite, version diffs.

Exit status: 0 all good, 1 a test or check failed, 2 bad usage or configuration. Output is plain text
(coloured on a terminal) or ``--format json`` for machines. Imports stay lazy: ``test`` runs in CI on
every commit of a schema repository, so start-up time is part of its cost.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from eventplatform.schemas.cli_group import schema

if TYPE_CHECKING:
    from eventplatform.schemas.config import Options
    from eventplatform.schemas.repotest import CaseResult, TestRun

_STATUS_MARK = {"pass": ("✓", "green"), "fail": ("✗", "red"), "skip": ("-", "yellow")}


def _config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "-C", "--config-paths", multiple=True, help="Config files (default ./.jsonschema-tools.yaml)."
    )(func)
    func = click.argument("schema_base_path", required=False, type=click.Path(file_okay=False))(func)
    return func


def _load_options(schema_base_path: str | None, config_paths: tuple[str, ...]) -> Options:
    from eventplatform.schemas.config import load_options
    from eventplatform.schemas.tool_errors import SchemaToolError

    overrides: dict[str, Any] = {}
    if config_paths:
        overrides["configPaths"] = list(config_paths)
    if schema_base_path:
        overrides["schemaBasePath"] = schema_base_path
    try:
        options = load_options(overrides)
    except SchemaToolError as exc:
        _usage_error(exc.line())
    if not os.path.isdir(options.schema_base_path):
        _usage_error(f"schema base path {options.schema_base_path} is not a directory")
    return options


def _usage_error(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _run(
    options: Options, suites: tuple[str, ...], discovered: Any = None, jobs: int | None = None
) -> TestRun:
    from eventplatform.schemas.repotest import run_tests

    try:
        return run_tests(options, suites, discovered=discovered, workers=jobs)
    except ValueError as exc:  # e.g. a bad regex in skipSchemaTestCases
        _usage_error(str(exc))


def _emit_json(document: Any, source: str) -> None:
    """Write ``document``; one that cannot be JSON (a YAML alias cycle in a schema) is a one-line error."""
    import orjson

    try:
        data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    except TypeError as exc:
        _usage_error(f"{source}: /: cannot write as JSON: {exc}")
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.flush()


def _title_counts(results: list[CaseResult]) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "skip")}
    parts = [f"{counts['pass']} passed"]
    if counts["fail"]:
        parts.append(f"{counts['fail']} failed")
    if counts["skip"]:
        parts.append(f"{counts['skip']} skipped")
    return ", ".join(parts)


def _case_line(result: CaseResult) -> str:
    mark, colour = _STATUS_MARK[result.status]
    subject = f"{result.subject}: " if result.subject and result.suite != "compatibility" else ""
    return (
        f"  {click.style(mark, fg=colour)} [{result.suite}] {subject}{result.description}"
        f"  ({result.name})" + ("  skipped by skipSchemaTestCases" if result.status == "skip" else "")
    )


def _print_report(run: TestRun, verbose: bool, header: str) -> None:
    echo = click.echo
    echo(header)
    by_title: dict[str, list[CaseResult]] = {}
    for result in run.results:
        by_title.setdefault(result.title, []).append(result)
    width = min(60, max((len(t) for t in by_title), default=0))
    for title, results in by_title.items():
        failed = any(r.status == "fail" for r in results)
        mark, colour = ("✗", "red") if failed else ("✓", "green")
        echo(f"{click.style(mark, fg=colour, bold=failed)} {title.ljust(width)}  {_title_counts(results)}")
        for result in results:
            if result.status == "fail" or verbose:
                echo(_case_line(result))
                for message in result.messages:
                    for line in message.splitlines():
                        echo(f"      {line}")
    echo("")
    summary = (
        f"{run.passed} passed, {run.failed} failed, {run.skipped} skipped "
        f"({len(run.results)} tests, {len(by_title)} titles) in {run.seconds:.2f}s"
    )
    echo(click.style(summary, fg="red" if run.failed else "green", bold=True))


def _junit(run: TestRun) -> bytes:
    """JUnit XML (one testsuite per title and suite), the format CI systems display."""
    import xml.etree.ElementTree as ET

    root = ET.Element(
        "testsuites",
        tests=str(len(run.results)),
        failures=str(run.failed),
        skipped=str(run.skipped),
        time=f"{run.seconds:.3f}",
    )
    suites: dict[tuple[str, str], ET.Element] = {}
    for result in run.results:
        key = (result.suite, result.title)
        element = suites.get(key)
        if element is None:
            element = suites[key] = ET.SubElement(root, "testsuite", name=f"{result.suite}: {result.title}")
        name = f"{result.subject}: {result.description}" if result.subject else result.description
        case = ET.SubElement(element, "testcase", classname=result.title, name=f"{name} ({result.name})")
        if result.status == "fail":
            failure = ET.SubElement(
                case, "failure", message=result.messages[0] if result.messages else "failed"
            )
            failure.text = "\n".join(result.messages)
        elif result.status == "skip":
            ET.SubElement(case, "skipped", message="skipSchemaTestCases")
    for element in suites.values():
        cases = list(element)
        element.set("tests", str(len(cases)))
        element.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        element.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@schema.command("test")
@_config_options
@click.option(
    "--suite",
    "suites",
    multiple=True,
    type=click.Choice(["structure", "robustness", "compatibility"]),
    help="Run only these suites (repeatable; default all three).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True
)
@click.option("-v", "--verbose", is_flag=True, help="List every test case, not only failures.")
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Worker processes (default: one per CPU)."
)
@click.option(
    "--allow-version-changes",
    is_flag=True,
    envvar="EVENTPLATFORM_ALLOW_VERSION_CHANGES",
    help="Let committed version files differ from git HEAD (a deliberate fix). "
    "Env: EVENTPLATFORM_ALLOW_VERSION_CHANGES=1.",
)
def test_cmd(
    schema_base_path: str | None,
    config_paths: tuple[str, ...],
    suites: tuple[str, ...],
    fmt: str,
    verbose: bool,
    jobs: int | None,
    allow_version_changes: bool,
) -> None:
    """Run the repository tests (structure, robustness, compatibility) like jsonschema-tools' `npm test`.

    Test-case names are the reference's, so `skipSchemaTestCases` in .jsonschema-tools.yaml applies as
    before. Beyond the reference, a committed version file that differs from git HEAD fails
    (schema-version-immutable). Exits 1 when any test fails.
    """
    options = _load_options(schema_base_path, config_paths)
    suites = suites or ("structure", "robustness", "compatibility")
    run = _run(options, suites, jobs=jobs)
    if "structure" in suites and not allow_version_changes:
        from eventplatform.schemas.immutable import immutability_results

        run.results.extend(immutability_results(options))
    if fmt == "json":
        _emit_json(run.to_dict(), run.base_label)
    elif fmt == "junit":
        sys.stdout.buffer.write(_junit(run) + b"\n")
        sys.stdout.flush()
    else:
        _print_report(run, verbose, f"Schema repository tests in {run.base_label}")
    sys.exit(0 if run.ok else 1)


# ------------------------------------------------------------------------------------------ check


def _pending_current_checks(options: Options, infos: list[Any]) -> list[CaseResult]:
    """A current.yaml with a version that is not materialized yet, against the latest of its major.

    This is the check an author wants before materializing: is the new version compatible, and is the
    bump right? The reference only finds out after materializing.
    """
    from eventplatform.schemas.compat import bump_hint, compare, next_version
    from eventplatform.schemas.materialize import materialize_schema
    from eventplatform.schemas.repotest import COMPATIBILITY_CASE, CaseResult, Skipper
    from eventplatform.schemas.version import major, semver_key

    skipper = Skipper(options.skip_schema_test_cases)
    by_title: dict[str, list[Any]] = {}
    for info in infos:
        by_title.setdefault(info.title, []).append(info)
    out: list[CaseResult] = []
    ct0 = options.content_types[0]
    for title, group in by_title.items():
        current = next((i for i in group if i.current), None)
        versions = [i for i in group if not i.current and i.content_type == ct0]
        if current is None or any(i.version == current.version for i in versions):
            continue
        same_major = [i for i in versions if major(i.version) == major(current.version)]
        older = [i for i in same_major if semver_key(i.version) < semver_key(current.version)]
        previous = max(older, key=lambda i: semver_key(i.version)) if older else None
        description = f"current {current.version} must be compatible with " + (
            previous.version if previous is not None else "(no earlier version)"
        )
        result = CaseResult(
            "compatibility",
            title,
            COMPATIBILITY_CASE,
            description,
            description,
            f"Pending current.yaml of {title}: {description}",
            path=current.path,
        )
        out.append(result)
        if previous is None:
            continue
        if skipper.skips(COMPATIBILITY_CASE, current.schema):
            result.status = "skip"
            continue
        try:
            materialized = materialize_schema(current.schema, options, source=current.path)
        except Exception as exc:
            result.status = "fail"
            result.messages = [f"cannot materialize {current.path}: {getattr(exc, 'message', exc)}"]
            continue
        pair = compare(title, previous.version, previous.schema, current.version, materialized)
        result.old_version, result.new_version = previous.version, current.version
        result.findings, result.suggested_bump = pair.findings, pair.suggested_bump
        if pair.findings:
            result.status = "fail"
            result.messages = [
                f"{title} current {current.version} is not compatible with {previous.version}:",
                *(f"  {f.pointer or '/'}: {f.message}" for f in pair.findings),
                f"  suggestion: {bump_hint(previous.version, 'major')}",
            ]
        else:
            wanted = next_version(previous.version, pair.suggested_bump)
            if semver_key(current.version) < semver_key(wanted):
                result.messages = [f"note: the changes call for {wanted} ({pair.suggested_bump} bump)"]
    return out


@schema.command("check")
@_config_options
@click.option(
    "--pending/--no-pending",
    default=True,
    show_default=True,
    help="Also check a current.yaml whose version is not materialized yet against the latest version.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Show compatible pairs too.")
def check_cmd(
    schema_base_path: str | None, config_paths: tuple[str, ...], pending: bool, fmt: str, verbose: bool
) -> None:
    """Check compatibility between consecutive versions of each title within a major version.

    Every incompatible change is named by title, both versions, JSON pointer and what changed, with the
    version bump it calls for. `skipSchemaTestCases` entries for schema-version-compatibility apply.
    """
    from eventplatform.schemas.repotest import discover

    options = _load_options(schema_base_path, config_paths)
    discovered = discover(options)
    run = _run(options, ("compatibility",), discovered)
    if pending:
        run.results.extend(_pending_current_checks(options, discovered[0]))
    if fmt == "json":
        _emit_json(run.to_dict(), run.base_label)
    else:
        echo = click.echo
        echo(f"Compatibility of schema versions in {run.base_label}")
        for result in run.results:
            if result.status == "pass" and not verbose and not result.messages:
                continue
            mark, colour = _STATUS_MARK[result.status]
            extra = ""
            if result.status == "pass" and result.suggested_bump:
                extra = f"  ({result.suggested_bump} change)"
            if result.status == "skip":
                extra = "  skipped by skipSchemaTestCases"
                if result.findings:
                    n = len(result.findings)
                    extra += f" (would fail: {n} incompatible change{'s' if n != 1 else ''})"
            echo(f"{click.style(mark, fg=colour)} {result.title}: {result.description}{extra}")
            for message in result.messages:
                echo(f"    {message}")
        pairs = len(run.results)
        summary = f"{run.passed} compatible, {run.failed} incompatible, {run.skipped} skipped ({pairs} pairs)"
        echo(click.style(summary, fg="red" if run.failed else "green", bold=True))
    sys.exit(0 if run.ok else 1)


# ------------------------------------------------------------------------------------------ diff


def _resolve_schema(spec: str, options: Options, title_hint: str | None) -> tuple[str, dict[str, Any], str]:
    """A file path, ``TITLE@VERSION`` (VERSION may be ``current`` or ``latest``) or, for the second
    argument, a bare VERSION of the first argument's title. Returns (label, materialized schema, title)."""
    from eventplatform.schemas.discovery import read_schema_file

    path: str | None = None
    if os.path.isfile(spec):
        path = spec
    else:
        title, sep, version = spec.rpartition("@")
        if not sep:
            title, version = title_hint or "", spec
        if not title:
            _usage_error(f"{spec!r} is neither a file nor TITLE@VERSION")
        ct0 = options.content_types[0]
        directory = os.path.join(options.schema_base_path, title)
        name = options.current_file_name if version == "current" else f"{version}.{ct0}"
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            _usage_error(f"{spec!r}: no file {os.path.relpath(path)}")
    document = read_schema_file(path)
    if not isinstance(document, dict):
        _usage_error(f"{path}: not a schema (a mapping)")
    name = os.path.basename(path)
    if name == options.current_file_name:
        from eventplatform.schemas.materialize import materialize_schema

        document = materialize_schema(document, options, source=path)
    title = document.get(options.schema_title_field)
    label = f"{title} {name}" if isinstance(title, str) else os.path.relpath(path)
    return label, document, title if isinstance(title, str) else ""


@schema.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("-C", "--config-paths", multiple=True, help="Config files (default ./.jsonschema-tools.yaml).")
@click.option(
    "-u", "--unified", is_flag=True, help="Show a unified line diff of the serialized schemas instead."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff_cmd(old: str, new: str, config_paths: tuple[str, ...], unified: bool, fmt: str) -> None:
    """Show what changed between two versions of a schema.

    OLD and NEW are schema files, TITLE@VERSION (e.g. mediawiki/page/change@1.1.0; VERSION may be
    `current`, which is materialized first, or `latest`), or for NEW just a VERSION of OLD's title.
    Changes that break compatibility are marked. Exits 1 when NEW is not compatible with OLD.
    """
    from eventplatform.schemas.diff import diff_schemas, unified_diff
    from eventplatform.schemas.tool_errors import SchemaToolError
    from eventplatform.schemas.version import schema_version

    options = _load_options(None, config_paths)
    try:
        old_label, old_doc, title = _resolve_schema(old, options, None)
        new_label, new_doc, _ = _resolve_schema(new, options, title)
        try:
            old_version = schema_version(old_doc, options.schema_version_field)
        except SchemaToolError:
            old_version = None
    except SchemaToolError as exc:
        _usage_error(exc.line())
    if unified:
        from eventplatform.schemas.yamldump import dump_yaml

        text = unified_diff(dump_yaml(old_doc), dump_yaml(new_doc), old_label, new_label)
        click.echo(text, nl=False)
        sys.exit(0)
    d = diff_schemas(old_doc, new_doc, old_label, new_label, old_version=old_version)
    if fmt == "json":
        _emit_json(d.to_dict(), f"{old} {new}")
    else:
        styles = {
            "header": {"bold": True},
            "added": {"fg": "green"},
            "removed": {"fg": "red"},
            "changed": {"fg": "yellow"},
            "breaking": {"fg": "red", "bold": True},
            "verdict": {"bold": True},
        }
        for style, line in d.lines():
            click.echo(click.style(line, **styles.get(style, {})))
    sys.exit(0 if d.compatible else 1)
