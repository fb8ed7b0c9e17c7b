"""Hostile and broken input: each gets a precise status and reason, and the server keeps serving."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_STREAM, SCHEMA_BASE_DIR
from tests.gate.conftest import Server, free_port, link_hover, running

JSON = {"content-type": "application/json"}


def problem(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + kind)
    assert body["method"] == "POST" and body["uri"] == "/v1/events"
    assert body["message"]
    return body


@pytest.fixture(autouse=True)
def still_serving(server: Server, client: httpx.Client) -> Any:
    yield
    assert server.alive(), server.stderr()
    assert client.get("/_info").status_code == 200


def test_malformed_json(client: httpx.Client) -> None:
    r = client.post("/v1/events", content=b'[{"a":', headers=JSON)
    assert r.reason_phrase == "Malformed JSON"
    body = problem(r, 400, "malformed_json")
    assert body["title"] == "Malformed JSON"
    assert "unexpected end of data" in body["detail"]


@pytest.mark.parametrize("scalar", [b"1", b'"x"', b"null", b"true"])
def test_scalar_body(client: httpx.Client, scalar: bytes) -> None:
    body = problem(client.post("/v1/events", content=scalar, headers=JSON), 400, "not_events")
    assert "must be a JSON object (one event) or an array of events" in body["detail"]


def test_non_object_array_elements(client: httpx.Client) -> None:
    r = client.post("/v1/events", content=orjson.dumps([link_hover(), "x", None, [1], 3]), headers=JSON)
    assert r.status_code == 207
    invalid = r.json()["invalid"]
    assert [e["index"] for e in invalid] == [1, 2, 3, 4]
    assert {e["code"] for e in invalid} == {"event_not_object"}
    assert invalid[0]["message"] == "An event must be a JSON object, got string."
    assert invalid[2]["message"] == "An event must be a JSON object, got array."


def test_body_over_limit_is_413(client: httpx.Client) -> None:
    big = b"[" + b",".join([orjson.dumps(link_hover(link_title="x" * 1000))] * 10_000) + b"]"
    assert len(big) > 10_000_000
    r = client.post("/v1/events", content=big, headers={**JSON, "x-request-id": "req-413"})
    body = problem(r, 413, "payload_too_large")
    assert "4194304" in body["detail"]
    assert r.headers["x-request-id"] == "req-413"  # refused from Content-Length alone, still traceable


def test_body_over_limit_without_content_length(client: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 100_000

    body = problem(client.post("/v1/events", content=chunks(), headers=JSON), 413, "payload_too_large")
    assert "limit of 4194304 bytes" in body["detail"]


def test_gzip_bomb_is_413(client: httpx.Client) -> None:
    import gzip

    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]")
    assert len(bomb) < 100_000
    r = client.post("/v1/events", content=bomb, headers={**JSON, "content-encoding": "gzip"})
    problem(r, 413, "payload_too_large")


def test_too_many_events(client: httpx.Client) -> None:
    body = problem(
        client.post("/v1/events", content=b"[" + b",".join([b"{}"] * 100_000) + b"]", headers=JSON),
        413,
        "too_many_events",
    )
    assert "100000 events in one request; the limit is 10000" in body["detail"]


def test_deep_nesting(client: httpx.Client) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    body = problem(client.post("/v1/events", content=deep, headers=JSON), 400, "malformed_json")
    assert "too deep" in body["detail"]
    deep_obj = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    problem(client.post("/v1/events", content=deep_obj, headers=JSON), 400, "malformed_json")


def test_invalid_utf8(client: httpx.Client) -> None:
    body = problem(
        client.post("/v1/events", content=b'[{"a":"\xff\xfe"}]', headers=JSON), 400, "malformed_json"
    )
    assert "UTF-8" in body["detail"]


@pytest.mark.parametrize(
    ("schema", "code", "fragment"),
    [
        ("../../etc/passwd", "schema_uri_refused", ".."),
        ("/analytics/../../../../etc/passwd", "schema_uri_refused", ".."),
        ("file:///etc/passwd", "schema_uri_refused", "file:// URIs are never allowed"),
        ("http://169.254.169.254/", "schema_uri_refused", "absolute"),
        (5, "schema_uri_refused", "must be a string, got integer"),
        ("/" + "a" * 10_000, "schema_uri_refused", "10001 characters long"),
        ("/analytics/nope/1.0.0", "schema_not_found", "Failed loading schema at /analytics/nope/1.0.0"),
    ],
)
def test_bad_schema_uris(client: httpx.Client, schema: Any, code: str, fragment: str) -> None:
    r = client.post("/v1/events", content=orjson.dumps([link_hover(**{"$schema": schema})]), headers=JSON)
    assert r.status_code == 400, r.text
    [entry] = r.json()["invalid"]
    assert entry["code"] == code
    assert fragment in entry["message"]
    assert len(entry["message"]) < 1000  # a 10 kB URI is not echoed whole
    assert entry["context"]["errorsText"] == entry["message"]


def test_missing_schema_field(client: httpx.Client) -> None:
    event = link_hover()
    del event["$schema"]
    r = client.post("/v1/events", content=orjson.dumps(event), headers=JSON)
    [entry] = r.json()["invalid"]
    assert entry["code"] == "schema_uri_missing"
    assert entry["message"] == "Field(s) $schema were missing from event and could not be extracted."


def test_slow_garbage_connection_does_not_block_others(server: Server, client: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        r = client.post("/v1/events", content=orjson.dumps(link_hover()), headers=JSON)
        assert r.status_code == 201
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"\x16\x03\x01garbage that is not HTTP\r\n\r\n")
        s.settimeout(5)
        assert s.recv(100).startswith(b"HTTP/1.1 400")


def test_schema_host_down_is_500_error(tmp_path: Path) -> None:
    """A schema that only an unreachable host could serve is an *error* (retryable), not invalid."""
    down = f"http://127.0.0.1:{free_port()}/schemas"
    with running(tmp_path, "--schema-base-uri", str(SCHEMA_BASE_DIR), "--schema-base-uri", down) as srv:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            missing = link_hover(**{"$schema": "/analytics/other/1.0.0"})
            r = c.post("/v1/events", content=orjson.dumps([missing]), headers=JSON)
            assert r.status_code == 500, r.text
            body = r.json()
            assert (
                body["message"]
                == "1 out of 1 events had failures and were not accepted. (0 invalid and 1 errored)."
            )
            assert r.reason_phrase == body["message"]
            assert body["invalid"] == []
            [entry] = body["error"]
            assert entry["status"] == "error" and entry["code"] == "schema_unavailable"
            assert entry["context"] == {"message": entry["message"]}
            assert entry["message"].startswith("Failed loading schema at /analytics/other/1.0.0")
            r = c.post("/v1/events", content=orjson.dumps([link_hover(), missing]), headers=JSON)
            assert r.status_code == 207
            assert r.json()["message"] == (
                "1 out of 2 events were accepted, but 1 failed (0 invalid and 1 errored)."
            )
            bad = link_hover(link_href=1)
            r = c.post("/v1/events", content=orjson.dumps([bad, missing]), headers=JSON)
            assert r.status_code == 500
            assert r.json()["message"] == (
                "2 out of 2 events had failures and were not accepted. (1 invalid and 1 errored)."
            )
            assert len(r.json()["invalid"]) == 1 and len(r.json()["error"]) == 1
            assert c.get("/_info").status_code == 200
        time.sleep(0.1)
        assert srv.alive()
        assert any(e["meta"]["stream"] == LINK_HOVER_STREAM for e in srv.records(LINK_HOVER_STREAM))


def test_unsupported_content_encoding(client: httpx.Client) -> None:
    r = client.post("/v1/events", content=b"xx", headers={**JSON, "content-encoding": "br"})
    body = problem(r, 415, "unsupported_encoding")
    assert "'br' is not supported" in body["detail"]


def test_max_body_size_flag(tmp_path: Path) -> None:
    with running(tmp_path, "--max-body-size", "2kb") as srv, httpx.Client(base_url=srv.url) as c:
        small = orjson.dumps([link_hover()])
        assert c.post("/v1/events", content=small, headers=JSON).status_code == 201
        big = orjson.dumps([link_hover(link_title="x" * 3000)])
        body = problem(c.post("/v1/events", content=big, headers=JSON), 413, "payload_too_large")
        assert "the limit is 2048 bytes" in body["detail"]
