"""bench/eventstreams.py keeps working: a few clients for a few seconds, figures printed (not judged)."""

from __future__ import annotations

import json

from tests.bench.test_bench_scripts import run


def test_eventstreams_bench_prints_deliveries_latency_and_memory() -> None:
    out = run(
        "bench/eventstreams.py", "--clients", "4", "--rate", "20", "--duration", "4", "--report", "2",
        "--sample", "2", "--procs", "1",
    )  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    assert result["posted"] > 0 and result["deliveries_per_s"] > 0
    assert result["rss_end_mb"] > 0 and result["connections_lost"] == 0
    assert result["p50_ms_median"] == result["p50_ms_median"]  # a number (latency was measured)
