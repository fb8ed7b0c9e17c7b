"""Canary events: what they are, so every consumer drops them the same way.

A canary is a synthetic event (``meta.domain == "canary"``, exact and case-sensitive, as the reference's
``remove_canary_events``) that ``eventplatform canary`` posts to every canary-enabled stream so an idle
stream can be told from a broken one. Consumers (lake, EventStreams, ``tail`` unless asked) drop them with
:func:`is_canary` (a parsed event) or :func:`is_canary_value` (the serialized bytes of a log record).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import orjson

CANARY_DOMAIN = "canary"
CANARY_SETTING = "canary_events_enabled"
_NEEDLE = b'"canary"'


def is_canary(event: Any) -> bool:
    """True if ``event`` (a parsed event) is a canary: ``meta.domain == "canary"``."""
    if not isinstance(event, Mapping):
        return False
    meta = event.get("meta")
    return isinstance(meta, Mapping) and meta.get("domain") == CANARY_DOMAIN


def is_canary_value(value: bytes | bytearray | memoryview | str) -> bool:
    """True if the serialized event ``value`` is a canary. Cheap for ordinary events: the JSON is parsed
    only when the text ``"canary"`` occurs in it; a value that is not JSON is not a canary."""
    if isinstance(value, str):
        value = value.encode()
    data = bytes(value)
    if _NEEDLE not in data:
        return False
    try:
        return is_canary(orjson.loads(data))
    except orjson.JSONDecodeError:
        return False


def canary_enabled(settings: Mapping[str, Any] | None) -> bool:
    """Whether a stream's resolved settings (``StreamConfig.get``) ask for canary events."""
    return bool(settings) and settings.get(CANARY_SETTING) is True  # type: ignore[union-attr]


def make_canary(example: Mapping[str, Any], stream: str, dt: str | None = None) -> dict[str, Any]:
    """The canary of ``stream`` from its schema's first example: a deep copy with ``meta.domain`` =
    ``canary`` and ``meta.stream`` set; ``dt`` (ISO 8601) becomes ``meta.dt`` so the event lands in the
    intended hour, otherwise ``meta.dt`` is removed and intake fills it in."""
    event = copy.deepcopy(dict(example))
    meta = event.get("meta")
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    meta["domain"] = CANARY_DOMAIN
    meta["stream"] = stream
    if dt is None:
        meta.pop("dt", None)
    else:
        meta["dt"] = dt
    event["meta"] = meta
    return event
