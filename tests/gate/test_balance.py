"""Workers share connections evenly: gate.balance, in its rule and in a real two-worker server."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import orjson
import psutil

from eventplatform.gate.balance import SLACK, ConnectionCounts
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


def _post(conn: socket.socket, port: int, body: bytes) -> bytes:
    conn.sendall(
        b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (port, len(body), body)
    )
    data = b""
    while b"\r\n\r\n" not in data or len(data) < _length(data):
        chunk = conn.recv(65536)
        assert chunk, "connection closed before an answer"
        data += chunk
    return data.split(b"\r\n", 1)[0]


def _length(response: bytes) -> int:
    """The whole length of a response whose head is in ``response`` (Content-Length framing)."""
    head, _, _ = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(head) + 4


def test_a_burst_of_keep_alive_connections_is_split_between_two_workers(tmp_path: Path) -> None:
    server = Server(tmp_path, workers=2).start()
    try:
        assert server.proc is not None
        workers = psutil.Process(server.proc.pid).children()
        assert len(workers) == 2
        # 16 connections opened at once as soon as intake answers, as a client's keep-alive pool does:
        # before, libuv accepted every pending one in the worker that woke first, or was up first (0/16)
        conns = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(16)]
        try:
            body = orjson.dumps(link_hover())
            assert all(_post(c, server.port, body).startswith(b"HTTP/1.1 201 ") for c in conns)
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
            assert all(_post(c, server.port, body).startswith(b"HTTP/1.1 201 ") for c in conns)
        finally:
            for c in conns:
                c.close()
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.stderr()
