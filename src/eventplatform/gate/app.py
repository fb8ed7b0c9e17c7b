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
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

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
from eventplatform.gate.metrics import GateMetrics
from eventplatform.gate.pipeline import (
    OutputFile,
    Pipeline,
    PipelineSettings,
    RequestContext,
    json_type,
    new_uuid,
)
from eventplatform.gate.reason import hooked, set_reason
from eventplatform.gate.settings import Settings
from eventplatform.log import EventLog, open_log
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.streams.config import (
    StreamConfig,
    StreamConfigSource,
    StreamQueryError,
    api_response,
    configured_topics,
)

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
ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain", "application/reports+json")
SPEC_PATH = Path(__file__).with_name("openapi.yaml")
CSP = (
    "default-src 'self'; object-src 'none'; media-src 'none'; img-src 'none'; style-src 'none'; "
    "base-uri 'self'; frame-ancestors 'self'"
)
GZIP_MIN = 1024
MAX_PENDING_HASTY = 1000  # hasty batches processed in the background at once, per worker
REQUEST_ID_MAX = 200  # a client x-request-id longer than this is cut, on every route that echoes it
HASTY_TRUE = ("true", "1", "yes", "on")
HASTY_FALSE = ("false", "0", "no", "off", "")


def common_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
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


class BodyError(Exception):
    """A request-level failure before any event is looked at: (status, problem kind, title, detail)."""

    def __init__(self, status: int, kind: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail


def _too_large(detail: str) -> BodyError:
    return BodyError(413, "payload_too_large", "Payload Too Large", detail)


def _decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate a gzip/deflate body without ever holding more than ``limit`` bytes (no zip bombs)."""
    if not encoding or encoding == "identity":
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = 31
    elif encoding == "deflate":
        wbits = 15 if body[:1] == b"\x78" else -15
    else:
        raise BodyError(
            415,
            "unsupported_encoding",
            "Unsupported Media Type",
            f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or identity.",
        )
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BodyError(
            400, "bad_encoding", "Bad Request", f"Body is not valid {encoding} data: {exc}"
        ) from None
    if len(out) > limit or d.unconsumed_tail:
        raise _too_large(f"The decompressed request body is larger than the limit of {limit} bytes.")
    return out


class GateApp:
    """ASGI entry point. Build with :func:`create_app`; components are created in the lifespan unless
    given (tests and the ``produce`` command pass their own)."""

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
    ) -> None:
        self.settings = settings
        self.worker_index = worker_index
        self.freeze_gc = freeze_gc
        self.registry = registry
        self._given_streams = streams
        self.stream_source: StreamConfigSource | None = None
        self.log = log
        self._own = {"registry": registry is None, "log": log is None}
        self.pipeline: Pipeline | None = None
        self.output: OutputFile | None = None
        self.metrics = GateMetrics()
        self.headers = common_headers(settings)
        self._json_headers = [*self.headers, (b"content-type", b"application/json; charset=utf-8")]
        self._problem_headers = [*self.headers, (b"content-type", b"application/problem+json")]
        self._json_header_block = b"".join(b"%s: %s\r\n" % h for h in self._json_headers)
        self._hasty_tasks: set[asyncio.Task[Any]] = set()
        self._want_headers = False  # set in startup() from the pipeline's header->field mapping
        self._spec: dict[str, Any] | None = None
        self.starlette = Starlette(
            routes=[*self._routes(), *extra_routes],  # e.g. live streams or a web page, same process
            lifespan=self._lifespan,
            middleware=[Middleware(GZipMiddleware, minimum_size=GZIP_MIN, compresslevel=3)],
        )
        self.starlette.add_exception_handler(404, self._not_found)
        self.starlette.add_exception_handler(405, self._not_found)

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def streams(self) -> StreamConfig:
        if self._given_streams is not None:
            return self._given_streams
        assert self.stream_source is not None
        return self.stream_source.current

    async def startup(self) -> None:
        s = self.settings
        if self.registry is None:
            self.registry = SchemaRegistry(
                s.schema_base_uris,
                file_extension=s.schema_file_extension,
                allow_absolute_uris=s.allow_absolute_schema_uris,
            )
        if self._given_streams is None:
            self.stream_source = StreamConfigSource(s.stream_config, refresh_interval=s.stream_config_refresh)
            await self.stream_source.start()
        if self.log is None:
            self.log = open_log_for_worker(s.log, self.worker_index)
            await asyncio.to_thread(self.log.claim)  # fail at startup, not at the first request
            if self.worker_index == 0:
                await self._create_topics()
        if s.output:
            self.output = OutputFile(s.output)
        streams: Any = self._given_streams if self._given_streams is not None else (lambda: self.streams)
        self.pipeline = Pipeline(
            self.registry,
            streams,
            self.log,
            PipelineSettings(
                service_name=s.service_name,
                datacenter=s.datacenter,
                error_stream=s.error_stream,
                schema_uri_query_param=s.schema_uri_query_param,
                stream_query_param=s.stream_query_param,
            ),
            output=self.output,
        )
        # only header->field mappings beyond the two read anyway need every request header decoded
        self._want_headers = bool(set(self.pipeline.settings.header_fields) - {"x-request-id", "user-agent"})

    async def _create_topics(self) -> None:
        """Create the topics of the configured streams, so consumers can subscribe before the first event.
        Best effort: a topic that cannot be created now is created with its first event (or that fails)."""
        assert self.log is not None
        topics = configured_topics(self.streams, self.settings.datacenter)
        try:
            await self.log.ensure_topics(topics)
        except Exception as exc:
            logger.warning("could not create the topics of the configured streams: %s", exc)

    async def shutdown(self) -> None:
        if self._hasty_tasks:
            await asyncio.wait(set(self._hasty_tasks), timeout=10)
        if self.stream_source is not None:
            await self.stream_source.stop()
        if self.log is not None and self._own["log"]:
            await self.log.close()
        if self.registry is not None and self._own["registry"]:
            await self.registry.close()
        if self.output is not None:
            self.output.close()

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
            if (path == "/v1/events" or path == "/v1/events/") and scope["method"] == "POST":
                await self._post_events(scope, receive, send)
                return
            send = self._with_headers(send, scope)
        await self.starlette(scope, receive, send)

    def _with_headers(self, send: Send, scope: Scope) -> Send:
        extra = self.headers
        t0 = time.perf_counter()
        metrics = self.metrics

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
                route = scope.get("route")
                metrics.observe(
                    scope["method"],
                    getattr(route, "path", "other"),
                    message["status"],
                    time.perf_counter() - t0,
                )
            await send(message)

        return wrapped

    # -- POST /v1/events (hot path) ------------------------------------------------------------------

    async def _post_events(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        status = 500
        try:
            status = await self._handle_events(scope, receive, send)
        finally:
            self.metrics.observe("POST", "/v1/events", status, time.perf_counter() - t0)

    async def _handle_events(self, scope: Scope, receive: Receive, send: Send) -> int:
        s = self.settings
        limit = s.max_body_size
        content_type = content_encoding = user_agent = request_id = client_ip = forwarded = None
        declared_length: bytes | None = None
        accept_gzip = False
        headers: dict[str, str] = {}
        want_headers = self._want_headers
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                declared_length = value
            elif name == b"content-encoding":
                content_encoding = value.decode("latin-1").strip().lower()
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"x-request-id":
                request_id = value.decode("latin-1")[:REQUEST_ID_MAX]
            elif name == b"x-client-ip":
                client_ip = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_gzip = b"gzip" in value
            if want_headers:
                headers[name.decode("latin-1")] = value.decode("latin-1")
        request_id = request_id or new_uuid()
        if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
            # refused before reading the body; after the header loop so the answer carries x-request-id
            return await self._problem(
                send,
                scope,
                _too_large(f"The request body is {int(declared_length)} bytes; the limit is {limit} bytes."),
                request_id,
            )
        # body
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 499
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await self._problem(
                    send,
                    scope,
                    _too_large(f"The request body is larger than the limit of {limit} bytes."),
                    request_id,
                )
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        # query
        query: dict[str, str] = {}
        hasty = False
        qs = scope.get("query_string", b"")
        if qs:
            for key, values in parse_qs(qs.decode("latin-1"), keep_blank_values=True).items():
                query[key] = values[-1]
                if key == "hasty":
                    try:
                        hasty = _parse_hasty(values)
                    except BodyError as exc:
                        return await self._problem(send, scope, exc, request_id)
        # parse
        ctype = content_type.split(";", 1)[0].strip().lower() if content_type is not None else None
        if ctype not in ACCEPTED_CONTENT_TYPES:
            detail = (
                f"Content-Type {ctype!r} is not accepted; use one of {', '.join(ACCEPTED_CONTENT_TYPES)}."
                if body
                else None
            )
            return await self._json(send, *R.empty_response(detail), request_id)
        try:
            if content_encoding:
                body = _decode_body(body, content_encoding, limit)
            if body[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte order mark, as some clients send
                body = body[3:]
            if not body.strip():
                return await self._json(send, *R.empty_response(), request_id)
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BodyError(400, "malformed_json", "Malformed JSON", _json_error(exc, body)) from None
        except BodyError as exc:
            return await self._problem(send, scope, exc, request_id)
        if type(parsed) is dict:
            events: list[Any] = [parsed] if parsed else []
        elif type(parsed) is list:
            events = parsed
        else:
            return await self._problem(
                send,
                scope,
                BodyError(
                    400,
                    "not_events",
                    "Bad Request",
                    f"The body must be a JSON object (one event) or an array of events, "
                    f"not a JSON {json_type(parsed)}.",
                ),
                request_id,
            )
        if not events:
            return await self._json(send, *R.empty_response(), request_id)
        if len(events) > s.max_events_per_request:
            return await self._problem(
                send,
                scope,
                BodyError(
                    413,
                    "too_many_events",
                    "Payload Too Large",
                    f"{len(events)} events in one request; the limit is {s.max_events_per_request}. "
                    "Split the batch.",
                ),
                request_id,
            )
        # context
        if client_ip is None and forwarded:
            client_ip = forwarded.split(",", 1)[0].strip()
        if client_ip is None and scope.get("client"):
            client_ip = scope["client"][0]
        ctx = RequestContext.now(
            request_id=request_id, user_agent=user_agent, client_ip=client_ip, headers=headers, query=query
        )
        if hasty:
            self.metrics.hasty.inc(len(events))
            if len(self._hasty_tasks) >= MAX_PENDING_HASTY:
                # backpressure: a flood of hasty requests must not grow memory without bound
                await self._process_hasty(events, ctx)
            else:
                task = asyncio.create_task(self._process_hasty(events, ctx))
                self._hasty_tasks.add(task)
                task.add_done_callback(self._hasty_tasks.discard)
            return await self._json(send, *R.hasty_response(len(events)), request_id)
        return await self._process_and_answer(send, events, ctx, accept_gzip)

    async def _process_and_answer(
        self, send: Send, events: list[Any], ctx: RequestContext, accept_gzip: bool = False
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

    async def _process_hasty(self, events: list[Any], ctx: RequestContext) -> None:
        assert self.pipeline is not None
        try:
            result = await self.pipeline.process(events, ctx, hasty=True)
            self.metrics.count(result, self._known_stream, self._known_schema)
        except Exception:
            logger.exception("hasty batch failed")

    def _known_stream(self, stream: str | None) -> bool:
        return stream is not None and self.streams.get(stream) is not None

    def _known_schema(self, uri: str | None) -> bool:
        return self.pipeline is not None and uri is not None and uri in self.pipeline._plans

    async def _json(
        self,
        send: Send,
        status: int,
        reason: str,
        body: Any,
        request_id: str | None,
        accept_gzip: bool = False,
    ) -> int:
        data = R.dumps(body)
        if hooked(send):  # the constant headers go out with the status line (see gate.reason)
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
            Route("/v1/events", self._events_other, methods=["GET", "OPTIONS", "PUT", "DELETE", "PATCH"]),
            Route("/v1/events/", self._events_other, methods=["GET", "OPTIONS", "PUT", "DELETE", "PATCH"]),
            Route("/v1/_test/events", self._test_events, methods=["GET"]),
            Route("/v1/stream-configs", self._stream_configs, methods=["GET"]),
            Route("/v1/stream-configs/{streams}", self._stream_configs, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
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
            return Response(orjson.dumps(self.spec()), media_type="application/json")
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

    async def _events_other(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return PlainTextResponse("POST", headers={"allow": "POST"})
        return await self._not_found(request, Exception())

    async def _test_events(self, request: Request) -> Response:
        events = copy.deepcopy(self.settings.test_events)
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
        return Response(data, media_type=content_type)


def _parse_hasty(values: list[str]) -> bool:
    """Strict ``hasty``: true/1/yes/on or false/0/no/off (a bare ``?hasty`` is not hasty, as in EventGate)."""
    if len(values) != 1:
        raise BodyError(400, "bad_hasty", "Bad Request", "The hasty query parameter must be given once.")
    v = values[0].strip().lower()
    if v in HASTY_TRUE:
        return True
    if v in HASTY_FALSE:
        return False
    raise BodyError(
        400,
        "bad_hasty",
        "Bad Request",
        f"hasty must be one of true, false, 1, 0, yes, no, on, off; got {values[0][:100]!r}.",
    )


def _json_error(exc: orjson.JSONDecodeError, body: bytes) -> str:
    msg = str(exc)
    if "depth" in msg.lower() or "recursion" in msg.lower():
        return "JSON nesting is too deep (the limit is 1024 levels)."
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as u:
        return f"The body is not valid UTF-8 (byte {u.start})."
    return msg


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


def open_log_for_worker(url: str, worker_index: int) -> EventLog:
    """The log of one worker process. With SQLite each worker claims the first free partition (a lock
    file), so restarted workers and several ``serve`` instances on one directory never collide."""
    del worker_index
    return open_log(url)


def create_app(settings: Settings | None = None, **components: Any) -> GateApp:
    return GateApp(settings or Settings(), **components)
