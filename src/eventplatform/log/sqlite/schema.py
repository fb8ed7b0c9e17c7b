"""The on-disk layout of one SQLite partition file, and the queries every part of the backend shares.

* **One table per topic** (``t<id>``, ``offset INTEGER PRIMARY KEY``): the offset is the rowid, so appends
  and range reads touch a single B-tree. ``topics`` maps names to ids; the next offset is the last record's
  plus one, and retention writes it to ``topics.next_offset`` before deleting, so offsets stay dense from 0
  and never go back even when every record is deleted.
* ``time_index`` holds a checkpoint every ``index_every`` records (first offset, maximum timestamp before
  it): finding the earliest offset with ``timestamp >= T`` is an index seek plus a short scan, without an
  index on every row. A small commit therefore touches only the topic table's last page (and now and then
  the checkpoint table).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field

PARTITION_FILE = re.compile(r"^partition-(\d+)\.db$")
MIN_TS = -(2**63)
INDEX_EVERY = 1_000  # records between time_index checkpoints (the default)

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_offset INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS time_index (
    topic_id INTEGER NOT NULL,
    max_ts INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    PRIMARY KEY (topic_id, max_ts, first_offset)
) WITHOUT ROWID;
"""


@dataclass(slots=True)
class TopicState:
    id: int
    next_offset: int
    max_ts: int  # running maximum of every timestamp written so far
    since_index: int = -1  # rows since the last time_index entry; -1 = write one at the next commit
    table: str = field(init=False)

    def __post_init__(self) -> None:
        self.table = f"t{self.id}"


def high(conn: sqlite3.Connection, tid: int, next_offset: int) -> int:
    """The next offset of a topic: its last record + 1, or the persisted ``next_offset`` when retention
    deleted the last records (the writer does not update ``topics`` on every commit)."""
    last = conn.execute(f"SELECT MAX(offset) FROM t{tid}").fetchone()[0]
    return int(next_offset) if last is None else max(int(next_offset), int(last) + 1)


def offset_for_time(conn: sqlite3.Connection, tid: int, ts: int) -> int | None:
    """The earliest offset whose timestamp is >= ``ts`` (Kafka's offsetsForTimes), None if there is none.

    ``time_index`` rows are checkpoints (first_offset F, max_ts = the maximum timestamp of every record
    before F), written every ``index_every`` records at most; that maximum never decreases with F. So every
    record before the last checkpoint whose maximum is < ts is older than ts, and the answer is the first
    record at or after that checkpoint with a timestamp >= ts: one index seek and a short scan."""
    row = conn.execute(
        "SELECT first_offset FROM time_index WHERE topic_id = ? AND max_ts < ?"
        " ORDER BY max_ts DESC, first_offset DESC LIMIT 1",
        (tid, ts),
    ).fetchone()
    start = 0 if row is None else int(row[0])
    hit = conn.execute(
        f"SELECT offset FROM t{tid} WHERE offset >= ? AND ts >= ? ORDER BY offset LIMIT 1", (start, ts)
    ).fetchone()
    return None if hit is None else int(hit[0])
