"""The legacy EventLogging capsule: parsing a beacon's query string and turning it into an event.

The parser is the legacy processor's ``%q``: strip the leading ``?`` and the trailing ``;`` (and ``&``, as
MediaWiki's converter does), ``+`` is a space, percent-decoding must give UTF-8, and the text must be a JSON
object with ``schema`` (a name) and ``revision`` (an integer). Every refusal is an
:class:`~eventplatform.errors.EventInvalid` with a code of :class:`LegacyCodes`, so the beacon can log it and
send it to the error stream like any invalid event.

The event has the shape of Wikimedia's migrated ``analytics/legacy/<schema>`` schemas (the capsule fields at
the top level, with the ``fragment/analytics/legacy/eventcapsule`` fragment): ``$schema``
``/analytics/legacy/<schema lower-cased>/<version>``, stream ``eventlogging_<Schema>``, ``event``,
``schema``, ``revision``, ``wiki``, ``webHost``, ``client_dt``, ``uuid``, ``recvFrom``; intake's pipeline
then fills ``dt``, ``meta.id``, ``meta.dt``, ``http.client_ip`` and the user agent as for any legacy event.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

from eventplatform.errors import EventInvalid, short

SCHEMA_NAME = re.compile(r"[./A-Za-z0-9_-]{1,63}")  # the legacy back end's schema names
# capsule fields the processor dropped (historic client flags), or that must never be stored
DROPPED = frozenset({"clientValidated", "isTruncated", "clientIp", "topic", "seqId", "ip"})
# capsule fields copied to the event as they are (the migrated schemas keep them at the top level)
COPIED = ("event", "schema", "revision", "wiki", "webHost", "uuid", "client_dt", "dt", "recvFrom")
RECV_FROM = socket.gethostname()


class LegacyCodes:
    """Stable codes of the legacy beacon's refusals (added to, never renamed)."""

    QUERY_TOO_LONG = "legacy_query_too_long"
    NOT_UTF8 = "legacy_query_not_utf8"
    NOT_JSON = "legacy_capsule_not_json"
    NOT_OBJECT = "legacy_capsule_not_object"
    SCHEMA_MISSING = "legacy_schema_missing"
    REVISION_MISSING = "legacy_revision_missing"
    REVISION_UNKNOWN = "legacy_revision_unknown"


def capsule_text(query: bytes) -> bytes:
    """The capsule's bytes in a query string: without the leading ``?`` and trailing ``;``/``&``."""
    return query.lstrip(b"?").rstrip(b";&")


def decode_query(query: bytes) -> str:
    """``%q``'s decoding: ``+`` is a space, percent-escapes must decode to UTF-8."""
    raw = unquote_to_bytes(capsule_text(query).replace(b"+", b" "))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventInvalid(
            LegacyCodes.NOT_UTF8,
            "The query string is not UTF-8 once percent-decoded: "
            f"byte 0x{raw[exc.start]:02x} at {exc.start}.",
        ) from None


def parse_capsule(text: str) -> dict[str, Any]:
    """The capsule object of a decoded query string; refuses what the legacy processor refused."""
    if not text:
        raise EventInvalid(LegacyCodes.NOT_JSON, "The query string is empty: no capsule.")
    try:
        capsule = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise EventInvalid(LegacyCodes.NOT_JSON, f"The capsule is not JSON: {exc}.") from None
    if type(capsule) is not dict:
        kind = type(capsule).__name__ if capsule is not None else "null"
        raise EventInvalid(LegacyCodes.NOT_OBJECT, f"The capsule must be a JSON object, got {kind}.")
    schema = capsule.get("schema")
    if not isinstance(schema, str) or not SCHEMA_NAME.fullmatch(schema):
        why = "missing" if schema is None else f"not a schema name: {short(orjson.dumps(schema).decode())}"
        raise EventInvalid(LegacyCodes.SCHEMA_MISSING, f"The capsule's schema is {why}.")
    revision = capsule.get("revision")
    if type(revision) is not int:
        why = "missing" if revision is None else f"not an integer: {short(orjson.dumps(revision).decode())}"
        raise EventInvalid(LegacyCodes.REVISION_MISSING, f"The capsule's revision is {why}.")
    return capsule


def stream_name(schema: str) -> str:
    """The stream (and topic, without a datacenter prefix) of a legacy schema: ``eventlogging_<Schema>``."""
    return f"eventlogging_{schema}"


def schema_uri(schema: str, revision: int, revisions: Mapping[str, Mapping[int, str]]) -> str:
    """``/analytics/legacy/<schema lower-cased>/<version>``: the version the configured mapping gives the
    revision, or ``latest`` when the schema has no mapping (the registry resolves it, and the event then
    names the version it was validated against: see :func:`pin_version`)."""
    versions = revisions.get(schema)
    base = f"/analytics/legacy/{schema.lower()}"
    if versions is None:
        return f"{base}/latest"
    version = versions.get(revision)
    if version is None:
        known = ", ".join(str(r) for r in sorted(versions)) or "none"
        raise EventInvalid(
            LegacyCodes.REVISION_UNKNOWN,
            f"Revision {revision} of schema {schema} maps to no schema version (known revisions: {known}).",
        )
    return f"{base}/{version}"


def to_event(
    capsule: Mapping[str, Any],
    revisions: Mapping[str, Mapping[int, str]],
    *,
    received_iso: str,
    user_agent: str | None = None,
) -> dict[str, Any]:
    """The Event Platform event of a parsed capsule (see the module docstring for the fields)."""
    schema: str = capsule["schema"]
    event: dict[str, Any] = {
        "$schema": schema_uri(schema, capsule["revision"], revisions),
        "meta": {"stream": stream_name(schema)},
    }
    for name in COPIED:
        if name in capsule:
            event[name] = capsule[name]
    for name, value in capsule.items():  # anything else goes through, for the schema to judge
        if name not in event and name not in DROPPED and name != "userAgent":
            event[name] = value
    event.setdefault("event", {})
    event.setdefault("client_dt", received_iso)
    event.setdefault("uuid", uuid.uuid4().hex)
    event.setdefault("recvFrom", RECV_FROM)
    if isinstance(web_host := capsule.get("webHost"), str) and web_host:
        event["meta"]["domain"] = web_host
    # a capsule's own userAgent wins over the request's header, as in the legacy parser
    agent = capsule.get("userAgent")
    agent = agent if isinstance(agent, str) else user_agent
    if agent is not None:
        event["http"] = {"request_headers": {"user-agent": agent[:400]}}
    return event


def pin_version(event: dict[str, Any], schema_id: str | None) -> None:
    """Replace a ``latest`` ``$schema`` by the ``$id`` of the schema it resolved to."""
    uri = event.get("$schema")
    if schema_id and isinstance(uri, str) and uri.endswith("/latest"):
        event["$schema"] = schema_id
