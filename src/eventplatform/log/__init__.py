"""The durable event log: an :class:`EventLog` protocol with SQLite (embedded) and Kafka backends."""

from eventplatform.log.base import (
    EventLog,
    Message,
    Position,
    Record,
    Start,
    open_log,
)

__all__ = ["EventLog", "Message", "Position", "Record", "Start", "open_log"]
