"""The other routes of intake: /_info*, /robots.txt, /?spec, /?doc, 404s, /v1/stream-configs, /metrics,
and the x-amples of our own OpenAPI document run as requests (as EventGate's spec test does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from openapi_spec_validator import validate as validate_openapi

from eventplatform import __version__
from eventplatform.examples import LINK_HOVER_STREAM, TEST_STREAM
from tests.gate.conftest import link_hover, running


def test_info(client: httpx.Client) -> None:
    r = client.get("/_info")
    assert r.status_code == 200
    info = r.json()
    assert set(info) == {"name", "version", "description", "home"}
    assert info["version"] == __version__
    assert client.get("/_info/name").json() == {"name": info["name"]}
    assert client.get("/_info/version").json() == {"version": __version__}
    for method in ("GET", "POST"):
        r = client.request(method, "/_info/home", follow_redirects=False)
        assert r.status_code == 301
        assert r.headers["location"] == info["home"]
        assert r.text == f"Moved Permanently. Redirecting to {info['home']}"
        assert r.headers["content-type"].startswith("text/plain")


def test_robots(client: httpx.Client) -> None:
    r = client.get("/robots.txt")
    assert r.status_code == 200
    assert r.text == "User-agent: *\nDisallow: /\n"
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-frame-options"] == "SAMEORIGIN"


def test_not_found(client: httpx.Client) -> None:
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.text.strip() == "<pre>Cannot GET /nope</pre>"
    assert client.delete("/v1/events").text.strip() == "<pre>Cannot DELETE /v1/events</pre>"
    assert client.get("/").status_code == 404
    assert client.get("/?fooo").status_code == 404
    assert client.get("/static/x.js").status_code == 404


def test_spec_is_openapi3_of_the_real_api(client: httpx.Client) -> None:
    r = client.get("/", params={"spec": ""})
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    validate_openapi(spec)  # a valid OpenAPI 3 document
    assert spec["info"]["version"] == __version__
    paths = spec["paths"]
    for path in ("/v1/events", "/v1/_test/events", "/v1/stream-configs", "/_info", "/robots.txt", "/metrics"):
        assert path in paths
    responses = paths["/v1/events"]["post"]["responses"]
    assert {"201", "202", "207", "400", "413", "500"} <= set(responses)
    # every $ref resolves inside the document
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    for ref in refs:
        assert ref.startswith("#/components/")
        _, _, kind, name = ref.split("/")
        assert name in spec["components"][kind]
    assert client.get("/?spec=anything").status_code == 200


def test_doc_page(client: httpx.Client) -> None:
    r = client.get("/?doc")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "/v1/events" in r.text and "<script" not in r.text


def test_spec_x_amples(client: httpx.Client) -> None:
    spec = client.get("/?spec").json()
    ran = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict):  # path-level parameters
                continue
            for ample in op.get("x-amples", []):
                req = ample.get("request", {})
                r = client.request(method.upper(), path, params=req.get("query"))
                assert r.status_code == ample["response"]["status"], (path, ample["title"])
                ran += 1
    assert ran >= 6


def test_stream_configs(client: httpx.Client) -> None:
    r = client.get("/v1/stream-configs")
    assert r.status_code == 200
    streams = r.json()["streams"]
    assert streams[LINK_HOVER_STREAM]["schema_title"] == "analytics/link_hover"
    assert TEST_STREAM in streams
    for sep in (",", "|"):
        r = client.get(f"/v1/stream-configs/{LINK_HOVER_STREAM}{sep}{TEST_STREAM}{sep}not.a.stream")
        assert set(r.json()["streams"]) == {LINK_HOVER_STREAM, TEST_STREAM}
    r = client.get("/v1/stream-configs", params={"constraints": "canary_events_enabled=1"})
    assert r.status_code == 200
    selected = r.json()["streams"]
    assert LINK_HOVER_STREAM in selected and TEST_STREAM not in selected


def test_metrics(client: httpx.Client) -> None:
    client.post(
        "/v1/events",
        content=orjson.dumps([link_hover(), link_hover(link_href=1)]),
        headers={"content-type": "application/json"},
    )
    client.post(
        "/v1/events",
        content=orjson.dumps([link_hover(meta={"stream": "made.up.stream.123"})]),
        headers={"content-type": "application/json"},
    )
    r = client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    accepted = _sample(text, "eventplatform_events_accepted_total", LINK_HOVER_STREAM)
    invalid = _sample(text, "eventplatform_events_invalid_total", LINK_HOVER_STREAM)
    assert accepted >= 1 and invalid >= 1
    assert "made.up.stream.123" not in text  # free client input never becomes a label
    assert (
        'eventplatform_events_invalid_total{schema_uri="/analytics/link_hover/1.0.0",stream="unknown"}'
        in text
    )
    assert "eventplatform_http_request_duration_seconds_bucket" in text
    assert 'route="/v1/events"' in text


def _sample(text: str, name: str, stream: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'stream="{stream}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.slow
def test_workers_share_port_and_metrics(tmp_path: Path) -> None:
    """Two worker processes on one port, each with its own SQLite partition; /metrics has the totals."""
    with running(tmp_path, workers=2) as srv:
        n = 60
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            for _ in range(n):
                # a fresh connection each time, so the kernel spreads them over both workers
                r = httpx.post(
                    srv.url + "/v1/events",
                    content=orjson.dumps(link_hover()),
                    headers={"content-type": "application/json", "connection": "close"},
                )
                assert r.status_code == 201
            totals = {
                _sample(c.get("/metrics").text, "eventplatform_events_accepted_total", LINK_HOVER_STREAM)
                for _ in range(6)
            }
        assert totals == {float(n)}  # every worker answers with the sum over workers
        assert len(srv.records(LINK_HOVER_STREAM)) == n
        assert sorted(p.name for p in srv.log_dir.glob("partition-*.db")) == [
            "partition-0.db",
            "partition-1.db",
        ]


def test_datacenter_topics_and_service_name(tmp_path: Path) -> None:
    with running(tmp_path, "--datacenter", "eqiad", "--service-name", "intake-test") as srv:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            r = c.post(
                "/v1/events",
                content=orjson.dumps([link_hover(), link_hover(link_href=1)]),
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 207
        assert len(srv.records("eqiad." + LINK_HOVER_STREAM)) == 1
        assert srv.records(LINK_HOVER_STREAM) == []
        [err] = srv.records("eqiad.intake-test.error.validation")
        assert err["meta"]["stream"] == "intake-test.error.validation"
        assert err["emitter_id"] == "intake-test"
