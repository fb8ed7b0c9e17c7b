"""What a Kafka failure means for one event: a precise code, and the metrics that count them.

Every failure is a value per message: ``event_too_large`` (invalid) for a message over
``message.max.bytes``, ``delivery_timeout`` / ``log_unavailable`` / ``delivery_failed`` (errors, safe to
retry) otherwise. Nothing here raises for one bad message.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from prometheus_client import Counter, Gauge

from eventplatform.errors import Codes, EventError, EventFailure, EventInvalid
from eventplatform.log.kafka.config import KafkaSettings

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

ACKED_GUARANTEED = PRODUCED.labels("guaranteed")
ACKED_HASTY = PRODUCED.labels("hasty")
ANY_PARTITION = -1  # RD_KAFKA_PARTITION_UA: the configured partitioner (the message key) chooses
TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE}
TOPIC_ERRORS = {
    KafkaError._UNKNOWN_TOPIC,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.POLICY_VIOLATION,
}


LEADERLESS = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
}
UNREACHABLE = {KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE, KafkaError._TRANSPORT}
PURGED = {KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT}  # by a producer we replaced
NO_ANSWER = UNREACHABLE | {KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT}


class Failures:
    """The failure mapping of :class:`KafkaLog` (a mixin: it reads the log's broker state)."""

    settings: KafkaSettings
    brokers_down: bool
    last_error: str | None

    def _failure(self, err: KafkaError, topic: str) -> EventFailure:
        code = err.code()
        if code in TOO_LARGE:
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
        elif code in TOPIC_ERRORS:
            failure = EventError(
                Codes.DELIVERY_FAILED, f"Kafka topic {topic} cannot be written: {err.name()}: {err.str()}."
            )
        elif code in UNREACHABLE or (code in PURGED and self.brokers_down):
            failure = EventError(
                Codes.LOG_UNAVAILABLE, f"Kafka ({self.settings.bootstrap_servers}) unavailable: {err.str()}."
            )
        else:
            failure = EventError(
                Codes.DELIVERY_FAILED, f"Kafka delivery to {topic} failed: {err.name()}: {err.str()}."
            )
        DELIVERY_FAILURES.labels(failure.code).inc()
        return failure

    def _queue_full_failure(self) -> EventFailure:
        code = Codes.LOG_UNAVAILABLE if self.brokers_down else Codes.DELIVERY_TIMEOUT
        DELIVERY_FAILURES.labels(code).inc()
        return EventError(
            code,
            f"The Kafka producer queue stayed full for {self.settings.delivery_timeout:g}s "
            f"({self.last_error or 'broker slow'}).",
        )

    def _unavailable(self, exc: KafkaException) -> EventError:
        return EventError(
            Codes.LOG_UNAVAILABLE, f"Kafka ({self.settings.bootstrap_servers}) unavailable: {exc.args[0]}"
        )
