"""``eventplatform eventstreams`` alone beside ``serve`` (the read side on its own port), the service routes,
the OpenAPI document listing the streams, and a graceful stop that does not wait for open streams."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from tests.eventstreams.conftest import Server, event, new_stream, post, sse, start_platform
from tests.gate.conftest import EXE


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    workdir = tmp_path_factory.mktemp("standalone")
    intake = start_platform(workdir / "intake")
    try:
        streams = Server(
            workdir / "streams",
            "--stream-config",
            str(workdir / "intake" / "streams.yaml"),
            "--datacenter",
            "eqiad",
            log=f"sqlite://{intake.log_dir}",
        )
        streams.args.remove("--workers")  # one process: the hub fans each topic out to every client
        streams.args.remove("1")
        streams.workdir.mkdir(parents=True, exist_ok=True)
        streams.proc = subprocess.Popen(
            [EXE, "eventstreams", *streams.args],
            cwd=streams.workdir,
            env={k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")},
            stdout=subprocess.DEVNULL,
            stderr=streams.stderr_path.open("wb"),
            start_new_session=True,
        )
        try:
            wait_up(streams)
            yield intake, streams
        finally:
            streams.kill()
    finally:
        intake.kill()


def wait_up(server: Server) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.alive(), server.stderr()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/_info", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"eventstreams did not start: {server.stderr()}")


def test_standalone_reads_what_intake_writes(pair: tuple[Server, Server]) -> None:
    intake, streams = pair
    stream = new_stream()
    with sse(streams, f"/v2/stream/{stream}") as reader:
        post(intake, [event(stream, "over there")])
        assert reader.next().json["link_title"] == "over there"


def test_service_routes_and_spec(pair: tuple[Server, Server]) -> None:
    intake, streams = pair
    r = httpx.get(streams.url + "/", timeout=10)
    assert r.status_code == 303 and r.headers["location"] == "/v2/catalog"
    assert httpx.get(streams.url + "/robots.txt", timeout=10).text == "User-agent: *\nDisallow: /\n"
    assert httpx.get(streams.url + "/rc", timeout=10).status_code == 301
    for server in (streams, intake):  # alone and mounted in serve: the streams are the path's enum
        spec = httpx.get(server.url + "/?spec", timeout=10).json()
        params = spec["paths"]["/v2/stream/{streams}"]["get"]["parameters"]
        enum = next(p for p in params if p["name"] == "streams")["schema"]["enum"]
        assert {"live.alias", "live.alias_target", "eventplatform.error.validation"} <= set(enum)
        assert "/v2/stream/live.alias_target" in spec["paths"]
        validate(spec)  # still OpenAPI 3 with the streams added
    assert "eventstreams_client_connections_total" in httpx.get(streams.url + "/metrics", timeout=10).text


def test_sigterm_ends_open_streams_at_once(tmp_path: Path) -> None:
    server = start_platform(tmp_path, config="eventstreams: {heartbeat: 30}\n")
    try:
        with sse(server, f"/v2/stream/{new_stream()}") as reader:
            assert server.proc is not None
            t0 = time.monotonic()
            os.killpg(server.proc.pid, signal.SIGTERM)
            with pytest.raises(EOFError):
                reader.next()  # the stream ends (clients reconnect with their last id)
            server.proc.wait(10)
            assert time.monotonic() - t0 < 5  # not uvicorn's graceful timeout
    finally:
        server.kill()
