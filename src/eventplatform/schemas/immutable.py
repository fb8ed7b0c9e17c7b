"""Published versions are immutable: a materialized version file (``1.0.0.yaml``) that git already has in
``HEAD`` must not change or disappear. Consumers cache schemas by ``$id`` forever, so an edit in place
silently changes the meaning of data already written; the fix is a new version.

The reference has no such check. ``schema test`` and the pre-commit hook run it (against git: the working
tree, or only what is staged); ``--allow-version-changes`` or ``EVENTPLATFORM_ALLOW_VERSION_CHANGES=1``
lets a deliberate fix through.
"""

from __future__ import annotations

import os

from eventplatform.schemas.config import Options
from eventplatform.schemas.githook import run_git
from eventplatform.schemas.repocases import CaseResult
from eventplatform.schemas.tool_errors import SchemaToolError
from eventplatform.schemas.version import is_semver

CASE = "schema-version-immutable"
ENV_ALLOW = "EVENTPLATFORM_ALLOW_VERSION_CHANGES"
HOW_TO_ALLOW = f"--allow-version-changes or {ENV_ALLOW}=1 for a deliberate fix"


def _version_of(name: str, options: Options) -> str | None:
    """The version a file name is, or None: ``X.Y.Z.<content type>`` or the extensionless ``X.Y.Z`` link."""
    base = os.path.basename(name)
    stem, dot, ext = base.rpartition(".")
    if dot and ext in options.content_types and is_semver(stem):
        return stem
    return base if is_semver(base) else None


def changed_versions(options: Options, *, staged: bool) -> list[tuple[str, str]]:
    """(path relative to the repository root, "modified" | "deleted") of every committed version file under
    ``schemaBasePath`` that differs from ``HEAD`` (staged changes only, or the working tree). Nothing outside
    a git repository or before its first commit."""
    base = options.schema_base_path
    try:
        run_git(["rev-parse", "--verify", "-q", "HEAD"], base)
    except SchemaToolError:
        return []
    args = ["diff", "--name-status", "--no-renames", "--diff-filter=MD"]
    if staged:
        args.append("--cached")
    out: list[tuple[str, str]] = []
    for line in run_git([*args, "HEAD", "--", "."], base).splitlines():
        status, _, name = line.partition("\t")
        if name and _version_of(name, options) is not None:
            out.append((name, "deleted" if status.startswith("D") else "modified"))
    return out


def immutability_results(options: Options, *, staged: bool = False) -> list[CaseResult]:
    """One failed case per changed version file (none when nothing changed: the counts of a clean
    repository stay the reference's)."""
    results = []
    changed = changed_versions(options, staged=staged)
    root = run_git(["rev-parse", "--show-toplevel"], options.schema_base_path) if changed else ""
    for name, how in changed:
        title = os.path.dirname(os.path.relpath(os.path.join(root, name), options.schema_base_path))
        base = os.path.basename(name)
        results.append(
            CaseResult(
                "structure",
                title,
                CASE,
                "committed schema versions must not change",
                base,
                f"Schema Repository Structure {name} must not change once committed",
                "fail",
                [
                    f"{name}: version {_version_of(name, options)} of {title} is already committed "
                    f"and was {how}; published versions are immutable: bump the version in the current "
                    f"schema instead ({HOW_TO_ALLOW})"
                ],
            )
        )
    return results
