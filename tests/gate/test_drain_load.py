"""SIGTERM under load (2 workers, 8 clients posting batches on keep-alive connections): every request
that was sent gets an answer, and every acknowledged event is in the log exactly once."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest

from eventplatform.examples import LINK_HOVER_STREAM
from tests.gate.conftest import Server, post_fresh_batch


async def _client(url: str, acked: list[str], counts: Counter[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set():
            try:
                ids, r = await post_fresh_batch(client)
            except httpx.ConnectError:
                counts["refused"] += 1  # never sent: the server stopped accepting; a client goes elsewhere
                return
            except httpx.HTTPError as exc:
                counts[f"unanswered {type(exc).__name__}"] += 1
                return
            counts[str(r.status_code)] += 1
            if r.status_code == 201:
                acked.extend(ids)


@pytest.mark.slow
def test_sigterm_under_load_leaves_no_request_unanswered(tmp_path: Path) -> None:
    server = Server(tmp_path, "--drain-delay", "1", workers=2).start()
    acked: list[str] = []
    counts: Counter[str] = Counter()

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_client(server.url, acked, counts, stop)) for _ in range(8)]
        while counts["201"] < 50:
            await asyncio.sleep(0.01)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.to_thread(server.proc.wait), 40)
        stop.set()
        await asyncio.gather(*tasks)

    try:
        asyncio.run(main())
    finally:
        server.kill()
    assert server.proc is not None and server.proc.returncode in (0, -signal.SIGTERM), server.stderr()
    assert [k for k in counts if k.startswith("unanswered")] == [], counts
    ids = [r["meta"]["id"] for r in server.records(LINK_HOVER_STREAM)]
    assert set(acked) <= set(ids), "acknowledged events lost"
    assert len(ids) == len(set(ids)), "duplicates"
