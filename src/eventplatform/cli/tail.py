"""``eventplatform tail STREAM...``: a stream's events as JSON lines, like ``kafkacat -C``.

A stream lives in one topic per datacenter (``eqiad.<stream>``, ``codfw.<stream>``) and, for legacy or
unprefixed setups, in ``<stream>`` itself; ``tail`` reads all of them through the :class:`EventLog`
protocol, so it works the same on the SQLite and the Kafka log. Topics come from the stream config's
``topics``, plus the unprefixed name, plus existing topics ``<dc>.<stream>`` whose prefix is one label
(a datacenter intake wrote to without the config listing its prefix).

By default it prints the last 10 events and follows, like ``tail -f`` (``--lines N`` for another N, 0 to
start at the end); ``--since`` or ``--from-beginning`` start elsewhere, ``--no-follow`` stops at the end seen
when it began, ``-n/--limit N`` stops after N events. A stream that is not in the stream config is a usage
error (exit 2).

``--url`` reads a remote EventStreams service instead (:mod:`eventplatform.eventstreams.remote`), resuming
from the last event when the connection breaks; ``--lines N`` asks it for the last N events (``?last=N``:
an eventplatform EventStreams; a server without it, such as Wikimedia's, starts at the end, with a note on
stderr when ``--lines`` was given).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any

import click
import orjson

from eventplatform.durations import parse_time
from eventplatform.log import EventLog, Record, Start
from eventplatform.streamconfig.canary import is_canary_value


def parse_since(text: str, now: float | None = None) -> int:
    """``--since``: ``-1h``, ``30m``, ``-90s``, ``2d`` (that long ago) or an ISO 8601 time: epoch ms."""
    try:
        return parse_time(text, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def stream_topics(
    stream: str, configured: Sequence[str], existing: Sequence[str], is_stream: Any
) -> list[str]:
    """Every topic that holds ``stream``'s events (see the module docstring), in a stable order.
    ``is_stream(topic)`` says whether an existing ``<dc>.<stream>`` is rather a stream of its own (one
    configured by another entry than ``stream``'s)."""
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


def other_stream(config: Any, stream: str) -> Any:
    """``is_stream`` of :func:`stream_topics` for ``config``: a topic is another stream when the config entry
    it resolves to is not ``stream``'s own (a /regex/ entry such as ``/.+\\.error\\.validation$/`` also
    matches ``eqiad.<service>.error.validation``, which is still the datacenter topic of that stream)."""
    own = (config.get(stream) or {}).get("stream")

    def is_stream(topic: str) -> bool:
        settings = config.get(topic)
        return settings is not None and settings.get("stream") != own

    return is_stream


async def last_events_start(
    log: EventLog, topics: Sequence[str], lines: int, canaries: bool = False
) -> tuple[list[Record], Start]:
    """The last ``lines`` events of ``topics`` (by time, over every partition) and where to follow on from:
    exactly after what was read, so an event that arrives meanwhile is printed once, in the follow."""
    existing = set(await log.list_topics())
    highs: dict[tuple[str, int], int] = {}
    firsts: dict[tuple[str, int], int] = {}
    for topic in topics:
        if topic not in existing:
            continue
        for partition, (low, high) in (await log.watermarks(topic)).items():
            highs[(topic, partition)] = high
            firsts[(topic, partition)] = max(low, high - lines)
    records: list[Record] = []
    if firsts and lines > 0:
        read = [t for t in topics if t in existing]
        stream = log.consume(read, Start.at_offsets(firsts), follow=False)
        try:
            async for record in stream:
                if record.offset < highs.get((record.topic, record.partition), 0) and (
                    canaries or not is_canary_value(record.value)
                ):
                    records.append(record)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
    records.sort(key=lambda r: (r.timestamp_ms, r.topic, r.partition, r.offset))
    # partitions not seen yet (a topic created later) hold only new events: read them whole
    return records[-lines:] if lines > 0 else [], Start.at_offsets(highs, fallback="beginning")


async def run_tail(
    log: EventLog,
    topics: Sequence[str],
    start: Start,
    *,
    follow: bool,
    fmt: str,
    limit: int | None,
    out: IO[bytes],
    lines: int = 0,
    canaries: bool = False,
) -> int:
    """Print the last ``lines`` records before ``start`` (when ``start`` is the end), then from ``start``;
    returns how many were printed. Canary events are skipped unless ``canaries``."""
    n = 0

    def write(record: Record) -> bool:
        nonlocal n
        out.write(_pretty(record) if fmt == "pretty" else record.value + b"\n")
        n += 1
        return limit is not None and n >= limit

    if start.kind == "end" and lines > 0:
        last, start = await last_events_start(log, topics, lines, canaries)
        for record in last:
            if write(record):
                out.flush()
                return n
        out.flush()
    if not follow and start.kind == "offsets":
        return n  # the last lines were everything up to the end seen when we began
    stream = log.consume(list(topics), start, follow=follow)
    try:
        async for record in stream:
            if not canaries and is_canary_value(record.value):
                continue
            if write(record):
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
@click.argument("streams", nargs=-1, required=False)
@click.option("--since", default=None, help="Start at a time: ISO 8601, or relative like -1h, -30m, -2d.")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest event still in the log.")
@click.option(
    "--follow/--no-follow", default=True, help="Wait for new events (default) or stop at the current end."
)
@click.option("--log", "log_url", default=None, help="Event log URL. [default: serve's default log]")
@click.option("--stream-config", default=None, help="Stream config file or URL. [default: serve's]")
@click.option("--format", "fmt", type=click.Choice(["json", "pretty"]), default="json", show_default=True)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=None, help="Stop after N events.")
@click.option(
    "--lines",
    type=click.IntRange(min=0),
    default=None,
    help="Start with the last N events (0: at the end), like tail(1). [default: 10]",
)
@click.option("--canaries", is_flag=True, help="Also print canary events (meta.domain = canary).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml to read.")
@click.option(
    "--url",
    default=None,
    help="Read from an EventStreams service instead of the log: http://HOST[:PORT] (STREAM... appended) or "
    "http://HOST/v2/stream/a,b; reconnects and resumes from the last event.",
)
def tail(
    streams: tuple[str, ...],
    since: str | None,
    from_beginning: bool,
    follow: bool,
    log_url: str | None,
    stream_config: str | None,
    fmt: str,
    limit: int | None,
    lines: int | None,
    canaries: bool,
    config_file: str | None,
    url: str | None,
) -> None:
    """Print the events of STREAM... (all datacenter topics) as JSON lines."""
    from eventplatform.cli.options import load_settings_and_streams, open_event_log

    if url is not None:
        if not follow:
            raise click.UsageError("--url follows a live stream: --no-follow does not apply")
        if lines is not None and (since or from_beginning):
            raise click.UsageError("--lines starts from the end: it excludes --since and --from-beginning")
        tail_remote(url, streams, since, from_beginning, fmt, limit, canaries, lines)
        return
    if not streams:
        raise click.UsageError("Missing argument 'STREAMS...' (or give --url)")

    if since and from_beginning:
        raise click.UsageError("--since and --from-beginning exclude each other")
    if lines is not None and (since or from_beginning):
        raise click.UsageError("--lines starts from the end: it excludes --since and --from-beginning")
    settings, config = load_settings_and_streams(
        config_file, {"log": log_url, "stream_config": stream_config}
    )
    unknown = [s for s in streams if config.get(s) is None]
    if unknown:
        raise click.UsageError(
            f"stream {', '.join(unknown)} is not in the stream config {settings.streamconfig.source} "
            "(see `eventplatform streams list`)"
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
                for t in stream_topics(stream, config.topics(stream), existing, other_stream(config, stream)):
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
                lines=10 if lines is None else lines,
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


def tail_remote(
    url: str,
    streams: tuple[str, ...],
    since: str | None,
    from_beginning: bool,
    fmt: str,
    limit: int | None,
    canaries: bool,
    lines: int | None = None,
) -> None:
    """``tail --url``: the events of a remote EventStreams service (eventplatform.eventstreams.remote)."""
    from eventplatform.eventstreams.remote import RemoteError, follow, stream_url

    if since and from_beginning:
        raise click.UsageError("--since and --from-beginning exclude each other")
    try:
        target = stream_url(url, streams)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    since_ms = parse_since(since) if since else (0 if from_beginning else None)
    last = 0 if since_ms is not None else (10 if lines is None else lines)

    def no_last() -> None:
        if lines is not None:  # asked for explicitly: say that it was not honoured
            click.echo(
                f"eventplatform tail: {target} does not serve the last events (?last=N, an eventplatform "
                "EventStreams extension): following from the current end",
                err=True,
            )

    async def main() -> None:
        n = 0
        out = sys.stdout.buffer
        async for data in follow(target, since_ms=since_ms, last=last, on_no_last=no_last, canaries=canaries):
            if fmt == "pretty":
                with contextlib.suppress(orjson.JSONDecodeError):
                    data = orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2)
            out.write(data + b"\n")
            out.flush()
            n += 1
            if limit is not None and n >= limit:
                return

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except RemoteError as exc:
        raise click.ClickException(str(exc)) from None
