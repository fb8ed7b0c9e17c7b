"""``eventplatform tail STREAM...``: a stream's events as JSON lines, like ``kafkacat -C``.

A stream lives in one topic per datacenter (``eqiad.<stream>``, ``codfw.<stream>``) and, for legacy or
unprefixed setups, in ``<stream>`` itself; ``tail`` reads all of them through the :class:`EventLog`
protocol, so it works the same on the SQLite and the Kafka log. Topics come from the stream config's
``topics``, plus the unprefixed name, plus existing topics ``<dc>.<stream>`` whose prefix is one label
(a datacenter intake wrote to without the config listing its prefix).

By default it starts at the end and follows, like ``tail -f``; ``--since`` or ``--from-beginning`` start
earlier, ``--no-follow`` stops at the end seen when it began.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any

import click
import orjson

from eventplatform.log import EventLog, Record, Start
from eventplatform.streamconfig.canary import is_canary_value

_RELATIVE = re.compile(r"^-?\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d|w)?$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float | None = None) -> int:
    """``-1h``, ``30m``, ``-90s``, ``2d`` (relative to now) or an ISO 8601 time -> epoch milliseconds."""
    t = time.time() if now is None else now
    m = _RELATIVE.match(text.strip())
    if m and (m.group(2) or text.strip().startswith("-")):
        seconds = float(m.group(1)) * _UNIT_SECONDS[(m.group(2) or "s").lower()]
        return int((t - seconds) * 1000)
    try:
        dt = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a relative time (-1h, -30m, -90s, -2d) nor ISO 8601 (2026-11-23T05:00:00Z)",
            param_hint="--since",
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def stream_topics(
    stream: str, configured: Sequence[str], existing: Sequence[str], is_stream: Any
) -> list[str]:
    """Every topic that holds ``stream``'s events (see the module docstring), in a stable order."""
    out: list[str] = []
    for topic in [*configured, stream]:
        if not topic.startswith("/") and topic not in out:
            out.append(topic)
    suffix = "." + stream
    for topic in existing:
        prefix = topic[: -len(suffix)] if topic.endswith(suffix) else ""
        if prefix and "." not in prefix and topic not in out and not is_stream(topic):
            out.append(topic)
    return out


def _pretty(record: Record) -> bytes:
    when = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")
    header = f"# {record.topic} [{record.partition}] @{record.offset} {when}"
    if record.key is not None:
        header += f" key={record.key.decode('utf-8', 'replace')}"
    try:
        body = orjson.dumps(orjson.loads(record.value), option=orjson.OPT_INDENT_2)
    except orjson.JSONDecodeError:
        body = record.value
    return header.encode() + b"\n" + body + b"\n"


async def run_tail(
    log: EventLog,
    topics: Sequence[str],
    start: Start,
    *,
    follow: bool,
    fmt: str,
    limit: int | None,
    out: IO[bytes],
    canaries: bool = False,
) -> int:
    """Print records; returns how many were printed. Canary events are skipped unless ``canaries``."""
    n = 0
    stream = log.consume(list(topics), start, follow=follow)
    try:
        async for record in stream:
            if not canaries and is_canary_value(record.value):
                continue
            if fmt == "pretty":
                out.write(_pretty(record))
            else:
                out.write(record.value + b"\n")
            n += 1
            if limit is not None and n >= limit:
                break
            if follow:
                out.flush()
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
        out.flush()
    return n


@click.command("tail")
@click.argument("streams", nargs=-1, required=True)
@click.option("--since", default=None, help="Start at a time: ISO 8601, or relative like -1h, -30m, -2d.")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest event still in the log.")
@click.option(
    "--follow/--no-follow", default=True, help="Wait for new events (default) or stop at the current end."
)
@click.option("--log", "log_url", default=None, help="Event log URL. [default: serve's default log]")
@click.option("--stream-config", default=None, help="Stream config file or URL. [default: serve's]")
@click.option("--format", "fmt", type=click.Choice(["json", "pretty"]), default="json", show_default=True)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=None, help="Stop after N events.")
@click.option("--canaries", is_flag=True, help="Also print canary events (meta.domain = canary).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml to read.")
def tail(
    streams: tuple[str, ...],
    since: str | None,
    from_beginning: bool,
    follow: bool,
    log_url: str | None,
    stream_config: str | None,
    fmt: str,
    limit: int | None,
    canaries: bool,
    config_file: str | None,
) -> None:
    """Print the events of STREAM... (all datacenter topics) as JSON lines."""
    from eventplatform.cli.options import load_settings_and_streams, open_event_log

    if since and from_beginning:
        raise click.UsageError("--since and --from-beginning exclude each other")
    settings, config = load_settings_and_streams(
        config_file, {"log": log_url, "stream_config": stream_config}
    )
    if since:
        start = Start.at_time(parse_since(since))
    elif from_beginning:
        start = Start.beginning()
    else:
        start = Start.end()

    async def main() -> int:
        log = open_event_log(settings.log.url)
        try:
            existing = await log.list_topics()
            topics: list[str] = []
            for stream in streams:
                if config.get(stream) is None:
                    click.echo(f"tail: stream {stream} is not in the stream config", err=True)
                for t in stream_topics(stream, config.topics(stream), existing, lambda t: config.get(t)):
                    if t not in topics:
                        topics.append(t)
            return await run_tail(
                log,
                topics,
                start,
                follow=follow,
                fmt=fmt,
                limit=limit,
                out=sys.stdout.buffer,
                canaries=canaries,
            )
        finally:
            await log.close()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # `eventplatform tail … | head`
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:
        from eventplatform.errors import EventFailure

        if isinstance(exc, EventFailure):
            raise click.ClickException(f"{exc.code}: {exc.message}") from None
        raise
