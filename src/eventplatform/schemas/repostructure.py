"""The structure suite of ``schema test``: files where the reference expects them, versions that agree,
``current`` materialized into ``latest`` (reference §4), one :class:`CaseResult` per reference case.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from eventplatform.schemas.compat import same_data
from eventplatform.schemas.repocases import CaseResult, Cases, SuiteContext

if TYPE_CHECKING:
    from eventplatform.schemas.discovery import SchemaInfo


def _exists(path: str) -> bool:
    return os.path.exists(path)


def _is_link(path: str) -> bool:
    return os.path.islink(path)


def _not_a_symlink(ctx: SuiteContext, link: str) -> list[str]:
    """What is wrong when ``link`` is missing, dangling or a regular file; empty when it is a live symlink."""
    if not _exists(link):
        return [f"{ctx.rel(link)} does not exist" + (" (dangling symlink)" if _is_link(link) else "")]
    if not _is_link(link):
        return [f"{ctx.rel(link)} is not a symlink"]
    return []


def structure_title(ctx: SuiteContext, title: str, infos: list[SchemaInfo]) -> list[CaseResult]:
    options = ctx.options
    ct0 = options.content_types[0]
    cases = Cases(
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
    ctx: SuiteContext,
    cases: Cases,
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
