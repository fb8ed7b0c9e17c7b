"""Retention: deleting the old records of one topic in one partition file, from any process.

It works on partitions whose writer is running: SQLite serializes the two writers, and the writer never
reads what is deleted (offsets stay in ``topics.next_offset``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from eventplatform.log.sqlite.schema import high, offset_for_time


def purge(path: Path, topic: str, timestamp_ms: int | None, offset: int | None = None) -> int:
    """Delete the records of ``topic`` before the first record at or after ``timestamp_ms`` (in offset
    order, like Kafka's time-based retention) and, if given, before ``offset``. Returns the rows deleted."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT id, next_offset FROM topics WHERE name = ?", (topic,)).fetchone()
        except sqlite3.OperationalError:  # a partition without any table yet
            conn.execute("ROLLBACK")
            return 0
        if found is None:
            conn.execute("ROLLBACK")
            return 0
        tid, next_offset = found
        top = high(conn, tid, next_offset)
        cut = 0
        if timestamp_ms is not None:
            found_at = offset_for_time(conn, tid, timestamp_ms)
            cut = top if found_at is None else found_at
        if offset is not None:
            cut = max(cut, min(offset, top))
        # offsets must never restart, even when every record goes
        conn.execute("UPDATE topics SET next_offset = ? WHERE id = ?", (top, tid))
        deleted = conn.execute(f"DELETE FROM t{tid} WHERE offset < ?", (cut,)).rowcount
        # keep the index entry of the batch that holds ``cut``
        conn.execute(
            "DELETE FROM time_index WHERE topic_id = ? AND first_offset < (SELECT MAX(first_offset)"
            " FROM time_index WHERE topic_id = ? AND first_offset <= ?)",
            (tid, tid, cut),
        )
        conn.execute("COMMIT")
        return int(deleted)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
