"""``eventplatform produce`` with no Kafka broker: one clear line, none of librdkafka's raw log lines (they go
to Python logging at DEBUG)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from eventplatform.examples import LINK_HOVER_SCHEMA_URI, LINK_HOVER_STREAM
from tests.gate.conftest import free_port

EXE = str(Path(sys.executable).with_name("eventplatform"))


def test_produce_without_a_broker_says_so_in_one_line(tmp_path: Path) -> None:
    event = orjson.dumps({"$schema": LINK_HOVER_SCHEMA_URI, "link_href": "x", "link_title": "t"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
    done = subprocess.run(
        [EXE, "produce", LINK_HOVER_STREAM, "--log", f"kafka://127.0.0.1:{free_port()}?delivery_timeout=2"],
        input=b"\n".join([event] * 3),
        capture_output=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    err = done.stderr.decode()
    assert done.returncode == 1
    assert len(err.splitlines()) == 1, err
    assert err.startswith("Error: the event log is unavailable, nothing more was sent (0 of 3 events")
    assert "is unreachable" in err
    assert "FAIL [" not in err and "[thrd:" not in err
    assert done.stdout == b""


DEBUG_RUN = """
import asyncio, logging, sys
from eventplatform.log import Batch, open_log
logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s")
async def main():
    log = open_log(sys.argv[1])
    try:
        return await log.produce(Batch.to("t", [b"{}"]))
    finally:
        await log.close()
print("outcome", asyncio.run(main())[0] is not None)
"""


def test_librdkafka_lines_are_debug_records() -> None:
    """In a process of its own: the Kafka client's threads end with it, not in this test worker."""
    url = f"kafka://127.0.0.1:{free_port()}?delivery_timeout=1"
    done = subprocess.run(
        [sys.executable, "-c", DEBUG_RUN, url], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.strip() == "outcome True", done.stderr  # not delivered
    raw = [line for line in done.stderr.splitlines() if " eventplatform.log.kafka.librdkafka " in line]
    assert any("Connection refused" in line for line in raw), done.stderr
    assert all(line.startswith("DEBUG ") for line in raw), raw
