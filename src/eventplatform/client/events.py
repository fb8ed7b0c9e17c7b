"""Pure logic of the clients: stamping and serialising an event, stream lookup and sampling.

No I/O and no threads here, so that the rules are unit-tested alone and shared by the threaded and the
asyncio client. The rules are the reference client's (``clients-and-streams.md`` §1.4, §1.5, §1.15), with
its weak spots fixed: the event is serialised at submit time (later mutations by the caller cannot leak in),
every refusal says why, and a ``device`` sampling unit exists.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

try:  # orjson when present (the server has it); the client itself only needs the standard library
    import orjson

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value)

    _ENCODE_ERRORS: tuple[type[Exception], ...] = (orjson.JSONEncodeError, TypeError, ValueError)
except ImportError:  # pragma: no cover - exercised only without orjson installed
    import json

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()

    _ENCODE_ERRORS = (TypeError, ValueError, RecursionError)

MAX_ID = 0xFFFFFFFF  # 2^32 - 1: the reference's normaliser
UNITS = ("session", "pageview", "device")


class BadEvent(Exception):
    """An event refused at submit time; ``kind`` is the machine-readable reason (a counter's name)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# --- identifiers and time -----------------------------------------------------------------------------


def random_id() -> str:
    """80 random bits as 20 hex characters, like the reference's session and pageview tokens."""
    return os.urandom(10).hex()


_ids: list[Any] = [None, None]  # [prefix, counter]


def _reseed_ids() -> None:
    h = os.urandom(10).hex()
    _ids[0] = f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{'89ab'[int(h[15], 16) & 3]}{h[16:19]}-"
    _ids[1] = itertools.count((1 << 44) + (int.from_bytes(os.urandom(4)) << 8))  # always 12 hex digits


_reseed_ids()
os.register_at_fork(after_in_child=_reseed_ids)


def new_event_id() -> str:
    """A new ``meta.id``, set at submit time so a retried event keeps it (duplicates of at-least-once
    delivery are then removable by ``meta.id``). UUID-shaped: 74 random bits per process (drawn again in a
    forked child) and a counter, because ``os.urandom`` per event would be most of ``submit``'s cost.
    Hot function."""
    return _ids[0] + hex(next(_ids[1]))[2:]


_clock: list[Any] = [-1, "", -1, ""]  # [second, its text, millisecond, its text]


def iso_now() -> str:
    """Now as ISO-8601 UTC with milliseconds and ``Z`` (``Date#toISOString``). Hot: cached per ms."""
    ms = int(time.time() * 1000)
    if ms == _clock[2]:
        return _clock[3]
    s = ms // 1000
    if s != _clock[0]:
        _clock[0] = s
        _clock[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))
    text = f"{_clock[1]}.{ms % 1000:03d}Z"
    _clock[2], _clock[3] = ms, text
    return text


# --- sampling ---------------------------------------------------------------------------------------------


def normalize_id(identifier: str) -> float:
    """The reference's ``parseInt(first 8 hex, 16) / (2^32 - 1)``: a number in [0, 1]."""
    return int(identifier[:8], 16) / MAX_ID


def in_sample(identifier: str, rate: float) -> bool:
    """Deterministic per identifier; nested rates are nested (in at 0.1 implies in at 0.5)."""
    try:
        return normalize_id(identifier) < rate
    except ValueError:
        return False


def valid_sample(sample: Any) -> bool:
    """The reference's validity: truthy ``unit``, truthy ``rate`` and ``0 <= rate <= 1``."""
    if not isinstance(sample, Mapping):
        return False
    rate = sample.get("rate")
    return (
        bool(sample.get("unit"))
        and bool(rate)
        and isinstance(rate, int | float)
        and not isinstance(rate, bool)
        and 0 <= rate <= 1
    )


@dataclass(frozen=True)
class Identity:
    """The identifiers sampling is keyed on. Server code submitting for many users passes one per call."""

    session_id: str = field(default_factory=random_id)
    pageview_id: str = field(default_factory=random_id)
    device_id: str = field(default_factory=random_id)

    def for_unit(self, unit: str) -> str | None:
        if unit == "session":
            return self.session_id
        if unit == "pageview":
            return self.pageview_id
        if unit == "device":
            return self.device_id
        return None


def sample_verdict(stream: str, config: Mapping[str, Any], identity: Identity) -> str | None:
    """None when in sample, else why not (a log message). No ``sample`` key: in sample."""
    if "sample" not in config:
        return None
    sample = config["sample"]
    if not valid_sample(sample):
        return f"The stream {stream} has an invalid sample setting {sample!r}. No event will be sent"
    identifier = identity.for_unit(sample["unit"])
    if identifier is None:
        return (
            f"The stream {stream} samples by unknown unit {sample['unit']!r} "
            f"(known: {', '.join(UNITS)}). No event will be sent"
        )
    if not in_sample(identifier, sample["rate"]):
        return f"The stream {stream} is out of sample. No event will be sent"
    return None


# --- stream config ----------------------------------------------------------------------------------------


class StreamTable:
    """Stream configs by exact name or ``/regex/`` (the ``/v1/stream-configs`` body, or its ``streams``).

    ``None`` means stream config is disabled: every stream is configured and unsampled (the reference's
    ``streamConfigs: false``)."""

    def __init__(self, configs: Mapping[str, Any] | None) -> None:
        self.disabled = configs is None
        if configs is not None and isinstance(configs.get("streams"), Mapping):
            configs = configs["streams"]
        self.exact: dict[str, Mapping[str, Any]] = {}
        self.patterns: list[tuple[re.Pattern[str], Mapping[str, Any]]] = []
        for name, config in (configs or {}).items():
            if not isinstance(config, Mapping):
                continue
            if len(name) > 1 and name.startswith("/") and name.endswith("/"):
                self.patterns.append((re.compile(name[1:-1]), config))
            else:
                self.exact[name] = config

    def lookup(self, stream: str) -> Mapping[str, Any] | None:
        if self.disabled:
            return {}
        found = self.exact.get(stream)
        if found is not None:
            return found
        for pattern, config in self.patterns:
            if pattern.search(stream):
                return config
        return None

    def verdict(self, stream: str, identity: Identity) -> tuple[str, str] | None:
        """None to send; else (counter kind, message): ``unconfigured`` or ``out_of_sample``."""
        config = self.lookup(stream)
        if config is None:
            return "unconfigured", f"The stream {stream} is not configured. No event will be sent"
        reason = sample_verdict(stream, config, identity)
        return None if reason is None else ("out_of_sample", reason)


# --- the event itself -------------------------------------------------------------------------------------


def check_call(stream: Any, event: Any) -> None:
    """The caller's mistakes, with the reference's wording where it has one."""
    if not isinstance(stream, str) or not stream:
        raise BadEvent("bad_stream", f"submit( {stream!r}, eventData ) needs a non-empty stream name.")
    if not isinstance(event, Mapping):
        raise BadEvent(
            "not_an_object",
            f"submit( {stream}, eventData ) called with {type(event).__name__}, not an object. "
            "No event will be produced.",
        )
    if not event.get("$schema"):
        raise BadEvent(
            "missing_schema",
            f'submit( {stream}, eventData ) called with eventData missing required field "$schema". '
            "No event will be produced.",
        )


def prepare(
    stream: str,
    event: Mapping[str, Any],
    *,
    domain: str | None,
    max_bytes: int,
) -> tuple[str, bytes]:
    """``(meta.id, JSON bytes)`` of the event as sent, serialised now (PHP ``EventLogging::submit``
    stamping): ``dt`` (now) and ``meta.domain`` are defaults the caller's values win over, ``meta.stream``
    is forced, ``meta.id`` is set when absent, ``dt`` is removed for migrated legacy events (``client_dt``).
    Hot function: one dict copy, one ``dumps``."""
    out = dict(event)
    meta = out.get("meta")
    if meta is None:
        meta = {"stream": stream}
    elif isinstance(meta, dict):
        meta = {**meta, "stream": stream}
    else:
        raise BadEvent("bad_meta", f"submit( {stream}, eventData ): meta must be an object, not {meta!r}.")
    event_id = meta.get("id")
    if not event_id:
        event_id = meta["id"] = new_event_id()
    if domain is not None and "domain" not in meta:
        meta["domain"] = domain
    out["meta"] = meta
    if "client_dt" in out:
        out.pop("dt", None)
    elif "dt" not in out:
        out["dt"] = iso_now()
    try:
        body = _dumps(out)
    except _ENCODE_ERRORS as exc:
        raise BadEvent(
            "unserialisable",
            f"submit( {stream}, eventData ): the event cannot be serialised as JSON ({exc}); "
            "cyclic or not plain data. No event will be produced.",
        ) from None
    if len(body) > max_bytes:
        raise BadEvent(
            "too_large",
            f"submit( {stream}, eventData ): the event is {len(body)} bytes, over the limit of {max_bytes}. "
            "No event will be produced.",
        )
    return str(event_id), body


def dumps(value: Any) -> bytes:
    return _dumps(value)
