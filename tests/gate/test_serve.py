"""The ``eventplatform serve`` process: clear failures at startup, graceful SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_STREAM
from tests.gate.conftest import EXE, Server, free_port, link_hover


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, "serve", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = serve("--port", str(port), "--workers", "1", cwd=tmp_path)
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in r.stderr


def test_missing_stream_config(tmp_path: Path) -> None:
    r = serve("--port", str(free_port()), "--stream-config", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert r.returncode == 1
    assert "cannot load the stream config" in r.stderr and "nope.yaml" in r.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_log_that_cannot_open_stops_instead_of_restarting(tmp_path: Path, workers: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = serve(
        "--port", str(free_port()), "--workers", workers, "--log", f"sqlite://{blocker}/log", cwd=tmp_path
    )
    assert r.returncode != 0
    assert "Application startup failed" in r.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_is_graceful(tmp_path: Path, workers: int) -> None:
    server = Server(tmp_path, workers=workers).start()
    try:
        r = httpx.post(
            server.url + "/v1/events?hasty=true",
            content=orjson.dumps([link_hover()] * 50),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 202
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(20)
        assert server.proc.returncode in (0, -signal.SIGTERM), server.stderr()
    finally:
        server.kill()
    assert len(server.records(LINK_HOVER_STREAM)) == 50  # hasty work finished before exit
