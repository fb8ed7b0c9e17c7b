"""``eventplatform eventstreams``: the live streams as a service of their own (the reference's shape), for
when the read side scales apart from intake. One process: the hub fans each topic out to every client.

Besides ``/v2/`` it answers the reference's service routes: ``/`` (303 to the console's home, the
catalog), ``/?spec``, ``/robots.txt``, ``/rc`` (301 to ``/?doc``), ``/_info`` and ``/metrics``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson

from eventplatform import __version__
from eventplatform.eventstreams.service import EventStreams, Receive, Scope, Send
from eventplatform.settings import Settings

INFO = {
    "name": "eventplatform-eventstreams",
    "version": __version__,
    "description": "Live event streams over server-sent events, compatible with Wikimedia's EventStreams.",
    "home": "https://github.com/eventplatform/eventplatform",
}


class StandaloneApp:
    """ASGI app of the standalone service: the part, plus the service routes and the lifespan that
    builds the log and stream config from the settings (nothing is written: no partition is claimed)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.part = EventStreams(settings)
        self._intake: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, query = scope["path"], scope.get("query_string", b"")
        if path.startswith(self.part.prefixes):
            await self.part(scope, receive, send)
        elif path == "/" and query.startswith(b"spec"):
            await self.part._respond(send, 200, orjson.dumps(self.part.own_spec()), b"application/json")
        elif path == "/":
            await self.part._respond(send, 303, b"", b"text/plain", [(b"location", b"/v2/catalog")])
        elif path == "/rc":
            await self.part._respond(send, 301, b"", b"text/plain", [(b"location", b"/?doc")])
        elif path == "/robots.txt":
            await self.part._respond(send, 200, b"User-agent: *\nDisallow: /\n", b"text/plain")
        elif path == "/_info":
            await self.part._respond(send, 200, orjson.dumps(INFO), b"application/json")
        elif path.startswith("/_info/") and path[7:] in INFO:
            body = orjson.dumps({path[7:]: INFO[path[7:]]})
            await self.part._respond(send, 200, body, b"application/json")
        elif path == "/metrics":
            body = self.part.metrics.exposition()
            await self.part._respond(send, 200, body, b"text/plain; version=0.0.4; charset=utf-8")
        else:
            await self.part._not_found(send, scope)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        from eventplatform.intake.builder import build

        message: MutableMapping[str, Any] = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            self._intake = await build(self.settings, claim=False)
            await self.part.startup(self._intake)
        except Exception as exc:
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        with contextlib.suppress(Exception):
            await self.part.shutdown()
        if self._intake is not None:
            await self._intake.close()
        await send({"type": "lifespan.shutdown.complete"})


def serve(settings: Settings, host: str) -> None:
    import uvicorn

    app = StandaloneApp(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=settings.eventstreams.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    stop_streams(server, app.part)
    print(
        f"eventplatform eventstreams on http://{host}:{settings.eventstreams.port} "
        f"(log {settings.log.url}, stream config {settings.streamconfig.source})",
        file=sys.stderr,
        flush=True,
    )
    server.run()


def stop_streams(server: Any, part: EventStreams) -> None:
    """Streams never end by themselves: on SIGTERM/SIGINT end them at once, then let uvicorn stop."""
    handle_exit = server.handle_exit

    def handle(sig: int, frame: Any) -> None:
        part.begin_shutdown()
        handle_exit(sig, frame)

    server.handle_exit = handle
