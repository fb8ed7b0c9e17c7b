"""What ``serve`` prints on stderr when requests come: with ``--access-log`` one line per request (status,
streams, counts, latency); without it, one line the first time a stream's events arrive, and nothing else."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from eventplatform.examples import LINK_HOVER_STREAM
from tests.gate.conftest import link_hover, running


def lines_after(server_stderr: Callable[[], str], prefix: str, n: int, timeout: float = 10.0) -> list[str]:
    """The stderr lines starting with ``prefix``, once there are ``n`` of them (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [line for line in server_stderr().splitlines() if line.startswith(prefix)]
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_access_log_one_line_per_request(tmp_path: Path) -> None:
    with running(tmp_path, "--access-log") as server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/v1/events", json=link_hover(), headers={"x-request-id": "req-1"}).status_code == 201
        assert c.post("/v1/events", json=[link_hover(), link_hover(link_href=5)]).status_code == 207
        assert c.post("/v1/events?hasty=true", json=[link_hover()] * 3).status_code == 202
        assert c.post("/v1/events", content=b"x", headers={"content-type": "image/png"}).status_code == 415
        assert c.get("/v1/stream-configs").status_code == 200
        got = lines_after(server.stderr, "127.0.0.1 ", 6)  # 5 + the fixture's startup probe(s), GET /_info
    posts = [line for line in got if " POST " in line]
    assert len(posts) == 4, got
    ms = r"\d+\.\dms w0"
    assert re.fullmatch(
        rf"127\.0\.0\.1 POST /v1/events 201 {ms} events=1 accepted=1 invalid=0 errored=0 "
        rf"stream={LINK_HOVER_STREAM} id=req-1",
        posts[0],
    ), posts[0]
    assert re.fullmatch(
        rf"127\.0\.0\.1 POST /v1/events 207 {ms} events=2 accepted=1 invalid=1 errored=0 "
        rf"stream={LINK_HOVER_STREAM} id=\S+",
        posts[1],
    ), posts[1]
    assert re.fullmatch(
        rf"127\.0\.0\.1 POST /v1/events\?hasty=true 202 {ms} events=3 hasty "
        rf"stream={LINK_HOVER_STREAM} id=\S+",
        posts[2],
    ), posts[2]
    assert re.fullmatch(rf"127\.0\.0\.1 POST /v1/events 415 {ms} id=\S+", posts[3]), posts[3]
    assert any(re.fullmatch(rf"127\.0\.0\.1 GET /v1/stream-configs 200 {ms}", line) for line in got), got
    assert "events are arriving" not in server.stderr()  # the access lines say it already


def test_without_access_log_one_line_when_a_stream_first_gets_events(tmp_path: Path) -> None:
    with running(tmp_path) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for _ in range(3):
            assert c.post("/v1/events", json=link_hover()).status_code == 201
        assert c.get("/_info").status_code == 200
        got = lines_after(server.stderr, "eventplatform: events are arriving", 1)
        # (a notice is written before the answer to the request that brought the events goes out)
        err = server.stderr()
    assert got == [
        f"eventplatform: events are arriving on stream {LINK_HOVER_STREAM} (worker 0; --access-log shows "
        "every request)"
    ]
    assert err.count("events are arriving") == 1
    assert "127.0.0.1 " not in err  # no request lines
