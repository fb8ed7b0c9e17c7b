"""Drain on SIGTERM and slow clients, over real sockets against a real ``eventplatform serve``."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from eventplatform.examples import LINK_HOVER_STREAM
from tests.gate.conftest import Server, link_hover


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def read_all(sock: socket.socket, timeout: float = 20.0) -> bytes:
    sock.settimeout(timeout)
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_sigterm_drains_readiness_first_and_answers_every_request_read(tmp_path: Path) -> None:
    server = Server(tmp_path, "--drain-delay", "1.5", workers=1).start()
    try:
        body = orjson.dumps([link_hover()] * 3)
        head = (
            f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        in_flight = socket.create_connection(("127.0.0.1", server.port))
        in_flight.sendall(head + body[:10])  # a request half received when the signal comes
        half_head = socket.create_connection(("127.0.0.1", server.port))
        half_head.sendall(head[:20])
        assert httpx.get(server.url + "/healthz/ready").status_code == 200
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: httpx.get(server.url + "/healthz/ready").status_code == 503)
        assert httpx.get(server.url + "/healthz/live").status_code == 200
        r = httpx.post(
            server.url + "/v1/events",
            content=orjson.dumps(link_hover()),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 201 and r.headers["connection"] == "close"  # new requests: still answered
        in_flight.sendall(body[10:])
        answer = read_all(in_flight)
        assert answer.startswith(b"HTTP/1.1 201 ") and b"connection: close" in answer.lower()
        half_head.sendall(head[20:] + body)  # finishing its head after the drain delay: still answered
        assert read_all(half_head).startswith(b"HTTP/1.1 201 ")
        server.proc.wait(20)
        assert server.proc.returncode in (0, -signal.SIGTERM), server.stderr()
    finally:
        server.kill()
    assert len(server.records(LINK_HOVER_STREAM)) == 3 + 1 + 3


def test_slow_clients_time_out_and_the_connection_limit_answers_503(tmp_path: Path) -> None:
    server = Server(
        tmp_path, "--header-timeout", "1", "--body-timeout", "1", "--max-connections", "40", workers=1
    ).start()
    try:
        slow_heads = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(b"POST /v1/events HTTP/1.1\r\nContent-Length: 100000\r\n")  # no blank line, ever
            slow_heads.append(s)
        slow_body = socket.create_connection(("127.0.0.1", server.port))
        slow_body.sendall(
            b"POST /v1/events HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n["
        )
        with httpx.Client(base_url=server.url) as client:  # a normal client is served meanwhile
            r = client.post(
                "/v1/events", content=orjson.dumps(link_hover()), headers={"content-type": "application/json"}
            )
            assert r.status_code == 201
        t0 = time.monotonic()
        for s in [*slow_heads, slow_body]:
            assert read_all(s, 10).startswith(b"HTTP/1.1 408 ")
            s.close()
        assert time.monotonic() - t0 < 5  # closed by the 1 s timeouts, not by anything else
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(45)]
        answers = []
        for s in idle[40:]:
            answers.append(read_all(s, 5))
        assert all(a.startswith(b"HTTP/1.1 503 ") for a in answers), answers
        for s in idle:
            s.close()
        assert httpx.get(server.url + "/healthz/ready").status_code == 200
    finally:
        server.kill()
