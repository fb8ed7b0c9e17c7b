"""The intake HTTP app: EventGate's API (``POST /v1/events`` and friends) as an ASGI application.

``POST /v1/events`` is the hot path and is served by a plain ASGI handler (no Request/Response objects);
every other route is an ordinary Starlette route. Both get the same CORS/security headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import gzip
import html
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import yaml
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from eventplatform import __version__
from eventplatform.gate import responses as R
from eventplatform.gate.access import AccessLog
from eventplatform.gate.beacon import BeaconRoutes
from eventplatform.gate.clientjs import ClientRoutes
from eventplatform.gate.metrics import GateMetrics
from eventplatform.gate.request import (
    REQUEST_ID_MAX,
    BodyError,
    EmptyBody,
    parse_events,
    read_body,
    read_head,
    read_query,
)
from eventplatform.gate.uvicorn_patches.reason import hooked, set_reason
from eventplatform.intake.batch import RequestContext
from eventplatform.intake.builder import Intake, build
from eventplatform.intake.pipeline import Pipeline
from eventplatform.log import EventLog
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.settings import ServerSettings, Settings
from eventplatform.streamconfig.config import StreamConfig, StreamQueryError, api_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("eventplatform.gate")

INFO = {
    "name": "eventplatform",
    "version": __version__,
    "description": "Event intake of eventplatform, compatible with Wikimedia's EventGate.",
    "home": "https://github.com/eventplatform/eventplatform",
}
SPEC_PATH = Path(__file__).with_name("openapi.yaml")
CSP = (
    "default-src 'self'; object-src 'none'; media-src 'none'; img-src 'none'; style-src 'none'; "
    "base-uri 'self'; frame-ancestors 'self'"
)
GZIP_MIN = 1024
EVENTS_PATHS = ("/v1/events", "/v1/events/")  # POST there is the raw hot-path handler, not a Route
MAX_PENDING_HASTY = 1000  # hasty batches processed in the background at once, per worker


def common_headers(settings: ServerSettings) -> list[tuple[bytes, bytes]]:
    """EventGate's CORS and security headers, sent on every response."""
    out: list[tuple[bytes, bytes]] = []
    if settings.cors:
        out += [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-headers", b"accept, x-requested-with, content-type"),
            (b"access-control-expose-headers", b"etag"),
            (b"access-control-allow-methods", b"post"),
        ]
    if settings.csp:
        out += [
            (b"x-xss-protection", b"1; mode=block"),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"SAMEORIGIN"),
            (b"content-security-policy", CSP.encode()),
        ]
    return out


class GateApp:
    """ASGI entry point. Build with :func:`create_app`; the intake (registry, stream config, log,
    pipeline) is built from the settings in the lifespan, with the components given here (tests)."""

    # routes served before Starlette's routing (path -> methods), for tests/gate/test_openapi.py
    RAW_ROUTES: dict[str, tuple[str, ...]] = {p: ("POST",) for p in EVENTS_PATHS}

    def __init__(
        self,
        settings: Settings,
        *,
        registry: SchemaRegistry | None = None,
        streams: StreamConfig | None = None,
        log: EventLog | None = None,
        worker_index: int = 0,
        extra_routes: Sequence[BaseRoute] = (),
        freeze_gc: bool = False,
        parts: Sequence[Any] = (),
    ) -> None:
        self.settings = settings
        self.worker_index = worker_index
        self.freeze_gc = freeze_gc
        # other parts on the same port (e.g. eventstreams.service.EventStreams): each answers the paths
        # under its ``prefixes`` itself (own headers, streaming without gzip) and gets ``startup(intake)``
        self.parts = list(parts)
        given = {"registry": registry, "streams": streams, "log": log}
        self._given: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        self.intake: Intake | None = None
        self.pipeline: Pipeline | None = None
        self.metrics = GateMetrics()
        self.access = AccessLog(settings.server.access_log, worker_index)
        self.headers = common_headers(settings.server)
        self._json_headers = [*self.headers, (b"content-type", b"application/json; charset=utf-8")]
        self._problem_headers = [*self.headers, (b"content-type", b"application/problem+json")]
        self._json_header_block = b"".join(b"%s: %s\r\n" % h for h in self._json_headers)
        self._hasty_tasks: set[asyncio.Task[Any]] = set()
        self._want_headers = False  # set in startup() from the pipeline's header->field mapping
        self._fast_parse: Callable[[bytes], Any] | None = None
        self._spec: dict[str, Any] | None = None
        self._part_routes: dict[int, list[tuple[re.Pattern[str], tuple[str, ...]]]] = {}
        self.draining = False  # set by the server on SIGTERM/SIGINT: /healthz/ready answers 503 from then on
        self.beacon = BeaconRoutes(self)  # the legacy EventLogging beacon
        self.client_routes = ClientRoutes(self)  # the browser client and the schemas of its debug mode
        self.starlette = Starlette(
            # extra_routes: e.g. live streams or a web page, same process
            routes=[*self._routes(), *self.beacon.routes(), *self.client_routes.routes(), *extra_routes],
            lifespan=self._lifespan,
            middleware=[Middleware(GZipMiddleware, minimum_size=GZIP_MIN, compresslevel=3)],
        )
        self.starlette.add_exception_handler(404, self._not_found)
        self.starlette.add_exception_handler(405, self._method_not_allowed)

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def streams(self) -> StreamConfig:
        assert self.intake is not None
        return self.intake.streams

    async def startup(self) -> None:
        self.intake = await build(self.settings, **self._given)
        self.pipeline = self.intake.pipeline
        for part in self.parts:
            await part.startup(self.intake)
        if "log" not in self._given and self.worker_index == 0:
            await self.intake.create_topics()
        # only header->field mappings beyond the two read anyway need every request header decoded
        self._want_headers = bool(set(self.pipeline.settings.header_fields) - {"x-request-id", "user-agent"})
        self._fast_parse = self.pipeline.native_parse  # the compiled path's parser, if built

    async def shutdown(self) -> None:
        if self._hasty_tasks:
            await asyncio.wait(set(self._hasty_tasks), timeout=10)
        for part in self.parts:
            await part.shutdown()
        if self.intake is not None:
            await self.intake.close()

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.startup()
        if self.freeze_gc:
            # a worker process: everything alive now (modules, schemas, config) lives as long as the
            # process, so keep it out of the cyclic GC's full collections
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await self.shutdown()

    # -- ASGI ----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path in EVENTS_PATHS and scope["method"] == "POST":
                await self._post_events(scope, receive, send)
                return
            for part in self.parts:
                if path.startswith(part.prefixes):
                    allow = self._part_methods(part, path)
                    if allow is None or scope["method"] in allow:
                        await part(scope, receive, send)
                    else:
                        response = _not_allowed(scope["method"], path, ", ".join(allow))
                        await response(scope, receive, self._with_headers(send, scope))
                    return
            send = self._with_headers(send, scope)
        await self.starlette(scope, receive, send)

    def _part_methods(self, part: Any, path: str) -> tuple[str, ...] | None:
        """The methods of the part's route that ``path`` is, or None (not one of its routes: the part
        answers, e.g. its 404). Another method gets the gate's 405 with ``Allow``."""
        table = self._part_routes.get(id(part))
        if table is None:
            table = [
                (re.compile("^" + re.sub(r"\\\{\w+(:path)?\\\}", _param, re.escape(t)) + "$"), methods)
                for t, methods in getattr(part, "ROUTES", {}).items()
            ]
            self._part_routes[id(part)] = table
        for pattern, methods in table:
            if pattern.match(path):
                return methods
        return None

    def _with_headers(self, send: Send, scope: Scope) -> Send:
        extra = self.headers
        t0 = time.perf_counter()
        metrics = self.metrics
        access = self.access

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
                route = scope.get("route")
                seconds = time.perf_counter() - t0
                metrics.observe(scope["method"], getattr(route, "path", "other"), message["status"], seconds)
                if access.enabled:
                    access.request(scope, message["status"], seconds)
            await send(message)

        return wrapped

    # -- POST /v1/events (hot path) ------------------------------------------------------------------

    async def _post_events(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        status = 500
        try:
            status = await self._handle_events(scope, receive, send)
        finally:
            seconds = time.perf_counter() - t0
            self.metrics.observe("POST", "/v1/events", status, seconds)
            if self.access.enabled:
                self.access.request(scope, status, seconds)

    async def _handle_events(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Request reading (gate.request) -> pipeline -> response."""
        server = self.settings.server
        head = read_head(scope, self._want_headers)
        self.access.note_request(head.request_id)
        try:
            body = await read_body(receive, head, server.max_body_size)
            if body is None:
                return 499  # the client went away
            query, hasty = read_query(scope.get("query_string", b""))
            fast_parse = None if hasty else self._fast_parse  # hasty batches are noted event by event
            events = parse_events(body, head, server.max_body_size, server.max_events_per_request, fast_parse)
        except EmptyBody as empty:
            return await self._json(send, *R.empty_response(empty.detail), head.request_id)
        except BodyError as exc:
            return await self._problem(send, scope, exc, head.request_id)
        ctx = head.context(scope, query)
        if hasty:
            return await self._accept_hasty(send, events, ctx)
        return await self._process_and_answer(send, events, ctx, head.accept_gzip)

    async def _accept_hasty(self, send: Send, events: Any, ctx: RequestContext) -> int:
        """202 at once; the batch is processed in the background."""
        self.metrics.hasty.inc(len(events))
        self.access.note_hasty(events)
        if len(self._hasty_tasks) >= MAX_PENDING_HASTY:
            # backpressure: a flood of hasty requests must not grow memory without bound
            await self._process_hasty(events, ctx)
        else:
            task = asyncio.create_task(self._process_hasty(events, ctx))
            self._hasty_tasks.add(task)
            task.add_done_callback(self._hasty_tasks.discard)
        return await self._json(send, *R.hasty_response(len(events)), ctx.request_id)

    async def _process_and_answer(
        self, send: Send, events: Any, ctx: RequestContext, accept_gzip: bool = False
    ) -> int:
        pipeline = self.pipeline
        assert pipeline is not None
        try:
            result = await pipeline.process(events, ctx)
        except Exception as exc:  # the pipeline turns event failures into values; this is a bug
            logger.exception("unexpected error while processing events")
            reason = f"Encountered an unexpected error while processing events: {exc}"
            return await self._json(send, 500, reason, {"message": reason}, ctx.request_id)
        self.metrics.count(result, self._known_stream, self._known_schema)
        self.access.processed(result)
        self.access.note_batch(result)
        status, reason, body = R.batch_response(result)
        if status != 201 and logger.isEnabledFor(logging.DEBUG):
            for o in (*result.invalid, *result.error):
                if o.failure is not None:
                    logger.debug(
                        "request %s event %d %s: %s",
                        ctx.request_id,
                        o.index,
                        o.failure.code,
                        o.failure.message,
                    )
        return await self._json(send, status, reason, body, ctx.request_id, accept_gzip)

    async def _process_hasty(self, events: Any, ctx: RequestContext) -> None:
        assert self.pipeline is not None
        try:
            result = await self.pipeline.process(events, ctx, hasty=True)
            self.metrics.count(result, self._known_stream, self._known_schema)
            self.access.processed(result)
        except Exception:
            logger.exception("hasty batch failed")

    def _known_stream(self, stream: str | None) -> bool:
        return stream is not None and self.streams.get(stream) is not None

    def _known_schema(self, uri: str | None) -> bool:
        return self.pipeline is not None and uri is not None and self.pipeline.knows_schema(uri)

    async def _json(
        self,
        send: Send,
        status: int,
        reason: str,
        body: Any,
        request_id: str | None,
        accept_gzip: bool = False,
    ) -> int:
        """Hot function: the constant headers go out as one byte block where uvicorn allows it."""
        data = R.dumps(body)
        if hooked(send):  # with the status line (see gate.uvicorn_patches.reason)
            headers = []
            set_reason(status, reason, self._json_header_block)
        else:
            headers = list(self._json_headers)
            set_reason(status, reason)
        if request_id:
            headers.append((b"x-request-id", request_id.encode("latin-1", "replace")))
        if accept_gzip and len(data) >= GZIP_MIN:
            data = gzip.compress(data, 3)
            headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
        headers.append((b"content-length", b"%d" % len(data)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        return status

    async def _problem(self, send: Send, scope: Scope, exc: BodyError, request_id: str | None) -> int:
        body = R.problem(exc.status, exc.kind, exc.title, exc.detail, scope["method"], scope["path"])
        data = R.dumps(body)
        headers = [*self._problem_headers, (b"content-length", str(len(data)).encode())]
        if request_id:
            headers.append((b"x-request-id", request_id.encode("latin-1", "replace")))
        set_reason(exc.status, exc.title)
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        return exc.status

    # -- other routes --------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        return [
            Route("/", self._root, methods=["GET"]),
            Route("/robots.txt", self._robots, methods=["GET"]),
            Route("/_info", self._info, methods=["GET"]),
            Route(
                "/_info/home",
                self._info_home,
                methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"],
            ),
            Route("/_info/{field}", self._info_field, methods=["GET"]),
            Route("/v1/events", self._events_options, methods=["OPTIONS"]),  # POST: the raw handler
            Route("/v1/events/", self._events_options, methods=["OPTIONS"]),
            Route("/v1/_test/events", self._test_events, methods=["GET"]),
            Route("/v1/stream-configs", self._stream_configs, methods=["GET"]),
            Route("/v1/stream-configs/{streams}", self._stream_configs, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
            Route("/healthz/live", self._live, methods=["GET"]),
            Route("/healthz/ready", self._ready, methods=["GET"]),
        ]

    async def _not_found(self, request: Request, _exc: Exception) -> Response:
        return HTMLResponse(
            f"<pre>Cannot {request.method} {html.escape(request.url.path)}</pre>\n", status_code=404
        )

    def spec(self) -> dict[str, Any]:
        if self._spec is None:
            spec = yaml.safe_load(SPEC_PATH.read_text())
            spec.setdefault("openapi", "3.0.3")
            spec.setdefault("info", {})["version"] = __version__
            self._spec = spec
        return self._spec

    async def _root(self, request: Request) -> Response:
        if "spec" in request.query_params:
            spec = self.spec()
            for part in self.parts:  # e.g. the configured streams as the enum of /v2/stream/{streams}
                spec = part.extend_spec(copy.deepcopy(spec))
            return Response(orjson.dumps(spec), media_type="application/json")
        if "doc" in request.query_params:
            return HTMLResponse(_doc_page(self.spec()))
        return await self._not_found(request, Exception())

    async def _robots(self, _request: Request) -> Response:
        return PlainTextResponse("User-agent: *\nDisallow: /\n")

    async def _info(self, _request: Request) -> Response:
        return Response(orjson.dumps(INFO), media_type="application/json")

    async def _info_field(self, request: Request) -> Response:
        field = request.path_params["field"]
        if field not in INFO:
            return await self._not_found(request, Exception())
        return Response(orjson.dumps({field: INFO[field]}), media_type="application/json")

    async def _info_home(self, _request: Request) -> Response:
        home = INFO["home"]
        return Response(
            f"Moved Permanently. Redirecting to {home}",
            status_code=301,
            media_type="text/plain",
            headers={"location": home},
        )

    async def _method_not_allowed(self, request: Request, exc: Exception) -> Response:
        """405 with the methods the path has (RFC 9110), the body in EventGate's 404 form: the path
        exists, the method does not (EventGate answers 404 here; the spec and this server say 405)."""
        allow = (getattr(exc, "headers", None) or {}).get("Allow", "")
        if request.url.path in EVENTS_PATHS:
            allow = "POST, OPTIONS"  # POST is served before Starlette's routing
        return _not_allowed(request.method, request.url.path, allow)

    async def _events_options(self, _request: Request) -> Response:
        return PlainTextResponse("POST", headers={"allow": "POST"})

    async def _live(self, _request: Request) -> Response:
        """Liveness: the event loop answers. Never fails while draining (a restart would cut the drain)."""
        return Response(b'{"status":"live"}', media_type="application/json")

    async def _ready(self, _request: Request) -> Response:
        """Readiness: 503 from the drain's start, so that load balancers stop sending new requests while
        the requests already sent are still answered."""
        if self.draining:
            return Response(b'{"status":"draining"}', status_code=503, media_type="application/json")
        return Response(b'{"status":"ready"}', media_type="application/json")

    async def _test_events(self, request: Request) -> Response:
        events = copy.deepcopy(self.settings.server.test_events)
        if not events:
            return await self._not_found(request, Exception())
        ctx = RequestContext.now(
            request_id=request.headers.get("x-request-id", "")[:REQUEST_ID_MAX] or None,
            user_agent=request.headers.get("user-agent"),
            client_ip=request.client.host if request.client else None,
        )
        captured: dict[str, Any] = {}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"], captured["headers"] = message["status"], message["headers"]
            else:
                captured["body"] = message.get("body", b"")

        await self._process_and_answer(capture, events, ctx)
        headers = {
            k.decode(): v.decode()
            for k, v in captured["headers"]
            if k not in (b"content-length",)
            and not k.startswith(b"access-control")
            and k
            not in (
                b"x-xss-protection",
                b"x-content-type-options",
                b"x-frame-options",
                b"content-security-policy",
            )
        }
        return Response(captured["body"], status_code=captured["status"], headers=headers)

    async def _stream_configs(self, request: Request) -> Response:
        raw = request.path_params.get("streams")
        names = unquote(raw).replace(",", "|") if raw else None
        try:
            body = api_response(self.streams, names, request.query_params.getlist("constraints") or None)
        except StreamQueryError as exc:
            problem = R.problem(400, "bad_request", "Bad Request", str(exc), "GET", request.url.path)
            return Response(R.dumps(problem), status_code=400, media_type="application/problem+json")
        return Response(R.dumps(body), media_type="application/json")

    async def _metrics(self, _request: Request) -> Response:
        data, content_type = self.metrics.exposition()
        for part in self.parts:
            data += part.metrics.exposition()
        return Response(data, media_type=content_type)


def _param(m: re.Match[str]) -> str:
    """A path parameter of a part's route as a regex: ``{name}`` one segment, ``{name:path}`` several."""
    return ".+" if m.group(1) else "[^/]+"


def _not_allowed(method: str, path: str, allow: str) -> Response:
    return HTMLResponse(
        f"<pre>Cannot {html.escape(method)} {html.escape(path)}</pre>\n",
        status_code=405,
        headers={"allow": allow},
    )


def _doc_page(spec: dict[str, Any]) -> str:
    """A self-contained HTML rendering of the OpenAPI document (no scripts: the CSP forbids them)."""
    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            codes = ", ".join(str(c) for c in op.get("responses", {}))
            rows.append(
                f"<tr><td>{html.escape(method.upper())}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td><td>{html.escape(codes)}</td></tr>"
            )
    info = spec.get("info", {})
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(info.get('title', 'API'))}</title></head><body>"
        f"<h1>{html.escape(info.get('title', 'API'))} {html.escape(str(info.get('version', '')))}</h1>"
        f"<p>{html.escape(info.get('description', ''))}</p>"
        "<p>The machine-readable OpenAPI 3 document is at <a href='/?spec'>/?spec</a>.</p>"
        "<table border='1'><tr><th>Method</th><th>Path</th><th>Summary</th><th>Responses</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )


def create_app(settings: Settings | None = None, **components: Any) -> GateApp:
    return GateApp(settings or Settings(), **components)
