"""The health of the Kafka clients: the poll thread that serves delivery reports, and the replacement of
a producer that hit a fatal error or lost every broker.

librdkafka reconnects on its own, except where it cannot: a producer with a fatal error, or one that lost
every broker (see ``Clients._on_stats``), is replaced by a new one; its queued messages are purged and
reported as failures so that every waiting produce call is answered.
"""

from __future__ import annotations

import contextlib
import threading
import time
from functools import partial
from typing import Any

import orjson
from confluent_kafka import KafkaError, Producer

from eventplatform.errors import Codes, EventError
from eventplatform.log.kafka.config import LOGGER, KafkaSettings, merge_config
from eventplatform.log.kafka.failures import BROKERS_REACHABLE


class Health:
    """Whether one librdkafka client (a producer, or a reader's consumer) still knows a broker, from its
    statistics (one small JSON document every ``health_interval`` seconds, nothing per message). Two
    reports in a row without a broker: the client is lost for good (see ``Clients._on_stats``) and is
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


class Clients:
    """The producers' life cycle in :class:`KafkaLog` (a mixin)."""

    settings: KafkaSettings
    _closed: bool

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
                LOGGER.exception("Kafka log poll thread: unexpected error (polling goes on)")
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
        LOGGER.warning("Kafka guaranteed producer replaced: %s", why)
        self._retire(old)

    def _replace_hasty(self) -> None:
        self._health[1].reset()
        old = self._hasty
        self.hasty_replaced += 1
        self._hasty = Producer(self._producer_config(True))
        LOGGER.warning("Kafka hasty producer replaced: it lost every broker")
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
