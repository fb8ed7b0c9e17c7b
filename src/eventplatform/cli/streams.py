"""``eventplatform streams list|show``: what the stream config says, as the API would answer.

The stream config is the one ``serve``, ``tail`` and ``produce`` use (same options, environment and config
file), so a user sees the streams the intake accepts. The table is plain text sized to the terminal: one line
per stream, its topics underneath only when they are not just the stream's name."""

from __future__ import annotations

import shutil
import sys
import textwrap
from typing import Any

import click
import orjson

from eventplatform.streamconfig.config import StreamConfig, StreamQueryError, parse_query

_config_option = click.option(
    "--stream-config",
    "location",
    default=None,
    metavar="FILE_OR_URL",
    help="Stream config file (YAML/JSON) or http(s) URL of a streamconfigs API. "
    "[default: serve's: $EVENTPLATFORM_STREAM_CONFIG, the config file, else the bundled example]",
)
_file_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml to read."
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


def _load(location: str | None, config_file: str | None) -> tuple[str, StreamConfig]:
    from eventplatform.cli.options import load_settings_and_streams

    settings, config = load_settings_and_streams(config_file, {"stream_config": location})
    return settings.streamconfig.source, config


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


def _sample(value: Any) -> str:
    if isinstance(value, dict) and set(value) <= {"rate", "unit"}:
        return f"{value.get('rate', '')}/{value.get('unit', '')}"
    return _short(value)


def table(streams: dict[str, dict[str, Any]], width: int) -> str:
    """Columns stream, schema_title, destination_event_service (and sample when any stream has one), the
    topics on a line of their own when they differ from [stream]; nothing wraps inside a column. Columns that
    still do not fit ``width`` (from the right) go on that line too."""
    columns = ["stream", "schema_title", "destination_event_service"]
    rows = [
        [name, _short(s.get("schema_title")), _short(s.get("destination_event_service"))]
        for name, s in streams.items()
    ]
    if any(s.get("sample") is not None for s in streams.values()):
        columns.append("sample")
        for row, s in zip(rows, streams.values(), strict=True):
            row.append(_sample(s.get("sample")))
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    if sum(widths) + 2 * (len(widths) - 1) > width and len(widths[2:3]) == 1:
        columns[2] = "service"  # the long header is what usually pushes a small table over 80 columns
        widths[2] = max([len("service"), *(len(r[2]) for r in rows)])
    footer = []
    if sum(widths) + 2 * (len(widths) - 1) > width and len({r[2] for r in rows}) == 1:
        # still too wide, and every stream has the same service: say it once, under the table
        footer = [f"(service of every stream: {rows[0][2] or '-'})"]
        del columns[2], widths[2]
        for row in rows:
            del row[2]
    shown = 1
    while shown < len(columns) and sum(widths[: shown + 1]) + 2 * shown <= width:
        shown += 1
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns[:shown], widths, strict=False)).rstrip()]
    for row, (name, s) in zip(rows, streams.items(), strict=True):
        lines.append("  ".join(v.ljust(w) for v, w in zip(row[:shown], widths, strict=False)).rstrip())
        details = [f"{c}: {v}" for c, v in zip(columns[shown:], row[shown:], strict=True) if v]
        topics = s.get("topics") or []
        if topics and topics != [name]:
            details.append("topics: " + ", ".join(topics))
        if details:
            lines.extend(
                textwrap.wrap(
                    "  ".join(details),
                    width=max(width, 40),
                    initial_indent="  ",
                    subsequent_indent="    ",
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            )
    return "\n".join([*lines, *footer]) + "\n"


def _emit(streams: dict[str, dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(orjson.dumps({"streams": streams}, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    sys.stdout.write(table(streams, shutil.get_terminal_size((80, 24)).columns))


@click.group()
def streams() -> None:
    """Inspect the stream configuration."""


@streams.command("list")
@_config_option
@_file_option
@_constraint_option
@_format_option
def list_streams(
    location: str | None, config_file: str | None, constraints: tuple[str, ...], fmt: str | None
) -> None:
    """Every declared stream (regex entries keyed by their pattern), optionally filtered."""
    _, config = _load(location, config_file)
    _emit(config.select(None, _constraints(constraints)), fmt or "table")


@streams.command("show")
@click.argument("names", nargs=-1, required=True, metavar="STREAM...")
@_config_option
@_file_option
@_constraint_option
@_format_option
def show_streams(
    names: tuple[str, ...],
    location: str | None,
    config_file: str | None,
    constraints: tuple[str, ...],
    fmt: str | None,
) -> None:
    """Resolved settings of concrete streams (exact name, else the first matching /regex/)."""
    location, config = _load(location, config_file)
    selected = config.select(list(names), _constraints(constraints))
    _emit(selected, fmt or "json")
    missing = [n for n in names if n not in selected]
    if missing:
        for n in missing:
            reason = "is filtered out by the constraints" if config.get(n) else "does not match any stream"
            click.echo(f"error: stream {n!r} {reason} in {location}", err=True)
        sys.exit(1)
