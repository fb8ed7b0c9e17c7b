"""``eventplatform refine``, ``eventplatform query`` and ``eventplatform lake tables|describe|status|ddl``."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from eventplatform.commandline import load_settings_and_streams
from eventplatform.commandline import open_event_log as _open_log

DEFAULT_LAKE = "./.eventplatform/lake"


def _lake_dir(given: str | None, settings: Any = None) -> Path:
    if given:
        return Path(given)
    section = getattr(settings, "lake", None)
    configured = getattr(section, "directory", None) if section is not None else None
    return Path(configured or DEFAULT_LAKE)


def _time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time (2026-11-23T05:00:00Z)", param_hint=name
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@click.command("refine")
@click.option("--log", "log_url", default=None, help="Event log URL. [default: serve's default log]")
@click.option("--lake", "lake", default=None, help=f"Lake directory. [default: {DEFAULT_LAKE}]")
@click.option("--stream", "streams", multiple=True, help="Refine only this stream (repeatable).")
@click.option("--since", default=None, help="Only hours from this time (ISO 8601, inclusive).")
@click.option("--until", default=None, help="Only hours before this time (ISO 8601, exclusive).")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True)
@click.option("--spark-master", default=None, help="Spark master URL for --engine spark. [default: local[*]]")
@click.option("--stream-config", default=None, help="Stream config file or URL. [default: serve's]")
@click.option("--schema-base-uri", "schema_base_uris", multiple=True, help="Schema repository (repeatable).")
@click.option("--datacenter", default=None, help="Datacenter of topics without a prefix. [default: local]")
@click.option("--chunk-size", default=100_000, show_default=True, type=click.IntRange(1))
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1),
    help="Processes refining tables side by side (large runs only). [default: the CPU count]",
)
@click.option("--config", "config_file", default=None, help="Config file. [default: ./eventplatform.yaml]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--follow", is_flag=True, help="Keep refining as events arrive (local engine), until interrupted."
)
@click.option(
    "--interval", default=60.0, show_default=True, type=click.FloatRange(0), help="Seconds between runs."
)
@click.option(
    "--runs", default=None, type=click.IntRange(1), help="With --follow: stop after this many runs."
)
def refine(
    log_url: str | None,
    lake: str | None,
    streams: tuple[str, ...],
    since: str | None,
    until: str | None,
    engine: str,
    spark_master: str | None,
    stream_config: str | None,
    schema_base_uris: tuple[str, ...],
    datacenter: str | None,
    chunk_size: int,
    workers: int | None,
    config_file: str | None,
    fmt: str,
    follow: bool,
    interval: float,
    runs: int | None,
) -> None:
    """Refine streams from the event log into hourly Parquet tables under LAKE/event/<table>/."""
    from eventplatform.lake.naming import DEFAULT_DATACENTER
    from eventplatform.lake.refine import Options, RefineError, Refiner
    from eventplatform.schemas.registry import SchemaRegistry

    start, end = _time(since, "--since"), _time(until, "--until")
    if start and end and start >= end:
        raise click.BadParameter(f"--since {since} is not before --until {until}", param_hint="--since")
    options_in: dict[str, Any] = {"log": log_url, "stream_config": stream_config}
    if schema_base_uris:
        options_in["schema_base_uris"] = list(schema_base_uris)
    settings, config = load_settings_and_streams(config_file, {k: v for k, v in options_in.items() if v})
    lake_dir = _lake_dir(lake, settings)
    options = Options(
        lake_dir,
        streams,
        start,
        end,
        chunk_size,
        default_datacenter=datacenter or settings.log.datacenter or DEFAULT_DATACENTER,
        workers=workers or os.cpu_count() or 1,
    )
    if engine == "spark":
        from eventplatform.lake.spark import run_spark

        reports = run_spark(options, settings, config, master=spark_master)
    else:
        log = _open_log(settings.log.url)
        registry = SchemaRegistry(settings.schemas.base_uris, file_extension=settings.schemas.file_extension)

        async def go() -> Any:
            try:
                done = 0
                while True:
                    refiner = Refiner(options, log, config, registry, settings.log.url)
                    reports = await refiner.run_all(_progress())
                    done += 1
                    if not follow or (runs is not None and done >= runs):
                        return reports
                    if any(r.read for r in reports):
                        _print_reports(reports, fmt)
                    await asyncio.sleep(interval)
            finally:
                await registry.close()
                await log.close()

        try:
            reports = asyncio.run(go())
        except (RefineError, PermissionError) as exc:
            raise click.ClickException(str(exc)) from None
    _print_reports(reports, fmt)
    if any(r.error for r in reports):
        sys.exit(1)


def _progress() -> Any:
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    console = Console(stderr=True)
    counts: dict[str, int] = {}

    def show(stream: str, n: int) -> None:
        counts[stream] = counts.get(stream, 0) + n
        console.print(f"refining {stream}: {counts[stream]:,} events read", end="\r")

    return show


def _print_reports(reports: list[Any], fmt: str) -> None:
    from eventplatform.lake.refine import describe_report

    if fmt == "json":
        click.echo(json.dumps([describe_report(r) for r in reports], indent=1))
        return
    for r in reports:
        if r.error:
            click.echo(f"{r.stream}: ERROR {r.error}", err=True)
            continue
        line = (
            f"{r.stream} -> event.{r.table}: {r.read} read, {r.written} rows in {r.hours} hours, "
            f"{r.canaries} canaries, {r.duplicates} duplicates, {r.quarantined} quarantined"
        )
        if r.skipped:
            line += f", {r.skipped} already refined"
        if r.outside:
            line += f", {r.outside} outside the window"
        click.echo(line)
        for clash in r.clashes:
            click.echo(f"  TYPE CLASH (table type kept, such records quarantined): {clash}", err=True)
        if r.added:
            click.echo(f"  columns added: {', '.join(r.added)}")


@click.command("query")
@click.argument("sql")
@click.option("--lake", "lake", default=None, help=f"Lake directory. [default: {DEFAULT_LAKE}]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
)
@click.option("--output", "-o", default=None, help="File for --format parquet (else standard output).")
def query(sql: str, lake: str | None, fmt: str, output: str | None) -> None:
    """Run SQL (DuckDB) over the lake: tables are event.<table>, quarantine.<table>, lake.status."""
    import duckdb

    from eventplatform.lake.query import run, run_arrow

    lake_dir = _lake_dir(lake)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            table = run_arrow(lake_dir, sql)
            sink: Any = output or sys.stdout.buffer
            pq.write_table(table, sink)
            return
        names, rows = run(lake_dir, sql)
    except duckdb.Error as exc:
        raise click.ClickException(str(exc).strip()) from None
    _emit(names, rows, fmt)


def _emit(names: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(dict(zip(names, row, strict=True)), default=str))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(names)
        w.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table(*names)
        for row in rows:
            t.add_row(*("NULL" if v is None else str(v) for v in row))
        Console(width=200).print(t)


@click.group("lake")
def lake() -> None:
    """Inspect the lake: tables, their columns and partitions, the refine status, Hive/Trino DDL."""


@lake.command("tables")
@click.option("--lake", "lake_opt", default=None)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def lake_tables(lake_opt: str | None, fmt: str) -> None:
    """Tables with their row counts and partitions."""
    from eventplatform.lake.query import connect, tables

    lake_dir = _lake_dir(lake_opt)
    con = connect(lake_dir)
    rows = []
    for name in tables(lake_dir):
        n, parts = con.execute(
            f'SELECT count(*), count(DISTINCT (datacenter, year, month, day, hour)) FROM event."{name}"'
        ).fetchone()
        rows.append((name, n, parts))
    _emit(["table", "rows", "partitions"], rows, fmt)


@lake.command("describe")
@click.argument("table")
@click.option("--lake", "lake_opt", default=None)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def lake_describe(table: str, lake_opt: str | None, fmt: str) -> None:
    """A table's columns (and types), then its partitions with row counts."""
    from eventplatform.lake.evolve import load_info
    from eventplatform.lake.query import connect

    lake_dir = _lake_dir(lake_opt)
    info = load_info(lake_dir / "event" / table)
    if info is None:
        raise click.ClickException(f"no table {table!r} in {lake_dir}")
    _emit(["column", "type"], [(f.name, str(f.type)) for f in info.schema], fmt)
    con = connect(lake_dir)
    rows = con.execute(
        f'SELECT datacenter, year, month, day, hour, count(*) FROM event."{table}" GROUP BY ALL ORDER BY ALL'
    ).fetchall()
    _emit(["datacenter", "year", "month", "day", "hour", "rows"], rows, fmt)


@lake.command("status")
@click.option("--lake", "lake_opt", default=None)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def lake_status(lake_opt: str | None, fmt: str) -> None:
    """Per table and hour: rows in/out, canaries, duplicates, quarantined; missing hours marked."""
    from eventplatform.lake.status import Status

    lake_dir = _lake_dir(lake_opt)
    if not (lake_dir / "_status.sqlite").exists():
        raise click.ClickException(f"nothing refined in {lake_dir} yet")
    status = Status(lake_dir)
    try:
        rows = status.hours()
    finally:
        status.close()
    out = []
    for table, dc, hour, r in _with_gaps(rows):
        if r is None:
            out.append((table, dc, hour, "MISSING", "", "", "", "", ""))
        else:
            out.append(
                (
                    table,
                    dc,
                    hour,
                    r["rows_in"],
                    r["rows_out"],
                    r["canaries"],
                    r["duplicates"],
                    r["quarantined"],
                    r["schema_uri"],
                )
            )
    _emit(
        [
            "table",
            "datacenter",
            "hour",
            "rows_in",
            "rows_out",
            "canaries",
            "duplicates",
            "quarantined",
            "schema",
        ],
        out,
        fmt,
    )
    for table, dc, hour in _without_canary(out):
        click.echo(f"broken: {table} datacenter={dc} hour {hour} has no canary event", err=True)


def _without_canary(out: list[tuple[Any, ...]]) -> list[tuple[str, str, str]]:
    """Hours without a canary of the table-datacenters that get canaries (some hour had one): such a
    stream is broken, not idle (the canary producer posts one every hour; see docs/operations.md)."""
    with_canaries = {
        (t, dc) for t, dc, _, _, _, canaries, *_ in out if isinstance(canaries, int) and canaries
    }
    return [
        (t, dc, hour)
        for t, dc, hour, rows_in, _, canaries, *_ in out
        if (t, dc) in with_canaries and (rows_in == "MISSING" or not canaries)
    ]


def _with_gaps(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """Every hour between a table-datacenter's first and last refined hour; absent ones as None."""
    from datetime import timedelta

    out: list[tuple[str, str, str, dict[str, Any] | None]] = []
    groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["table_name"], r["datacenter"]), {})[r["hour"]] = r
    for (table, dc), hours in sorted(groups.items()):
        first = datetime.strptime(min(hours), "%Y-%m-%dT%H")
        last = datetime.strptime(max(hours), "%Y-%m-%dT%H")
        while first <= last:
            key = first.strftime("%Y-%m-%dT%H")
            out.append((table, dc, key, hours.get(key)))
            first += timedelta(hours=1)
    return out


@lake.command("ddl")
@click.argument("table")
@click.option("--lake", "lake_opt", default=None)
@click.option("--location", default=None, help="Table location as the engine sees it. [default: the path]")
@click.option("--dialect", type=click.Choice(["hive", "trino"]), default="hive", show_default=True)
def lake_ddl(table: str, lake_opt: str | None, location: str | None, dialect: str) -> None:
    """CREATE TABLE … PARTITIONED BY for Hive (Spark SQL) or Trino's Hive connector."""
    from eventplatform.lake.ddl import create_table
    from eventplatform.lake.evolve import load_info

    lake_dir = _lake_dir(lake_opt)
    info = load_info(lake_dir / "event" / table)
    if info is None:
        raise click.ClickException(f"no table {table!r} in {lake_dir}")
    where = location or str((lake_dir / "event" / table).resolve())
    click.echo(create_table(table, info.schema, where, dialect))
