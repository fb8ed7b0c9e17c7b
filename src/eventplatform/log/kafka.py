"""The Apache Kafka backend of :class:`EventLog` (confluent-kafka / librdkafka).

Two producers, as eventgate-wikimedia has: a *guaranteed* one (``acks=all``, idempotent) whose
``produce`` returns only when the broker acknowledged every message, and a *hasty* one (``acks=1``, no
delivery reports awaited) for ``?hasty`` requests. Delivery reports arrive on a poll thread, never on the
event loop; each batch is one asyncio future resolved with ``call_soon_threadsafe`` when its last report
arrives, so the loop wakes once per batch, not once per event.

Every failure is a value per message: ``event_too_large`` (invalid) for a message over
``message.max.bytes``, ``delivery_timeout`` / ``log_unavailable`` / ``delivery_failed`` (errors, safe to
retry) otherwise. Nothing here raises for one bad message, and a broker that goes away makes ``produce``
answer errors after ``delivery_timeout`` seconds; it never hangs, and librdkafka reconnects on its own,
except where it cannot: a producer with a fatal error, or one that lost every broker (see ``_on_stats``),
is replaced by a new one.

Reading uses ``assign()`` (no consumer group): from the beginning, the end, explicit offsets or a time
(``offsets_for_times``), across several topics; blocking calls run on a thread pool. A reader's consumer
that lost every broker is replaced the same way (see ``_Health``), resuming after the last record it
yielded; a one-shot read that gets nothing for ``request_timeout`` ends with ``log_unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import Counter, Gauge

from eventplatform.errors import Codes, EventError, EventFailure, EventInvalid
from eventplatform.log.base import ColumnarLog, Record, Start

DELIVERY_FAILURES = Counter(
    "eventplatform_log_kafka_delivery_failures",
    "Messages the Kafka log could not get acknowledged, by failure code",
    ["code"],
)
BROKERS_REACHABLE = Gauge(
    "eventplatform_log_kafka_brokers_reachable",
    "1 while the Kafka log's guaranteed producer reaches a broker, 0 after it reported all brokers down",
    multiprocess_mode="min",
)
PRODUCED = Counter(
    "eventplatform_log_kafka_messages_acked",
    "Messages acknowledged by the Kafka broker (guaranteed) or queued (hasty)",
    ["mode"],
)

_ACKED_GUARANTEED = PRODUCED.labels("guaranteed")
_ACKED_HASTY = PRODUCED.labels("hasty")
_ANY_PARTITION = -1  # RD_KAFKA_PARTITION_UA: the configured partitioner (the message key) chooses
_TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE}
_TOPIC_ERRORS = {
    KafkaError._UNKNOWN_TOPIC,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.POLICY_VIOLATION,
}


class _Repeats(logging.Filter):
    """librdkafka logs every failed reconnect (several per second while a broker is away): let each
    distinct line through once per ``interval`` seconds."""

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = interval
        self.seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.getMessage())
        key = text.split("(after", 1)[0][:200]  # "(after 0ms in state CONNECT)" varies
        now = time.monotonic()
        if now - self.seen.get(key, -self.interval) < self.interval:
            return False
        if len(self.seen) > 1000:
            self.seen.clear()
        self.seen[key] = now
        return True


_LOGGER = logging.getLogger("eventplatform.log.kafka")  # librdkafka's own log lines, rate-limited
_LOGGER.addFilter(_Repeats())
_LEADERLESS = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
}
_UNREACHABLE = {KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE, KafkaError._TRANSPORT}
_PURGED = {KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT}  # by a producer we replaced
_NO_ANSWER = _UNREACHABLE | {KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT}


@dataclass(slots=True)
class KafkaSettings:
    bootstrap_servers: str
    delivery_timeout: float = 10.0  # seconds until an unacknowledged message fails (message.timeout.ms)
    request_timeout: float = 10.0  # metadata, watermarks, topic creation
    # fewer, larger produce requests: less CPU in librdkafka and the broker (+25 % events/s at batch 100),
    # for up to 5 ms more per request (librdkafka's own default; 1 ms suits single events from few clients)
    linger_ms: float = 5.0
    client_id: str = "eventplatform"
    compression: str = "lz4"
    # topics are created on first use with these (an existing topic is left as it is)
    create_topics: bool = True
    partitions: int = 1
    replication: int = 1
    producer_config: dict[str, Any] = field(default_factory=dict)  # extra librdkafka settings, both producers
    hasty_config: dict[str, Any] = field(default_factory=dict)
    consumer_config: dict[str, Any] = field(default_factory=dict)

    def common(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "socket.nagle.disable": True,
            # come back quickly after a broker restart
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 1000,
            "logger": _LOGGER,
        }


_OWN_CALLBACKS = ("error_cb", "stats_cb")


def merge_config(ours: dict[str, Any], *theirs: dict[str, Any]) -> dict[str, Any]:
    """librdkafka settings: the user's (``producer_config`` …) win, except that ours keep working. A user's
    ``error_cb`` or ``stats_cb`` runs after ours (fatal errors and the broker-less check depend on them), and
    ``statistics.interval.ms`` 0 does not turn our statistics off (another interval is the user's choice)."""
    conf = dict(ours)
    for extra in theirs:
        for key, value in extra.items():
            if key in _OWN_CALLBACKS and key in ours and value is not None:
                conf[key] = _both(ours[key], value)
            elif key == "statistics.interval.ms" and "stats_cb" in ours and not value:
                continue
            else:
                conf[key] = value
    return conf


def _both(first: Callable[..., Any], second: Callable[..., Any]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        try:
            first(*args)
        finally:
            second(*args)

    return call


class _Batch:
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


class _Health:
    """Whether one librdkafka client (a producer, or a reader's consumer) still knows a broker, from its
    statistics (one small JSON document every ``health_interval`` seconds, nothing per message). Two
    reports in a row without a broker: the client is lost for good (see ``KafkaLog._on_stats``) and is
    replaced."""

    __slots__ = ("brokerless", "lost", "states")

    def __init__(self) -> None:
        self.brokerless = 0
        self.lost = False
        self.states: dict[str, str] = {}  # broker name -> state, from the last statistics

    def on_stats(self, text: str) -> None:
        try:
            brokers = orjson.loads(text).get("brokers")
        except orjson.JSONDecodeError:
            return
        self.states = {name: b.get("state") for name, b in (brokers or {}).items()}
        if brokers:
            self.brokerless = 0
            return
        self.brokerless += 1
        if self.brokerless >= 2:
            self.lost = True

    def reset(self) -> None:
        """The client was replaced: the new one starts healthy."""
        self.lost = False
        self.brokerless = 0


class KafkaLog(ColumnarLog):
    """:class:`EventLog` on Apache Kafka."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._guaranteed: Producer | None = None
        self._hasty: Producer | None = None
        self._admin: AdminClient | None = None
        self._meta: Consumer | None = None
        self._meta_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="kafka-log")
        self._poll_thread: threading.Thread | None = None
        self._running = False
        self._closed = False
        self.brokers_down = False  # the guaranteed producer reported every broker unreachable
        self.last_error: str | None = None
        self._fatal = False
        # guaranteed producers replaced after a fatal error, polled until their last report is out
        self._retired: list[tuple[Producer, float]] = []
        self.replaced = 0  # how many times we replaced the guaranteed producer (fatal error, no brokers)
        self.hasty_replaced = 0  # the same for the hasty producer (no brokers)
        self.health_interval = 2.0  # seconds between librdkafka statistics (the broker-less check)
        self._health = [_Health(), _Health()]  # of the guaranteed and the hasty producer
        self._admin_stale = False  # the admin client is to be recreated (see _on_stats)
        self._meta_stale = False  # the same for the metadata consumer
        self._next_topic_try = 0.0  # while brokers_down: monotonic time of the next topic-creation attempt
        self._known_topics: set[str] = set()
        self.discovery_interval = 2.0  # seconds between looks for new topics/partitions while following
        self._readers: list[_Health] = []  # of the consume() calls running now
        self.readers_replaced = 0  # reader consumers replaced because they knew no broker any more

    # -- construction --------------------------------------------------------------------------------

    @classmethod
    def from_url(cls, url: str, **options: Any) -> KafkaLog:
        """``kafka://HOST:PORT[,HOST:PORT][?delivery_timeout=S&partitions=N&replication=N&linger_ms=MS&...]``;
        keyword options (same names, plus ``producer_config``/``hasty_config``/``consumer_config``) win."""
        parts = urlsplit(url)
        if parts.scheme != "kafka" or not parts.netloc:
            raise ValueError(f"not a Kafka log URL: {url!r} (expected kafka://HOST:PORT[,HOST:PORT])")
        values: dict[str, Any] = dict(parse_qsl(parts.query))
        values.update(options)
        settings = KafkaSettings(bootstrap_servers=parts.netloc)
        for name, value in values.items():
            if name in ("delivery_timeout", "request_timeout", "linger_ms"):
                setattr(settings, name, float(value))
            elif name in ("partitions", "replication"):
                setattr(settings, name, int(value))
            elif name == "create_topics":
                settings.create_topics = str(value).lower() not in ("0", "false", "no", "off")
            elif name in ("client_id", "compression"):
                setattr(settings, name, str(value))
            elif name in ("producer_config", "hasty_config", "consumer_config"):
                setattr(settings, name, dict(value))
            else:
                raise ValueError(f"unknown Kafka log option {name!r}")
        return cls(settings)

    def _producer_config(self, hasty: bool) -> dict[str, Any]:
        s = self.settings
        conf: dict[str, Any] = {
            **s.common(),
            "client.id": f"{s.client_id}-producer-{'hasty' if hasty else 'guaranteed'}",
            "linger.ms": s.linger_ms,
            "message.timeout.ms": int(s.delivery_timeout * 1000),
            "compression.type": s.compression,
            # an error of a replaced producer (served while it drains) must not condemn its successor
            "error_cb": partial(self._on_error, self.replaced) if not hasty else self._on_hasty_error,
            # statistics only to see whether the client still knows a broker (see _on_stats)
            "statistics.interval.ms": int(self.health_interval * 1000),
            "stats_cb": partial(self._on_stats, hasty, self._generation(hasty)),
        }
        if hasty:
            conf.update({"acks": 1, "enable.idempotence": False})
        else:
            # idempotence implies acks=all and ordered, duplicate-free retries
            conf.update({"acks": "all", "enable.idempotence": True})
        return merge_config(conf, s.producer_config, s.hasty_config if hasty else {})

    def _generation(self, hasty: bool) -> int:
        """Which producer of its kind this is: callbacks of a replaced one are ignored."""
        return self.hasty_replaced if hasty else self.replaced

    def _start(self) -> None:
        """Create the clients on first use (a failed broker lookup must not fail construction)."""
        if self._running:
            return
        with self._start_lock:
            if self._running:
                return
            if self._closed:
                raise EventError(Codes.LOG_UNAVAILABLE, "The Kafka log is closed.")
            self._guaranteed = Producer(self._producer_config(False))
            self._hasty = Producer(self._producer_config(True))
            self._running = True
            BROKERS_REACHABLE.set(1)
            self._poll_thread = threading.Thread(target=self._poll_loop, name="kafka-log-poll", daemon=True)
            self._poll_thread.start()

    def _poll_loop(self) -> None:
        """Serve delivery reports and error callbacks of both producers, off the event loop. Nothing may
        end this thread but close(): without it no produce call would ever be answered again (each would
        wait for the watchdog and fail), so an exception (a callback that raised) is logged and polling
        goes on."""
        while self._running:
            try:
                guaranteed, hasty = self._guaranteed, self._hasty
                if guaranteed is not None:
                    guaranteed.poll(0.05)
                if hasty is not None:
                    hasty.poll(0)
                if self._retired:
                    self._serve_retired()
                if self._fatal or self._health[0].lost:
                    self._replace_guaranteed()
                if self._health[1].lost:
                    self._replace_hasty()
            except Exception:
                _LOGGER.exception("Kafka log poll thread: unexpected error (polling goes on)")
                time.sleep(0.05)

    def _replace_guaranteed(self) -> None:
        """An idempotent producer that hit a fatal error is unusable: a new producer takes over, and the old
        one's queued and in-flight messages are purged; it is polled until it has reported each of them (a
        failure), so that every produce call waiting for them is answered."""
        why = "it lost every broker" if self._health[0].lost else f"a fatal error ({self.last_error})"
        self._fatal = False
        self._health[0].reset()
        old = self._guaranteed
        self.replaced += 1
        self._guaranteed = Producer(self._producer_config(False))
        _LOGGER.warning("Kafka guaranteed producer replaced: %s", why)
        self._retire(old)

    def _replace_hasty(self) -> None:
        self._health[1].reset()
        old = self._hasty
        self.hasty_replaced += 1
        self._hasty = Producer(self._producer_config(True))
        _LOGGER.warning("Kafka hasty producer replaced: it lost every broker")
        self._retire(old)

    def _retire(self, old: Producer | None) -> None:
        if old is not None:
            with contextlib.suppress(Exception):
                old.purge(in_queue=True, in_flight=True, blocking=False)
            self._retired.append((old, time.monotonic()))

    def _on_stats(self, hasty: bool, generation: int, text: str) -> None:
        """librdkafka >= 2.10 forgets the brokers a metadata response does not list; after a metadata
        answer listing none (a broker going through a controlled shutdown can give one) a client knows
        no broker at all and stays so: it does not re-bootstrap (librdkafka issue #5301, open for 2.16).
        The broker's return goes unnoticed and every message times out, for good. Seen here when the
        broker was stopped while deliveries were in flight, on a loaded machine (statistics showed no
        broker 30 s after it was back). Two statistics in a row without a broker replace the producer,
        and the admin and metadata clients, which may be in the same state, are made anew."""
        if generation != self._generation(hasty):
            return  # from a replaced producer
        health = self._health[int(hasty)]
        was_lost = health.lost
        health.on_stats(text)
        if health.lost and not was_lost:
            self._admin_stale = self._meta_stale = True

    def _serve_retired(self) -> None:
        """Reports of retired producers. A batch still producing into one when it was replaced adds messages
        after the purge: purge again; drop a producer when nothing has been left for a second (or after
        the delivery timeout and the batch watchdog, when nobody waits for it any more)."""
        now = time.monotonic()
        keep = []
        for producer, since in self._retired:
            with contextlib.suppress(Exception):
                producer.purge(in_queue=True, in_flight=True, blocking=False)
                producer.poll(0)
            age = now - since
            if (len(producer) or age < 1.0) and age < self.settings.delivery_timeout + 10:
                keep.append((producer, since))
        self._retired = keep

    def _on_error(self, generation: int, err: KafkaError) -> None:
        if generation != self.replaced:
            return  # from a replaced producer
        self.last_error = f"{err.name()}: {err.str()}"
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE):
            self.brokers_down = True
            BROKERS_REACHABLE.set(0)
        if err.fatal():
            self._fatal = True

    def _on_hasty_error(self, err: KafkaError) -> None:
        self.last_error = f"{err.name()}: {err.str()}"

    def _mark_up(self) -> None:
        """Kafka answered again (a delivery or an admin request succeeded): librdkafka reports brokers
        going down, never coming back."""
        if self.brokers_down:
            self.brokers_down = False
            BROKERS_REACHABLE.set(1)

    # -- failures ------------------------------------------------------------------------------------

    def _failure(self, err: KafkaError, topic: str) -> EventFailure:
        code = err.code()
        if code in _TOO_LARGE:
            failure: EventFailure = EventInvalid(
                Codes.EVENT_TOO_LARGE,
                f"The event is larger than the event log accepts for one message "
                f"(Kafka message.max.bytes): {err.str()}.",
            )
        elif code == KafkaError._MSG_TIMED_OUT:
            if self.brokers_down:
                failure = EventError(
                    Codes.LOG_UNAVAILABLE,
                    f"Kafka ({self.settings.bootstrap_servers}) is unreachable: the event was not "
                    f"acknowledged within {self.settings.delivery_timeout:g}s ({self.last_error}).",
                )
            else:
                failure = EventError(
                    Codes.DELIVERY_TIMEOUT,
                    f"Kafka did not acknowledge the event within {self.settings.delivery_timeout:g}s "
                    f"(topic {topic}).",
                )
        elif code in _TOPIC_ERRORS:
            failure = EventError(
                Codes.DELIVERY_FAILED, f"Kafka topic {topic} cannot be written: {err.name()}: {err.str()}."
            )
        elif code in _UNREACHABLE or (code in _PURGED and self.brokers_down):
            failure = EventError(
                Codes.LOG_UNAVAILABLE, f"Kafka ({self.settings.bootstrap_servers}) unavailable: {err.str()}."
            )
        else:
            failure = EventError(
                Codes.DELIVERY_FAILED, f"Kafka delivery to {topic} failed: {err.name()}: {err.str()}."
            )
        DELIVERY_FAILURES.labels(failure.code).inc()
        return failure

    # -- producing -----------------------------------------------------------------------------------

    async def produce_columns(
        self,
        topics: Sequence[str],
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        timestamps: Sequence[int | None],
        *,
        hasty: bool = False,
    ) -> list[Exception | None]:
        """:meth:`produce` of the messages ``(topics[i], values[i], keys[i], timestamps[i])``, without a
        Message object per event (the intake pipeline's form; a dataclass per event costs ~1 µs here)."""
        n = len(values)
        if not n:
            return []
        self._start()
        unusable = await self._prepare_topics(topics)
        if hasty:
            return self._produce_hasty(topics, values, keys, timestamps, unusable)
        batch = _Batch(asyncio.get_running_loop())
        outcomes: list[Exception | None] = [None] * n
        timeout = self.settings.delivery_timeout
        deadline = time.monotonic() + timeout
        report = batch.report
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
                        # keywords cost ~1 µs more per call (CPython builds and searches a dict)
                        produce(topic, value, key, _ANY_PARTITION, report, None, ts or 0)
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
        batch.seal(queued)
        if not batch.future.done():
            # librdkafka fails every message by message.timeout.ms; this timer only guards against a bug
            loop = asyncio.get_running_loop()
            timer = loop.call_later(timeout + 5.0, batch.expire)
            try:
                await batch.future
            finally:
                timer.cancel()
        if batch.expired:
            failure = EventError(
                Codes.DELIVERY_TIMEOUT, f"No delivery report from Kafka within {timeout + 5.0:g}s."
            )
            return [o if o is not None else failure for o in outcomes]
        if batch.failed:
            self._assign_failures(topics, values, keys, outcomes, batch.failed)
        ok = outcomes.count(None)
        if ok:
            if self.brokers_down:
                self._mark_up()
            _ACKED_GUARANTEED.inc(ok)
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
        if any(t not in problems or problems[t][0] not in _NO_ANSWER for t in new):
            self._mark_up()  # a topic was created or found, or Kafka refused one: it answers
        out: dict[str, EventFailure] = {}
        for topic in new:
            if topic in problems:
                code, text = problems[topic]
                if code in _NO_ANSWER:
                    continue  # not the topic's fault: try again with the next batch
                out[topic] = EventError(
                    Codes.DELIVERY_FAILED, f"Kafka topic {topic} cannot be created: {text}."
                )
                DELIVERY_FAILURES.labels(Codes.DELIVERY_FAILED).inc()
            else:
                known.add(topic)
        return out

    def _queue_full_failure(self) -> EventFailure:
        code = Codes.LOG_UNAVAILABLE if self.brokers_down else Codes.DELIVERY_TIMEOUT
        DELIVERY_FAILURES.labels(code).inc()
        return EventError(
            code,
            f"The Kafka producer queue stayed full for {self.settings.delivery_timeout:g}s "
            f"({self.last_error or 'broker slow'}).",
        )

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
                producer.produce(topic, value, key, _ANY_PARTITION, None, None, ts or 0)  # as produce_columns
                out.append(None)
            except BufferError:
                out.append(self._queue_full_failure())
            except KafkaException as exc:
                out.append(self._failure(exc.args[0], topic))
        _ACKED_HASTY.inc(out.count(None))
        return out

    # -- metadata ------------------------------------------------------------------------------------

    def _admin_client(self) -> AdminClient:
        if self._admin_stale:  # see _on_stats; the old one goes when its last user lets go
            self._admin_stale = False
            self._admin = None
        if self._admin is None:
            self._admin = AdminClient(
                {**self.settings.common(), "client.id": f"{self.settings.client_id}-admin"}
            )
        return self._admin

    def _meta_consumer(self) -> Consumer:
        if self._meta_stale and self._meta is not None:  # under _meta_lock: nobody else uses it
            self._meta_stale = False
            with contextlib.suppress(Exception):
                self._meta.close()
            self._meta = None
        if self._meta is None:
            self._meta = Consumer(self._consumer_config())
        return self._meta

    def _consumer_config(self, health: _Health | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if health is not None:  # a reader's consumer: watch it for the broker-less state
            extra = {"statistics.interval.ms": int(self.health_interval * 1000), "stats_cb": health.on_stats}
        conf = {
            **self.settings.common(),
            "client.id": f"{self.settings.client_id}-reader",
            "group.id": f"eventplatform-reader-{uuid.uuid4()}",  # assign() only; never committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            **extra,
        }
        return merge_config(conf, self.settings.consumer_config)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _partitions(self, topics: Sequence[str], timeout: float | None = None) -> dict[str, list[int]]:
        """Existing topics among ``topics`` -> their partition ids (blocking)."""
        t = self.settings.request_timeout if timeout is None else timeout
        md = self._admin_client().list_topics(timeout=t)
        out: dict[str, list[int]] = {}
        for topic in topics:
            tm = md.topics.get(topic)
            if tm is None or tm.error is not None or not tm.partitions:
                continue
            out[topic] = sorted(tm.partitions)
        return out

    async def list_topics(self) -> list[str]:
        def fetch() -> list[str]:
            try:
                md = self._admin_client().list_topics(timeout=self.settings.request_timeout)
            except KafkaException as exc:
                raise self._unavailable(exc) from exc
            return sorted(t for t in md.topics if not t.startswith("__"))

        return await self._run(fetch)

    def _unavailable(self, exc: KafkaException) -> EventError:
        return EventError(
            Codes.LOG_UNAVAILABLE, f"Kafka ({self.settings.bootstrap_servers}) unavailable: {exc.args[0]}"
        )

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """``call()``, retried while Kafka answers with a transient error (a new topic's partitions have no
        leader for a moment), up to ``request_timeout``."""
        deadline = time.monotonic() + self.settings.request_timeout
        delay = 0.05
        while True:
            try:
                return call()
            except KafkaException as exc:
                err = exc.args[0]
                transient = isinstance(err, KafkaError) and (err.retriable() or err.code() in _LEADERLESS)
                if not transient or time.monotonic() + delay >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _watermarks(self, topic: str, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
        with self._meta_lock:
            consumer = self._meta_consumer()
            out = {}
            for p in partitions:
                low, high = self._retrying(
                    partial(
                        consumer.get_watermark_offsets,
                        TopicPartition(topic, p),
                        timeout=self.settings.request_timeout,
                        cached=False,
                    )
                )
                out[p] = (low, high)
            return out

    async def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        def fetch() -> dict[int, tuple[int, int]]:
            try:
                parts = self._partitions([topic]).get(topic, [])
                return self._watermarks(topic, parts)
            except KafkaException as exc:
                raise self._unavailable(exc) from exc

        return await self._run(fetch)

    async def ensure_topics(
        self, topics: Sequence[str], *, partitions: int | None = None, replication: int | None = None
    ) -> None:
        """Create the topics that do not exist yet; an existing topic is left as it is."""
        if not topics:
            return

        def create() -> None:
            problems = self._create_topics(
                list(topics),
                self.settings.partitions if partitions is None else partitions,
                self.settings.replication if replication is None else replication,
            )
            if problems:
                raise EventError(
                    Codes.LOG_UNAVAILABLE,
                    "Cannot create Kafka topics: "
                    + "; ".join(f"{t}: {text}" for t, (_, text) in problems.items()),
                )

        await self._run(create)

    def _create_topics(
        self, topics: Sequence[str], partitions: int, replication: int, timeout: float | None = None
    ) -> dict[str, tuple[int, str]]:
        """Create what does not exist (blocking); topic -> (Kafka error code, message) of each failure."""
        admin = self._admin_client()
        t = self.settings.request_timeout if timeout is None else timeout
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=replication) for name in topics],
            operation_timeout=t,
            request_timeout=t,
        )
        problems: dict[str, tuple[int, str]] = {}
        created: list[str] = []
        for name, fut in futures.items():
            try:
                fut.result(timeout=t + 1)
                created.append(name)
            except KafkaException as exc:
                err = exc.args[0]
                if isinstance(err, KafkaError):
                    if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        problems[name] = (err.code(), f"{err.name()}: {err.str()}")
                else:
                    problems[name] = (KafkaError.UNKNOWN, str(err))
            except Exception as exc:
                problems[name] = (KafkaError._TIMED_OUT, str(exc))
        if created:
            self._await_leaders(created, t)
        return problems

    def _await_leaders(self, topics: Sequence[str], timeout: float) -> None:
        """A created topic answers "not leader" until its partitions have a leader: wait for that (bounded),
        so that what follows the creation (produce, watermarks) sees a usable topic."""
        admin = self._admin_client()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(KafkaException):
                md = admin.list_topics(timeout=max(0.1, deadline - time.monotonic()))
                ready = all(
                    (tm := md.topics.get(name)) is not None
                    and tm.error is None
                    and tm.partitions
                    and all(pm.leader >= 0 for pm in tm.partitions.values())
                    for name in topics
                )
                if ready:
                    return
            time.sleep(0.05)

    # -- consuming -----------------------------------------------------------------------------------

    def _plan(
        self, consumer: Consumer, topics: Sequence[str], start: Start, follow: bool
    ) -> tuple[list[TopicPartition], dict[tuple[str, int], int]]:
        """Start offsets for every partition of the existing topics, and (without follow) the end of each."""
        parts = self._partitions(topics)
        assignment: list[TopicPartition] = []
        ends: dict[tuple[str, int], int] = {}
        for topic, plist in parts.items():
            marks = self._watermarks(topic, plist)
            if start.kind == "timestamp":
                assert start.timestamp_ms is not None
                found = self._retrying(
                    partial(
                        consumer.offsets_for_times,
                        [TopicPartition(topic, p, start.timestamp_ms) for p in plist],
                        timeout=self.settings.request_timeout,
                    )
                )
                starts = {
                    tp.partition: (tp.offset if tp.offset >= 0 else marks[tp.partition][1]) for tp in found
                }
            else:
                starts = {}
                for p in plist:
                    low, high = marks[p]
                    kind = start.kind
                    if kind == "offsets":
                        assert start.offsets is not None
                        given = start.offsets.get((topic, p))
                        if given is not None:
                            starts[p] = min(max(given, low), high)
                            continue
                        kind = start.fallback
                    starts[p] = low if kind == "beginning" else high
            for p in plist:
                offset = starts[p]
                if not follow:
                    if offset >= marks[p][1]:
                        continue
                    ends[(topic, p)] = marks[p][1]
                assignment.append(TopicPartition(topic, p, offset))
        return assignment, ends

    def consume(
        self, topics: Sequence[str], start: Start, *, follow: bool = False, poll_interval: float = 0.2
    ) -> AsyncIterator[Record]:
        return self._consume(list(topics), start, follow, poll_interval)

    async def _consume(
        self, topics: list[str], start: Start, follow: bool, poll_interval: float
    ) -> AsyncIterator[Record]:
        # one thread per reader: a following reader blocks in consume() for poll_interval at a time, and
        # hundreds of live-stream clients must not queue behind each other on a shared pool
        loop = asyncio.get_running_loop()
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-reader")

        def run(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
            return loop.run_in_executor(thread, fn, *args)

        health = _Health()
        self._readers.append(health)
        consumer: Consumer | None = None
        try:
            consumer = await run(Consumer, self._consumer_config(health))
            try:
                assignment, ends = await run(self._plan, consumer, topics, start, follow)
            except KafkaException as exc:
                raise self._unavailable(exc) from exc
            if not follow and not ends:
                return
            # where each partition began: a replaced consumer starts there if none of its records came
            starts = {(tp.topic, tp.partition): tp.offset for tp in assignment}
            if assignment:
                await run(consumer.assign, assignment)
            next_discovery = time.monotonic() + self.discovery_interval
            timeout = self.settings.request_timeout
            idle_deadline = time.monotonic() + timeout  # one-shot: no progress for this long is an error
            failed_looks = 0  # partition discoveries in a row that got no metadata
            while True:
                batch = await run(consumer.consume, 500, poll_interval)
                for msg in batch:
                    err = msg.error()
                    if err is not None:
                        if err.fatal():
                            raise EventError(Codes.LOG_UNAVAILABLE, f"Kafka consumer failed: {err.str()}")
                        continue  # transient (broker restart, partition EOF): librdkafka recovers
                    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                    if not follow:
                        end = ends.get((topic, partition))
                        if end is None or offset >= end:
                            continue
                        if offset + 1 >= end:
                            del ends[(topic, partition)]
                    yield Record(topic, partition, offset, msg.timestamp()[1], msg.key(), msg.value())
                if health.lost:
                    consumer = await self._replace_reader(run, consumer, health, starts, ends, follow)
                if not follow:
                    left = len(ends)
                    if not batch and ends:
                        # offsets without a record (deleted by retention, control records): the position
                        # tells us we are past the end all the same
                        positions = await run(consumer.position, [TopicPartition(t, p) for t, p in ends])
                        for tp in positions:
                            if tp.offset >= 0 and tp.offset >= ends[(tp.topic, tp.partition)]:
                                del ends[(tp.topic, tp.partition)]
                    if not ends:
                        return
                    now = time.monotonic()
                    if batch or len(ends) < left:
                        idle_deadline = now + timeout
                    elif now >= idle_deadline:
                        raise EventError(
                            Codes.LOG_UNAVAILABLE,
                            f"Kafka ({self.settings.bootstrap_servers}) delivered nothing for {timeout:g}s "
                            f"with {len(ends)} partition(s) not read to their end "
                            f"(brokers: {health.states or 'none known'}).",
                        )
                if follow and time.monotonic() >= next_discovery:
                    # topics and partitions created after we began (a datacenter's first event); a short
                    # timeout: while Kafka is away this must not hold back records for long once it is back
                    next_discovery = time.monotonic() + self.discovery_interval
                    try:
                        parts = await run(self._partitions, topics, min(timeout, 2.0))
                    except KafkaException:
                        failed_looks += 1
                        if failed_looks >= 3:  # the admin client may know no broker any more (#5301)
                            failed_looks = 0
                            self._admin_stale = True
                    else:
                        failed_looks = 0
                        new = [
                            TopicPartition(t, p, OFFSET_BEGINNING)
                            for t, plist in parts.items()
                            for p in plist
                            if (t, p) not in starts
                        ]
                        if new:
                            with contextlib.suppress(KafkaException):  # tried again at the next look
                                await run(consumer.incremental_assign, new)
                                starts.update(((tp.topic, tp.partition), tp.offset) for tp in new)
        finally:
            with contextlib.suppress(ValueError):
                self._readers.remove(health)
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await run(consumer.close)
            thread.shutdown(wait=False)

    async def _replace_reader(
        self,
        run: Callable[..., asyncio.Future[Any]],
        old: Consumer,
        health: _Health,
        starts: Mapping[tuple[str, int], int],
        ends: Mapping[tuple[str, int], int],
        follow: bool,
    ) -> Consumer:
        """A reader's consumer that knows no broker any more never delivers again (see ``_on_stats``):
        a new one is assigned the same partitions, each at the offset after the last record yielded
        from it (where it began if none was). That is the old consumer's position (local state, no
        broker asked): it is called between batches, and every record of a batch was yielded (or, one-shot,
        lies past the end). Nothing is tracked per record. The metadata clients may be in the same state
        as the consumer: made anew."""
        health.reset()
        self._admin_stale = self._meta_stale = True
        keys = list(starts) if follow else list(ends)
        after: dict[tuple[str, int], int] = {}
        with contextlib.suppress(KafkaException):
            for tp in await run(old.position, [TopicPartition(t, p) for t, p in keys]):
                if tp.error is None and tp.offset >= 0:
                    after[(tp.topic, tp.partition)] = tp.offset
        with contextlib.suppress(Exception):
            await run(old.close)
        consumer: Consumer = await run(Consumer, self._consumer_config(health))
        self.readers_replaced += 1
        _LOGGER.warning("Kafka reader consumer replaced: it lost every broker")
        assignment = [TopicPartition(t, p, after.get((t, p), starts[(t, p)])) for t, p in keys]
        if assignment:
            await run(consumer.assign, assignment)
        return consumer

    # -- shutdown ------------------------------------------------------------------------------------

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

    async def close(self) -> None:
        if self._closed:
            return
        await self.flush()
        self._closed = True
        self._running = False
        if self._poll_thread is not None:
            await self._run(self._poll_thread.join)
        if self._meta is not None:
            with self._meta_lock, contextlib.suppress(Exception):
                self._meta.close()
        self._executor.shutdown(wait=False)

    def describe(self) -> Mapping[str, Any]:
        """For ``/_info`` and logs."""
        return {
            "backend": "kafka",
            "bootstrap_servers": self.settings.bootstrap_servers,
            "delivery_timeout": self.settings.delivery_timeout,
            "brokers_down": self.brokers_down,
            "producers_replaced": self.replaced,
            "guaranteed_producer_brokers": self._health[0].states,
            "reader_consumers_replaced": self.readers_replaced,
            "last_error": self.last_error,
        }
