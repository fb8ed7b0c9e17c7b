"""The embedded SQLite backend of the event log (see :mod:`eventplatform.log.sqlite.log`)."""

from eventplatform.log.sqlite.log import SQLiteLog

__all__ = ["SQLiteLog"]
