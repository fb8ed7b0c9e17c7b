"""What the pipeline knows per schema (:class:`Plan`) and per (stream, schema) pair (:class:`Route`).

Both are computed once, when a schema or stream is first seen, so that the per-event work is only what
depends on the event; the compiled path (:mod:`.native`) is given the same plans and routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eventplatform.intake.batch import RequestContext
from eventplatform.intake.defaults import SchemaFill, is_open_object
from eventplatform.intake.native import REQUEST_ID_PATH, header_value
from eventplatform.schemas.registry import CompiledSchema

KeyFields = Mapping[str, str]  # message key name -> dotted event path (stream config message_key_fields)


class Route:
    """A (stream, schema URI) pair that passed the stream check: where its events go."""

    __slots__ = ("key", "key_fields", "topic")

    def __init__(self, stream: str, uri: str, topic: str, key_fields: KeyFields | None) -> None:
        self.key = (stream, uri)
        self.topic = topic
        self.key_fields = key_fields


class Plan:
    """What to do to events of one schema, precomputed once per schema: default fields, schema defaults,
    integer normalisation, title checks."""

    __slots__ = (
        "client_ip",
        "compiled",
        "fill",
        "fill_ctx",
        "header_fields",
        "is_valid",
        "legacy_dt",
        "meta_dt",
        "meta_id",
        "routes",
        "schema_fill",
        "title",
    )

    def __init__(self, compiled: CompiledSchema, header_fields: Mapping[str, str]) -> None:
        self.compiled = compiled
        self.title = compiled.title
        has = compiled.has_field
        self.meta_id = has(("meta", "id"))
        self.meta_dt = has(("meta", "dt"))
        self.legacy_dt = bool(self.title and self.title.startswith("analytics/legacy")) and has(("dt",))
        self.client_ip = has(("http", "client_ip"))
        hf: list[tuple[str, tuple[str, ...]]] = []
        for header, dotted in header_fields.items():
            path = tuple(dotted.split("."))
            if has(path) or (len(path) > 1 and is_open_object(compiled.schema, path[:-1])):
                hf.append((header, path))
        self.header_fields = tuple(hf)
        fill = SchemaFill(compiled.schema)
        self.schema_fill = fill if fill.defaults or fill.integer_paths else None  # None: nothing to do
        # the validator of the hot path (AJV formats as Rust patterns); ``describe`` explains a refusal
        self.is_valid: Callable[[Any], bool] = (compiled.fast or compiled.validator).is_valid
        self.routes: dict[str, Route] = {}  # stream -> route, for the current stream config
        # header-derived fields of the request last seen: ((path, value, is meta.request_id), ...)
        self.fill_ctx: RequestContext | None = None
        self.fill: tuple[tuple[tuple[str, ...], str, bool], ...] = ()

    def fills(self, ctx: RequestContext) -> tuple[tuple[tuple[str, ...], str, bool], ...]:
        """The header-derived fields for events of this schema in this request (computed once per request)."""
        if self.fill_ctx is ctx:
            return self.fill
        out = []
        for header, path in self.header_fields:
            value = header_value(ctx, header)
            if value is not None:
                out.append((path, value, path == REQUEST_ID_PATH))
        self.fill, self.fill_ctx = tuple(out), ctx
        return self.fill
