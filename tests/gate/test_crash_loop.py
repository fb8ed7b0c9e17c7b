"""Crash loops: ``eventplatform serve`` SIGKILLed at a random moment of a load, 20 times in a row on one log
(SQLite). After each kill, every acknowledged event (201, or the accepted part
of a 207) is in the log exactly once, and the server starts again on what the kill left (for SQLite that
includes the start-up integrity check of the partition files)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_STREAM
from tests.gate.conftest import EXE, Server, link_hover, post_fresh_batch

ROUNDS = 20
CLIENTS = 4


async def _client(url: str, acked: list[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set():
            try:
                ids, r = await post_fresh_batch(client)
            except httpx.HTTPError:
                return  # killed: no answer, nothing counted
            if r.status_code == 201:
                acked.extend(ids)
            elif r.status_code == 207:
                body = r.json()
                failed = {e["index"] for e in body.get("invalid", []) + body.get("error", [])}
                acked.extend(i for n, i in enumerate(ids) if n not in failed)


def _crash_loop(server: Server, read: Callable[[], list[dict[str, Any]]], seed: int) -> None:
    rng = random.Random(seed)
    acked: list[str] = []
    for round_ in range(ROUNDS):
        server.start(timeout=60)
        assert server.proc is not None
        delay = rng.uniform(0.0, 0.3)  # from the first requests on, up to a few hundred batches

        async def main(delay: float = delay) -> None:
            stop = asyncio.Event()
            tasks = [asyncio.create_task(_client(server.url, acked, stop)) for _ in range(CLIENTS)]
            await asyncio.sleep(delay)  # the random moment (the load runs meanwhile)
            os.killpg(server.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
            stop.set()
            await asyncio.gather(*tasks)

        asyncio.run(main())
        server.kill()  # reaps it
        assert server.proc.returncode == -signal.SIGKILL, (round_, server.stderr())
        stored = Counter(e["meta"]["id"] for e in read())
        missing = [i for i in acked if i not in stored]
        dups = [i for i in acked if stored[i] > 1]
        assert not missing, f"round {round_} (seed {seed}): {len(missing)} of {len(acked)} acknowledged lost"
        assert not dups, f"round {round_} (seed {seed}): {len(dups)} acknowledged events stored twice"
    assert len(acked) > ROUNDS * 20, f"the load hardly ran: {len(acked)} events acknowledged"
    server.start(timeout=60)  # and it still starts on what the last kill left
    server.kill()


@pytest.mark.slow
def test_crash_loop_on_sqlite(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    server = Server(tmp_path, workers=2)
    try:
        _crash_loop(server, lambda: server.records(LINK_HOVER_STREAM), seed)
    finally:
        server.kill()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_startup_names_a_damaged_partition_file(tmp_path: Path, damage: str) -> None:
    server = Server(tmp_path)
    server.start()
    with httpx.Client(base_url=server.url) as c:
        r = c.post(
            "/v1/events",
            content=orjson.dumps([link_hover()] * 200),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 201
    server.stop()
    part = server.log_dir / "partition-0.db"
    if damage == "truncated":
        os.truncate(part, part.stat().st_size // 2 + 100)
    else:
        part.write_bytes(os.urandom(8192))
    run = subprocess.run(
        [EXE, "serve", *server.args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 3, run.stderr
    assert f"{part}: " in run.stderr and ("truncated" in run.stderr or "not an SQLite database" in run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
