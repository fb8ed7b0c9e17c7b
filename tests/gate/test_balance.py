"""Workers share connections evenly: uvicorn_patches.balance, its rule and a real two-worker server."""

from __future__ import annotations

import time
from http.client import HTTPConnection
from pathlib import Path

import orjson
import psutil

from eventplatform.gate.uvicorn_patches.balance import SLACK, ConnectionCounts
from tests.gate.conftest import Server, link_hover


def test_the_least_loaded_worker_accepts_and_others_within_the_slack() -> None:
    counts = ConnectionCounts(3)
    for index, n in enumerate([4, 9, 4 + SLACK]):
        counts.set(index, n)
    assert counts.should_accept(4)
    assert counts.should_accept(4 + SLACK)
    assert not counts.should_accept(9)
    counts.set(0, 20)  # worker 0 took a burst: the others catch up
    counts.set(2, 9)
    assert counts.should_accept(9) and not counts.should_accept(20)


def _post(conn: HTTPConnection, body: bytes) -> int:
    """One request on a kept-alive connection; its status."""
    conn.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    return r.status


def test_a_burst_of_keep_alive_connections_is_split_between_two_workers(tmp_path: Path) -> None:
    server = Server(tmp_path, workers=2).start()
    try:
        assert server.proc is not None
        workers = psutil.Process(server.proc.pid).children()
        assert len(workers) == 2
        # 16 connections opened at once as soon as intake answers, as a client's keep-alive pool does:
        # before, libuv accepted every pending one in the worker that woke first, or was up first (0/16)
        conns = [HTTPConnection("127.0.0.1", server.port, timeout=30) for _ in range(16)]
        for c in conns:
            c.connect()
        try:
            body = orjson.dumps(link_hover())
            assert [_post(c, body) for c in conns] == [201] * 16
            held: list[int] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                held = sorted(
                    sum(1 for c in w.net_connections("tcp") if c.laddr.port == server.port and c.raddr)
                    for w in workers
                )
                if sum(held) == 16:
                    break
                time.sleep(0.05)
            assert sum(held) == 16, held
            assert held[1] - held[0] <= 2 * SLACK + 2, f"connections per worker: {held}"
            # every connection stays usable for more requests
            assert [_post(c, body) for c in conns] == [201] * 16
        finally:
            for c in conns:
                c.close()
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.stderr()
