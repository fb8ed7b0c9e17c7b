"""The pre-commit hook's work (``eventplatform schema pre-commit``): materialize the staged current schemas
and add the outputs to the commit, as the reference's hook does, then refuse the commit when

- a title it materialized is now incompatible with its previous version (the compatibility suite of
  ``schema test``, same messages), or
- a committed version file is changed or deleted in the commit (:mod:`eventplatform.schemas.immutable`).

A refused commit leaves the repository as it was before the hook: the files it generated are taken out of
the index and the working tree again (or restored from ``HEAD``), so fixing ``current.yaml`` and committing
again starts clean. The author's own edits are never touched.
"""

from __future__ import annotations

import contextlib
import os

from eventplatform.schemas.config import Options
from eventplatform.schemas.githook import run_git
from eventplatform.schemas.immutable import immutability_results
from eventplatform.schemas.materialize import MaterializeResult, materialize_modified
from eventplatform.schemas.repocases import CaseResult
from eventplatform.schemas.tool_errors import SchemaToolError


def pre_commit(options: Options, *, allow_version_changes: bool = False) -> list[CaseResult]:
    """Materialize and check; the failed cases (empty: the commit goes on)."""
    from eventplatform.schemas.repotest import run_tests

    results = materialize_modified(options)
    titles = {r.schema.get("title") for r in results}
    failures: list[CaseResult] = []
    if titles:
        run = run_tests(options, ("compatibility",))
        failures += [r for r in run.failures() if r.title in titles]
    if not allow_version_changes:
        failures += immutability_results(options, staged=True)
    if failures and not options.dry_run:
        roll_back(results, options)
    return failures


def roll_back(results: list[MaterializeResult], options: Options) -> None:
    """Undo what materializing wrote: files ``HEAD`` has are restored, new ones removed (index and tree)."""
    cwd = options.schema_base_path
    root = run_git(["rev-parse", "--show-toplevel"], cwd)
    for result in results:
        for path in [*result.files, *result.symlinks]:
            rel = os.path.relpath(path, root)
            try:
                run_git(["cat-file", "-e", f"HEAD:{rel}"], root)
            except SchemaToolError:  # new: not in HEAD
                with contextlib.suppress(SchemaToolError):
                    run_git(["rm", "-q", "--cached", "--ignore-unmatch", "--", rel], root)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            else:
                run_git(["checkout", "HEAD", "--", rel], root)
