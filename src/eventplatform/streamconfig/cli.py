"""``eventplatform streams list|show``: what the stream config says, as the API would answer."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from eventplatform.streamconfig.config import (
    StreamConfig,
    StreamConfigError,
    StreamQueryError,
    load_stream_config,
    parse_query,
)

_config_option = click.option(
    "--stream-config",
    "location",
    envvar="EVENTPLATFORM_STREAM_CONFIG",
    required=True,
    metavar="FILE_OR_URL",
    help="Stream config file (YAML/JSON) or http(s) URL of a streamconfigs API "
    "(env: EVENTPLATFORM_STREAM_CONFIG).",
)
_constraint_option = click.option(
    "--constraint",
    "constraints",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep streams whose setting matches, e.g. destination_event_service=eventgate-main or "
    "sample[unit]=session. Repeatable.",
)
_format_option = click.option(
    "--format", "fmt", type=click.Choice(["json", "table"]), default=None, help="Output format."
)


def _load(location: str) -> StreamConfig:
    try:
        return load_stream_config(location)
    except StreamConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _constraints(items: tuple[str, ...]) -> dict[str, Any] | None:
    try:
        return parse_query(None, list(items))[1]
    except StreamQueryError as exc:
        raise click.BadParameter(str(exc), param_hint="--constraint") from None


def _short(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)


def _emit(streams: dict[str, dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(orjson.dumps({"streams": streams}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    for col in ("stream", "schema_title", "destination_event_service", "topics", "sample"):
        table.add_column(col, overflow="fold")
    for name, settings in streams.items():
        table.add_row(
            name,
            _short(settings.get("schema_title")),
            _short(settings.get("destination_event_service")),
            "\n".join(settings.get("topics") or []),
            _short(settings.get("sample")),
        )
    Console().print(table)


@click.group()
def streams() -> None:
    """Inspect the stream configuration."""


@streams.command("list")
@_config_option
@_constraint_option
@_format_option
def list_streams(location: str, constraints: tuple[str, ...], fmt: str | None) -> None:
    """Every declared stream (regex entries keyed by their pattern), optionally filtered."""
    config = _load(location)
    _emit(config.select(None, _constraints(constraints)), fmt or "table")


@streams.command("show")
@click.argument("names", nargs=-1, required=True, metavar="STREAM...")
@_config_option
@_constraint_option
@_format_option
def show_streams(
    names: tuple[str, ...], location: str, constraints: tuple[str, ...], fmt: str | None
) -> None:
    """Resolved settings of concrete streams (exact name, else the first matching /regex/)."""
    config = _load(location)
    selected = config.select(list(names), _constraints(constraints))
    _emit(selected, fmt or "json")
    missing = [n for n in names if n not in selected]
    if missing:
        for n in missing:
            reason = "is filtered out by the constraints" if config.get(n) else "does not match any stream"
            click.echo(f"error: stream {n!r} {reason} in {location}", err=True)
        sys.exit(1)
