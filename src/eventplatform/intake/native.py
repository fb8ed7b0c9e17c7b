"""The compiled hot path (``native/``, a Rust extension): the one switch between it and pure Python.

The extension is a fast lane, not a second pipeline: it takes a request body, and for each event whose schema
and (stream, schema) route the Python pipeline has already planned, fills the default fields, validates and
serializes it; every other event (unknown schema or stream, invalid, holding a float...) is handed back raw
and decided by the Python pipeline, which stays the one implementation of every rule and of every error
body. ``make install`` builds it (``pip install ./native``, maturin); when it is missing, intake logs one
warning and runs in pure Python. ``EVENTPLATFORM_NATIVE=0`` switches it off.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import orjson

from eventplatform.intake.batch import RequestContext
from eventplatform.schemas.compiled import INTERNAL_BASE
from eventplatform.schemas.formats import formats_as_patterns, formats_used

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger("eventplatform.intake")
ENV = "EVENTPLATFORM_NATIVE"
HEADER_VALUE_MAX = 400  # eventgate-wikimedia truncates header-derived fields to 400 characters
REQUEST_ID_PATH = ("meta", "request_id")
_warned: list[bool] = []


def load() -> Any:
    """The extension module, or None (switched off, or not built: one warning per process)."""
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        import eventplatform_native
    except ImportError as exc:
        if not _warned:
            _warned.append(True)
            logger.warning(
                "the compiled intake path is not built (%s); running the pure-Python pipeline. "
                "`make install` builds it (needs cargo), %s=0 silences this.",
                exc,
                ENV,
            )
        return None
    return eventplatform_native


def header_value(ctx: RequestContext, header: str) -> str | None:
    """The value of a request header for header-derived event fields (cut to 400 characters)."""
    if header == "x-request-id":
        value: str | None = ctx.request_id
    elif header == "user-agent":
        value = ctx.user_agent
    else:
        value = ctx.headers.get(header)
    return None if value is None else value[:HEADER_VALUE_MAX]


class NativeLane:
    """One pipeline's compiled engine: the plans and routes the Python pipeline made, mirrored."""

    def __init__(self, module: Any, header_fields: Mapping[str, str]) -> None:
        self.module = module
        self.engine = module.Engine(os.urandom(6))  # v1 UUID node: random, as uuid-utils' default
        self.parse = module.parse  # body -> Parsed | None (None: the Python parser decides)
        self.routes: list[Any] = []  # route id -> the pipeline's _Route
        self._headers = tuple(header_fields)

    def is_parsed(self, events: Any) -> bool:
        return type(events) is self.module.Parsed

    def add_plan(self, uri: str, plan: Any) -> bool:
        """Register a schema's plan; False (logged at debug) when its events must take the Python path."""
        try:
            fast = formats_as_patterns(plan.compiled.schema)
            if formats_used(fast):  # formats without a Rust pattern are Python callbacks
                return False
            fill = plan.schema_fill
            defaults = [[list(p), v] for p, v in fill.defaults] if fill is not None else []
            integers = [list(p) for p in fill.integer_paths] if fill is not None else []
            why = self.engine.add_plan(
                uri,
                orjson.dumps(fast).decode(),
                INTERNAL_BASE,
                plan.meta_id,
                plan.meta_dt,
                plan.legacy_dt,
                plan.client_ip,
                [(h, list(p), p == REQUEST_ID_PATH) for h, p in plan.header_fields],
                orjson.dumps(defaults).decode(),
                integers,
            )
        except (TypeError, ValueError) as exc:
            why = str(exc)
        if why is not None:
            logger.debug("schema %s: events take the Python path (%s)", uri[:200], why)
            return False
        return True

    def add_route(self, uri: str, stream: str, route: Any) -> None:
        if self.engine.add_route(uri, stream, len(self.routes), _key_fields(route.key_fields)):
            self.routes.append(route)

    def clear_routes(self) -> None:
        self.engine.clear_routes()
        self.routes = []

    def run(self, parsed: Any, ctx: RequestContext) -> tuple[Any, ...]:
        """The engine's columns for a parsed batch (see ``Engine.run`` in native/src/lib.rs)."""
        headers = {}
        for header in self._headers:
            value = header_value(ctx, header)
            if value is not None:
                headers[header] = value
        client_ip = ctx.client_ip[:HEADER_VALUE_MAX] if ctx.client_ip else None
        return self.engine.run(parsed, ctx.received_iso, ctx.received_ms, client_ip, headers)


def _key_fields(key_fields: Mapping[str, str] | None) -> list[tuple[str, str]] | None:
    return None if key_fields is None else [(str(k), str(v)) for k, v in key_fields.items()]
