"""refine on the Kafka log: a stream in two datacenter topics lands in two datacenter partitions, and the
query results are the events sent (the same checks as on SQLite in test_refine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventplatform.lake.naming import table_name
from tests.kafka_broker import Broker, kafka, kafka_broker, unique, write_stream_config
from tests.lake.helpers import event, produce, query, refine

__all__ = ["kafka_broker"]


@kafka
@pytest.mark.kafka
def test_refine_from_kafka_by_datacenter(kafka_broker: Broker, tmp_path: Path) -> None:
    stream = unique("test.lake.")
    config = write_stream_config(tmp_path / "streams.yaml", stream)
    sent = {
        "eqiad": [event("2026-02-15T00:10:00Z", id="e1"), event("2026-02-15T01:10:00Z", id="e2")],
        "codfw": [
            event("2026-02-15T00:15:00Z", id="c1"),
            event("2026-02-15T00:16:00Z", id="k", domain="canary"),
        ],
    }
    for dc, events in sent.items():
        for e in events:
            e["meta"]["stream"] = stream
        produce(kafka_broker.url, f"{dc}.{stream}", events)
    lake = tmp_path / "lake"
    args = ("--stream-config", str(config), "--stream", stream)
    out = refine(kafka_broker.url, lake, *args).output
    assert "4 read, 3 rows in 3 hours, 1 canaries" in out
    table = table_name(stream)
    rows = query(lake, f"SELECT datacenter, hour, meta.id AS id FROM event.{table} ORDER BY id")
    assert rows == [
        {"datacenter": "codfw", "hour": 0, "id": "c1"},
        {"datacenter": "eqiad", "hour": 0, "id": "e1"},
        {"datacenter": "eqiad", "hour": 1, "id": "e2"},
    ]
    assert "0 read" in refine(kafka_broker.url, lake, *args).output  # positions kept per Kafka partition
