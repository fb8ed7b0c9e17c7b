"""``<lake>/_status.sqlite``: where each stream's refining stands, and what each hour holds.

``positions``: per stream and log (topic, partition) the next offset to refine; a run reads from there to
the end it saw when it began and commits the new positions with the hours' rows in one transaction.
``hours``: per table and datacenter-hour the rows in and out, canaries and duplicates removed,
quarantined records, the schema version and the time taken, summed over the runs that touched it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS positions (
    stream TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (stream, topic, partition)
);
CREATE TABLE IF NOT EXISTS hours (
    table_name TEXT NOT NULL, datacenter TEXT NOT NULL, hour TEXT NOT NULL,
    rows_in INTEGER NOT NULL DEFAULT 0, rows_out INTEGER NOT NULL DEFAULT 0,
    canaries INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0, schema_uri TEXT, seconds REAL NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0, refined_at TEXT NOT NULL,
    PRIMARY KEY (table_name, datacenter, hour)
);
"""


@dataclass(slots=True)
class HourStats:
    rows_in: int = 0
    rows_out: int = 0
    canaries: int = 0
    duplicates: int = 0
    quarantined: int = 0
    seconds: float = 0.0


class Status:
    def __init__(self, lake: Path) -> None:
        self.path = lake / "_status.sqlite"
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)

    def positions(self, stream: str) -> dict[tuple[str, int], int]:
        rows = self._conn.execute(
            "SELECT topic, partition, next_offset FROM positions WHERE stream = ?", (stream,)
        ).fetchall()
        return {(t, p): o for t, p, o in rows}

    def commit(
        self,
        stream: str,
        table: str,
        positions: Mapping[tuple[str, int], int],
        hours: Mapping[tuple[str, str], HourStats],
        schema_uri: str | None,
    ) -> None:
        """New positions and the hours' figures, in one transaction."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO positions VALUES (?, ?, ?, ?) ON CONFLICT (stream, topic, partition)"
                " DO UPDATE SET next_offset = excluded.next_offset",
                [(stream, t, p, o) for (t, p), o in positions.items()],
            )
            self._conn.executemany(
                "INSERT INTO hours VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"
                " ON CONFLICT (table_name, datacenter, hour) DO UPDATE SET"
                " rows_in = rows_in + excluded.rows_in, rows_out = excluded.rows_out,"
                " canaries = canaries + excluded.canaries, duplicates = duplicates + excluded.duplicates,"
                " quarantined = quarantined + excluded.quarantined, schema_uri = excluded.schema_uri,"
                " seconds = seconds + excluded.seconds, runs = runs + 1, refined_at = excluded.refined_at",
                [
                    (
                        table,
                        dc,
                        hour,
                        s.rows_in,
                        s.rows_out,
                        s.canaries,
                        s.duplicates,
                        s.quarantined,
                        schema_uri,
                        round(s.seconds, 6),
                        now,
                    )
                    for (dc, hour), s in hours.items()
                ],
            )

    def hours(self, tables: Iterable[str] | None = None) -> list[dict[str, Any]]:
        cur = self._conn.execute("SELECT * FROM hours ORDER BY table_name, datacenter, hour")
        names = [d[0] for d in cur.description]
        wanted = None if tables is None else set(tables)
        return [
            r
            for r in (dict(zip(names, row, strict=True)) for row in cur)
            if wanted is None or r["table_name"] in wanted
        ]

    def close(self) -> None:
        self._conn.close()
