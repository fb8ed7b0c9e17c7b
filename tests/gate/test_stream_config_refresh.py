"""A stream config served over HTTP and refreshed: intake picks up a new stream without a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from eventplatform.examples import LINK_HOVER_STREAM, STREAM_CONFIG_PATH
from tests.gate.conftest import link_hover, running


@pytest.fixture
def config_server() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"body": STREAM_CONFIG_PATH.read_bytes(), "served": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state["body"]
            state["served"] += 1
            self.send_response(200)
            self.send_header("content-type", "application/yaml")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/stream-config.yaml", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_refreshed_http_stream_config(tmp_path: Path, config_server: tuple[str, dict[str, Any]]) -> None:
    url, state = config_server
    cfg = tmp_path / "eventplatform.yaml"
    cfg.write_text(f"stream_config: {url}\nstream_config_refresh: 0.2\n")
    new_stream = "mediawiki.new_link_hover"
    event = link_hover(meta={"stream": new_stream})
    with running(tmp_path / "w", "--config", str(cfg)) as srv, httpx.Client(base_url=srv.url) as c:
        r = c.post("/v1/events", content=orjson.dumps(event), headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert r.json()["invalid"][0]["code"] == "stream_not_configured"
        doc = yaml.safe_load(STREAM_CONFIG_PATH.read_text())
        doc["streams"][new_stream] = {"schema_title": "analytics/link_hover"}
        state["body"] = yaml.safe_dump(doc).encode()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = c.post(
                "/v1/events", content=orjson.dumps(event), headers={"content-type": "application/json"}
            )
            if r.status_code == 201:
                break
            time.sleep(0.1)
        assert r.status_code == 201, r.text
        assert new_stream in c.get("/v1/stream-configs").json()["streams"]
        assert LINK_HOVER_STREAM in c.get("/v1/stream-configs").json()["streams"]
        # a broken refresh keeps the last good config
        state["body"] = b"streams: [not, a, map"
        served = state["served"]
        deadline = time.monotonic() + 10
        while state["served"] < served + 2 and time.monotonic() < deadline:  # the 2nd one: 1st was handled
            time.sleep(0.05)
        assert state["served"] >= served + 2, "the stream config was not refreshed"
        r = c.post("/v1/events", content=orjson.dumps(event), headers={"content-type": "application/json"})
        assert r.status_code == 201
