"""Metrics of the operations checks, written as a Prometheus text file (node_exporter's textfile collector
reads it): ``eventplatform canary --check`` is a short-lived command, not a server to scrape.

* ``eventplatform_canary_missing{stream,topic}``: hours without a canary in the window checked (0 = alive);
* ``eventplatform_canary_check_timestamp_seconds``: when the check ran (a stale check is an alert too);
* ``eventplatform_consumer_lag_records{consumer,topic,partition}``: how far a consumer with stored
  positions is behind the log's end; today the lake's refine (``<lake>/_status.sqlite``, table
  ``positions``: the next offset to refine per topic and partition).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from eventplatform.log import EventLog


async def lake_lag(log: EventLog, lake: Path) -> list[tuple[str, int, int]]:
    """(topic, partition, records behind) of the lake's refine; [] without a lake status."""
    status = lake / "_status.sqlite"
    if not status.exists():
        return []
    conn = sqlite3.connect(f"file:{status}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT topic, partition, MAX(next_offset) FROM positions GROUP BY topic, partition"
        ).fetchall()
    except sqlite3.Error:  # a lake whose status has no positions (yet)
        rows = []
    finally:
        conn.close()
    out: list[tuple[str, int, int]] = []
    existing = set(await log.list_topics())
    marks: dict[str, dict[int, tuple[int, int]]] = {}
    for topic, partition, next_offset in rows:
        if topic not in existing:
            continue
        if topic not in marks:
            marks[topic] = await log.watermarks(topic)
        high = marks[topic].get(partition, (0, next_offset))[1]
        out.append((topic, partition, max(0, high - next_offset)))
    return out


def write_ops_metrics(
    path: str,
    config: Any,
    streams: Sequence[str],
    datacenters: Sequence[str],
    missing: Iterable[Any],
    lag: Iterable[tuple[str, int, int]] = (),
) -> None:
    registry = CollectorRegistry()
    gauge = Gauge(
        "eventplatform_canary_missing",
        "Hours without a canary event in the window checked (0: the stream is alive).",
        ("stream", "topic"),
        registry=registry,
    )
    for stream in streams:
        topics = [t for t in config.topics(stream) if not t.startswith("/")]
        topics += [f"{dc}.{stream}" for dc in datacenters if f"{dc}.{stream}" not in topics]
        for topic in topics:
            gauge.labels(stream, topic).set(0)
    for m in missing:
        gauge.labels(m.stream, m.topic).inc()
    Gauge(
        "eventplatform_canary_check_timestamp_seconds",
        "When the canary check last ran.",
        registry=registry,
    ).set(time.time())
    lag_gauge = Gauge(
        "eventplatform_consumer_lag_records",
        "Records a consumer with stored positions has still to read (log end minus its position).",
        ("consumer", "topic", "partition"),
        registry=registry,
    )
    for topic, partition, behind in lag:
        lag_gauge.labels("lake", topic, str(partition)).set(behind)
    write_to_textfile(path, registry)  # written aside then renamed: a reader never sees half a file
