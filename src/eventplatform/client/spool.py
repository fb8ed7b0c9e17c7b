"""The optional on-disk spool: events intake could not take yet, kept across a process restart.

A SQLite file (standard library), synchronous=FULL: a row is on disk when ``put`` returns. The delivery
engine moves a batch here when its first attempts fail and at close, and sends the spool's rows (oldest
first) before forgetting them, so memory stays bounded during an outage and a restart loses nothing that
reached the spool. One client per spool file at a time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

Row = tuple[int, str, bytes, str]  # (seq, meta.id, JSON body, stream)


class Spool:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the engine calls it from worker threads (asyncio.to_thread)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "id TEXT NOT NULL, body BLOB NOT NULL, stream TEXT NOT NULL)"
        )

    def put(self, items: Iterable[tuple[str, bytes, str]]) -> int:
        rows = list(items)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO spool (id, body, stream) VALUES (?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    def peek(self, limit: int, max_bytes: int) -> list[Row]:
        """The oldest rows: at most ``limit`` and about ``max_bytes`` (at least one row)."""
        with self._lock:
            cur = self._db.execute("SELECT seq, id, body, stream FROM spool ORDER BY seq LIMIT ?", (limit,))
            out: list[Row] = []
            size = 0
            for seq, event_id, body, stream in cur:
                if out and size + len(body) > max_bytes:
                    break
                out.append((seq, event_id, bytes(body), stream))
                size += len(body) + 1
            return out

    def delete(self, seqs: Iterable[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in seqs])

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
