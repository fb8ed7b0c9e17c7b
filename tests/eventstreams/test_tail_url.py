"""``eventplatform tail --url``: follows a remote EventStreams endpoint and resumes across its restart."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from tests.eventstreams.conftest import event, new_stream, post, start_platform
from tests.eventstreams.test_clients import Lines
from tests.gate.conftest import EXE


def test_tail_url_follows_and_resumes_across_a_restart(tmp_path: Path) -> None:
    server = start_platform(tmp_path)
    stream = new_stream()
    post(server, [event(stream, "before")])
    proc = subprocess.Popen(
        [EXE, "tail", "--url", server.url, "--since", "-5s", "--limit", "5", stream],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "tail-stderr.txt").open("wb"),
    )
    try:
        lines = Lines(proc)
        got = [lines.next()]  # from --since
        post(server, [event(stream, f"e{i}", dt="2026-01-01T00:00:00.000Z") for i in range(2)])
        got += [lines.next(), lines.next()]
        server.stop()
        server.start()
        post(server, [event(stream, f"e{i}", dt="2026-01-01T00:00:00.000Z") for i in range(2, 4)])
        got += [lines.next(), lines.next()]
        assert proc.wait(30) == 0  # --limit 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.kill()
    assert [orjson.loads(line)["link_title"] for line in got] == ["before", "e0", "e1", "e2", "e3"]


def test_tail_url_refused_request_is_a_clear_error(tmp_path: Path) -> None:
    server = start_platform(tmp_path)
    try:
        done = subprocess.run(
            [EXE, "tail", "--url", f"{server.url}/v2/stream/not.configured", "--limit", "1"],
            capture_output=True,
            timeout=60,
        )
    finally:
        server.kill()
    assert done.returncode == 1
    assert b"HTTP 400" in done.stderr and b"Stream Not Found" in done.stderr
