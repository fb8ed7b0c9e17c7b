"""The Apache Kafka backend of the event log (see :mod:`eventplatform.log.kafka.log`)."""

from eventplatform.log.kafka.config import KafkaSettings, merge_config
from eventplatform.log.kafka.log import KafkaLog

__all__ = ["KafkaLog", "KafkaSettings", "merge_config"]
