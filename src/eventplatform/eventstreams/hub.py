"""The hub: one log reader per topic, fanned out to every client that follows it live.

The reference opens one Kafka consumer per HTTP connection; here a :class:`Feed` reads each topic once and
hands every record, parsed and augmented once (:class:`Delivery`), to the clients following it. A client
that starts in the past (``since``, ``Last-Event-ID``) first catches up with its own one-shot reader and
joins the feed when it has reached it (:meth:`Hub.follow`): the check and the join happen in one step of the
event loop, the feed hands out records only from the loop, so nothing falls between the two; what the
client already had is dropped by offset.

A client's buffer is bounded (events and bytes): a client that does not keep up is cut off with the reason
(:meth:`Client.offer`) rather than slowing the feed or growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from eventplatform.eventstreams.positions import TopicPartition, Vector
from eventplatform.log import EventLog, Record, Start
from eventplatform.streamconfig.canary import is_canary

logger = logging.getLogger("eventplatform.eventstreams")

RETRY_DELAY = 1.0  # seconds before a feed whose reader failed reads again from where it was
FEED_POLL = 0.05  # seconds between looks for new records of an idle feed (one reader per topic: cheap)


class Delivery:
    """One record as every client sends it: the augmented event JSON (meta.topic, meta.partition,
    meta.offset, meta.key), parsed once for the filters."""

    __slots__ = ("canary", "data", "event", "offset", "partition", "size", "tail", "timestamp", "topic", "tp")

    def __init__(self, record: Record) -> None:
        self.topic = record.topic
        self.partition = record.partition
        self.offset = record.offset
        self.tp = (record.topic, record.partition)
        self.timestamp = record.timestamp_ms
        try:
            event = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            event = None
        if isinstance(event, dict):
            meta = event.get("meta")
            if not isinstance(meta, dict):
                meta = event["meta"] = {}
            meta["topic"], meta["partition"], meta["offset"] = record.topic, record.partition, record.offset
            if record.key is not None:
                try:
                    meta["key"] = orjson.loads(record.key)
                except orjson.JSONDecodeError:
                    meta["key"] = record.key.decode("utf-8", "replace")
            self.data = orjson.dumps(event)
            self.canary = is_canary(event)
        else:  # not an object: passed on as it is (the reference skips what it cannot deserialize)
            self.data = b" ".join(bytes(record.value).splitlines())
            self.canary = False
        self.event = event
        self.tail = b"\ndata: " + self.data + b"\n\n"  # SSE: after "event: message\nid: <id>"
        self.size = len(self.tail)


class Client:
    """One connection's side of the hub: what it has been handed (``seen``), its buffer, why it ended."""

    def __init__(self, topics: Sequence[str], vector: Vector, max_events: int, max_bytes: int) -> None:
        self.topics = list(topics)
        self.vector = vector
        self.seen: dict[TopicPartition, int] = dict(vector.next)  # next offset to buffer, per partition
        self.buffer: deque[Delivery] = deque()
        self.bytes = 0
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.waiter: asyncio.Future[None] | None = None  # the writer, waiting for something to send
        self.closed = False  # the client went away
        self.drained = asyncio.Event()
        self.failure: tuple[str, str] | None = None  # (reason label, message) once cut off
        self.feeds: list[Feed] = []

    def offer(self, d: Delivery) -> None:
        """Hot function (once per record per live client): buffer ``d`` unless already had; cut off a
        client whose buffer is full."""
        tp = d.tp
        if d.offset < self.seen.get(tp, 0) or self.failure is not None:
            return
        self.seen[tp] = d.offset + 1
        if len(self.buffer) >= self.max_events or self.bytes >= self.max_bytes:
            self.fail(
                "slow_client",
                f"The client did not read fast enough: {len(self.buffer)} events ({self.bytes} bytes) "
                "were waiting to be sent. Reconnect with the last event id to resume.",
            )
            return
        self.buffer.append(d)
        self.bytes += d.size
        if self.waiter is not None:
            self.wake()

    def wake(self) -> None:
        """A plain future, not an asyncio.Event: hundreds of writers wake for every batch of a feed."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def put(self, d: Delivery) -> None:
        """Catching up: wait for room instead of failing (the client sets the pace of its own reader)."""
        while len(self.buffer) >= self.max_events // 2 or self.bytes >= self.max_bytes // 2:
            self.drained.clear()
            await self.drained.wait()
            if self.failure is not None:
                return
        self.offer(d)

    def take(self, most: int) -> list[Delivery]:
        """Up to ``most`` buffered deliveries, oldest first."""
        buffer = self.buffer
        if len(buffer) <= most:
            items = list(buffer)
            buffer.clear()
            self.bytes = 0
        else:
            items = [buffer.popleft() for _ in range(most)]
            self.bytes -= sum(d.size for d in items)
        self.drained.set()
        return items

    def fail(self, reason: str, message: str) -> None:
        if self.failure is None:
            self.failure = (reason, message)
            self.buffer.clear()
            self.bytes = 0
            for feed in self.feeds:
                feed.remove(self)
            self.feeds.clear()
        self.wake()
        self.drained.set()


class Feed:
    """The one reader of a topic, from the end at its start, following; fans records out to clients."""

    def __init__(self, log: EventLog, topic: str, on_empty: Callable[[Feed], None]) -> None:
        self.log = log
        self.topic = topic
        self.next: dict[TopicPartition, int] = {}
        self.clients: set[Client] = set()
        self._snapshot: tuple[Client, ...] = ()
        self.ready = asyncio.Event()
        self.failures = 0
        self._on_empty = on_empty
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"eventstreams-feed-{topic}")

    def add(self, client: Client) -> None:
        self.clients.add(client)
        self._snapshot = tuple(self.clients)

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        self._snapshot = tuple(self.clients)
        if not self.clients:
            self._on_empty(self)

    async def _start(self) -> None:
        marks = await self.log.watermarks(self.topic)
        self.next = {(self.topic, p): high for p, (_low, high) in marks.items()}

    async def _run(self) -> None:
        while not self.ready.is_set():
            try:
                await self._start()
                self.ready.set()
            except Exception as exc:
                self.failures += 1
                logger.warning("eventstreams: cannot read the watermarks of %s: %s", self.topic, exc)
                await asyncio.sleep(RETRY_DELAY)
        while True:
            # partitions not in ``next`` appeared after we began: read them whole
            start = Start.at_offsets(self.next, fallback="beginning")
            stream = self.log.consume([self.topic], start, follow=True, poll_interval=FEED_POLL)
            try:
                async for record in stream:
                    self.next[(record.topic, record.partition)] = record.offset + 1
                    d = Delivery(record)
                    for client in self._snapshot:
                        client.offer(d)
            except Exception as exc:  # the log went away: read again from where we were
                self.failures += 1
                logger.warning("eventstreams: reading %s failed (retrying): %s", self.topic, exc)
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]
            await asyncio.sleep(RETRY_DELAY)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Hub:
    """The feeds of one process, started on demand and stopped when their last client leaves."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.feeds: dict[str, Feed] = {}
        self._closing: set[asyncio.Task[Any]] = set()

    def _feed(self, topic: str) -> Feed:
        feed = self.feeds.get(topic)
        if feed is None:
            feed = self.feeds[topic] = Feed(self.log, topic, self._empty)
        return feed

    def _empty(self, feed: Feed) -> None:
        if self.feeds.get(feed.topic) is feed:
            del self.feeds[feed.topic]
            task = asyncio.get_running_loop().create_task(feed.stop())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def follow(self, client: Client) -> None:
        """Catch ``client`` up from its positions with its own reader, then join the live feeds."""
        feeds = [self._feed(t) for t in client.topics]
        # hold the feeds while catching up (they start at the end: the sooner, the less to catch up)
        holder = _Placeholder()
        for feed in feeds:
            feed.add(holder)
        try:
            for feed in feeds:
                await feed.ready.wait()
            while client.failure is None:
                if self._join(client, feeds):
                    return
                await self._catch_up(client)
        finally:
            for feed in feeds:
                feed.remove(holder)

    def _join(self, client: Client, feeds: list[Feed]) -> bool:
        """Synchronous: when the client has had everything each feed handed out, it joins them all."""
        for feed in feeds:
            for tp, nxt in feed.next.items():
                if client.seen.get(tp, 0) < nxt:
                    return False
        for feed in feeds:
            feed.add(client)
        client.feeds = feeds
        return True

    async def _catch_up(self, client: Client) -> None:
        start = Start.at_offsets(client.seen, fallback="beginning")
        stream = self.log.consume(client.topics, start, follow=False)
        try:
            async for record in stream:
                await client.put(Delivery(record))
                if client.failure is not None:
                    return
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    def leave(self, client: Client) -> None:
        for feed in client.feeds:
            feed.remove(client)
        client.feeds = []

    async def close(self) -> None:
        feeds = list(self.feeds.values())
        self.feeds.clear()
        for feed in feeds:
            await feed.stop()
        for task in list(self._closing):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Placeholder(Client):
    """Keeps a feed alive while a client catches up; receives nothing."""

    def __init__(self) -> None:  # nothing to buffer, nothing to wake
        self.failure = ("placeholder", "")
        self.seen = {}

    def offer(self, d: Delivery) -> None:
        return
