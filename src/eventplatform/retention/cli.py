"""The commands of privacy and operations: ``canary``, ``replay``, ``purge``, ``sanitize``.

Each builds the settings the way ``serve`` does (options over $EVENTPLATFORM_* over the config file) and
calls its module; the modules know nothing of click.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from eventplatform.commandline import load_settings as _settings
from eventplatform.commandline import load_streams as _streams
from eventplatform.commandline import open_event_log as _open_log
from eventplatform.durations import parse_duration, parse_time


def section(settings: Any, key: str, default: Any = None) -> Any:
    """A key of the ``retention:`` section of the config (an open section: a mapping)."""
    return getattr(settings.retention, key, None) or default


def _parsed(parse: Callable[[str], Any], param: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback: ``parse`` of the option's value (None stays None), its ValueError a bad parameter."""

    def convert(ctx: click.Context, p: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=param) from None

    return convert


def _time(param: str) -> Callable[[click.Context, click.Parameter, Any], int | None]:
    return _parsed(parse_time, param)


def _duration(param: str) -> Callable[[click.Context, click.Parameter, Any], float | None]:
    return _parsed(parse_duration, param)


common = [
    click.option("--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml."),
    click.option("--log", default=None, help="Event log URL. [default: serve's]"),
    click.option("--stream-config", default=None, help="Stream config file or URL. [default: serve's]"),
    click.option(
        "--schema-base-uri", "schema_base_uris", multiple=True, help="Schema repository base (repeatable)."
    ),
]


def with_common(f: Any) -> Any:
    for option in reversed(common):
        f = option(f)
    return f


# -- canary ------------------------------------------------------------------------------------------


def default_intake_url(settings: Any) -> str:
    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.server.port}/v1/events"


@click.command("canary")
@click.option(
    "--stream",
    "only",
    multiple=True,
    help="Only this stream (repeatable). [default: every stream with canary_events_enabled: true]",
)
@click.option(
    "--intake",
    "intakes",
    multiple=True,
    help="Intake URL of one datacenter (repeatable). "
    "[default: retention.canary_intakes, else serve's http://HOST:PORT/v1/events]",
)
@click.option("--timestamp", callback=_time("--timestamp"), help="meta.dt of the canaries. [default: now]")
@click.option("--dry-run", is_flag=True, help="Print the canaries; post nothing.")
@click.option(
    "--every",
    callback=_duration("--every"),
    help="Repeat forever, e.g. 1h (serve --canary-interval runs this).",
)
@click.option(
    "--check",
    "check_since",
    callback=_time("--check"),
    default=None,
    help="Instead of posting: report every stream/topic/hour since this time (e.g. -3h) that has "
    "no canary in the log; exit 1 if any.",
)
@click.option(
    "--datacenter",
    "datacenters",
    multiple=True,
    help="With --check: also expect canaries in <dc>.<stream> (repeatable).",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --check: write eventplatform_canary_missing{stream,topic} here (Prometheus textfile "
    "format, for node_exporter's textfile collector).",
)
@click.option(
    "--lake",
    "lake_opt",
    default=None,
    help="With --metrics-file: the lake whose refine lag "
    "to report (eventplatform_consumer_lag_records). [default: lake.directory]",
)
@with_common
def canary(
    only: tuple[str, ...],
    intakes: tuple[str, ...],
    timestamp: int | None,
    dry_run: bool,
    every: float | None,
    check_since: int | None,
    datacenters: tuple[str, ...],
    metrics_file: str | None,
    lake_opt: str | None,
    config_file: str | None,
    **options: Any,
) -> None:
    """Post one canary event per canary-enabled stream to intake, in every datacenter."""
    from eventplatform.intake.builder import new_registry
    from eventplatform.retention import canary as canaries

    settings = _settings(config_file, options)
    config = _streams(settings)
    if check_since is not None:
        lake = lake_dir(lake_opt, settings) if metrics_file else None
        sys.exit(asyncio.run(_check(settings, config, only, check_since, datacenters, metrics_file, lake)))
    urls = list(intakes) or list(section(settings, "canary_intakes", [])) or [default_intake_url(settings)]

    async def once() -> bool:
        registry = new_registry(settings)
        try:
            dt = canaries.iso_ms(timestamp if timestamp is not None else int(time.time() * 1000))
            try:
                run = await canaries.run_canaries(registry, config, urls, only=only, dt=dt, dry_run=dry_run)
            except canaries.CanaryError as exc:
                raise click.UsageError(str(exc)) from None
        finally:
            await registry.close()
        if dry_run:
            for event in run.events:
                click.echo(_json(event))
        for problem in run.problems:
            click.echo(f"canary: {problem}", err=True)
        for post in run.posts:
            verdict = "ok" if post.ok else "FAILED"
            click.echo(f"{post.url}: {len(run.events)} canaries, HTTP {post.status}: {verdict}")
            if not post.ok:
                click.echo(f"  {post.detail}", err=True)
        return run.ok

    if every:
        asyncio.run(canaries.repeat(every, once))
    ok = asyncio.run(once())
    sys.exit(0 if ok else 1)


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


async def _check(
    settings: Any,
    config: Any,
    only: tuple[str, ...],
    since: int,
    datacenters: tuple[str, ...],
    metrics_file: str | None,
    lake: Path | None,
) -> int:
    from eventplatform.retention import canary as canaries

    try:
        streams = canaries.canary_streams(config, only)
    except canaries.CanaryError as exc:
        raise click.UsageError(str(exc)) from None
    log = _open_log(settings.log.url)
    try:
        missing = await canaries.missing_canaries(log, config, streams, since, datacenters=datacenters)
        for m in missing:
            click.echo(f"missing canary: stream {m.stream} topic {m.topic} hour {m.hour}")
        if metrics_file:
            from eventplatform.retention.metrics import lake_lag, write_ops_metrics

            lag = await lake_lag(log, lake) if lake is not None else []
            write_ops_metrics(metrics_file, config, streams, datacenters, missing, lag)
    finally:
        await log.close()
    click.echo(f"{len(missing)} stream-hours without a canary", err=True)
    return 1 if missing else 0


def state_dir(settings: Any) -> Path:
    """Where replay's record and the salts live: outside the lake, beside the platform's state."""
    return Path(section(settings, "state_dir", "./.eventplatform/retention")).resolve()


# -- replay ------------------------------------------------------------------------------------------


@click.command("replay")
@click.option("--stream", "streams", multiple=True, help="Only failed events of this stream (repeatable).")
@click.option("--since", callback=_time("--since"), help="Error events from this time (ISO 8601 or -2d).")
@click.option("--until", callback=_time("--until"), help="Error events before this time.")
@click.option("--dry-run", is_flag=True, help="Report what would be replayed; produce nothing.")
@click.option(
    "--service-name", default=None, help="Intake's service name: errors are <name>.error.validation."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@with_common
def replay(
    streams: tuple[str, ...],
    since: int | None,
    until: int | None,
    dry_run: bool,
    fmt: str,
    config_file: str | None,
    **options: Any,
) -> None:
    """Re-validate failed events (the error stream) and produce those that now pass to their stream."""
    from eventplatform.intake.builder import new_registry
    from eventplatform.retention.replay import ReplayRecord
    from eventplatform.retention.replay import replay as run

    if since is not None and until is not None and since >= until:
        raise click.UsageError("--since must be before --until")
    settings = _settings(config_file, options)
    config = _streams(settings)
    error_stream = settings.intake.resolved_error_stream
    if not error_stream:
        raise click.UsageError("error events are disabled (error_stream is empty): nothing to replay")

    async def main() -> Any:
        log = _open_log(settings.log.url)
        registry = new_registry(settings)
        record = ReplayRecord(state_dir(settings) / "replay.sqlite")
        try:
            return await run(
                log,
                registry,
                config,
                record,
                error_stream=error_stream,
                service_name=settings.intake.service_name,
                streams=streams,
                since_ms=since,
                until_ms=until,
                dry_run=dry_run,
            )
        finally:
            record.close()
            await registry.close()
            await log.close()

    report = asyncio.run(main())
    if fmt == "json":
        click.echo(_json(report.to_dict()))
    else:
        verb = "would replay" if dry_run else "replayed"
        for error_id, topic, event_id in report.replayed:
            click.echo(f"{verb} {event_id or error_id} to {topic}")
        for f in report.still_failing:
            click.echo(f"still failing: {f.error_id} stream {f.stream}: {f.code}: {f.message}")
        click.echo(
            f"{len(report.replayed)} {verb}, {len(report.still_failing)} still failing, "
            f"{report.already} replayed before"
            + (f", {report.recovered} recovered" if report.recovered else ""),
            err=True,
        )
    sys.exit(1 if report.still_failing else 0)


# -- purge -------------------------------------------------------------------------------------------

DEFAULT_LAKE = "./.eventplatform/lake"


def lake_dir(given: str | None, settings: Any) -> Path:
    return Path(given or getattr(settings.lake, "directory", None) or DEFAULT_LAKE).resolve()


def _older_than(text: str, now: datetime) -> float:
    """``90d``/``90`` (days) or a date ``2026-09-01`` -> days before now's hour."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        return parse_duration(text) / 86400
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an age (90d, 90) nor a date (2026-09-01)", param_hint="--older-than"
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (now.replace(minute=0, second=0, microsecond=0) - when).total_seconds() / 86400


@click.command("purge")
@click.option(
    "--older-than",
    default=None,
    help="Age of what goes: 90d, 90 (days) or a date. "
    "[default: retention.older_than, else 90d]; per stream: retention_days in the stream config",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would go and its checksum; delete nothing (the default without --yes).",
)
@click.option("--yes", is_flag=True, help="Delete (without it nothing is deleted).")
@click.option(
    "--checksum", default=None, help="Delete only if what would go has this checksum (from a dry run)."
)
@click.option(
    "--allowed-interval",
    type=float,
    default=None,
    help="Refuse if anything to delete is more "
    "than this many days older than its threshold. [default: retention.allowed_interval_days, "
    "else 3]",
)
@click.option("--lake", default=None, help=f"Lake directory. [default: lake.directory, else {DEFAULT_LAKE}]")
@click.option("--no-log", is_flag=True, help="Leave the event log alone (lake only).")
@click.option(
    "--every",
    callback=_duration("--every"),
    help="Repeat forever, e.g. 1d (serve --purge-interval runs this).",
)
@with_common
def purge(
    older_than: str | None,
    dry_run: bool,
    yes: bool,
    checksum: str | None,
    allowed_interval: float | None,
    lake: str | None,
    no_log: bool,
    every: float | None,
    config_file: str | None,
    **options: Any,
) -> None:
    """Delete event data older than the retention period from the lake and the log."""
    from eventplatform.retention import purge as p

    if dry_run and yes:
        raise click.UsageError("--dry-run and --yes exclude each other")
    settings = _settings(config_file, options)
    config = _streams(settings)
    lake_root = lake_dir(lake, settings)
    minimum = float(section(settings, "minimum_days", 1))
    allowed = allowed_interval if allowed_interval is not None else section(settings, "allowed_interval_days")
    allowed = 3.0 if allowed is None else float(allowed)
    age = older_than or str(section(settings, "older_than", "90d"))

    async def once() -> int:
        now = datetime.now(UTC)
        policy = p.Policy(config, _older_than(age, now), minimum, now)
        log = None if no_log else _open_log(settings.log.url)
        try:
            try:
                plan = await p.make_plan(policy, lake=lake_root, log=log, allowed_days=allowed)
            except p.PurgeRefused as exc:
                click.echo(f"purge refused: {exc}", err=True)
                return 2
            digest = plan.checksum(lake_root)
            for line in plan.lines(lake_root):
                click.echo(line)
            if plan.empty:
                click.echo("nothing to purge", err=True)
                return 0
            if not yes:
                click.echo(
                    f"dry run: nothing deleted. checksum {digest}; to delete exactly this: "
                    f"eventplatform purge … --yes --checksum {digest}",
                    err=True,
                )
                return 0
            if checksum is not None and checksum != digest:
                click.echo(
                    f"purge refused: what would go has checksum {digest}, not {checksum}: review "
                    "it again (dry run)",
                    err=True,
                )
                return 2
            done = await p.execute(plan, lake=lake_root, log=log)
            click.echo(
                f"purged {done['directories']} lake directories and {done['records']} log records "
                f"(checksum {digest})",
                err=True,
            )
            return 0
        finally:
            if log is not None:
                await log.close()

    if every:
        from eventplatform.retention.canary import repeat

        async def forever() -> None:
            async def run() -> None:
                await once()

            await repeat(every, run)

        asyncio.run(forever())
    sys.exit(asyncio.run(once()))


# -- sanitize ----------------------------------------------------------------------------------------


@click.command("sanitize")
@click.option(
    "--allowlist", "allowlist_path", default=None, help="Allowlist YAML. [default: retention.allowlist]"
)
@click.option("--lake", default=None, help=f"Lake directory. [default: lake.directory, else {DEFAULT_LAKE}]")
@click.option(
    "--salts",
    "salts_dir",
    default=None,
    help="Salt directory, outside the lake. [default: retention.salts, else <state_dir>/salts]",
)
@click.option("--table", "tables", multiple=True, help="Only this table (repeatable).")
@click.option("--since", callback=_time("--since"), help="Hours from this time (ISO 8601 or -2d).")
@click.option("--until", callback=_time("--until"), help="Hours before this time.")
@click.option(
    "--lint",
    "lint_only",
    is_flag=True,
    help="Check the allowlist against the lake and the schemas; sanitize nothing.",
)
@click.option(
    "--rotate-salts",
    is_flag=True,
    help="Make the current period's salt if missing and delete "
    "expired ones first (run it daily, as the reference's saltrotate).",
)
@with_common
def sanitize(
    allowlist_path: str | None,
    lake: str | None,
    salts_dir: str | None,
    tables: tuple[str, ...],
    since: int | None,
    until: int | None,
    lint_only: bool,
    rotate_salts: bool,
    config_file: str | None,
    **options: Any,
) -> None:
    """Write the allowlisted copy of each refined hour into event_sanitized."""
    from eventplatform.retention import sanitize as s
    from eventplatform.retention.allowlist import Allowlist, AllowlistError
    from eventplatform.retention.salts import SaltError, Salts

    settings = _settings(config_file, options)
    config = _streams(settings)
    lake_root = lake_dir(lake, settings)
    path = allowlist_path or section(settings, "allowlist")
    if not path:
        raise click.UsageError("no allowlist: --allowlist FILE or retention.allowlist in the config")
    try:
        allowlist = Allowlist.load(path)
    except AllowlistError as exc:
        raise click.ClickException(str(exc)) from None
    salts = Salts(Path(salts_dir or section(settings, "salts", "") or state_dir(settings) / "salts"))
    if rotate_salts:
        try:
            for line in salts.rotate(datetime.now(UTC), int(section(settings, "salt_period_months", 3))):
                click.echo(line, err=True)
        except (OSError, SaltError) as exc:
            raise click.ClickException(f"salt rotation failed: {exc}") from None
    from eventplatform.retention.purge import table_of

    streams_by_table = {table_of(n): n for n in config.names if not n.startswith("/")}
    schemas = asyncio.run(_json_schemas(settings, config, streams_by_table, list(allowlist.tables)))
    problems, notes = s.lint(allowlist, lake_root, list(streams_by_table), schemas)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if problems:
        for problem in problems:
            click.echo(f"allowlist: {problem}", err=True)
        raise click.ClickException(f"{len(problems)} problem(s) in {path}: nothing sanitized")
    if lint_only:
        click.echo(f"{path}: {len(allowlist.tables)} table(s), no problem", err=True)
        return
    start = datetime.fromtimestamp(since / 1000, UTC) if since is not None else None
    end = datetime.fromtimestamp(until / 1000, UTC) if until is not None else None
    report = s.sanitize(lake_root, allowlist, salts, tables=[t for t in tables], since=start, until=end)
    for table, partition, rows in report.sanitized:
        click.echo(f"sanitized {table}/{partition}: {rows} rows")
    for failure in report.failed:
        click.echo(f"failed: {failure}", err=True)
    click.echo(
        f"{len(report.sanitized)} partition(s) sanitized, {report.unchanged} unchanged, "
        f"{len(report.failed)} failed",
        err=True,
    )
    sys.exit(1 if report.failed else 0)


async def _json_schemas(
    settings: Any, config: Any, streams_by_table: Mapping[str, str], tables: list[str]
) -> dict[str, Any]:
    """The latest JSON schema of each allowlisted table's stream, for its ``sensitive: true`` marks."""
    from eventplatform.errors import EventFailure
    from eventplatform.intake.builder import new_registry

    registry = new_registry(settings)
    out: dict[str, Any] = {}
    try:
        for table in tables:
            stream = streams_by_table.get(table)
            title = (config.get(stream) or {}).get("schema_title") if stream else None
            if title:
                try:
                    out[table] = (await registry.get(f"/{title}/latest")).schema
                except EventFailure:
                    pass
    finally:
        await registry.close()
    return out
