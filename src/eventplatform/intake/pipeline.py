"""The per-event intake pipeline, independent of HTTP.

Usage (the HTTP app and the ``produce`` command both do exactly this)::

    pipeline = Pipeline(registry, streams, log, PipelineSettings(service_name="eventplatform"))
    result = await pipeline.process(events, RequestContext.now(user_agent="me"), hasty=False)
    result.status_counts()  # (success, invalid, error)

For each event, in order: it must be an object; ``$schema`` is extracted and its schema loaded (a sync
cache hit on the hot path, the registry otherwise); the stream is extracted and checked against the stream
config (configured, has a ``schema_title`` equal to the schema's title); the eventgate-wikimedia default
fields are filled in (``meta.id``, ``meta.dt``, ``meta.request_id``, user agent, ``http.client_ip``, legacy
``dt``) together with schema ``default``s; integers sent as ``2.0`` become ``2``; then the event is
validated. The valid events become one columnar :class:`Batch` and the whole batch is produced with ONE
``log.produce`` call, together with an error event (stream ``<service>.error.validation``) for every
invalid event. Failures are values from :mod:`eventplatform.errors`; nothing here raises for a bad event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from orjson import dumps
from uuid_utils import uuid1

from eventplatform.errors import Codes, EventError, EventFailure, EventInvalid, ValidationDetail
from eventplatform.intake import native
from eventplatform.intake.batch import BatchResult, EventOutcome, RequestContext, json_type, new_uuid
from eventplatform.intake.defaults import get_path, set_default
from eventplatform.intake.output import OutputFile
from eventplatform.intake.plan import KeyFields, Plan, Route
from eventplatform.log import Batch, EventLog, Message
from eventplatform.schemas.ajv import ajv_errors
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.streamconfig.config import StreamConfig, topic_for
from eventplatform.streamconfig.keys import message_key

logger = logging.getLogger("eventplatform.gate")
HEADER_VALUE_MAX = native.HEADER_VALUE_MAX
MAX_SCHEMA_URI_LENGTH = 2048


@dataclass(slots=True)
class PipelineSettings:
    service_name: str = "eventplatform"
    datacenter: str | None = None
    error_stream: str | None = None  # default "<service_name>.error.validation"; "" disables error events
    error_schema_uri: str = "/error/2.1.0"
    emitter_id: str | None = None  # default: service_name
    schema_uri_field: str = "$schema"
    stream_field: str = "meta.stream"
    schema_uri_query_param: str | None = None  # fill $schema from ?<param> when the event lacks it
    stream_query_param: str | None = None  # fill meta.stream from ?<param> when the event lacks it
    # request header -> event field (dotted), as eventgate-wikimedia's http_request_headers_to_fields
    header_fields: Mapping[str, str] = field(
        default_factory=lambda: {
            "x-request-id": "meta.request_id",
            "user-agent": "http.request_headers.user-agent",
        }
    )
    check_streams: bool = True  # False: any schema may go to any stream (no stream config)

    @property
    def resolved_error_stream(self) -> str | None:
        if self.error_stream == "":
            return None
        return self.error_stream or f"{self.service_name}.error.validation"


def _errors_text(details: Sequence[ValidationDetail]) -> str:
    """AJV's ``errorsText`` (``'<dataPath>' <message>, …``), the message of a validation failure."""
    return ajv_errors(details)[1]


def _timestamp_ms(dt: Any) -> int | None:
    if not isinstance(dt, str):
        return None
    try:
        return int(datetime.fromisoformat(dt).timestamp() * 1000)
    except (ValueError, OverflowError):
        return None


class _Columns:
    """The accepted events of a batch as columns (what ``log.produce`` takes) and the error events."""

    COLUMNS = ("topics", "values", "keys", "stamps", "routes", "events")
    __slots__ = ("error_events", "keys", "result", "routes", "stamps", "topics", "values")

    def __init__(self, result: BatchResult) -> None:
        self.result = result
        self.topics: list[str] = []
        self.values: list[bytes] = []
        self.keys: list[bytes | None] = []
        self.stamps: list[int | None] = []
        self.routes: list[Route] = []
        self.error_events: list[Message] = []

    @property
    def events(self) -> list[Any]:
        return self.result.accepted_events

    @events.setter
    def events(self, events: list[Any]) -> None:
        self.result.accepted_events[:] = events


class Pipeline:
    """Validates, completes and produces batches of events. Thread-unsafe; one per event loop."""

    def __init__(
        self,
        registry: SchemaRegistry,
        streams: StreamConfig | Callable[[], StreamConfig] | None,
        log: EventLog,
        settings: PipelineSettings | None = None,
        *,
        output: OutputFile | None = None,
    ) -> None:
        self.registry = registry
        self._streams = streams
        self.log = log
        self.settings = settings or PipelineSettings()
        self.output = output
        self._plans: dict[str, Plan] = {}
        self._stream_cache: dict[str, tuple[dict[str, Any] | None, str, KeyFields | None]] = {}
        self._stream_cache_owner: StreamConfig | None = None
        self._warned_error_stream = False  # (stream, schema URI) pairs that passed the check
        s = self.settings
        self._schema_path = tuple(s.schema_uri_field.split("."))
        self._stream_path = tuple(s.stream_field.split("."))
        self._emitter_id = s.emitter_id or s.service_name
        self._error_stream = s.resolved_error_stream
        # the compiled path, when built and not switched off, and when events are found where it looks
        plain = self._schema_path == ("$schema",) and s.stream_field == "meta.stream"
        module = native.load() if plain else None
        self._native = native.NativeLane(module, s.header_fields) if module is not None else None
        self.native_parse = self._native.parse if self._native is not None else None

    # -- configuration -------------------------------------------------------------------------------

    @property
    def streams(self) -> StreamConfig | None:
        src = self._streams
        if src is None or hasattr(src, "get"):
            return src  # type: ignore[return-value]
        return src()  # a provider, e.g. ``lambda: source.current`` for a refreshing config

    def _current_streams(self) -> StreamConfig | None:
        """The stream config for this batch; the per-stream caches are dropped when it changes."""
        cfg = self.streams
        if cfg is not self._stream_cache_owner:
            self._stream_cache = {}
            for plan in self._plans.values():
                plan.routes.clear()
            if self._native is not None:
                self._native.clear_routes()
            self._stream_cache_owner = cfg
        return cfg

    def _stream_info(self, stream: str) -> tuple[dict[str, Any] | None, str, KeyFields | None]:
        """(settings or None, topic, message-key fields or None), cached per StreamConfig."""
        cfg = self._stream_cache_owner
        info = self._stream_cache.get(stream)
        if info is None:
            settings = cfg.get(stream) if cfg is not None else None
            key_fields = settings.get("message_key_fields") if isinstance(settings, dict) else None
            info = (
                settings,
                topic_for(stream, self.settings.datacenter),
                key_fields if isinstance(key_fields, dict) and key_fields else None,
            )
            if len(self._stream_cache) < 10_000:
                self._stream_cache[stream] = info
        return info

    async def _plan(self, uri: str) -> Plan:
        plan = self._plans.get(uri)
        if plan is None:
            try:
                compiled = await self.registry.get(uri)
            except EventFailure as exc:  # EventGate's wording first, then the precise reason
                raise type(exc)(exc.code, f"Failed loading schema at {_short(uri)}: {exc.message}") from None
            plan = self._plans.get(uri)
            if plan is None:
                plan = Plan(compiled, self.settings.header_fields)
                if len(self._plans) < 10_000:
                    self._plans[uri] = plan
                    if self._native is not None:
                        self._native.add_plan(uri, plan)
        return plan

    def knows_schema(self, uri: str) -> bool:
        """Whether events of schema ``uri`` went through this pipeline (for metrics labels)."""
        return uri in self._plans

    # -- the pipeline --------------------------------------------------------------------------------

    async def process(
        self, events: Sequence[Any], ctx: RequestContext, *, hasty: bool = False
    ) -> BatchResult:
        """Run every event of the batch; produce the valid ones (one ``log.produce``) and error events.

        ``events`` is a list of parsed events, or the compiled path's parse of a body (``native_parse``),
        whose events are run by the compiled engine except the ones it hands back to :meth:`_run`.
        Hot function (see docs/architecture.md): the accepted events are gathered as columns (topic, value,
        key, timestamp), not one object each."""
        result = BatchResult(total=len(events))
        self._current_streams()
        cols = _Columns(result)
        lane = self._native
        if lane is not None and lane.is_parsed(events):
            await self._run_native(lane, events, ctx, cols)
        else:
            await self._run(enumerate(events), ctx, cols)
        topics, values, keys, stamps, routes = cols.topics, cols.values, cols.keys, cols.stamps, cols.routes
        error_events = cols.error_events
        if values and error_events:  # concurrently: a slow log must not make the batch wait twice
            await asyncio.gather(
                self._produce(topics, values, keys, stamps, routes, result, hasty),
                self._produce_error_events(error_events, hasty),
            )
        elif values:
            await self._produce(topics, values, keys, stamps, routes, result, hasty)
        elif error_events:
            await self._produce_error_events(error_events, hasty)
        if self.output is not None and result.accepted_values:
            self.output.write(result.accepted_values)
        return result

    async def _run(self, indexed: Iterable[tuple[int, Any]], ctx: RequestContext, cols: _Columns) -> None:
        """The Python path: each event in turn, the plan looked up without a call on the usual path."""
        result = cols.result
        topics, values, keys, stamps, routes = cols.topics, cols.values, cols.keys, cols.stamps, cols.routes
        ok_events = result.accepted_events
        ok_index = result.accepted_index
        plans = self._plans
        fast = self._schema_path == ("$schema",)
        finish = self._finish
        for index, event in indexed:
            try:
                plan = None
                if fast and type(event) is dict:
                    uri = event.get("$schema")
                    if type(uri) is str:
                        plan = plans.get(uri)
                if plan is None:
                    plan, uri = await self._resolve(event, ctx)
                route, value, key, timestamp_ms = finish(event, ctx, plan, uri)
            except EventFailure as failure:
                outcome = EventOutcome(index, failure.kind, event, failure)
                if isinstance(event, dict):
                    outcome.schema_uri = _str_or_none(get_path(event, self._schema_path))
                    outcome.stream = _str_or_none(get_path(event, self._stream_path))
                if failure.kind == "invalid":
                    result.invalid.append(outcome)
                    err = await self._error_event(outcome, ctx)
                    if err is not None:
                        cols.error_events.append(err)
                else:
                    result.error.append(outcome)
                continue
            except Exception as exc:  # a bug of ours must fail one event, never the batch
                result.error.append(
                    EventOutcome(
                        index, "error", event, EventError(Codes.INTERNAL, f"Internal error: {exc!r}")
                    )
                )
                continue
            topics.append(route.topic)
            values.append(value)
            keys.append(key)
            stamps.append(timestamp_ms)
            routes.append(route)
            ok_events.append(event)
            ok_index.append(index)

    async def _run_native(
        self, lane: native.NativeLane, parsed: Any, ctx: RequestContext, cols: _Columns
    ) -> None:
        """The compiled path for the events it can take; the others (``deferred``) through :meth:`_run`."""
        index, values, keys, stamps, route_ids, deferred, fix = lane.run(parsed, ctx)
        n = len(values)
        if fix:  # a meta.dt in a shape the engine does not convert
            stamps = [_timestamp_ms(s) if type(s) is str else s for s in stamps]
        if type(route_ids) is int:
            route = lane.routes[route_ids]
            routes = [route] * n
            topics = [route.topic] * n
        else:
            routes = [lane.routes[i] for i in route_ids]
            topics = [r.topic for r in routes]
        if keys is None:
            keys = [None] * n
        if deferred:
            await self._run(((i, orjson.loads(raw)) for i, raw in deferred), ctx, cols)
        result = cols.result
        if not cols.values:  # the usual case: every event took the compiled path (or none was valid)
            cols.topics, cols.values, cols.keys = topics, values, keys
            cols.stamps, cols.routes = stamps, routes
            result.accepted_index.extend(index)
            result.accepted_events.extend([None] * n)  # their JSON is in accepted_values once produced
            return
        # both paths accepted events: one batch in the events' order
        all_index = index + result.accepted_index
        order = sorted(range(len(all_index)), key=all_index.__getitem__)
        native_cols = (topics, values, keys, stamps, routes, [None] * n)
        for name, theirs in zip(_Columns.COLUMNS, native_cols, strict=True):
            both = theirs + getattr(cols, name)
            setattr(cols, name, [both[i] for i in order])
        result.accepted_index[:] = [all_index[i] for i in order]

    async def _produce_error_events(self, error_events: list[Message], hasty: bool) -> None:
        with contextlib.suppress(Exception):  # error events are best effort, as in the reference
            await self.log.produce(Batch.of(error_events), hasty=hasty)

    async def _produce(
        self,
        topics: list[str],
        values: list[bytes],
        keys: list[bytes | None],
        stamps: list[int | None],
        routes: list[Route],
        result: BatchResult,
        hasty: bool,
    ) -> None:
        """One produce call for the whole batch: the columns go to the log as they are."""
        n = len(values)
        try:
            delivery = await self.log.produce(Batch(topics, values, keys, stamps), hasty=hasty)
        except EventFailure as failure:
            delivery = [failure] * n
        except Exception as exc:
            delivery = [EventError(Codes.LOG_UNAVAILABLE, f"Event log unavailable: {exc}")] * n
        accepted_by = result.accepted_by
        if not any(delivery):  # the usual case: everything delivered; no per-event branching
            result.accepted_values.extend(values)
            first = routes[0]
            if routes.count(first) == n:  # the usual case: one (stream, schema) per request
                result.accepted_routes.extend([first.key] * n)
                accepted_by[first.key] = accepted_by.get(first.key, 0) + n
                return
            result.accepted_routes.extend([r.key for r in routes])
            for route, count in Counter(routes).items():
                accepted_by[route.key] = accepted_by.get(route.key, 0) + count
            return
        events, index = list(result.accepted_events), list(result.accepted_index)
        result.accepted_events.clear()
        result.accepted_index.clear()
        for event, i, value, route, failed in zip(events, index, values, routes, delivery, strict=True):
            if event is None:  # accepted by the compiled path: the event is its JSON
                event = orjson.loads(value)
            if failed is None:
                result.accepted_events.append(event)
                result.accepted_index.append(i)
                result.accepted_values.append(value)
                result.accepted_routes.append(route.key)
                accepted_by[route.key] = accepted_by.get(route.key, 0) + 1
            else:
                if not isinstance(failed, EventFailure):
                    failed = EventError(Codes.DELIVERY_FAILED, f"Delivery failed: {failed}")
                outcome = EventOutcome(i, failed.kind, event, failed, *route.key)
                (result.invalid if failed.kind == "invalid" else result.error).append(outcome)
        if result.invalid or result.error:
            result.invalid.sort(key=lambda o: o.index)
            result.error.sort(key=lambda o: o.index)

    async def _resolve(self, event: Any, ctx: RequestContext) -> tuple[Plan, str]:
        """Extract and check ``$schema`` and load its schema: the only step that may wait (I/O)."""
        if type(event) is not dict:
            raise EventInvalid(
                Codes.NOT_AN_OBJECT, f"An event must be a JSON object, got {json_type(event)}."
            )
        s = self.settings
        # $schema
        uri = (
            event.get("$schema") if self._schema_path == ("$schema",) else get_path(event, self._schema_path)
        )
        if uri is None and s.schema_uri_query_param and s.schema_uri_query_param in ctx.query:
            uri = ctx.query[s.schema_uri_query_param]
            set_default(event, self._schema_path, uri, True)
        if uri is None:
            raise EventInvalid(
                Codes.SCHEMA_URI_MISSING,
                f"Field(s) {s.schema_uri_field} were missing from event and could not be extracted.",
            )
        if type(uri) is not str:
            raise EventInvalid(
                Codes.SCHEMA_URI_REFUSED, f"{s.schema_uri_field} must be a string, got {json_type(uri)}."
            )
        if len(uri) > MAX_SCHEMA_URI_LENGTH:
            raise EventInvalid(
                Codes.SCHEMA_URI_REFUSED,
                f"{s.schema_uri_field} is {len(uri)} characters long; the limit is {MAX_SCHEMA_URI_LENGTH}.",
            )
        plan = self._plans.get(uri)
        if plan is None:
            plan = await self._plan(uri)
        return plan, uri

    def _route(self, event: dict[str, Any], uri: str, stream: str, plan: Plan) -> Route:
        """Check that the schema may go to the stream (raises) and remember where its events go."""
        settings, topic, key_fields = self._stream_info(stream)
        if self.settings.check_streams:
            self._check_stream(event, uri, stream, settings, plan)
        route = Route(stream, uri, topic, key_fields)
        if len(plan.routes) < 10_000:
            plan.routes[stream] = route
            if self._native is not None:
                self._native.add_route(uri, stream, route)
        return route

    def _finish(
        self, event: dict[str, Any], ctx: RequestContext, plan: Plan, uri: str
    ) -> tuple[Route, bytes, bytes | None, int | None]:
        """Stream check, default fields, validation and serialization: synchronous, no I/O.

        Returns (route, serialized event, message key, timestamp). Hot function: everything that can be
        known per schema, stream or request is precomputed in the plan, its routes and its fills."""
        meta = event.get("meta")
        if self._stream_path == ("meta", "stream"):
            stream = meta.get("stream") if type(meta) is dict else None
        else:
            stream = get_path(event, self._stream_path)
        if stream is None:
            s = self.settings
            if s.stream_query_param and s.stream_query_param in ctx.query:
                stream = ctx.query[s.stream_query_param]
                set_default(event, self._stream_path, stream, True)
                meta = event.get("meta")
        if type(stream) is not str or not stream:
            raise EventInvalid(
                Codes.STREAM_MISSING,
                f"Field(s) {self.settings.stream_field} were missing from event and could not be extracted.",
            )
        route = plan.routes.get(stream)
        if route is None:
            route = self._route(event, uri, stream, plan)
        # default fields (eventgate-wikimedia): only when the schema has the field and the event lacks it
        if type(meta) is not dict and (plan.meta_id or plan.meta_dt):
            meta = event["meta"] = {} if meta is None else meta
        timestamp_ms: int | None = None
        if type(meta) is dict:
            if plan.meta_id and "id" not in meta:
                meta["id"] = str(uuid1())
            if plan.meta_dt and "dt" not in meta:
                meta["dt"] = ctx.received_iso
                timestamp_ms = ctx.received_ms
            else:
                timestamp_ms = _timestamp_ms(meta.get("dt"))
        if plan.legacy_dt and "dt" not in event:
            event["dt"] = ctx.received_iso
        if plan.header_fields:
            for path, value, is_request_id in plan.fill if plan.fill_ctx is ctx else plan.fills(ctx):
                if is_request_id and type(meta) is dict:
                    if "request_id" not in meta:
                        meta["request_id"] = value
                elif len(path) == 3 and event.get(path[0]) is None:
                    event[path[0]] = {path[1]: {path[2]: value}}  # the usual case: no "http" yet
                else:
                    set_default(event, path, value, True)
        if plan.client_ip and ctx.client_ip:
            http = event.get("http")
            if http is None:
                event["http"] = {"client_ip": ctx.client_ip[:HEADER_VALUE_MAX]}
            elif type(http) is dict and "client_ip" not in http:
                http["client_ip"] = ctx.client_ip[:HEADER_VALUE_MAX]
        if plan.schema_fill is not None:
            plan.schema_fill.apply(event)
        # validation: the registry's pattern-based validator decides; the exact one explains a refusal
        if not plan.is_valid(event):
            details = plan.compiled.describe(event)
            if details:  # the exact validator has the last word
                raise EventInvalid(Codes.VALIDATION_FAILED, _errors_text(details), tuple(details))
        key_fields = route.key_fields
        return (
            route,
            dumps(event),
            None if key_fields is None else message_key(event, key_fields),
            timestamp_ms,
        )

    def _check_stream(
        self, event: dict[str, Any], uri: str, stream: str, settings: dict[str, Any] | None, plan: Plan
    ) -> None:
        """eventgate-wikimedia's ensureEventAllowedInStream, as *invalid* with a precise code."""
        meta = event.get("meta")
        if plan.meta_id and type(meta) is dict and "id" not in meta:
            meta["id"] = str(uuid1())  # as eventgate-wikimedia, whose defaults come before this check
        event_id = meta.get("id") if isinstance(meta, dict) else None
        repr_ = f"event {event_id} of schema at {uri} destined to stream {stream}"
        if settings is None:
            raise EventInvalid(
                Codes.STREAM_NOT_CONFIGURED, f"{repr_} is not allowed in stream; {stream} is not configured."
            )
        if not {k for k in settings if k not in ("stream", "topics")}:
            raise EventInvalid(
                Codes.STREAM_HAS_NO_SETTINGS, f"{repr_} is configured but does not have any settings."
            )
        schema_title = settings.get("schema_title")
        if not schema_title:
            raise EventInvalid(
                Codes.STREAM_HAS_NO_SCHEMA_TITLE, f"{repr_} does not have a schema_title setting."
            )
        if plan.title != schema_title:
            raise EventInvalid(
                Codes.SCHEMA_TITLE_MISMATCH,
                f"{repr_} is not allowed in stream; schema title must be {schema_title}."
                + (f" The schema's title is {plan.title}." if plan.title else " The schema has no title."),
            )

    async def report_invalid(
        self,
        raw: str,
        failure: EventFailure,
        ctx: RequestContext,
        *,
        stream: str | None = None,
        schema_uri: str | None = None,
    ) -> None:
        """An error event for input refused before it was an event (e.g. a legacy beacon's capsule)."""
        self._current_streams()
        outcome = EventOutcome(0, failure.kind, raw, failure, stream, schema_uri)
        err = await self._error_event(outcome, ctx)
        if err is not None:
            await self._produce_error_events([err], hasty=False)

    async def _error_event(self, outcome: EventOutcome, ctx: RequestContext) -> Message | None:
        """An event of the shipped ``error`` schema describing an invalid event, or None if disabled."""
        stream = self._error_stream
        if stream is None or outcome.failure is None:
            return None
        event = outcome.event
        meta = event.get("meta") if isinstance(event, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        failure = outcome.failure
        error_meta = {
            "stream": stream,
            "id": new_uuid(),
            "dt": ctx.received_iso,
            "request_id": _as_str(meta.get("request_id", ctx.request_id)),
            "uri": _as_str(meta.get("uri", "unknown")),
            "domain": _as_str(meta.get("domain", "unknown")) or "unknown",
        }
        error_event = {
            "$schema": self.settings.error_schema_uri,
            "meta": error_meta,
            "dt": ctx.received_iso,
            "emitter_id": self._emitter_id,
            "raw_event": event if isinstance(event, str) else _dumps_lenient(event),
            "message": failure.message,
            "error_type": failure.code,
            "errored_schema_uri": outcome.schema_uri or "unknown",
            "errored_stream_name": outcome.stream or "unknown",
        }
        try:
            plan = await self._plan(self.settings.error_schema_uri)
            settings = self._stream_info(stream)[0]
            if self.settings.check_streams and (
                settings is None or settings.get("schema_title") != plan.title
            ):
                # like any event, an error event must be allowed in its stream (as in eventgate-wikimedia)
                if not self._warned_error_stream:
                    self._warned_error_stream = True
                    logger.warning(
                        "error events are dropped: stream %s is not configured with schema_title %s",
                        stream,
                        plan.title,
                    )
                return None
            if plan.compiled.validate(error_event):
                # fields copied from the bad event may be bad themselves (e.g. a meta.uri that is not a URI)
                error_meta["uri"] = error_meta["domain"] = "unknown"
                if plan.compiled.validate(error_event):
                    return None
        except EventFailure:
            return None
        return Message(
            topic_for(stream, self.settings.datacenter), orjson.dumps(error_event), None, ctx.received_ms
        )


def _short(value: str, limit: int = 200) -> str:
    return value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "null" if value is None else orjson.dumps(value).decode()


def _dumps_lenient(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)
