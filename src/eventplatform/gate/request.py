"""Reading a ``POST /v1/events`` request: headers, body (size limit, gzip/deflate), query, JSON events.

Every refusal is a :class:`BodyError` (answered as a problem document) or :class:`EmptyBody` (EventGate's
400 "Request body was empty" answer, only for a body that is really empty); nothing here sends anything.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from eventplatform.intake.batch import RequestContext, json_type, new_uuid

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

ACCEPTED_CONTENT_TYPES = ("application/json", "text/plain", "application/reports+json")
REQUEST_ID_MAX = 200  # a client x-request-id longer than this is cut, on every route that echoes it
HASTY_TRUE = ("true", "1")
HASTY_FALSE = ("false", "0", "")  # "" = a bare ?hasty, which EventGate does not treat as hasty either


class BodyError(Exception):
    """A request-level failure before any event is looked at: (status, problem kind, title, detail)."""

    def __init__(self, status: int, kind: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail


class EmptyBody(Exception):
    """No events: an empty body, an empty array or object."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail


def too_large(detail: str) -> BodyError:
    return BodyError(413, "payload_too_large", "Payload Too Large", detail)


@dataclass(slots=True)
class Head:
    """The request headers intake reads (one pass over the ASGI header list)."""

    request_id: str = ""
    content_type: str | None = None
    content_encoding: str | None = None
    declared_length: bytes | None = None
    user_agent: str | None = None
    client_ip: str | None = None
    forwarded: str | None = None
    accept_gzip: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # all of them, only when the pipeline maps some

    def context(self, scope: Scope, query: dict[str, str]) -> RequestContext:
        client_ip = self.client_ip
        if client_ip is None and self.forwarded:
            client_ip = self.forwarded.split(",", 1)[0].strip()
        if client_ip is None and scope.get("client"):
            client_ip = scope["client"][0]
        return RequestContext.now(
            request_id=self.request_id,
            user_agent=self.user_agent,
            client_ip=client_ip,
            headers=self.headers,
            query=query,
        )


def read_head(scope: Scope, want_headers: bool) -> Head:
    """The headers of the hot path; a hot function: one loop, byte comparisons, no per-header objects."""
    head = Head()
    request_id = None
    headers = head.headers
    for name, value in scope["headers"]:
        if name == b"content-type":
            head.content_type = value.decode("latin-1")
        elif name == b"content-length":
            head.declared_length = value
        elif name == b"content-encoding":
            head.content_encoding = value.decode("latin-1").strip().lower()
        elif name == b"user-agent":
            head.user_agent = value.decode("latin-1")
        elif name == b"x-request-id":
            request_id = value.decode("latin-1")[:REQUEST_ID_MAX]
        elif name == b"x-client-ip":
            head.client_ip = value.decode("latin-1")
        elif name == b"x-forwarded-for":
            head.forwarded = value.decode("latin-1")
        elif name == b"accept-encoding":
            head.accept_gzip = b"gzip" in value
        if want_headers:
            headers[name.decode("latin-1")] = value.decode("latin-1")
    head.request_id = request_id or new_uuid()
    return head


async def read_body(receive: Receive, head: Head, limit: int) -> bytes | None:
    """The whole body, refused above ``limit`` bytes (by Content-Length first); None if the client left."""
    declared = head.declared_length
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(f"The request body is {int(declared)} bytes; the limit is {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(f"The request body is larger than the limit of {limit} bytes.")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_query(query_string: bytes) -> tuple[dict[str, str], bool]:
    """(query parameters, last value wins; whether ``hasty``)."""
    query: dict[str, str] = {}
    hasty = False
    if query_string:
        for key, values in parse_qs(query_string.decode("latin-1"), keep_blank_values=True).items():
            query[key] = values[-1]
            if key == "hasty":
                hasty = parse_hasty(values)
    return query, hasty


def parse_hasty(values: list[str]) -> bool:
    """Strict ``hasty``, exactly as the README says: true/1 or false/0 (a bare ``?hasty`` is not hasty, as in
    EventGate); anything else (``yes``, ``TRUE``...) is a 400 rather than a guess."""
    if len(values) != 1:
        raise BodyError(400, "bad_hasty", "Bad Request", "The hasty query parameter must be given once.")
    v = values[0]
    if v in HASTY_TRUE:
        return True
    if v in HASTY_FALSE:
        return False
    raise BodyError(
        400,
        "bad_hasty",
        "Bad Request",
        f"hasty must be true, false, 1 or 0; got {values[0][:100]!r}.",
    )


def parse_events(
    body: bytes, head: Head, limit: int, max_events: int, fast_parse: Callable[[bytes], Any] | None = None
) -> Any:
    """The events of the body: content type, encoding, BOM, JSON, one event or an array of them.

    With ``fast_parse`` (the compiled path's parser), a body it parses is returned as its parse (a sized
    batch for the pipeline); anything it declines (malformed, empty...) is parsed and judged here."""
    content_type = head.content_type
    ctype = content_type.split(";", 1)[0].strip().lower() if content_type is not None else None
    if ctype not in ACCEPTED_CONTENT_TYPES:
        if not body:
            raise EmptyBody()
        # EventGate leaves such a body unparsed and calls it empty; a 415 says what is wrong
        accepted = ", ".join(ACCEPTED_CONTENT_TYPES)
        got = f"Content-Type {ctype!r} is not supported" if ctype else "The request has no Content-Type"
        raise BodyError(415, "unsupported_media_type", "Unsupported Media Type", f"{got}; use {accepted}.")
    if head.content_encoding:
        body = decode_body(body, head.content_encoding, limit)
    if body[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte order mark, as some clients send
        body = body[3:]
    if not body.strip():
        raise EmptyBody()
    if fast_parse is not None:
        parsed = fast_parse(body)
        if parsed is not None and len(parsed) <= max_events:
            return parsed
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "malformed_json", "Malformed JSON", json_error(exc, body)) from None
    if type(parsed) is dict:
        events: list[Any] = [parsed] if parsed else []
    elif type(parsed) is list:
        events = parsed
    else:
        raise BodyError(
            400,
            "not_events",
            "Bad Request",
            f"The body must be a JSON object (one event) or an array of events, "
            f"not a JSON {json_type(parsed)}.",
        )
    if not events:
        raise EmptyBody()
    if len(events) > max_events:
        raise BodyError(
            413,
            "too_many_events",
            "Payload Too Large",
            f"{len(events)} events in one request; the limit is {max_events}. Split the batch.",
        )
    return events


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate a gzip/deflate body without ever holding more than ``limit`` bytes (no zip bombs)."""
    if encoding == "identity":
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
        raise too_large(f"The decompressed request body is larger than the limit of {limit} bytes.")
    return out


def json_error(exc: orjson.JSONDecodeError, body: bytes) -> str:
    msg = str(exc)
    if "depth" in msg.lower() or "recursion" in msg.lower():
        return "JSON nesting is too deep (the limit is 1024 levels)."
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as u:
        return f"The body is not valid UTF-8 (byte {u.start})."
    return msg
