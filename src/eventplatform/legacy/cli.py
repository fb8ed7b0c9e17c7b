"""``eventplatform legacy mysql|purge``: the legacy EventLogging MariaDB/MySQL sink and its cleaner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

import click

from eventplatform.commandline import load_settings
from eventplatform.durations import parse_duration


def parse_seconds(value: str) -> float:
    """``300``, ``300s``, ``5m``, ``1h``, ``500ms``: the grammar of ``eventplatform.durations``."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _db_url(db: str | None, settings: Any) -> str:
    url = db or settings.legacy.database
    if not url:
        raise click.UsageError("--db mysql://USER[:PASS]@HOST[:PORT]/log is needed (or legacy.database)")
    return str(url)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)


@click.group("legacy")
def legacy() -> None:
    """Legacy EventLogging: MariaDB/MySQL tables per schema revision, and their purging."""


@legacy.command("mysql")
@click.option("--db", default=None, help="mysql://USER[:PASS]@HOST[:PORT]/log [default: legacy.database]")
@click.option("--log", default=None, help="Event log URL. [default: serve's default log]")
@click.option(
    "--stream", "streams", multiple=True, help="An eventlogging_* stream; repeatable. [default: all]"
)
@click.option("--follow/--no-follow", default=False, help="Keep consuming new events. [default: no]")
@click.option("--batch-size", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--batch-time", default="300s", show_default=True, help="Write a batch this old (300s, 5m).")
@click.option("--consumer", default=None, help="Name under which the log positions are kept in the database.")
@click.option("--stream-config", default=None, help="Stream config file or URL. [default: serve's]")
@click.option("--schema-base-uri", "schema_base_uris", multiple=True, help="Schema repository; repeatable.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml to read.")
def mysql_cmd(
    db: str | None,
    log: str | None,
    streams: tuple[str, ...],
    follow: bool,
    batch_size: int,
    batch_time: str,
    consumer: str | None,
    stream_config: str | None,
    schema_base_uris: tuple[str, ...],
    config_file: str | None,
) -> None:
    """Write the events of eventlogging_* streams to one table per schema and revision.

    Restart-safe: the log positions are committed with the rows, and a new run resumes from them."""
    from eventplatform.legacy.mysqldb import LegacyDb
    from eventplatform.legacy.sink import DEFAULT_CONSUMER, MysqlSink, legacy_topics

    given = {"log": log, "stream_config": stream_config, "schema_base_uris": schema_base_uris}
    settings = load_settings(config_file, {k: v for k, v in given.items() if v is not None and v != ()})
    seconds = parse_seconds(batch_time)
    try:
        database = LegacyDb(_db_url(db, settings))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _logging()

    async def main() -> Any:
        from eventplatform.intake.builder import build

        intake = await build(settings, claim=False)
        try:
            topics = await legacy_topics(intake, streams)
            if not topics:
                click.echo("legacy mysql: no eventlogging_* stream to consume", err=True)
                return None
            sink = MysqlSink(
                intake,
                database,
                topics,
                consumer=consumer or DEFAULT_CONSUMER,
                batch_size=batch_size,
                batch_time=seconds,
            )
            task = asyncio.ensure_future(sink.run(follow=follow))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, task.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await task  # cancelled: the batch in memory was not committed; the next run re-reads it
            return sink.stats
        finally:
            await intake.close()
            database.reset()

    stats = asyncio.run(main())
    if stats is not None:
        tables = ", ".join(f"{t} ({n})" for t, n in sorted(stats.tables.items())) or "none"
        click.echo(
            f"legacy mysql: {stats.inserted} events in {stats.batches} batches; tables: {tables}; "
            f"{stats.refused} refused; {stats.retries} retries",
            err=True,
        )


@legacy.command("purge")
@click.option("--db", default=None, help="mysql://USER[:PASS]@HOST[:PORT]/log [default: legacy.database]")
@click.option(
    "--older-than",
    type=float,
    default=90,
    show_default=True,
    help="Purge data older than this many days (under 90 is refused).",
)
@click.option("--newer-than", type=float, default=None, help="Only data newer than this many days.")
@click.option(
    "--allowlist",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="TSV of <Schema>\\t<field> to keep indefinitely. [default: none: every table is purged]",
)
@click.option(
    "--checkpoint",
    "--start-ts-file",
    "checkpoint",
    type=click.Path(dir_okay=False),
    default=None,
    help="Start where the last run ended (the file holds its end timestamp; rewritten after a run).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--sleep-between-batches", type=float, default=1.0, show_default=True, help="Seconds.")
@click.option("--dry-run", is_flag=True, help="Say what would be purged; change nothing.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml to read.")
def purge_cmd(
    db: str | None,
    older_than: float,
    newer_than: float | None,
    allowlist: str | None,
    checkpoint: str | None,
    batch_size: int,
    sleep_between_batches: float,
    dry_run: bool,
    config_file: str | None,
) -> None:
    """Purge the legacy tables: delete old rows, or keep only the allowlisted columns of them.

    Rows older than --older-than days are deleted, except in the tables of allowlisted schemas, whose old
    rows keep id, uuid, timestamp and the listed fields (every other column becomes NULL)."""
    from datetime import UTC, datetime
    from pathlib import Path

    from eventplatform.legacy.mysqldb import LegacyDb
    from eventplatform.legacy.purge import PurgeError, Purger, read_allowlist, window, write_checkpoint

    settings = load_settings(config_file, {})
    checkpoint_path = Path(checkpoint) if checkpoint else None
    try:
        start, end = window(datetime.now(UTC), older_than, newer_than, checkpoint_path)
        keep = read_allowlist(Path(allowlist)) if allowlist else None
        database = LegacyDb(_db_url(db, settings))
    except (PurgeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    purger = Purger(
        database, batch_size=batch_size, sleep=sleep_between_batches, dry_run=dry_run, echo=click.echo
    )
    click.echo(
        f"legacy purge{' (dry run)' if dry_run else ''}: rows with timestamp in "
        f"[{start or 'beginning'}, {end}) of {database.url}; allowlist: {allowlist or 'none'}",
        err=True,
    )
    try:
        report = purger.run(start, end, keep)
    except PurgeError as exc:
        raise click.UsageError(str(exc)) from None
    except Exception as exc:  # the database: say what failed; the checkpoint is not moved
        raise click.ClickException(f"purge failed: {type(exc).__name__}: {exc}") from None
    finally:
        database.reset()
    if checkpoint_path is not None and not dry_run:
        write_checkpoint(checkpoint_path, end)
    total = sum(t.rows for t in report.tables)
    click.echo(
        f"legacy purge: {total} rows in {len(report.tables)} tables{' (dry run)' if dry_run else ''}",
        err=True,
    )
