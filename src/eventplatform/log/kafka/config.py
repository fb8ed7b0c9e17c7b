"""The Kafka log's settings and how its librdkafka configuration is merged with the user's."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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


class _DebugLogger(logging.Logger):
    """librdkafka's own lines (``FAIL … Connection refused``) are debugging detail: the log reports what a
    user must know (an unreachable broker, a lost event) as one line of its own, so every librdkafka line
    goes through Python logging at DEBUG, whatever librdkafka's level."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


LOGGER = logging.getLogger("eventplatform.log.kafka")  # our own messages about the Kafka log
LIBRDKAFKA_LOGGER = _DebugLogger("eventplatform.log.kafka.librdkafka")  # given to every librdkafka client
LIBRDKAFKA_LOGGER.parent = LOGGER  # handlers set on "eventplatform" or "eventplatform.log.kafka" get them
LIBRDKAFKA_LOGGER.addFilter(_Repeats())  # rate-limited, also at debug level


@dataclass(slots=True)
class KafkaSettings:
    bootstrap_servers: str
    delivery_timeout: float = 10.0  # seconds until an unacknowledged message fails (message.timeout.ms)
    request_timeout: float = 10.0  # metadata, watermarks, topic creation
    # fewer, larger produce requests: less CPU in librdkafka and the broker (docs/benchmarks.md, linger_ms),
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
            "logger": LIBRDKAFKA_LOGGER,
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
