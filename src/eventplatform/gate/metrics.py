"""Prometheus metrics of intake: events accepted / invalid / errored per stream and schema, and a
request latency histogram. With several worker processes, prometheus-client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by the server before any worker starts) lets any worker answer
``/metrics`` with the totals of all of them.

Labels come from the configuration, never from free client input: a stream that is not configured and a
schema that never loaded are counted as ``unknown``, so a hostile client cannot blow up the series.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from eventplatform.intake.batch import BatchResult

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class GateMetrics:
    """One set of metric objects per process (a fresh CollectorRegistry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("stream", "schema_uri")
        self.accepted = Counter(
            "eventplatform_events_accepted",
            "Events accepted and durably produced.",
            labels,
            registry=self.registry,
        )
        self.invalid = Counter(
            "eventplatform_events_invalid",
            "Events refused as invalid (producer's fault).",
            labels,
            registry=self.registry,
        )
        self.errored = Counter(
            "eventplatform_events_errored",
            "Events that failed for a transient reason (safe to retry).",
            labels,
            registry=self.registry,
        )
        self.hasty = Counter(
            "eventplatform_events_hastily_received", "Events received with ?hasty.", registry=self.registry
        )
        self.latency = Histogram(
            "eventplatform_http_request_duration_seconds",
            "HTTP request latency of intake.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[int, str, str], Callable[[float], None]] = {}
        self._latency_children: dict[tuple[str, str, int], Callable[[float], None]] = {}

    def _inc(self, which: int, stream: str, schema: str, n: int) -> None:
        key = (which, stream, schema)
        inc = self._children.get(key)
        if inc is None:
            counter = (self.accepted, self.invalid, self.errored)[which]
            inc = self._children[key] = counter.labels(stream, schema).inc
        inc(n)

    def count(
        self,
        result: BatchResult,
        known_stream: Callable[[str | None], bool],
        known_schema: Callable[[str | None], bool],
    ) -> None:
        for (stream, schema), n in result.accepted_by.items():
            self._inc(0, stream, schema, n)
        for which, outcomes in ((1, result.invalid), (2, result.error)):
            for o in outcomes:
                self._inc(
                    which,
                    o.stream if known_stream(o.stream) and o.stream else "unknown",
                    o.schema_uri if known_schema(o.schema_uri) and o.schema_uri else "unknown",
                    1,
                )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        obs = self._latency_children.get(key)
        if obs is None:
            obs = self._latency_children[key] = self.latency.labels(method, route, str(status)).observe
        obs(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition: this process's metrics, or all workers' in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
