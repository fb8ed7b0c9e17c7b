"""Fixtures of the live-stream tests: a real ``eventplatform serve`` (intake and EventStreams on one port)
on the SQLite log or the real Kafka broker, and a small reader of its SSE responses over real sockets.

Each test uses its own stream (``test.<name>``, matched by a regex entry of the stream config), so the
tests of a module share one server without seeing each other's events.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.gate.conftest import Server
from tests.kafka_broker import Broker, kafka, kafka_broker

__all__ = ["Server", "kafka_broker"]
SCHEMA = "/analytics/link_hover/1.0.0"
STREAM_CONFIG = """\
streams:
  /^test\\.[a-z0-9_]+$/:
    schema_title: analytics/link_hover
    topic_prefixes: [eqiad., codfw.]
    canary_events_enabled: true
  live.alias_target:
    schema_title: analytics/link_hover
    topic_prefixes: [eqiad., codfw.]
    stream_aliases: [live.alias]
  /^[A-Za-z0-9_.-]+\\.error\\.validation$/:
    schema_title: error
    topic_prefixes: [eqiad., codfw.]
"""
CONFIG = """\
eventstreams:
  heartbeat: 0.5
  retry_ms: 1500
  client_ip_connection_limit: 6
  connection_limit: 9
  buffer_events: 200
"""


def new_stream() -> str:
    return "test." + uuid.uuid4().hex[:10]


def event(stream: str, title: str, **meta: Any) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "meta": {"stream": stream, **meta},
        "link_href": f"https://example.org/{title}",
        "link_title": title,
    }


def start_platform(workdir: Path, log: str | None = None, config: str = CONFIG) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "streams.yaml").write_text(STREAM_CONFIG)
    (workdir / "eventplatform.yaml").write_text(config)
    return Server(
        workdir,
        "--stream-config",
        str(workdir / "streams.yaml"),
        "--config",
        str(workdir / "eventplatform.yaml"),
        "--datacenter",
        "eqiad",
        log=log,
    ).start()


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("kafka", marks=[kafka, pytest.mark.kafka])],
)
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``serve`` on each log backend."""
    log = None
    if request.param == "kafka":
        broker: Broker = request.getfixturevalue("kafka_broker")
        log = broker.url
    server = start_platform(tmp_path_factory.mktemp(f"streams-{request.param}"), log)
    try:
        yield server
    finally:
        server.kill()


def post(server: Server, events: list[dict[str, Any]]) -> httpx.Response:
    response = httpx.post(server.url + "/v1/events", json=events, timeout=30)
    assert response.status_code in (201, 207, 400), response.text
    return response


@dataclass
class Frame:
    event: str = "message"
    id: str | None = None
    data: str = ""
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return orjson.loads(self.data)


class SSE:
    """An open SSE response, read frame by frame (comments kept, for the heartbeat test)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.raw = response.iter_raw()
        self.first = next(self.raw)  # the first bytes the server sent
        self.lines = self._lines()
        self.comments: list[str] = []
        self.retry: int | None = None

    def _lines(self) -> Iterator[str]:
        pending = self.first
        while True:
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode()
            chunk = next(self.raw, None)
            if chunk is None:
                return
            pending += chunk

    def next(self) -> Frame:
        frame = Frame()
        data: list[str] = []
        seen = False
        for line in self.lines:
            if line == "":
                if seen:
                    frame.data = "\n".join(data)
                    return frame
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "retry":
                self.retry = int(value)
                continue
            seen = True
            if name == "event":
                frame.event = value
            elif name == "id":
                frame.id = value
            elif name == "data":
                data.append(value)
        raise EOFError("the stream ended")

    def take(self, n: int) -> list[Frame]:
        return [self.next() for _ in range(n)]


@contextlib.contextmanager
def sse(
    server: Server, path: str, headers: dict[str, str] | None = None, timeout: float = 20
) -> Iterator[SSE]:
    """Open ``path``; a stream that stays silent for ``timeout`` seconds fails the read."""
    with (
        httpx.Client(timeout=httpx.Timeout(timeout, connect=10)) as client,
        client.stream("GET", server.url + path, headers=headers or {}) as response,
    ):
        assert response.status_code == 200, response.read()
        reader = SSE(response)  # held here: a collected reader would close its connection
        yield reader
