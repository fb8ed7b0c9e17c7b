"""SIGKILL in the middle of a load: every event acknowledged with 201 must be in the log afterwards."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_STREAM
from tests.gate.conftest import Server, link_hover, post_fresh_batch


async def _load(url: str, acked: set[str], stop: asyncio.Event, counts: dict[str, int]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while not stop.is_set():
            try:
                ids, r = await post_fresh_batch(client)
            except httpx.HTTPError:
                counts["failed"] += 1
                return  # the server is gone
            if r.status_code == 201:
                acked.update(ids)
                counts["acked_batches"] += 1


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_keeps_every_acknowledged_event(tmp_path: Path, workers: int) -> None:
    server = Server(tmp_path, workers=workers)
    server.start()
    acked: set[str] = set()
    counts = {"acked_batches": 0, "failed": 0}

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_load(server.url, acked, stop, counts)) for _ in range(8)]
        deadline = time.monotonic() + 20
        while counts["acked_batches"] < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        server.kill(signal.SIGKILL)  # mid-load: requests are in flight
        stop.set()
        await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
    finally:
        server.kill()
    assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
    assert counts["acked_batches"] >= 30, counts
    stored = {e["meta"]["id"] for e in server.records(LINK_HOVER_STREAM)}
    missing = acked - stored
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged events lost"
    # and a restarted server on the same log keeps serving, with the old events still there
    restarted = Server(tmp_path / "again", workers=workers)
    restarted.log_dir = server.log_dir
    restarted.args[restarted.args.index("--log") + 1] = f"sqlite://{server.log_dir}"
    try:
        restarted.start()
        r = httpx.post(
            restarted.url + "/v1/events",
            content=orjson.dumps(link_hover()),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 201
    finally:
        restarted.kill()
    after = [e["meta"]["id"] for e in restarted.records(LINK_HOVER_STREAM)]
    assert stored <= set(after)
    assert len(after) == len(stored) + 1
