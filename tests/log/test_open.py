"""Opening a log by URL, and the import rule that keeps the protocol free of backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eventplatform.log import open_log
from eventplatform.log.kafka import KafkaLog
from eventplatform.log.sqlite import SQLiteLog


def test_the_url_scheme_chooses_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_log(f"sqlite://{tmp_path}/log"), SQLiteLog)
    assert isinstance(open_log("kafka://127.0.0.1:1"), KafkaLog)
    for url in ("postgres://x", "sqlite:/nothing", "", "kafka"):
        with pytest.raises(ValueError, match="unsupported log URL"):
            open_log(url)


def test_the_protocol_imports_no_backend() -> None:
    """base.py and open.py load no backend (no cycle, no librdkafka for a SQLite user) until a log opens."""
    code = (
        "import sys, eventplatform.log, eventplatform.log.base, eventplatform.log.open\n"
        "backends = ('eventplatform.log.sqlite', 'eventplatform.log.kafka', 'confluent_kafka')\n"
        "loaded = [m for m in sys.modules if m.startswith(backends)]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
