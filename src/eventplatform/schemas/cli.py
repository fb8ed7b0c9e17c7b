"""``eventplatform schema`` materialize commands (the reference's CLI, with its hazards fixed).

Imports are lazy so that start-up stays cheap; errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any

import click

from eventplatform.schemas.cli_group import schema

__all__ = ["schema"]


def _common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "-o", "--output-dir", default=None, help="Write versions here instead of next to the input."
        ),
        click.option("-V", "--schema-version-field", default=None, help="Field holding the version ($id)."),
        click.option(
            "-u", "--schema-base-uris", multiple=True, help="Base URIs for $ref (repeat or comma-separate)."
        ),
        click.option(
            "-c",
            "--content-types",
            multiple=True,
            help="Output serializations: yaml, json (first is primary).",
        ),
        click.option("-N", "--current-name", default=None, help="Name of the current file (current)."),
        click.option(
            "-D", "--no-dereference", "no_dereference", is_flag=True, default=None, help="Skip $ref/allOf."
        ),
        click.option(
            "-S",
            "--no-symlink-extensionless",
            "no_symlink_extensionless",
            is_flag=True,
            default=None,
            help="Do not create the X.Y.Z symlink.",
        ),
        click.option(
            "-L",
            "--no-symlink-latest",
            "no_symlink_latest",
            is_flag=True,
            default=None,
            help="Do not create latest symlinks.",
        ),
        click.option(
            "-n", "--dry-run", is_flag=True, default=None, help="Only report what would be written."
        ),
        click.option("-v", "--verbose", is_flag=True, default=False, help="Log each file written."),
        click.option(
            "-C", "--config-paths", multiple=True, help="Config files (default ./.jsonschema-tools.yaml)."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """CLI options given explicitly -> camelCase overrides (absent ones fall through to config/defaults)."""
    out: dict[str, Any] = {}
    mapping = {
        "output_dir": "outputDir",
        "schema_version_field": "schemaVersionField",
        "current_name": "currentName",
        "dry_run": "dryRun",
    }
    for key, camel in mapping.items():
        if kwargs.get(key) is not None:
            out[camel] = kwargs[key]
    for key, camel in (
        ("schema_base_uris", "schemaBaseUris"),
        ("content_types", "contentTypes"),
        ("config_paths", "configPaths"),
    ):
        if kwargs.get(key):
            out[camel] = list(kwargs[key])
    for key, camel in (
        ("no_dereference", "shouldDereference"),
        ("no_symlink_extensionless", "shouldSymlinkExtensionless"),
        ("no_symlink_latest", "shouldSymlinkLatest"),
        ("no_git_add", "shouldGitAdd"),
    ):
        if kwargs.get(key):
            out[camel] = False
    if kwargs.get("staged"):
        out["gitStaged"] = True
    if kwargs.get("verbose"):
        out["logLevel"] = "debug"
    if kwargs.get("schema_base_path"):
        out["schemaBasePath"] = kwargs["schema_base_path"]
    return out


def _handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from eventplatform.schemas.tool_errors import SchemaToolError

        try:
            return func(*args, **kwargs)
        except SchemaToolError as exc:
            click.echo(f"error: {exc.line()}", err=True)
            sys.exit(1)
        except OSError as exc:
            where = getattr(exc, "filename", None) or "<io>"
            click.echo(f"error: {where}: /: {exc.strerror or exc}", err=True)
            sys.exit(1)

    return wrapper


def _load(kwargs: dict[str, Any]) -> Any:
    from eventplatform.schemas.config import load_options

    options = load_options(_overrides(kwargs))
    if kwargs.get("verbose") is False and options.log_level == "info":
        options.log_level = "warn"  # the reference logs to stdout; we stay quiet unless asked (-v)
    return options


def _read_stdin() -> Any:
    from eventplatform.schemas.yamlio import load_yaml

    return load_yaml(sys.stdin.read(), "<stdin>")


@schema.command("materialize")
@click.argument("paths", nargs=-1, type=click.Path())
@_common_options
@click.option(
    "-O", "--stdout", "to_stdout", is_flag=True, help="Print the materialized schema (YAML) instead."
)
@_handle_errors
def materialize_cmd(paths: tuple[str, ...], to_stdout: bool, **kwargs: Any) -> None:
    """Materialize the given schema files (or stdin) into <version>.<ct> files and symlinks."""
    from eventplatform.schemas.materialize import materialize_documents, materialize_paths

    options = _load(kwargs)
    if paths:
        results = materialize_paths(list(paths), options, write=not to_stdout)
    else:
        if not to_stdout and not options.output_dir:
            from eventplatform.schemas.tool_errors import SchemaToolError

            raise SchemaToolError("<stdin>", "", "--output-dir is required when reading a schema from stdin")
        results = materialize_documents([("<stdin>", _read_stdin())], options, write=not to_stdout)
    if to_stdout:
        from eventplatform.schemas.yamldump import dump_yaml

        for r in results:
            sys.stdout.write(dump_yaml(r.schema))


@schema.command("materialize-all")
@click.argument("schema_base_path", required=False, type=click.Path())
@_common_options
@_handle_errors
def materialize_all_cmd(**kwargs: Any) -> None:
    """Materialize every current schema under schemaBasePath (dependency order, all or nothing)."""
    from eventplatform.schemas.materialize import materialize_all

    materialize_all(_load(kwargs))


@schema.command("materialize-modified")
@click.argument("schema_base_path", required=False, type=click.Path())
@_common_options
@click.option("-s", "--staged", is_flag=True, help="Only files staged in git (git diff --cached).")
@click.option(
    "-G", "--no-git-add", "no_git_add", is_flag=True, default=None, help="Do not git add the outputs."
)
@_handle_errors
def materialize_modified_cmd(**kwargs: Any) -> None:
    """Materialize current schemas changed in git, in $ref dependency order, then git add the outputs."""
    from eventplatform.schemas.materialize import materialize_modified

    materialize_modified(_load(kwargs))


@schema.command("dereference")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "-u", "--schema-base-uris", multiple=True, help="Base URIs for $ref (repeat or comma-separate)."
)
@click.option(
    "-c",
    "--content-type",
    "content_type",
    type=click.Choice(["yaml", "json"]),
    default=None,
    help="Output: yaml (default) or json.",
)
@click.option("-C", "--config-paths", multiple=True, help="Config files (default ./.jsonschema-tools.yaml).")
@click.option("-v", "--verbose", is_flag=True, default=False)
@_handle_errors
def dereference_cmd(paths: tuple[str, ...], content_type: str | None, **kwargs: Any) -> None:
    """Print the schema(s) with $refs resolved and allOf merged (no bounds, no examples)."""
    import os

    from eventplatform.schemas.discovery import read_schema_file
    from eventplatform.schemas.materialize import dereference_schema, make_fetcher, serialize_schema

    options = _load(kwargs)
    fetcher = make_fetcher(options)
    if paths:
        docs = [(os.path.abspath(p), read_schema_file(os.path.abspath(p))) for p in paths]
    else:
        docs = [("<stdin>", _read_stdin())]
    out = [dereference_schema(schema, options, source=src, fetcher=fetcher) for src, schema in docs]
    source = docs[0][0] if len(docs) == 1 else "<output>"
    text = serialize_schema(out if len(out) > 1 else out[0], content_type or "yaml", source)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@schema.command("install-git-hook")
@click.argument("schema_base_path", required=False, type=click.Path())
@_handle_errors
def install_git_hook_cmd(schema_base_path: str | None) -> None:
    """Install a pre-commit hook that runs `materialize-modified --staged` (no npm needed)."""
    import os

    from eventplatform.schemas.githook import install_git_hook

    path = install_git_hook(os.getcwd() if not schema_base_path else os.path.abspath(schema_base_path))
    click.echo(f"Installed pre-commit hook at {path}", err=True)


# The check/test/diff commands live in cli_checks and attach themselves to the group when it is imported.
importlib.import_module("eventplatform.schemas.cli_checks")
importlib.import_module("eventplatform.schemas.cli_repo")  # init, pre-commit
