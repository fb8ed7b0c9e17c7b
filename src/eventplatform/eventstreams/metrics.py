"""Prometheus metrics of the live streams: clients connected per stream, events sent per stream,
disconnects and refusals by reason.

Labels come from the configured stream names (checked before a stream starts) and fixed reasons, never from
free client input. With several ``serve`` workers (prometheus-client's multiprocess mode) the gate's
``/metrics`` already sums every worker's files, so :meth:`StreamMetrics.exposition` adds nothing there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class StreamMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.clients = Gauge(
            "eventstreams_connected_clients",
            "Clients connected, per stream.",
            ("stream",),
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.connections = Counter(
            "eventstreams_client_connections",
            "Streams opened, per requested stream list (sorted, comma-separated).",
            ("streams",),
            registry=self.registry,
        )
        self.sent = Counter(
            "eventstreams_events_sent",
            "Events sent to clients, per stream list.",
            ("streams",),
            registry=self.registry,
        )
        self.disconnects = Counter(
            "eventstreams_disconnects",
            "Streams ended, by reason (client_closed, slow_client, log_error, shutdown).",
            ("reason",),
            registry=self.registry,
        )
        self.refusals = Counter(
            "eventstreams_refused",
            "Stream requests refused before streaming, by error type.",
            ("type",),
            registry=self.registry,
        )

    def connected(self, streams: Sequence[str]) -> list[str]:
        names = sorted(streams)
        self.connections.labels(",".join(names)).inc()
        for name in names:
            self.clients.labels(name).inc()
        return names

    def disconnected(self, streams: Sequence[str], reason: str) -> None:
        for name in streams:
            self.clients.labels(name).dec()
        self.disconnects.labels(reason).inc()

    def refused(self, kind: str) -> None:
        self.refusals.labels(kind).inc()

    def sent_counter(self, streams: Sequence[str]) -> Callable[[int], None]:
        return self.sent.labels(",".join(sorted(streams))).inc

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return b""  # already in the multiprocess collection of the gate's /metrics
        return generate_latest(self.registry)
