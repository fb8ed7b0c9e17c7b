"""``eventplatform produce STREAM [FILE|-]``: JSON lines through intake's validation pipeline, without HTTP.

Each line is one event. Events go through exactly what ``POST /v1/events`` runs (:class:`Pipeline`: schema
lookup, stream config check, default fields, validation, error events, produce with delivery
confirmation), in batches, to the same log ``serve`` writes to. ``meta.stream`` defaults to STREAM and
``$schema`` to ``--schema``; an event naming another stream is refused. Every failed line is reported as
``line N: <code>: <message>`` with the same codes as intake's HTTP answers; the exit status is 1 when any
line failed. When the log itself is unavailable (no broker), a batch of which nothing was produced stops the
run with one line that says so, rather than one error per line.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import click
import orjson

from eventplatform import __version__
from eventplatform.errors import Codes, EventFailure
from eventplatform.intake.batch import RequestContext
from eventplatform.intake.pipeline import Pipeline

BATCH_SIZE = 500


class LogDown(Exception):
    """Nothing of a batch reached the log because the log is unavailable: going on would fail the same way."""

    def __init__(self, message: str, summary: Summary) -> None:
        super().__init__(message)
        self.message, self.summary = message, summary


@dataclass(slots=True)
class Summary:
    lines: int = 0
    produced: int = 0
    invalid: int = 0
    error: int = 0
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # (line number, code, message)


def read_lines(stream: IO[bytes], batch_size: int) -> Iterator[list[tuple[int, bytes]]]:
    """Non-blank lines with their 1-based line numbers, in batches."""
    batch: list[tuple[int, bytes]] = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        batch.append((number, line))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


async def produce_lines(
    pipeline: Pipeline,
    stream: str,
    batches: Iterator[list[tuple[int, bytes]]],
    *,
    hasty: bool = False,
    schema_uri: str | None = None,
    report: Any = None,
) -> Summary:
    """Run every batch through ``pipeline`` (an :class:`eventplatform.intake.pipeline.Pipeline`)."""

    summary = Summary()
    query = {"stream": stream, "schema": schema_uri} if schema_uri else {"stream": stream}

    def fail(number: int, code: str, message: str, kind: str) -> None:
        summary.failures.append((number, code, message))
        if kind == "invalid":
            summary.invalid += 1
        else:
            summary.error += 1

    for batch in batches:
        reported = len(summary.failures)
        events: list[Any] = []
        numbers: list[int] = []
        for number, line in batch:
            summary.lines += 1
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                fail(number, "malformed_json", f"Line is not JSON: {exc}", "invalid")
                continue
            if isinstance(event, dict):
                meta = event.get("meta")
                named = meta.get("stream") if isinstance(meta, dict) else None
                if named is not None and named != stream:
                    fail(
                        number,
                        "stream_mismatch",
                        f"The event names stream {named!r} in meta.stream, not {stream!r}.",
                        "invalid",
                    )
                    continue
            events.append(event)
            numbers.append(number)
        if events:
            ctx = RequestContext.now(user_agent=f"eventplatform-produce/{__version__}", query=query)
            result = await pipeline.process(events, ctx, hasty=hasty)
            down = [o.failure for o in result.error if o.failure and o.failure.code == Codes.LOG_UNAVAILABLE]
            if down and not result.accepted_events and len(down) == len(result.error):
                summary.error += len(down)
                raise LogDown(down[0].message, summary)
            summary.produced += len(result.success)
            for outcome in sorted([*result.invalid, *result.error], key=lambda o: o.index):
                failure: EventFailure | None = outcome.failure
                code = failure.code if failure is not None else "internal_error"
                message = failure.message if failure is not None else "unknown failure"
                fail(numbers[outcome.index], code, message, outcome.status)
        if report is not None:
            for number, code, message in sorted(summary.failures[reported:]):
                report(number, code, message)
    return summary


@click.command("produce")
@click.argument("stream")
@click.argument("file", type=click.File("rb"), default="-")
@click.option("--schema", "schema_uri", default=None, help="$schema for events that have none.")
@click.option("--hasty", is_flag=True, help="Do not wait for the log to confirm durability.")
@click.option("--log", default=None, help="Event log URL. [default: serve's default log]")
@click.option("--stream-config", default=None, help="Stream config file or URL. [default: serve's]")
@click.option(
    "--schema-base-uri", "schema_base_uris", multiple=True, help="Schema repository base; repeatable."
)
@click.option("--datacenter", default=None, help="Datacenter: topics are <datacenter>.<stream>.")
@click.option("--service-name", default=None, help="Errors go to <name>.error.validation.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=BATCH_SIZE, show_default=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml to read.")
def produce(
    stream: str,
    file: IO[bytes],
    schema_uri: str | None,
    hasty: bool,
    batch_size: int,
    config_file: str | None,
    **options: Any,
) -> None:
    """Validate the JSON lines of FILE (default: stdin) and produce them to STREAM, as intake does."""
    from eventplatform.cli.options import build_intake, load_settings_and_streams
    from eventplatform.streamconfig.config import topic_for

    settings, streams = load_settings_and_streams(config_file, options)
    # events name their stream on the command line, and their schema with --schema
    settings.intake.stream_query_param = "stream"
    settings.intake.schema_uri_query_param = "schema" if schema_uri else None
    settings.intake.output = None

    def report(number: int, code: str, message: str) -> None:
        click.echo(f"line {number}: {code}: {message}", err=True)

    async def main() -> Summary:
        intake = await build_intake(settings, streams)
        try:
            return await produce_lines(
                intake.pipeline,
                stream,
                read_lines(file, batch_size),
                hasty=hasty,
                schema_uri=schema_uri,
                report=report,
            )
        finally:
            await intake.close()

    try:
        summary = asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except LogDown as down:
        s = down.summary
        raise click.ClickException(
            f"the event log is unavailable, nothing more was sent ({s.produced} of {s.lines} events "
            f"read so far produced): {down.message}"
        ) from None
    click.echo(
        f"{summary.produced} of {summary.lines} events produced to {stream} "
        f"(topic {topic_for(stream, settings.log.datacenter)}); "
        f"{summary.invalid} invalid, {summary.error} failed"
    )
    if summary.invalid or summary.error:
        sys.exit(1)
