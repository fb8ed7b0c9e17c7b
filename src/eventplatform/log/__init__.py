"""The durable event log: an :class:`EventLog` protocol with SQLite (embedded) and Kafka backends."""

from eventplatform.log.base import (
    Batch,
    Block,
    EventLog,
    Message,
    NotSupported,
    Position,
    Record,
    Start,
)
from eventplatform.log.open import open_log

__all__ = ["Batch", "Block", "EventLog", "Message", "NotSupported", "Position", "Record", "Start", "open_log"]
