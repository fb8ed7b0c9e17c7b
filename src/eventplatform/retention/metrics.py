"""Metrics of the operations jobs, written as Prometheus text files (node_exporter's textfile collector
reads them): these jobs are short-lived commands, not servers to scrape."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile


def write_canary_metrics(
    path: str, config: Any, streams: Sequence[str], datacenters: Sequence[str], missing: Iterable[Any]
) -> None:
    """``eventplatform_canary_missing{stream,topic}``: hours without a canary in the window checked (0 =
    healthy), one series per expected topic; and when the check ran."""
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
    write_to_textfile(path, registry)  # written aside then renamed: a reader never sees half a file
