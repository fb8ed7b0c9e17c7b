"""bench/client.py keeps working: it runs for a moment and prints its figures (measured nothing here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_client_bench_prints_submit_cost_and_delivery_rate() -> None:
    proc = subprocess.run(
        [sys.executable, "bench/client.py", "--submits", "2000", "--events", "3000", "--workers", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "submit, delivery idle (2,000 calls): median" in proc.stdout
    assert "delivery: 3,000 events in" in proc.stdout and "events/s" in proc.stdout
