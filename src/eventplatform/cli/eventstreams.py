"""``eventplatform eventstreams``: the live streams and the console alone
(:mod:`eventplatform.eventstreams.server`)."""

from __future__ import annotations

import click


@click.command("eventstreams")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="eventplatform.yaml to read.")
@click.option("--host", default=None, help="Interface to listen on. [default: serve's, 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port to listen on. [default: 8092]")
@click.option("--log", default=None, help="Event log URL to read. [default: serve's default log]")
@click.option("--stream-config", default=None, help="Stream config file or http(s) URL. [default: serve's]")
@click.option("--datacenter", default=None, help="Datacenter of this service's intake (its topic names).")
@click.option("--service-name", default=None, help="Intake's service name (its error stream's name).")
def eventstreams(config_file: str | None, port: int | None, **options: object) -> None:
    """Serve live streams (GET /v2/stream/{streams}) and the web console (/v2/ui)."""
    from eventplatform.cli.options import load_settings_and_streams
    from eventplatform.eventstreams.server import serve

    settings, _ = load_settings_and_streams(config_file, options)
    if port is not None:
        settings.eventstreams.port = port
    serve(settings, settings.server.host)
