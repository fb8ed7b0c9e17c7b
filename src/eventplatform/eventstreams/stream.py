"""``GET /v2/stream/{streams}``: one server-sent event stream, as a plain ASGI handler.

Request handling follows the reference (clients-and-streams.md §4.5-4.8): the streams and their topics,
``since``, ``Last-Event-ID``, ``Accept``, the error statuses and bodies, the first bytes ``:ok``, the
``event: message`` / ``id:`` / ``data:`` framing. Beyond it: a ``retry:`` hint and a heartbeat comment on
idle streams, ``?match=field.path:value`` and ``?canary=include`` filters, ``?last=N`` to start with the last
N events (what ``tail --url --lines N`` asks for; answered with an ``x-eventstreams-last`` header so that a
client can tell a server that ignored it), connection limits per client IP and per process, and an
``event: error`` that says why a slow client was cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import orjson

from eventplatform.eventstreams.hub import Client, Delivery
from eventplatform.eventstreams.positions import (
    RequestError,
    TopicPartition,
    Vector,
    parse_last_event_id,
    parse_since,
)
from eventplatform.log import EventLog, Start

if TYPE_CHECKING:
    from eventplatform.eventstreams.service import EventStreams

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "/v2/stream/"
MAX_MATCHES = 20
MAX_LAST = 10_000
MAX_LAST_SCAN = 100_000  # ?last=N with filters reads at most about this many records of a partition
EVENT_PREFIX = b"event: message\nid: "
WRITE_EVENTS = 200  # events per write at most: what waits in the socket's buffer stays small


@dataclass
class StreamRequest:
    """What a stream request asks for, checked."""

    streams: list[str]
    topics: list[str]
    since: int | None = None
    last: int = 0
    last_event_id: str | None = None
    json_lines: bool = False
    content_type: bytes = b"text/event-stream"
    matches: list[tuple[list[str], str]] = field(default_factory=list)
    canary: bool = False
    client_ip: str = ""


def parse_match(text: str) -> tuple[list[str], str]:
    """``meta.domain:en.wikipedia.org`` -> (["meta", "domain"], "en.wikipedia.org")."""
    path, sep, value = text.partition(":")
    if not sep or not path or any(not p for p in path.split(".")):
        raise RequestError(
            400, "bad_request", "Invalid match", f"match={text!r}: expected a dotted field path, ':', a value"
        )
    return path.split("."), value


def matches(event: Any, wanted: list[tuple[list[str], str]]) -> bool:
    """Every ``field:value`` holds (exact match; numbers and booleans compare by their JSON text)."""
    for path, value in wanted:
        node = event
        for part in path:
            if not isinstance(node, dict):
                return False
            node = node.get(part)
        if isinstance(node, str):
            if node != value:
                return False
        elif node is None or isinstance(node, dict | list) or orjson.dumps(node).decode() != value:
            return False
    return True


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", ())}


def read_request(service: EventStreams, scope: Scope) -> StreamRequest:
    """The request's streams, topics and options; :class:`RequestError` for anything wrong."""
    raw = scope["path"][len(PREFIX) :]
    names: list[str] = []
    for name in unquote(raw).split(","):
        name = name.strip()
        if name and name not in names:
            names.append(name)
    unknown = [n for n in names if not service.known_stream(n)]
    if not names or unknown:
        raise RequestError(400, "not_found", "Stream Not Found", f"Invalid streams: {','.join(unknown)}")
    topics: list[str] = []
    for name in names:
        for topic in service.topics_of(name):
            if topic not in topics:
                topics.append(topic)
    req = StreamRequest(names, topics)
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if key == "since" and value:
            req.since = parse_since(value)
        elif key == "last" and value:
            if not value.isdigit() or int(value) > MAX_LAST:
                raise RequestError(
                    400, "bad_request", "Invalid last", f"last={value[:40]!r}: expected 0 to {MAX_LAST}"
                )
            req.last = int(value)
        elif key == "match":
            if len(req.matches) >= MAX_MATCHES:
                raise RequestError(
                    400, "bad_request", "Invalid match", f"at most {MAX_MATCHES} match filters"
                )
            req.matches.append(parse_match(value))
        elif key == "canary":
            if value not in ("include", "exclude"):
                raise RequestError(
                    400, "bad_request", "Invalid canary", f"canary={value!r}: expected include or exclude"
                )
            req.canary = value == "include"
    if req.last and req.since is not None:
        raise RequestError(400, "bad_request", "Invalid last", "last starts from the end: it excludes since")
    headers = _headers(scope)
    accept = headers.get(b"accept")
    if accept is not None:
        if accept.strip().lower().startswith(b"application/json"):
            req.json_lines = True
            req.content_type = b"application/json; charset=utf-8"
        else:
            req.content_type = b"text/event-stream; charset=utf-8"
    lei = headers.get(b"last-event-id")
    if lei is not None and lei.strip():
        req.last_event_id = lei.decode("utf-8", "replace")
    ip = headers.get(b"x-client-ip")
    if ip:
        req.client_ip = ip.decode("latin-1")[:64]
    else:
        client = scope.get("client")
        req.client_ip = client[0] if client else ""
    return req


async def offsets_at(log: EventLog, topic: str, ts: int, marks: dict[int, tuple[int, int]]) -> dict[int, int]:
    """partition -> first offset at or after ``ts`` (the end where there is none): the log protocol reads
    from a time for all partitions at once, so the first record of each partition tells."""
    out: dict[int, int] = {}
    want = {p for p, (low, high) in marks.items() if high > low}
    if want:
        stream = log.consume([topic], Start.at_time(ts), follow=False)
        try:
            async for record in stream:
                if record.partition in want and record.partition not in out:
                    out[record.partition] = record.offset
                    if len(out) == len(want):
                        break
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
    return {p: out.get(p, high) for p, (_low, high) in marks.items()}


async def last_starts(
    log: EventLog, req: StreamRequest, marks: dict[str, dict[int, tuple[int, int]]]
) -> dict[TopicPartition, tuple[int, int]]:
    """``?last=N``: (offset, timestamp) of the earliest of the last N events (by time, over every topic and
    partition, after the canary and match filters) in each partition that has one. Each partition is read
    backwards in doubling windows until it holds N events that pass the filters or is read whole, at most
    ``MAX_LAST_SCAN`` records of it (filters that match almost nothing give fewer than N)."""
    highs = {(t, p): high for t, parts in marks.items() for p, (low, high) in parts.items() if high > low}
    lows = {(t, p): marks[t][p][0] for t, p in highs}
    window = max(req.last, 1)
    picked: dict[TopicPartition, list[tuple[int, int]]] = {}  # tp -> [(timestamp, offset)] that pass
    todo = set(highs)
    while todo:
        firsts = {tp: max(lows[tp], highs[tp] - window) for tp in todo}
        topics = [t for t in marks if any(tp[0] == t for tp in firsts)]
        found: dict[TopicPartition, list[tuple[int, int]]] = {tp: [] for tp in firsts}
        stream = log.consume(topics, Start.at_offsets(firsts, fallback="end"), follow=False)
        try:
            async for record in stream:
                tp = (record.topic, record.partition)
                if tp not in found or record.offset >= highs[tp]:
                    continue  # not asked for, or arrived after the watermarks were read: the follow has it
                d = Delivery(record)
                if (d.canary and not req.canary) or (req.matches and not matches(d.event, req.matches)):
                    continue
                found[tp].append((d.timestamp, d.offset))
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
        picked.update(found)
        todo = {
            tp
            for tp in firsts
            if len(found[tp]) < req.last and firsts[tp] > lows[tp] and window < MAX_LAST_SCAN
        }
        window = min(window * 4, MAX_LAST_SCAN)
    ordered = sorted((ts, tp, off) for tp, items in picked.items() for ts, off in items)
    out: dict[TopicPartition, tuple[int, int]] = {}
    for timestamp, tp, offset in ordered[-req.last :]:
        if tp not in out or offset < out[tp][0]:
            out[tp] = (offset, timestamp)
    return out


async def start_vector(service: EventStreams, req: StreamRequest) -> Vector:
    """Resolve where the client starts: ``Last-Event-ID`` over ``since`` over the end (every partition
    gets an explicit offset, so the id of the first event already says where to resume)."""
    log = service.log
    now = int(time.time() * 1000)
    entries = parse_last_event_id(req.last_event_id, set(req.topics)) if req.last_event_id else None
    nxt: dict[TopicPartition, int] = {}
    ts: dict[TopicPartition, int] = {}
    all_marks = {topic: await log.watermarks(topic) for topic in req.topics}
    lasts = await last_starts(log, req, all_marks) if entries is None and req.last else {}
    for topic in req.topics:
        marks = all_marks[topic]
        if entries is None:
            if req.last:
                for p, (_low, high) in marks.items():
                    nxt[(topic, p)], ts[(topic, p)] = lasts.get((topic, p), (high, now))
            elif req.since is not None:
                for p, off in (await offsets_at(log, topic, req.since, marks)).items():
                    nxt[(topic, p)], ts[(topic, p)] = off, req.since
            else:
                for p, (_low, high) in marks.items():
                    nxt[(topic, p)], ts[(topic, p)] = high, now
            continue
        mine = [e for e in entries if e.topic == topic]
        by_time: dict[int, list[int]] = {}
        for e in mine:
            tp = (topic, e.partition)
            if e.partition not in marks:
                continue  # a partition this log does not have: nothing to read there
            low, high = marks[e.partition]
            ours = e.log is not None and e.log == service.log_id
            if e.offset is not None and e.offset >= 0 and (ours or e.log is None or e.timestamp is None):
                nxt[tp] = min(max(e.offset, low), high)
            elif e.offset == -1 or e.timestamp is None:
                nxt[tp] = high
            else:
                by_time.setdefault(e.timestamp, []).append(e.partition)
            ts[tp] = e.timestamp if e.timestamp is not None else now
        for when, parts in by_time.items():
            found = await offsets_at(log, topic, when, {p: marks[p] for p in parts})
            for p, off in found.items():
                nxt[(topic, p)] = off
        for p, (_low, high) in marks.items():  # partitions the id does not name: from the end
            if (topic, p) not in nxt:
                nxt[(topic, p)], ts[(topic, p)] = high, now
    return Vector(service.log_id, nxt, ts)


def frame(client: Client, items: list[Delivery], req: StreamRequest, count: Callable[[int], None]) -> bytes:
    """Hot function: the bytes of a batch of deliveries for one client, its position advanced past
    each (filtered-out events move it too, so a resume does not read them again)."""
    vector = client.vector
    out: list[bytes] = []
    matches_ = req.matches
    canary = req.canary
    nxt = vector.next
    sent = 0
    json_lines = req.json_lines
    for d in items:
        tp = d.tp
        if d.offset < nxt.get(tp, 0):
            continue
        vector.advance(tp, d.offset, d.timestamp)
        if (d.canary and not canary) or (matches_ and not matches(d.event, matches_)):
            continue
        sent += 1
        if json_lines:
            out += (d.data, b"\n")
        else:
            out += (EVENT_PREFIX, vector.id(), d.tail)
    count(sent)
    return b"".join(out)


def error_event(client: Client, name: str, message: str, json_lines: bool) -> bytes:
    body = orjson.dumps({"message": message, "name": name, "origin": "eventplatform.eventstreams"})
    if json_lines:
        return body + b"\n"
    return b"event: error\nid: " + client.vector.id() + b"\ndata: " + body + b"\n\n"


def problem(status: int, kind: str, title: str, detail: str, scope: Scope) -> bytes:
    body: dict[str, Any] = {
        "status": status,
        "type": kind,
        "title": title,
        "detail": detail,
        "method": scope.get("method", "GET").lower(),
        "uri": scope.get("path", ""),
    }
    if kind == "InvalidAssignmentError":  # the reference's KafkaSSE error fields too
        body.update(name=kind, message=detail)
    return orjson.dumps(body) + b"\n"


async def send_problem(
    send: Send, headers: list[tuple[bytes, bytes]], scope: Scope, exc: RequestError
) -> None:
    data = problem(exc.status, exc.kind, exc.title, exc.detail, scope)
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                *headers,
                (b"content-type", b"application/problem+json"),
                (b"content-length", b"%d" % len(data)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def handle_stream(service: EventStreams, scope: Scope, receive: Receive, send: Send) -> None:
    """One stream request, start to end."""
    headers = service.headers
    entered = None
    try:
        req = read_request(service, scope)
        service.limits.check(req.client_ip)
        entered = req.client_ip  # counted at once: requests resolving their start meanwhile count too
        service.limits.enter(entered)
        vector = await start_vector(service, req)
    except RequestError as exc:  # InvalidAssignment included
        if entered is not None:
            service.limits.leave(entered)
        service.metrics.refused(exc.kind)
        await send_problem(send, headers, scope, exc)
        return
    except BaseException:
        if entered is not None:
            service.limits.leave(entered)
        raise
    settings = service.settings
    client = Client(req.topics, vector, settings.buffer_events, settings.buffer_bytes)
    service.clients.add(client)
    labels = service.metrics.connected(req.streams)
    reason = "client_closed"
    follower = asyncio.create_task(service.hub.follow(client), name="eventstreams-follow")
    follower.add_done_callback(lambda _task: client.wake())  # a failed catch-up ends the stream at once
    watcher = asyncio.create_task(_disconnected(receive, client), name="eventstreams-disconnect")
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    *headers,
                    (b"content-type", req.content_type),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    *([(b"x-eventstreams-last", b"%d" % req.last)] if req.last else []),
                ],
            }
        )
        first = b"\n" if req.json_lines else b":ok\n\nretry: %d\n\n" % settings.retry_ms
        await send({"type": "http.response.body", "body": first, "more_body": True})
        reason = await _write(service, client, req, send, follower)
    finally:
        follower.cancel()
        watcher.cancel()
        for task in (follower, watcher):
            with contextlib.suppress(BaseException):
                await task
        service.hub.leave(client)
        service.clients.discard(client)
        service.limits.leave(req.client_ip)
        service.metrics.disconnected(labels, reason)


async def _disconnected(receive: Receive, client: Client) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            client.closed = True
            client.wake()
            return


def _wake(client: Client) -> None:
    client.wake()


async def _write(
    service: EventStreams,
    client: Client,
    req: StreamRequest,
    send: Send,
    follower: asyncio.Task[None],
) -> str:
    """Send what the client's buffer gets until the client leaves or is cut off; returns why it ended."""
    loop = asyncio.get_running_loop()
    heartbeat = service.settings.heartbeat
    beat = b"\n" if req.json_lines else b": heartbeat\n\n"
    count = service.metrics.sent_counter(req.streams)
    while True:
        if not client.buffer and client.failure is None and not client.closed:
            client.waiter = loop.create_future()
            timer = loop.call_later(heartbeat, _wake, client)
            try:
                await client.waiter
            finally:
                timer.cancel()
                client.waiter = None
            if not client.buffer and client.failure is None and not client.closed:
                await send({"type": "http.response.body", "body": beat, "more_body": True})
                continue
        if client.closed:
            return "client_closed"
        if follower.done() and not follower.cancelled() and follower.exception() is not None:
            client.fail("log_error", f"Reading the log failed: {follower.exception()}")
        if client.failure is not None:
            reason, message = client.failure
            if reason != "shutdown":
                data = error_event(client, reason, message, req.json_lines)
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return reason
        data = frame(client, client.take(WRITE_EVENTS), req, count)
        if data:
            await send({"type": "http.response.body", "body": data, "more_body": True})
