"""The benchmark scripts keep working: each runs for a moment and prints its figures.

They measure nothing here (figures belong in docs/benchmarks.md); this only keeps them from rotting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kafka_broker import Broker, kafka, kafka_broker
from tests.mariadb_server import MariaDB, mariadb, mariadb_server

__all__ = ["kafka_broker", "mariadb_server"]

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_pipeline_bench_prints_cpu_per_event() -> None:
    out = run("bench/pipeline.py", "--batch", "10", "--batches", "20", "--repeat", "1", "--invalid", "0.1")
    assert "µs CPU per event" in out
    assert float(out.split(":")[-1].split("µs")[0]) > 0


def test_intake_bench_against_a_started_server(tmp_path: Path) -> None:
    out = run(
        "bench/intake.py",
        "--duration", "0.5", "--batches", "1,10", "--invalid", "0,0.5", "--connections", "2",
        "--workers", "1", "--log", f"sqlite:///{tmp_path}/log", "--json",
    )  # fmt: skip
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(rows) == 4
    for row in rows:
        assert row["events_s"] > 0 and row["req_s"] > 0
        statuses = {int(k) for k in row["statuses"]}
        # all valid: 201; half invalid: a single event is 400, a batch of 10 is 207
        expected = {201} if row["invalid"] == 0 else ({400, 201} if row["batch"] == 1 else {207})
        assert statuses <= expected and statuses, row


@kafka
@pytest.mark.kafka
def test_kafka_log_bench_prints_rate_and_cpu(kafka_broker: Broker) -> None:
    out = run(
        "bench/log_kafka.py", "--log", kafka_broker.url, "--duration", "0.3", "--repeat", "1",
        "--batch", "10", "--concurrency", "2",
    )  # fmt: skip
    assert "events/s" in out and "µs CPU per event" in out
    assert float(out.split("in flight: ")[1].split(" events/s")[0].replace(",", "")) > 0


def test_retention_bench_prints_rates() -> None:
    out = run("bench/retention.py", "--rows", "2000", "--hours", "2", "--log-records", "2000")
    assert "sanitize: 2,000 rows in 2 hours" in out
    assert "purge: 2,000 log records" in out


@mariadb
def test_legacy_bench_sink_part(mariadb_server: MariaDB) -> None:
    out = run(
        "bench/legacy.py", "--skip-http", "--events", "50", "--db", mariadb_server.url("log"), timeout=300
    )  # fmt: skip
    assert json.loads(out)["mysql"]["events"] == 50


def test_hotpath_bench_prints_both_paths() -> None:
    out = run(
        "bench/hotpath.py", "--batches", "1,10", "--invalid", "0,0.1", "--events", "40", "--repeat", "1",
        "--json",
    )  # fmt: skip
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    modes = {r["mode"] for r in rows}
    assert "python" in modes and len(rows) == 4 * len(modes)
    assert all(r["us_per_event"] > 0 for r in rows)
