"""SSE client libraries that EventStreams users run, not written here, read ``/v2/stream`` and resume
through it: the npm ``eventsource`` package in Node and ``requests-sse`` in Python. The server is restarted
under them (its streams end, the clients reconnect on their own with ``Last-Event-ID``), events are posted
while they are away, and each must get every event exactly once, in order."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.eventstreams.conftest import event, new_stream, post, start_platform

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node")


def node_reader(url: str, count: int) -> list[str]:
    if NODE is None or not (HERE / "node" / "node_modules" / "eventsource").is_dir():
        pytest.skip("node or the npm eventsource package is missing: run scripts/deps/eventstreams.sh")
    return [NODE, str(HERE / "node" / "read.mjs"), url, str(count)]


def python_reader(url: str, count: int) -> list[str]:
    return [sys.executable, str(HERE / "read_requests_sse.py"), url, str(count)]


class Lines:
    """The stdout lines of a subprocess, read with a deadline (no thread)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)
        self.pending = b""

    def next(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not self.selector.select(0)):
                raise AssertionError(f"no line from the client (exit {self.proc.poll()})")
            if self.selector.select(left):
                self.pending += os.read(self.fd, 65536) or b""
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode()

    def data(self, n: int) -> list[dict[str, str]]:
        out = []
        while len(out) < n:
            line = self.next()
            if line != "open":
                out.append(orjson.loads(line))
        return out


@pytest.mark.parametrize("reader", [node_reader, python_reader], ids=["npm-eventsource", "requests-sse"])
def test_client_library_reads_and_resumes_across_a_restart(reader: object, tmp_path: Path) -> None:
    server = start_platform(tmp_path)
    stream = new_stream()
    proc = subprocess.Popen(
        reader(f"{server.url}/v2/stream/{stream}", 6),  # type: ignore[operator]
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "client-stderr.txt").open("wb"),
    )
    try:
        lines = Lines(proc)
        assert lines.next() == "open"
        post(server, [event(stream, f"e{i}", dt="2026-01-01T00:00:00.000Z") for i in range(3)])
        got = lines.data(3)
        server.stop()  # SIGTERM: the streams end, the client reconnects on its own
        server.start()  # same port, same log
        post(server, [event(stream, f"e{i}", dt="2026-01-01T00:00:00.000Z") for i in range(3, 6)])
        got += lines.data(3)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.kill()
    events = [orjson.loads(g["data"]) for g in got]
    assert [e["link_title"] for e in events] == [f"e{i}" for i in range(6)]
    assert all(orjson.loads(g["id"]) for g in got)  # the position vector, as sent
