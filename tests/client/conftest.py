"""Fixtures for the client tests: a real intake (``eventplatform serve``, SQLite log) with a stream config
that samples, a flaky HTTP front that fails before passing requests on, and a check that no client leaves a
thread behind (a leaked thread breaks tests/schemas/test_forking.py in the same xdist worker)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eventplatform.examples import LINK_HOVER_STREAM
from tests.browser import browser, page  # noqa: F401  (the browser tests' fixtures)
from tests.gate.conftest import Server, link_hover, running

__all__ = ["LINK_HOVER_STREAM", "Server", "link_hover"]

SAMPLED = "client.sampled"
NESTED_OUTER = "client.sampled_half"

STREAM_CONFIG = f"""
streams:
  {LINK_HOVER_STREAM}:
    schema_title: analytics/link_hover
    destination_event_service: eventplatform
  {SAMPLED}:
    schema_title: analytics/link_hover
    sample: {{unit: session, rate: 0.1}}
  {NESTED_OUTER}:
    schema_title: analytics/link_hover
    sample: {{unit: session, rate: 0.5}}
  client.by_device:
    schema_title: analytics/link_hover
    sample: {{unit: device, rate: 0.5}}
  /^[A-Za-z0-9_.-]+\\.error\\.validation$/:
    schema_title: error
"""


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left running: {left}"


def start_intake(workdir: Path) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "stream-config.yaml"
    config.write_text(STREAM_CONFIG)
    return Server(workdir, "--stream-config", str(config))


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_intake(tmp_path_factory.mktemp("client-intake"))
    try:
        yield server.start()
    finally:
        server.kill()


class Flaky:
    """A real HTTP server in front of intake: answers the first ``failures`` POSTs with ``status`` (or
    closes the connection when ``status`` is 0), then passes every request on."""

    def __init__(self, target: str, failures: int, status: int = 503) -> None:
        self.target = target
        self.failures = failures
        self.status = status
        self.seen = 0
        self.lock = threading.Lock()
        flaky = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with flaky.lock:
                    flaky.seen += 1
                    fail = flaky.seen <= flaky.failures
                if fail and flaky.status == 0:
                    self.close_connection = True  # no answer at all: the connection just closes
                    return
                if fail:
                    self._answer(flaky.status, b'{"message": "try again later"}')
                    return
                resp = httpx.post(
                    flaky.target + self.path,
                    content=body,
                    headers={"content-type": "application/json"},
                    timeout=30,
                )
                self._answer(resp.status_code, resp.content)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("access-control-allow-origin", "*")  # for the browser client's fetch
                self.send_header("content-length", str(len(body)))
                self.send_header("connection", "close")  # no idle keep-alive thread to wait for at exit
                self.close_connection = True
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="flaky")

    def __enter__(self) -> Flaky:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()  # joins the request threads (daemon_threads is False)
        self.thread.join()


__all__ += ["Flaky", "running"]
