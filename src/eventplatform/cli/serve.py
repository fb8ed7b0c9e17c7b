"""``eventplatform serve``: the intake service. Options override $EVENTPLATFORM_* and the config file; the
command line builds the settings and hands them to :func:`eventplatform.gate.server.serve`."""

from __future__ import annotations

import click

from eventplatform.cli.options import load_settings_and_streams


@click.command("serve")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml to read.")
@click.option("--host", default=None, help="Interface to listen on. [default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port to listen on. [default: 8192]")
@click.option(
    "--schema-base-uri",
    "schema_base_uris",
    multiple=True,
    help="Schema repository base (directory or http(s) URL); repeatable, tried in order. "
    "[default: the bundled example repository]",
)
@click.option("--stream-config", default=None, help="Stream config file or http(s) URL. [default: bundled]")
@click.option(
    "--log",
    default=None,
    help="Event log: sqlite:///PATH or kafka://HOST:PORT. [default: sqlite:///./.eventplatform/log]",
)
@click.option(
    "--datacenter", default=None, help="Datacenter of this intake: topics are <datacenter>.<stream>."
)
@click.option("--service-name", default=None, help="Service name; errors go to <name>.error.validation.")
@click.option(
    "--output", default=None, type=click.Path(dir_okay=False), help="Also append accepted events here."
)
@click.option("--workers", type=int, default=None, help="Worker processes on the same port. [default: cores]")
@click.option(
    "--max-body-size", default=None, help="Largest request body, bytes (or 4mb, 100kb). [default: 4mb]"
)
@click.option("--header-timeout", type=float, default=None, help="Seconds for a request head. [default: 10]")
@click.option("--body-timeout", type=float, default=None, help="Seconds for a request body. [default: 30]")
@click.option(
    "--keep-alive-timeout", type=float, default=None, help="Seconds an idle connection stays. [default: 5]"
)
@click.option(
    "--max-connections", type=int, default=None, help="Open connections per worker, then 503. [default: 4096]"
)
@click.option(
    "--drain-delay",
    type=float,
    default=None,
    help="Seconds to keep serving (not ready) after SIGTERM, for load balancers to notice. [default: 0]",
)
@click.option(
    "--shutdown-timeout", type=float, default=None, help="Seconds for in-flight requests then. [default: 30]"
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Print one line per request on stderr (status, streams, counts, latency). [default: off]",
)
@click.option(
    "--dev",
    is_flag=True,
    default=None,
    help="Development mode: warn on the console for each refused oversized legacy beacon.",
)
@click.option(
    "--canary-interval",
    default=None,
    help="Post canary events to this intake every INTERVAL (e.g. 1h), as `eventplatform canary`. "
    "[default: off]",
)
@click.option(
    "--purge-interval",
    default=None,
    help="Run `eventplatform purge --yes` every INTERVAL (e.g. 1d) with the configured retention. "
    "[default: off]",
)
def serve(
    config_file: str | None, canary_interval: str | None, purge_interval: str | None, **options: object
) -> None:
    """Run the intake service (EventGate-compatible POST /v1/events)."""
    from eventplatform.gate.server import ListenError
    from eventplatform.gate.server import serve as run

    # the stream config is loaded here too: fail fast and clearly, before any worker starts
    settings, _ = load_settings_and_streams(config_file, options)
    _check_log(settings.log.url)
    jobs = _start_jobs(settings, config_file, canary_interval, purge_interval)
    try:
        run(settings)
    except ListenError as exc:
        raise click.ClickException(str(exc.strerror)) from None
    finally:
        if jobs:
            from eventplatform.retention.schedule import stop_jobs

            stop_jobs(jobs)


class LogCorrupt(click.ClickException):
    exit_code = 3  # as a worker whose start-up fails: restarting cannot help


def _check_log(url: str) -> None:
    """A SQLite log's partition files are checked before any worker opens them (log/sqlite/integrity.py)."""
    if not url.startswith("sqlite://"):
        return
    from eventplatform.log.sqlite import SQLiteLog
    from eventplatform.log.sqlite.integrity import check_directory

    try:
        directory = SQLiteLog.from_url(url, create=False).directory
    except Exception:  # no directory yet, or a bad URL: the workers' start-up says what is wrong
        return
    problems = check_directory(directory)
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise LogCorrupt(
            f"the SQLite log has damaged partition files:\n{lines}\n"
            "Restore them from a backup, or move them out of the directory (their events are then missing;"
            " `sqlite3 FILE .recover` may save what is readable), and start again."
        )


def _start_jobs(
    settings: object, config_file: str | None, canary_interval: str | None, purge_interval: str | None
) -> list[object]:
    """The scheduled operations jobs of eventplatform.retention.schedule (none unless asked)."""
    if not canary_interval and not purge_interval:
        return []
    from eventplatform.durations import parse_duration
    from eventplatform.retention.schedule import start_job

    jobs: list[list[str]] = []
    for flag, value, args in (
        ("--canary-interval", canary_interval, ["canary"]),
        ("--purge-interval", purge_interval, ["purge", "--yes"]),
    ):
        if value:
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint=flag) from None
            jobs.append([*args, "--every", f"{seconds}s"])
    return [start_job(job, settings, config_file) for job in jobs]
