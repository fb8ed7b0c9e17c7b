"""POST /v1/events over a real socket against ``eventplatform serve`` with the bundled example platform:
statuses, reason sentences, body shapes, default fields, error events, --output, content types."""

from __future__ import annotations

import gzip
import re
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_STREAM, TEST_STREAM
from tests.gate.conftest import Server, link_hover

ERROR_STREAM = "eventplatform.error.validation"
README = Path(__file__).resolve().parents[2] / "README.md"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SECURITY_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "accept, x-requested-with, content-type",
    "access-control-expose-headers": "etag",
    "access-control-allow-methods": "post",
    "x-xss-protection": "1; mode=block",
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
}


def post(client: httpx.Client, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    return client.post(
        "/v1/events",
        content=orjson.dumps(body),
        headers={"content-type": "application/json", **(headers or {})},
        **kw,
    )


def bad(**overrides: Any) -> dict[str, Any]:
    return link_hover(link_href=5, **overrides)


def wait_for(fn: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_201_single_and_batch(client: httpx.Client) -> None:
    r = post(client, link_hover())
    assert r.status_code == 201
    assert r.json() == {
        "message": "All 1 out of 1 events were accepted.",
        "counts": {"total": 1, "accepted": 1, "invalid": 0, "errored": 0},
    }
    assert client.get("/robots.txt").reason_phrase == "OK"  # other routes keep the standard phrases
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    assert "default-src 'self'" in r.headers["content-security-policy"]
    r = post(client, [link_hover(), link_hover()])
    assert r.status_code == 201
    assert r.json()["message"] == "All 2 out of 2 events were accepted."
    assert r.reason_phrase == "All 2 out of 2 events were accepted."  # the real HTTP reason phrase
    assert r.headers["content-type"] == "application/json; charset=utf-8"


def test_207_mixed_body_shape(client: httpx.Client) -> None:
    r = post(client, [link_hover(), bad()])
    assert r.status_code == 207
    body = r.json()
    assert body["message"] == "1 out of 2 events were accepted, but 1 failed (1 invalid and 0 errored)."
    assert r.reason_phrase == body["message"]
    assert body["error"] == []
    [entry] = body["invalid"]
    assert entry["status"] == "invalid" and entry["kind"] == "invalid"
    assert entry["index"] == 1
    assert entry["code"] == "validation_failed"
    assert entry["context"]["errorsText"] == "'.link_href' should be string"
    assert entry["context"]["errors"] == [
        {
            "keyword": "type",
            "dataPath": ".link_href",
            "schemaPath": "#/properties/link_href/type",
            "params": {"type": "string"},
            "message": "should be string",
        }
    ]
    [detail] = entry["details"]
    assert detail["instance_path"] == "/link_href"
    assert detail["keyword"] == "type"
    assert detail["schema_path"] == "/properties/link_href/type"
    # the event comes back as mutated by intake (defaults filled in)
    assert entry["event"]["link_href"] == 5
    assert UUID.match(entry["event"]["meta"]["id"])


def test_400_all_invalid_has_only_invalid_key(client: httpx.Client) -> None:
    r = post(client, [bad(), bad()])
    assert r.status_code == 400
    body = r.json()
    assert body["message"] == "2 out of 2 events were invalid and not accepted."
    assert r.reason_phrase == body["message"]
    assert "error" not in body
    assert [e["index"] for e in body["invalid"]] == [0, 1]


def test_additional_properties_and_required(client: httpx.Client) -> None:
    event = link_hover(nope=1)
    del event["$schema"]
    r = post(client, [link_hover(nope=1), {"$schema": "/analytics/link_hover/1.0.0"}])
    assert r.status_code == 400
    first, second = r.json()["invalid"]
    assert first["context"]["errorsText"] == "'' should NOT have additional properties"
    assert second["code"] == "stream_missing"
    assert second["message"] == "Field(s) meta.stream were missing from event and could not be extracted."


def test_empty_bodies_are_400(client: httpx.Client) -> None:
    for content in (b"{}", b"[]", b""):
        r = client.post("/v1/events", content=content, headers={"content-type": "application/json"})
        assert r.status_code == 400, content
        assert r.json()["message"] == "Request body was empty. Must provide JSON encoded events."
        assert r.reason_phrase == "Request body was empty. Must provide JSON encoded events."
    r = client.post("/v1/events", content=b"", headers={"content-type": "image/png"})
    assert r.status_code == 400  # really empty: EventGate's answer, whatever the content type


def test_missing_or_unsupported_content_type_is_415(server: Server) -> None:
    """Not "Request body was empty": the body was not empty, its type is what is wrong (over a raw socket,
    since HTTP clients add a Content-Type of their own)."""
    import socket

    body = orjson.dumps(link_hover())
    for ctype_line, named in ((b"", b"no Content-Type"), (b"Content-Type: image/png\r\n", b"'image/png'")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(
                b"POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + ctype_line
                + b"Content-Length: %d\r\n\r\n" % len(body)
                + body
            )
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 415 "), head
        assert b"application/problem+json" in head
        problem = orjson.loads(payload)
        assert problem["status"] == 415
        assert problem["type"].endswith("/unsupported_media_type")
        assert named in problem["detail"].encode()
        assert "application/json" in problem["detail"]
        assert "empty" not in problem["detail"]


@pytest.mark.parametrize(
    "ctype",
    ["text/plain", "text/plain;charset=UTF-8", "application/reports+json", "application/json; charset=utf-8"],
)
def test_accepted_content_types(client: httpx.Client, ctype: str) -> None:
    r = client.post("/v1/events", content=orjson.dumps([link_hover()]), headers={"content-type": ctype})
    assert r.status_code == 201, r.text


def test_gzip_and_deflate_bodies(client: httpx.Client) -> None:
    data = orjson.dumps([link_hover(), link_hover()])
    for encoding, packed in (("gzip", gzip.compress(data)), ("deflate", zlib.compress(data))):
        r = client.post(
            "/v1/events",
            content=packed,
            headers={"content-type": "application/json", "content-encoding": encoding},
        )
        assert r.status_code == 201, (encoding, r.text)
        assert r.json()["counts"]["accepted"] == 2
    r = client.post(
        "/v1/events",
        content=b"not gzip",
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.status_code == 400
    assert r.json()["type"].endswith("/bad_encoding")


def test_other_large_responses_are_gzipped(client: httpx.Client) -> None:
    r = client.get("/?spec", headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.json()["openapi"].startswith("3.")


def test_large_failure_bodies_are_gzipped_on_request(client: httpx.Client) -> None:
    r = post(client, [bad() for _ in range(20)], headers={"accept-encoding": "gzip"})
    assert r.status_code == 400
    assert r.headers["content-encoding"] == "gzip"
    assert len(r.json()["invalid"]) == 20  # httpx inflates


def test_default_fields(client: httpx.Client, server: Server) -> None:
    marker = f"defaults-{time.time_ns()}"
    headers = {
        "content-type": "application/json",
        "user-agent": "test-agent/1.0 " + "x" * 500,
        "x-request-id": "req-" + marker,
        "x-forwarded-for": "203.0.113.9, 10.0.0.1",
    }
    event = link_hover(link_title=marker)
    r = client.post("/v1/events", content=orjson.dumps(event), headers=headers)
    assert r.status_code == 201
    assert r.headers["x-request-id"] == "req-" + marker
    [stored] = wait_for(
        lambda: [e for e in server.records(LINK_HOVER_STREAM) if e.get("link_title") == marker]
    )
    meta = stored["meta"]
    assert UUID.match(meta["id"]) and meta["id"][14] == "1"  # a v1 UUID, as eventgate-wikimedia
    assert ISO_MS_Z.match(meta["dt"])
    assert meta["request_id"] == "req-" + marker
    assert stored["http"]["client_ip"] == "203.0.113.9"
    assert stored["http"]["request_headers"]["user-agent"] == headers["user-agent"][:400]
    assert stored["dt"] == "2024-03-15T19:05:00.456Z"  # client time left alone (not a legacy schema)
    # X-Client-IP wins; given meta.id / meta.dt are kept
    given = link_hover(
        link_title=marker + "-2",
        meta={"stream": LINK_HOVER_STREAM, "id": "my-id", "dt": "2020-01-01T00:00:00Z"},
    )
    r = client.post(
        "/v1/events",
        content=orjson.dumps(given),
        headers={"content-type": "text/plain", "x-client-ip": "198.51.100.7"},
    )
    assert r.status_code == 201
    [stored] = wait_for(
        lambda: [e for e in server.records(LINK_HOVER_STREAM) if e.get("link_title") == marker + "-2"]
    )
    assert stored["meta"]["id"] == "my-id" and stored["meta"]["dt"] == "2020-01-01T00:00:00Z"
    assert stored["http"]["client_ip"] == "198.51.100.7"
    assert UUID.match(stored["meta"]["request_id"])  # generated when the header is absent


def test_integral_float_is_stored_as_integer_and_output_file(client: httpx.Client, server: Server) -> None:
    marker = f"output-{time.time_ns()}"
    r = post(client, [link_hover(link_title=marker), link_hover(link_title=marker), bad(link_title=marker)])
    assert r.status_code == 207
    lines = (server.workdir / "events.json").read_bytes().splitlines()
    mine = [orjson.loads(line) for line in lines if marker.encode() in line]
    assert len(mine) == 2  # only accepted events, one JSON line each
    assert all(e["meta"]["stream"] == LINK_HOVER_STREAM for e in mine)


def test_error_events_for_invalid_events(client: httpx.Client, server: Server) -> None:
    marker = f"err-{time.time_ns()}"
    r = post(
        client, [bad(link_title=marker), link_hover(link_title=marker, meta={"stream": "no.such.stream"})]
    )
    assert r.status_code == 400
    codes = [e["code"] for e in r.json()["invalid"]]
    assert codes == ["validation_failed", "stream_not_configured"]

    def mine() -> list[dict[str, Any]]:
        return [e for e in server.records(ERROR_STREAM) if marker in e["raw_event"]]

    errors = wait_for(lambda: len(mine()) == 2 and mine())
    assert errors, "no error events in the log"
    by_type = {e["error_type"]: e for e in errors}
    v = by_type["validation_failed"]
    assert v["$schema"] == "/error/2.1.0"
    assert v["meta"]["stream"] == ERROR_STREAM
    assert v["message"] == "'.link_href' should be string"
    assert v["errored_schema_uri"] == "/analytics/link_hover/1.0.0"
    assert v["errored_stream_name"] == LINK_HOVER_STREAM
    assert v["emitter_id"] == "eventplatform"
    assert orjson.loads(v["raw_event"])["link_href"] == 5
    assert v["meta"]["domain"] == "unknown" and v["meta"]["uri"] == "unknown"
    s = by_type["stream_not_configured"]
    assert s["errored_stream_name"] == "no.such.stream"
    assert "no.such.stream is not configured" in s["message"]
    assert s["meta"]["uri"] == "unknown"  # copied fields that would fail the error schema are replaced


def test_stream_and_schema_title_checks(client: httpx.Client) -> None:
    error_schema_event = {
        "$schema": "/error/2.1.0",
        "meta": {"stream": LINK_HOVER_STREAM},
        "dt": "2024-01-01T00:00:00Z",
        "emitter_id": "x",
        "message": "m",
    }
    r = post(client, [error_schema_event, link_hover(meta={"stream": "unknown.stream"})])
    assert r.status_code == 400
    mismatch, unknown = r.json()["invalid"]
    assert mismatch["code"] == "schema_title_mismatch"
    assert mismatch["message"].endswith(
        "is not allowed in stream; schema title must be analytics/link_hover. The schema's title is error."
    )
    assert "destined to stream mediawiki.interwiki_link_hover" in mismatch["message"]
    assert unknown["code"] == "stream_not_configured"
    assert unknown["message"].endswith("is not allowed in stream; unknown.stream is not configured.")
    # as in eventgate-wikimedia, meta.id is filled in before the check, so the message names the event
    assert unknown["message"].startswith(f"event {unknown['event']['meta']['id']} of schema at ")
    assert len(unknown["event"]["meta"]["id"]) == 36


def test_hasty(client: httpx.Client, server: Server) -> None:
    marker = f"hasty-{time.time_ns()}"
    for value in ("true", "1"):
        r = post(client, [link_hover(link_title=marker), bad()], params={"hasty": value})
        assert r.status_code == 202, value
        assert r.json()["message"] == "2 events hastily received."
        assert r.reason_phrase == "2 events hastily received."
    assert wait_for(
        lambda: len([e for e in server.records(LINK_HOVER_STREAM) if e.get("link_title") == marker]) == 2
    )
    for value in ("false", "0", ""):  # not hasty ("" = a bare ?hasty, as in EventGate)
        r = post(client, [link_hover(), bad()], params={"hasty": value})
        assert r.status_code == 207, value
    # the README's rule, word for word: any other value is 400
    readme = " ".join(README.read_text().split())
    rule = (
        "`hasty=false`/`hasty=0` and a bare `?hasty` are not "
        "(any other value, `yes` or `TRUE` included, is 400"
    )
    assert rule in readme
    for value in ("maybe", "yes", "no", "on", "off", "TRUE", "False", " 1"):
        r = client.post(
            "/v1/events",
            params={"hasty": value},
            content=orjson.dumps(link_hover()),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400, value
        assert r.headers["content-type"] == "application/problem+json"
        assert "hasty must be true, false, 1 or 0" in r.json()["detail"]
    # empty body is checked before hasty, as in EventGate
    r = client.post("/v1/events?hasty=true", content=b"[]", headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_test_events_route(client: httpx.Client, server: Server) -> None:
    r = client.get("/v1/_test/events")
    assert r.status_code == 201
    assert r.reason_phrase == "All 1 out of 1 events were accepted."
    assert r.json()["message"] == "All 1 out of 1 events were accepted."
    assert r.headers["access-control-allow-origin"] == "*"
    assert wait_for(lambda: server.records(TEST_STREAM))
    assert client.post("/v1/_test/events").status_code == 405  # EventGate: 404; see gate/openapi.yaml


def test_trailing_slash_and_options(client: httpx.Client) -> None:
    r = client.post(
        "/v1/events/", content=orjson.dumps(link_hover()), headers={"content-type": "application/json"}
    )
    assert r.status_code == 201
    r = client.options("/v1/events")
    assert r.status_code == 200
    assert r.headers["allow"] == "POST"
    assert r.text == "POST"
    assert r.headers["access-control-allow-origin"] == "*"


def test_utf8_bom_is_accepted(client: httpx.Client) -> None:
    r = client.post(
        "/v1/events",
        content=b"\xef\xbb\xbf" + orjson.dumps(link_hover()),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 201, r.text
