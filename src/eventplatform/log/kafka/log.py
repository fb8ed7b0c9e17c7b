"""The Apache Kafka backend of :class:`EventLog` (confluent-kafka / librdkafka).

:class:`KafkaLog` puts together, one concern per module: :mod:`.producer` (the produce path, delivery
reports), :mod:`.health` (poll thread, replacement of lost clients), :mod:`.consumer` (readers),
:mod:`.admin` (metadata, topics, retention), :mod:`.failures` (per-event failure codes, metrics) and
:mod:`.config` (settings, merging the user's librdkafka settings with ours).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from eventplatform.log.kafka.admin import Admin
from eventplatform.log.kafka.config import KafkaSettings
from eventplatform.log.kafka.consumer import Consuming
from eventplatform.log.kafka.failures import Failures
from eventplatform.log.kafka.health import Clients, Health
from eventplatform.log.kafka.producer import Producing


class KafkaLog(Producing, Consuming, Admin, Clients, Failures):
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
        self._health = [Health(), Health()]  # of the guaranteed and the hasty producer
        self._admin_stale = False  # the admin client is to be recreated (see _on_stats)
        self._meta_stale = False  # the same for the metadata consumer
        self._next_topic_try = 0.0  # while brokers_down: monotonic time of the next topic-creation attempt
        self._known_topics: set[str] = set()
        self.discovery_interval = 2.0  # seconds between looks for new topics/partitions while following
        self._readers: list[Health] = []  # of the consume() calls running now
        self.readers_replaced = 0  # reader consumers replaced because they knew no broker any more
        self.testing = KafkaTestHooks(self)

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

    def claim(self) -> None:
        """Nothing to claim: every producer writes every partition (the key chooses). Connecting is lazy."""
        return None

    def producer_config(self, hasty: bool) -> dict[str, Any]:
        """The librdkafka settings of the guaranteed or hasty producer: ours merged with the user's."""
        return self._producer_config(hasty)

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

    @property
    def counters(self) -> dict[str, int]:
        """Clients replaced because they hit a fatal error or lost every broker."""
        return {
            "producers_replaced": self.replaced,
            "hasty_producers_replaced": self.hasty_replaced,
            "reader_consumers_replaced": self.readers_replaced,
        }

    def describe(self) -> Mapping[str, Any]:
        """For diagnostics and tests: ``guaranteed_queued`` is how many messages the guaranteed producer
        holds (queued or in flight), ``readers`` how many ``consume`` calls run now."""
        guaranteed = self._guaranteed
        return {
            "backend": "kafka",
            "bootstrap_servers": self.settings.bootstrap_servers,
            "delivery_timeout": self.settings.delivery_timeout,
            "brokers_down": self.brokers_down,
            "producers_replaced": self.replaced,
            "hasty_producers_replaced": self.hasty_replaced,
            "guaranteed_producer_brokers": self._health[0].states,
            "guaranteed_queued": len(guaranteed) if guaranteed is not None else 0,
            "poll_thread_alive": self._poll_thread is not None and self._poll_thread.is_alive(),
            "readers": len(self._readers),
            "reader_consumers_replaced": self.readers_replaced,
            "last_error": self.last_error,
        }


class KafkaTestHooks:
    """Fault injection for tests (``log.testing``): no broker produces these states on demand. Each hook
    feeds the log what librdkafka would; nothing else reaches into the log."""

    def __init__(self, log: KafkaLog) -> None:
        self._log = log

    def fatal_error(self, text: str = "injected") -> None:
        """The guaranteed producer reports a fatal error (it is replaced by the poll thread)."""
        self._log._on_error(self._log.replaced, KafkaError(KafkaError._FATAL, text, fatal=True))

    def producer_statistics(self, hasty: bool, text: str) -> None:
        """The guaranteed (or hasty) producer's statistics callback receives ``text``."""
        self._log._on_stats(hasty, self._log._generation(hasty), text)

    def reader_statistics(self, text: str) -> list[bool]:
        """Every running reader's consumer receives statistics ``text``; returns whether each is now lost
        (it is replaced before its next batch)."""
        out = []
        for health in list(self._log._readers):
            health.on_stats(text)
            out.append(health.lost)
        return out

    def produce_raw(self, topic: str, value: bytes, on_delivery: Callable[[Any, Any], None]) -> None:
        """Queue a message on the guaranteed producer with a delivery callback of the test's own."""
        self._log._start()
        producer = self._log._guaranteed
        assert producer is not None
        producer.produce(topic, value, on_delivery=on_delivery)
