"""Faults: a client that never reads is cut off with the reason and slows nobody; a flood of connections gets
clear 429s while the server keeps streaming; Kafka stopped mid-stream: the stream waits and, once Kafka is
back, goes on without loss."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.eventstreams.conftest import event, new_stream, post, sse, start_platform
from tests.kafka_broker import Broker, kafka, kafka_broker

__all__ = ["kafka_broker"]
SMALL = (
    "eventstreams: {buffer_events: 50, heartbeat: 0.5, client_ip_connection_limit: 0, connection_limit: 40}\n"
)


def test_a_client_that_never_reads_is_cut_off_and_slows_nobody(tmp_path: Path) -> None:
    server = start_platform(tmp_path, config=SMALL)
    stream = new_stream()
    silent = socket.socket()
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # little room in the kernel for it
    try:
        silent.connect(("127.0.0.1", server.port))
        silent.sendall(f"GET /v2/stream/{stream} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        with sse(server, f"/v2/stream/{stream}") as reader:
            time.sleep(0.5)  # both connected
            pad = "x" * 1500
            for batch in range(120):
                post(server, [event(stream, f"b{batch}e{i}{pad}") for i in range(20)])
                got = reader.take(20)  # the reading client gets everything, at once
                assert got[-1].json["link_title"] == f"b{batch}e19{pad}"
        metrics = httpx.get(server.url + "/metrics", timeout=10).text
        assert 'eventstreams_connected_clients{stream="' + stream + '"} 1.0' in metrics
        # the silent client reads at last: what fitted in the buffers, then why it was cut off
        silent.settimeout(20)
        data = b""
        with contextlib.suppress(TimeoutError):
            while chunk := silent.recv(1 << 20):
                data += chunk
                if b"event: error" in data and data.endswith(b"0\r\n\r\n"):
                    break
        assert b"event: error" in data
        error = data[data.index(b"event: error") :]
        assert b'"name":"slow_client"' in error and b"did not read fast enough" in error
    finally:
        silent.close()
        server.kill()


def test_a_flood_of_connections_gets_429s_and_streaming_goes_on(tmp_path: Path) -> None:
    server = start_platform(tmp_path, config=SMALL)
    stream = new_stream()
    statuses: dict[int, int] = {}
    try:
        with sse(server, f"/v2/stream/{stream}") as reader, contextlib.ExitStack() as stack:
            socks = []
            for _ in range(300):  # far past the limit of 40
                s = stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=20))
                s.sendall(f"GET /v2/stream/{stream} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                socks.append(s)
            for s in socks:
                status = int(s.recv(64).split(b" ")[1])
                statuses[status] = statuses.get(status, 0) + 1
            post(server, [event(stream, "still streaming")])
            assert reader.next().json["link_title"] == "still streaming"
        assert statuses == {200: 39, 429: 261}
        r = httpx.get(server.url + "/_info", timeout=10)
        assert r.status_code == 200
    finally:
        server.kill()


@kafka
@pytest.mark.kafka
def test_kafka_stopped_mid_stream_resumes_without_loss(kafka_broker: Broker, tmp_path: Path) -> None:
    server = start_platform(tmp_path, log=kafka_broker.url, config=SMALL)
    stream = new_stream()
    try:
        with sse(server, f"/v2/stream/{stream}", timeout=120) as reader:
            post(server, [event(stream, f"e{i}") for i in range(3)])
            got = reader.take(3)
            kafka_broker.stop()
            try:
                time.sleep(3)  # the stream stays open (heartbeats) while Kafka is away
                assert reader.response.is_closed is False
            finally:
                kafka_broker.start()
            deadline = time.monotonic() + 120
            while True:  # intake answers 5xx until its producer reconnects
                r = httpx.post(server.url + "/v1/events", json=[event(stream, f"e{i}") for i in range(3, 6)])
                if r.status_code == 201 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert r.status_code == 201, r.text
            got += reader.take(3)
    finally:
        server.kill()
    assert [f.json["link_title"] for f in got] == [f"e{i}" for i in range(6)]
