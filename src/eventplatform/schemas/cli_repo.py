"""``eventplatform schema init`` and ``schema pre-commit`` (what the installed git hook runs)."""

from __future__ import annotations

import os
import sys

import click

from eventplatform.schemas.cli_group import schema
from eventplatform.schemas.immutable import ENV_ALLOW

allow_version_changes_option = click.option(
    "--allow-version-changes",
    is_flag=True,
    envvar=ENV_ALLOW,
    help=f"Let committed version files change (a deliberate fix). Env: {ENV_ALLOW}=1.",
)


@schema.command("init")
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
def init_cmd(directory: str) -> None:
    """Create a schema repository in DIRECTORY (default: here) that passes `schema test` at once."""
    from eventplatform.schemas.init import init_repository
    from eventplatform.schemas.tool_errors import SchemaToolError

    try:
        for line in init_repository(directory):
            click.echo(line, err=True)
    except SchemaToolError as exc:
        click.echo(f"error: {exc.line()}", err=True)
        sys.exit(1)


@schema.command("pre-commit")
@click.argument("schema_base_path", required=False, type=click.Path(file_okay=False))
@click.option("-C", "--config-paths", multiple=True, help="Config files (default ./.jsonschema-tools.yaml).")
@allow_version_changes_option
def pre_commit_cmd(
    schema_base_path: str | None, config_paths: tuple[str, ...], allow_version_changes: bool
) -> None:
    """Materialize the staged current schemas into the commit, then refuse it (exit 1) when a title is now
    incompatible or a committed version file changed."""
    from eventplatform.schemas.cli_checks import _case_line
    from eventplatform.schemas.config import load_options
    from eventplatform.schemas.precommit import pre_commit
    from eventplatform.schemas.tool_errors import SchemaToolError

    overrides: dict[str, object] = {"gitStaged": True}
    if config_paths:
        overrides["configPaths"] = list(config_paths)
    if schema_base_path:
        overrides["schemaBasePath"] = os.path.abspath(schema_base_path)
    try:
        options = load_options(overrides)
        if options.log_level == "info":
            options.log_level = "warn"
        failures = pre_commit(options, allow_version_changes=allow_version_changes)
    except SchemaToolError as exc:
        click.echo(f"error: {exc.line()}", err=True)
        sys.exit(1)
    if failures:
        click.echo(
            "Commit refused by the schema pre-commit hook (nothing it generated is left behind):", err=True
        )
        for result in failures:
            click.echo(_case_line(result), err=True)
            for message in result.messages:
                for line in message.splitlines():
                    click.echo(f"      {line}", err=True)
        sys.exit(1)
