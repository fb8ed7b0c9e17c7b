"""The EventStreams part: its routes under ``/v2/``, as one ASGI callable mounted by ``serve`` on its own
port (the gate hands it every ``/v2/`` request) or served alone by ``eventplatform eventstreams``
(:mod:`.server`).

It owns the hub, the connection limits, the metrics and which streams may be read: the configured
streams (exact names, their ``stream_aliases``, and intake's error stream), limited to ``allowed_streams``
when set. A stream is read from every topic that holds it: its configured topics, the topic this
datacenter's intake writes, and existing ``<datacenter>.<stream>`` topics of other datacenters.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
import yaml

from eventplatform import __version__
from eventplatform.eventstreams.catalog import RateCounter, schema_versions, stream_entry
from eventplatform.eventstreams.hub import Client, Hub
from eventplatform.eventstreams.metrics import StreamMetrics
from eventplatform.eventstreams.positions import RequestError
from eventplatform.eventstreams.stream import PREFIX, handle_stream
from eventplatform.settings import EventStreamsSettings, Settings
from eventplatform.streamconfig.config import StreamConfig, topic_for

if TYPE_CHECKING:
    from eventplatform.intake.builder import Intake
    from eventplatform.log import EventLog

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

logger = logging.getLogger("eventplatform.eventstreams")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
SPEC_PATH = HERE / "openapi.yaml"
PAGES = {
    "/v2/ui": "ui.html",
    "/v2/ui/": "ui.html",
    "/v2/catalog": "catalog.html",
    "/v2/catalog/": "catalog.html",
    "/v2/schema": "schema.html",
}
CATALOG_HOURS = 6  # the catalog's plots cover this many hours
TOPICS_TTL = 5.0  # seconds an existing-topics list is reused for
CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-headers", b"accept, x-requested-with, content-type, last-event-id"),
    (b"access-control-expose-headers", b"etag"),
]
SECURITY = [
    (b"x-xss-protection", b"1; mode=block"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
]
# the console is plain files of this package: scripts, styles and fetches from here only
PAGE_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    b"object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
)


class Limits:
    """Concurrent streams per client IP and per process (the reference: per IP only, per worker)."""

    def __init__(self, per_ip: int, total: int) -> None:
        self.per_ip = per_ip
        self.total = total
        self.by_ip: Counter[str] = Counter()
        self.count = 0

    def check(self, ip: str) -> None:
        if self.total and self.count >= self.total:
            raise RequestError(
                429,
                "too_many_connections",
                "Too Many Concurrent Connections",
                f"This server already serves {self.count} streams (its limit). Retry later.",
            )
        if self.per_ip and self.by_ip[ip] >= self.per_ip:
            raise RequestError(
                429,
                "too_many_connections",
                "Too Many Concurrent Connections From Your Client IP",
                f"{self.by_ip[ip]} streams are open from {ip}; at most {self.per_ip} are allowed.",
            )

    def enter(self, ip: str) -> None:
        self.by_ip[ip] += 1
        self.count += 1

    def leave(self, ip: str) -> None:
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]
        self.count -= 1


def default_log_id(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()[:12]


class EventStreams:
    """The part (see the module docstring). ``startup(intake)`` before the first request."""

    prefixes = ("/v2/",)
    # every route this part answers (path template -> methods): the gate answers 405 for other methods,
    # and tests/gate/test_openapi.py checks them against gate/openapi.yaml
    ROUTES: dict[str, tuple[str, ...]] = {
        path: ("GET", "HEAD", "OPTIONS")
        for path in (
            PREFIX + "{streams}",
            *PAGES,
            "/v2/static/{file}",
            "/v2/api/streams",
            "/v2/api/rates",
            "/v2/api/errors/{stream}",
            "/v2/api/schema/{title:path}/{version}",
        )
    }

    def __init__(self, settings: Settings) -> None:
        self.platform = settings
        self.settings: EventStreamsSettings = settings.eventstreams
        self.log_id = self.settings.log_id or default_log_id(settings.log.url)
        self.headers = [*CORS, *SECURITY] if settings.server.cors else list(SECURITY)
        self.limits = Limits(self.settings.client_ip_connection_limit, self.settings.connection_limit)
        self.metrics = StreamMetrics()
        self.clients: set[Client] = set()
        self.intake: Intake | None = None
        self._hub: Hub | None = None
        self._existing: list[str] = []
        self._existing_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rates: RateCounter | None = None
        self._versions: dict[str, tuple[float, list[str]]] = {}

    # -- lifecycle ------------------------------------------------------------------------------------

    async def startup(self, intake: Intake) -> None:
        self.intake = intake
        self._hub = Hub(intake.log)
        self._loop = asyncio.get_running_loop()
        await self._refresh_topics()

    async def shutdown(self) -> None:
        self._end_streams()
        if self._rates is not None:
            await self._rates.stop()
        if self._hub is not None:
            await self._hub.close()

    def begin_shutdown(self) -> None:
        """From a signal handler: end every stream now (clients reconnect with their last id) instead of
        holding the server's graceful shutdown until its timeout."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._end_streams)

    def _end_streams(self) -> None:
        for client in list(self.clients):
            client.fail("shutdown", "The server is shutting down.")

    @property
    def hub(self) -> Hub:
        assert self._hub is not None, "EventStreams.startup() was not called"
        return self._hub

    @property
    def log(self) -> EventLog:
        assert self.intake is not None
        return self.intake.log

    @property
    def config(self) -> StreamConfig:
        assert self.intake is not None
        return self.intake.streams

    # -- streams and topics ---------------------------------------------------------------------------

    def _aliases(self) -> dict[str, str]:
        config = self.config
        out = {}
        for name in config.names:
            settings = config.get(name) if not name.startswith("/") else None
            for alias in (settings or {}).get("stream_aliases") or []:
                if isinstance(alias, str):
                    out[alias] = name
        return out

    def resolve(self, name: str) -> str:
        return self._aliases().get(name, name)

    def known_stream(self, name: str) -> bool:
        allowed = self.settings.allowed_streams
        if allowed is not None and name not in allowed:
            return False
        return self.config.get(self.resolve(name)) is not None

    def stream_names(self) -> list[str]:
        """The streams that can be read, by name (what ``/?spec`` and the console list)."""
        names = [n for n in self.config.names if not n.startswith("/")]
        names += list(self._aliases())
        error_stream = self.platform.intake.resolved_error_stream
        if error_stream and error_stream not in names:
            names.append(error_stream)
        return sorted(n for n in set(names) if self.known_stream(n))

    def topics_of(self, name: str) -> list[str]:
        stream = self.resolve(name)
        out: list[str] = []
        for topic in [*self.config.topics(stream), topic_for(stream, self.platform.log.datacenter)]:
            if not topic.startswith("/") and topic not in out:
                out.append(topic)
        suffix = "." + stream
        for topic in self._existing:
            prefix = topic[: -len(suffix)] if topic.endswith(suffix) else ""
            if prefix and "." not in prefix and topic not in out:
                out.append(topic)
        return out

    async def _refresh_topics(self) -> None:
        try:
            self._existing = await self.log.list_topics()
        except Exception as exc:
            logger.warning("eventstreams: cannot list the log's topics: %s", exc)
        self._existing_at = time.monotonic()

    # -- HTTP -----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        if method == "OPTIONS":
            await self._respond(send, 204, b"", b"text/plain")
        elif path.startswith(PREFIX) and method in ("GET", "HEAD"):
            if time.monotonic() - self._existing_at > TOPICS_TTL:
                await self._refresh_topics()
            await handle_stream(self, scope, receive, send)
        elif path in PAGES and method in ("GET", "HEAD"):
            await self._file(send, STATIC / PAGES[path])
        elif path.startswith("/v2/api/") and method in ("GET", "HEAD"):
            await self._api(send, scope, path[len("/v2/api/") :])
        elif path.startswith("/v2/static/") and method in ("GET", "HEAD"):
            name = path[len("/v2/static/") :]
            target = (STATIC / name).resolve()
            if "/" in name or not target.is_file() or target.parent != STATIC:
                await self._not_found(send, scope)
            else:
                await self._file(send, target)
        else:
            await self._not_found(send, scope)

    # -- the console's API ----------------------------------------------------------------------------

    async def _api(self, send: Send, scope: Scope, rest: str) -> None:
        """``streams``, ``rates``, ``errors/{stream}``, ``schema/{title}/{version}`` (JSON)."""
        body: Any
        if rest == "streams":
            body = {"streams": [self.describe(name) for name in self.stream_names()]}
        elif rest == "rates":
            rates = self.rates()
            with contextlib.suppress(TimeoutError):  # the first answer: the counts of the hours read
                await asyncio.wait_for(rates.caught_up.wait(), 5.0)
            body = rates.series()
        elif rest.startswith("errors/") and self.known_stream(unquote(rest[7:])):
            name = unquote(rest[7:])
            body = {"stream": name, "errors": list(self.rates().last_errors.get(self.resolve(name), ()))}
        elif rest.startswith("schema/") and rest.count("/") >= 2:
            title, _, version = unquote(rest[7:]).rpartition("/")
            try:
                compiled = await self.intake_registry().get(f"/{title}/{version}")
            except Exception as exc:
                problem = {"status": 404, "type": "not_found", "title": "Schema Not Found"}
                problem["detail"] = str(exc)
                await self._respond(send, 404, orjson.dumps(problem), b"application/problem+json")
                return
            body = compiled.schema
        else:
            await self._not_found(send, scope)
            return
        await self._respond(send, 200, orjson.dumps(body), b"application/json")

    def intake_registry(self) -> Any:
        assert self.intake is not None
        return self.intake.registry

    def describe(self, name: str) -> dict[str, Any]:
        stream = self.resolve(name)
        settings = self.config.get(stream) or {}
        title = settings.get("schema_title")
        versions: list[str] = []
        if isinstance(title, str):
            cached = self._versions.get(title)
            if cached is None or time.monotonic() - cached[0] > 60:
                cached = (time.monotonic(), schema_versions(self.platform.schemas.base_uris, title))
                self._versions[title] = cached
            versions = cached[1]
        entry = stream_entry(name, settings, versions, self.topics_of(name))
        if stream != name:
            entry["alias_of"] = stream
        return entry

    def rates(self) -> RateCounter:
        """The catalog's counter, started on first use."""
        if self._rates is None:
            self._rates = RateCounter(self.log, self._counted_topics, self._error_topics, CATALOG_HOURS)
        self._rates.start()
        return self._rates

    def _counted_topics(self) -> dict[str, str]:
        aliases = self._aliases()
        out: dict[str, str] = {}
        for name in self.stream_names():
            if name not in aliases:
                for topic in self.topics_of(name):
                    out.setdefault(topic, name)
        return out

    def _error_topics(self) -> set[str]:
        error_stream = self.platform.intake.resolved_error_stream
        return set(self.topics_of(error_stream)) if error_stream else set()

    async def _respond(
        self, send: Send, status: int, body: bytes, content_type: bytes, extra: list[Any] | None = None
    ) -> None:
        headers = [*self.headers, (b"content-type", content_type), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
        await send({"type": "http.response.body", "body": body})

    async def _not_found(self, send: Send, scope: Scope) -> None:
        body = orjson.dumps(
            {
                "status": 404,
                "type": "not_found",
                "title": "Not Found",
                "detail": f"No route {scope['method']} {scope['path']}",
                "method": scope["method"].lower(),
                "uri": scope["path"],
            }
        )
        await self._respond(send, 404, body, b"application/problem+json")

    async def _file(self, send: Send, path: Path) -> None:
        types = {
            ".html": b"text/html; charset=utf-8",
            ".js": b"text/javascript; charset=utf-8",
            ".css": b"text/css; charset=utf-8",
            ".svg": b"image/svg+xml",
        }
        body = await asyncio.to_thread(path.read_bytes)
        await self._respond(
            send,
            200,
            body,
            types.get(path.suffix, b"application/octet-stream"),
            [(b"content-security-policy", PAGE_CSP), (b"cache-control", b"no-cache")],
        )

    # -- the OpenAPI document -------------------------------------------------------------------------

    def extend_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """``spec`` with the streams as the enum of ``/v2/stream/{streams}`` and one documentation-only
        path per stream (the reference's spec rewrite, which the console reads)."""
        paths = spec.setdefault("paths", {})
        names = self.stream_names()
        route = paths.get("/v2/stream/{streams}")
        if isinstance(route, dict):
            for param in route.get("get", {}).get("parameters", []):
                if param.get("name") == "streams":
                    param.setdefault("schema", {})["enum"] = names
        for name in names:
            paths[f"/v2/stream/{name}"] = {
                "get": {
                    "summary": f"The {name} stream (documentation only: same handler).",
                    "tags": ["Streams"],
                    "responses": {"200": {"description": f"{name} events as server-sent events"}},
                }
            }
        return spec

    def own_spec(self) -> dict[str, Any]:
        spec = yaml.safe_load(SPEC_PATH.read_text())
        spec.setdefault("info", {})["version"] = __version__
        return self.extend_spec(spec)
