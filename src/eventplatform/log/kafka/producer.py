"""Producing to Kafka: the hot path from a :class:`Batch` to librdkafka, and the delivery reports.

Two producers, as eventgate-wikimedia has: a *guaranteed* one (``acks=all``, idempotent) whose
``produce`` returns only when the broker acknowledged every message, and a *hasty* one (``acks=1``, no
delivery reports awaited) for ``?hasty`` requests. Delivery reports arrive on the poll thread
(:mod:`.health`), never on the event loop; each batch is one asyncio future resolved with
``call_soon_threadsafe`` when its last report arrives, so the loop wakes once per batch, not once per
event. A broker that goes away makes ``produce`` answer errors after ``delivery_timeout`` seconds; it
never hangs. The hot function is :meth:`Producing.produce` (its first loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from eventplatform.errors import Codes, EventError, EventFailure
from eventplatform.log.base import Batch
from eventplatform.log.kafka.config import KafkaSettings
from eventplatform.log.kafka.failures import (
    ACKED_GUARANTEED,
    ACKED_HASTY,
    ANY_PARTITION,
    DELIVERY_FAILURES,
    NO_ANSWER,
)


class Delivery:
    """The delivery state of one ``produce`` call. ``report`` runs on the poll thread for every message;
    ``list.append`` is atomic under the GIL, so there is no lock and no per-message closure."""

    __slots__ = ("expected", "expired", "failed", "future", "loop", "reports")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.reports: list[None] = []  # one entry per delivery report
        self.failed: list[tuple[KafkaError, Any]] = []
        self.expected = -1  # set once every message is queued
        self.expired = False
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def report(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.failed.append((err, msg))
        self.reports.append(None)
        if len(self.reports) == self.expected:
            self.loop.call_soon_threadsafe(self._resolve)

    def seal(self, queued: int) -> None:
        """On the loop thread, after the last ``produce``: resolve now if every report is already in."""
        self.expected = queued
        if len(self.reports) == queued:
            self._resolve()

    def _resolve(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def expire(self) -> None:
        if not self.future.done():
            self.expired = True
            self.future.set_result(None)


class Producing:
    """The produce path of :class:`KafkaLog` (a mixin)."""

    settings: KafkaSettings
    _guaranteed: Producer | None
    _hasty: Producer | None
    _known_topics: set[str]
    _next_topic_try: float
    brokers_down: bool

    async def produce(self, batch: Batch, *, hasty: bool = False) -> list[Exception | None]:
        """:meth:`EventLog.produce`: the columns go to librdkafka one C call per event."""
        topics, values, keys, timestamps = batch.topics, batch.values, batch.keys, batch.timestamps
        n = len(values)
        if not n:
            return []
        self._start()
        unusable = await self._prepare_topics(topics)
        if hasty:
            return self._produce_hasty(topics, values, keys, timestamps, unusable)
        delivery = Delivery(asyncio.get_running_loop())
        outcomes: list[Exception | None] = [None] * n
        timeout = self.settings.delivery_timeout
        deadline = time.monotonic() + timeout
        report = delivery.report
        queued = 0
        i = 0
        while i < n:
            producer = self._guaranteed
            assert producer is not None
            if not unusable:
                # hot path: one C call per message, nothing else
                produce = producer.produce
                try:
                    for topic, value, key, ts in (
                        zip(topics[i:], values[i:], keys[i:], timestamps[i:], strict=True)
                        if i
                        else zip(topics, values, keys, timestamps, strict=True)
                    ):
                        # positional: (topic, value, key, partition, on_delivery, callback, timestamp);
                        # keywords cost more per call (CPython builds and searches a dict): docs/benchmarks.md
                        produce(topic, value, key, ANY_PARTITION, report, None, ts or 0)
                        i += 1
                        queued += 1
                    break
                except (BufferError, KafkaException, TypeError, ValueError):
                    pass  # message i: the careful path below
            topic = topics[i]
            if unusable and topic in unusable:
                outcomes[i] = unusable[topic]
            else:
                failure = await self._produce_one(topic, values[i], keys[i], timestamps[i], report, deadline)
                if failure is None:
                    queued += 1
                else:
                    outcomes[i] = failure
            i += 1
        delivery.seal(queued)
        if not delivery.future.done():
            # librdkafka fails every message by message.timeout.ms; this timer only guards against a bug
            loop = asyncio.get_running_loop()
            timer = loop.call_later(timeout + 5.0, delivery.expire)
            try:
                await delivery.future
            finally:
                timer.cancel()
        if delivery.expired:
            failure = EventError(
                Codes.DELIVERY_TIMEOUT, f"No delivery report from Kafka within {timeout + 5.0:g}s."
            )
            return [o if o is not None else failure for o in outcomes]
        if delivery.failed:
            self._assign_failures(topics, values, keys, outcomes, delivery.failed)
        ok = outcomes.count(None)
        if ok:
            if self.brokers_down:
                self._mark_up()
            ACKED_GUARANTEED.inc(ok)
        return outcomes

    async def _produce_one(
        self, topic: str, value: bytes, key: bytes | None, ts: int | None, report: Any, deadline: float
    ) -> EventFailure | None:
        """Queue one message, waiting while librdkafka's queue is full; the failure, if it cannot."""
        while True:
            producer = self._guaranteed
            assert producer is not None
            try:
                producer.produce(topic, value, key, on_delivery=report, timestamp=ts or 0)
                return None
            except BufferError:
                # the local queue is full (the broker is slow or away): wait for room, up to the deadline
                if time.monotonic() >= deadline:
                    return self._queue_full_failure()
                await asyncio.sleep(0.005)
            except KafkaException as exc:
                return self._failure(exc.args[0], topic)
            except (TypeError, ValueError) as exc:
                return EventError(Codes.DELIVERY_FAILED, f"Cannot produce to {topic}: {exc}")

    def _assign_failures(
        self,
        topics: Sequence[str],
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        outcomes: list[Exception | None],
        failed: list[tuple[KafkaError, Any]],
    ) -> None:
        """Delivery reports carry the message, not its index: find it by content. Two byte-identical
        messages are interchangeable, so which of them gets a failure does not matter."""
        positions: dict[tuple[str, bytes, bytes | None], list[int]] = {}
        for i, outcome in enumerate(outcomes):
            if outcome is None:
                positions.setdefault((topics[i], values[i], keys[i]), []).append(i)
        for err, msg in failed:
            candidates = positions.get((msg.topic(), msg.value(), msg.key()))
            if candidates:
                i = candidates.pop(0)
                outcomes[i] = self._failure(err, msg.topic())

    async def _prepare_topics(self, topics: Sequence[str]) -> dict[str, EventFailure]:
        """Create the topics this log has not written to yet (partitions and replication from settings);
        a topic that cannot be created fails its messages. One admin request per new topic, per process."""
        if not self.settings.create_topics:
            return {}
        known = self._known_topics
        first = topics[0]
        if first in known and topics.count(first) == len(topics):  # the usual case: one known topic
            return {}
        new = {t for t in topics if t not in known}
        if not new:
            return {}
        if self.brokers_down:
            # Kafka was last seen away: one batch a second tries (the others go straight to librdkafka,
            # which queues them until the delivery timeout). Never skipping for good matters: when every
            # batch goes to a new topic, no delivery succeeds to clear brokers_down, and the topic would
            # never be created (or be created by the broker's auto-creation, with its own partitions).
            now = time.monotonic()
            if now < self._next_topic_try:
                return {}
            self._next_topic_try = now + 1.0
        # bounded, so that a batch still gets its answer close to the delivery timeout when Kafka is away
        timeout = min(self.settings.request_timeout, self.settings.delivery_timeout / 2)
        try:
            problems = await self._run(
                self._create_topics, sorted(new), self.settings.partitions, self.settings.replication, timeout
            )
        except KafkaException:
            # broker unreachable: librdkafka queues the messages and they fail by the delivery timeout
            return {}
        if any(t not in problems or problems[t][0] not in NO_ANSWER for t in new):
            self._mark_up()  # a topic was created or found, or Kafka refused one: it answers
        out: dict[str, EventFailure] = {}
        for topic in new:
            if topic in problems:
                code, text = problems[topic]
                if code in NO_ANSWER:
                    continue  # not the topic's fault: try again with the next batch
                out[topic] = EventError(
                    Codes.DELIVERY_FAILED, f"Kafka topic {topic} cannot be created: {text}."
                )
                DELIVERY_FAILURES.labels(Codes.DELIVERY_FAILED).inc()
            else:
                known.add(topic)
        return out

    def _produce_hasty(
        self,
        topics: Sequence[str],
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        timestamps: Sequence[int | None],
        unusable: dict[str, EventFailure],
    ) -> list[Exception | None]:
        producer = self._hasty
        assert producer is not None
        out: list[Exception | None] = []
        for topic, value, key, ts in zip(topics, values, keys, timestamps, strict=True):
            if unusable and topic in unusable:
                out.append(unusable[topic])
                continue
            try:
                producer.produce(topic, value, key, ANY_PARTITION, None, None, ts or 0)  # as produce
                out.append(None)
            except BufferError:
                out.append(self._queue_full_failure())
            except KafkaException as exc:
                out.append(self._failure(exc.args[0], topic))
        ACKED_HASTY.inc(out.count(None))
        return out

    async def flush(self, timeout: float | None = None) -> int:
        """Wait for queued messages (hasty ones included); returns how many are still queued."""
        if not self._running:
            return 0
        t = self.settings.delivery_timeout if timeout is None else timeout

        def flush() -> int:
            left = 0
            for p in (self._hasty, self._guaranteed):
                if p is not None:
                    left += p.flush(t)
            return left

        return await self._run(flush)
