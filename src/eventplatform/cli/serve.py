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
@click.option(
    "--dev",
    is_flag=True,
    default=None,
    help="Development mode: warn on the console for each refused oversized legacy beacon.",
)
def serve(config_file: str | None, **options: object) -> None:
    """Run the intake service (EventGate-compatible POST /v1/events)."""
    from eventplatform.gate.server import ListenError
    from eventplatform.gate.server import serve as run

    # the stream config is loaded here too: fail fast and clearly, before any worker starts
    settings, _ = load_settings_and_streams(config_file, options)
    try:
        run(settings)
    except ListenError as exc:
        raise click.ClickException(str(exc.strerror)) from None
