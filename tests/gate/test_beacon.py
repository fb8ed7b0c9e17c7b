"""The legacy EventLogging beacon over real sockets: ``/beacon/event?<capsule>;`` on a real ``serve``,
events read back from the log and the error stream."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from eventplatform.examples import NAVIGATION_TIMING_STREAM
from tests.gate.conftest import Server, running

ERRORS = "eventplatform.error.validation"
REVISION = 10785754


def capsule(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema": "NavigationTiming",
        "revision": REVISION,
        "wiki": "enwiki",
        "webHost": "en.wikipedia.org",
        "event": {"isAnon": True, "pageId": 15580374, "responseStart": 321, "action": "view"},
    }
    out.update(overrides)
    return out


def beacon_query(value: Any) -> str:
    """As the legacy client builds it: ``encodeURIComponent(JSON)`` and the historical ``;``."""
    return quote(json.dumps(value, separators=(",", ":")), safe="") + ";"


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("beacon")
    config = workdir / "eventplatform.yaml"
    config.write_text("legacy:\n  revisions:\n    Mapped: {1: 1.0.0}\n")
    with running(workdir, "--config", str(config), "--dev") as server:
        yield server


@pytest.fixture(scope="module")
def http(legacy: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=legacy.url, timeout=30) as c:
        yield c


def errors_for(server: Server, marker: str) -> list[dict[str, Any]]:
    return [e for e in server.records(ERRORS) if marker in e["raw_event"]]


def test_valid_beacon_is_an_event_of_the_legacy_stream(legacy: Server, http: httpx.Client) -> None:
    r = http.get(
        "/beacon/event?" + beacon_query(capsule(event={"isAnon": False, "pageId": 1, "action": "t-valid"})),
        headers={"user-agent": "Mozilla/5.0 legacy-test", "x-client-ip": "198.51.100.7"},
    )
    assert r.status_code == 204 and r.content == b""
    assert r.headers["requested-event-valid"] == "1"  # --dev: the legacy devserver's header
    [event] = [e for e in legacy.records(NAVIGATION_TIMING_STREAM) if e["event"].get("action") == "t-valid"]
    # no mapping for NavigationTiming: the latest version, named as the version it resolved to
    assert event["$schema"] == "/analytics/legacy/navigationtiming/1.0.0"
    assert event["meta"]["stream"] == NAVIGATION_TIMING_STREAM
    assert event["meta"]["domain"] == "en.wikipedia.org"
    assert event["schema"] == "NavigationTiming" and event["revision"] == REVISION
    assert event["wiki"] == "enwiki" and event["webHost"] == "en.wikipedia.org"
    assert event["event"] == {"isAnon": False, "pageId": 1, "action": "t-valid"}
    assert re.fullmatch(r"[0-9a-f]{32}", event["uuid"])
    assert event["dt"] == event["client_dt"] == event["meta"]["dt"]  # receive time
    assert event["http"]["request_headers"]["user-agent"] == "Mozilla/5.0 legacy-test"
    assert event["http"]["client_ip"] == "198.51.100.7"


def test_send_beacon_post_and_event_gif_with_plus_and_utf8(legacy: Server, http: httpx.Client) -> None:
    text = json.dumps(capsule(event={"isAnon": True, "action": "t-post été", "mobileMode": "a b"}))
    # sendBeacon: POST with an empty body; '+' is a space and %C3%A9 is é, as the %q parser decodes them
    query = quote(text, safe=" ").replace(" ", "+")
    for path in ("/event.gif", "/beacon/event"):
        r = http.post(f"{path}?{query};", content=b"")
        assert r.status_code == 204
    events = [e for e in legacy.records(NAVIGATION_TIMING_STREAM) if e["event"]["action"] == "t-post été"]
    assert len(events) == 2
    assert events[0]["event"]["mobileMode"] == "a b"
    assert events[0]["uuid"] != events[1]["uuid"]


BAD = [
    ("?t-notjson{;", "legacy_capsule_not_json", "Unable to process", "The capsule is not JSON"),
    (beacon_query(["t-array"]), "legacy_capsule_not_object", "Unable to process", "got list"),
    (
        beacon_query({"revision": 1, "event": {"m": "t-noschema"}}),
        "legacy_schema_missing",
        "Unable to validate",
        "The capsule's schema is missing",
    ),
    (
        beacon_query({"schema": "NavigationTiming", "event": {"m": "t-norev"}}),
        "legacy_revision_missing",
        "Unable to validate",
        "The capsule's revision is missing",
    ),
    ("%7B%22t-latin1%22:%22%E9%22%7D;", "legacy_query_not_utf8", "Unable to process", "not UTF-8"),
    (
        beacon_query(capsule(schema="Mapped", revision=2, event={"m": "t-unmapped"})),
        "legacy_revision_unknown",
        "Unable to validate",
        "Revision 2 of schema Mapped maps to no schema version (known revisions: 1)",
    ),
    (
        beacon_query(capsule(event={"action": "t-invalid"})),
        "validation_failed",
        "Unable to validate",
        "'.event' should have required property 'isAnon'",
    ),
    (
        beacon_query(capsule(schema="NoSuchSchema", event={"m": "t-noschema-file"})),
        "schema_not_found",
        "Unable to validate",
        "/analytics/legacy/nosuchschema/latest",
    ),
]


@pytest.mark.parametrize(("query", "code", "verb", "reason"), BAD, ids=[b[1] for b in BAD])
def test_bad_capsules_answer_204_with_an_error_event_and_a_log_line(
    legacy: Server, http: httpx.Client, query: str, code: str, verb: str, reason: str
) -> None:
    marker = re.search(r"t-[a-z0-9-]+", query.replace("%22", '"').replace("%2D", "-")).group(0)  # type: ignore[union-attr]
    r = http.get("/beacon/event?" + query)
    assert r.status_code == 204
    assert r.headers["requested-event-valid"] == "0"
    assert reason in r.headers["validation-error-1"]
    [error] = errors_for(legacy, marker)
    assert error["error_type"] == code
    assert reason in error["message"]
    lines = [line for line in legacy.stderr().splitlines() if marker in line]
    assert len(lines) == 1 and lines[0].startswith(f"{verb}: ?") and lines[0].endswith(")")
    assert reason in lines[0]
    assert legacy.alive()


def test_oversized_beacon_is_refused_whole_never_truncated(legacy: Server, http: httpx.Client) -> None:
    query = beacon_query(capsule(event={"isAnon": True, "action": "t-big-" + "x" * 1000}))
    assert len(query.encode()) > 1014
    r = http.get("/beacon/event?" + query)
    assert r.status_code == 204 and r.headers["requested-event-valid"] == "0"
    [error] = errors_for(legacy, "t-big-")
    assert error["error_type"] == "legacy_query_too_long"
    assert error["errored_stream_name"] == NAVIGATION_TIMING_STREAM
    assert f"is {len(query)} bytes long; the limit is 1014 bytes" in error["message"]
    assert not [e for e in legacy.records(NAVIGATION_TIMING_STREAM) if "t-big-" in e["event"]["action"]]
    stderr = legacy.stderr()
    assert "Unable to validate: ?{" in stderr and "the limit is 1014 bytes" in stderr
    # development mode: a console warning for each oversized event, as the legacy devserver did
    assert f"WARNING: an event of {len(query)} bytes was refused (over the limit of 1014 bytes)" in stderr


def test_100_kb_query_string_gets_204_and_an_error_event(legacy: Server, http: httpx.Client) -> None:
    query = "t-huge" + "y" * 100_000
    # a raw socket: httpx refuses URLs this long before sending them
    with socket.create_connection(("127.0.0.1", legacy.port), timeout=30) as sock:
        sock.sendall(f"GET /event.gif?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 204 ")
    [error] = errors_for(legacy, "t-huge")
    assert error["error_type"] == "legacy_query_too_long"
    assert error["raw_event"].endswith(f"... ({len(query)} bytes)")  # cut visibly, not silently
    assert http.get("/_info").status_code == 200


def test_beacon_metrics_count_outcomes(legacy: Server, http: httpx.Client) -> None:
    http.get("/beacon/event?" + beacon_query(capsule()))
    text = http.get("/metrics").text
    assert re.search(r'eventplatform_legacy_beacons_total\{outcome="accepted"\} [1-9]', text)
    assert re.search(r'eventplatform_legacy_beacons_total\{outcome="legacy_query_too_long"\} [1-9]', text)


def test_limit_and_revisions_are_configurable(tmp_path: Path) -> None:
    config = tmp_path / "eventplatform.yaml"
    config.write_text(
        "legacy:\n  max_query_size: 3000\n  revisions:\n    NavigationTiming: {10785754: 1.0.0}\n"
    )
    # with a datacenter: legacy topics still have no prefix (eventlogging_NavigationTiming, as at Wikimedia)
    with running(tmp_path, "--config", str(config), "--datacenter", "eqiad") as server:
        long = {"action": "t-long-" + "é" * 55, "mobileMode": "é" * 64, "mediaWikiVersion": "é" * 64}
        query = beacon_query(capsule(event={"isAnon": True, **long}))
        assert 1014 < len(query) < 3000
        assert httpx.get(f"{server.url}/beacon/event?{query}").status_code == 204
        [event] = server.records(NAVIGATION_TIMING_STREAM)
        assert event["$schema"] == "/analytics/legacy/navigationtiming/1.0.0"
        r = httpx.get(f"{server.url}/beacon/event?" + beacon_query(capsule(revision=1)))
        assert r.status_code == 204 and "requested-event-valid" not in r.headers  # not in --dev
        [error] = server.records("eqiad." + ERRORS)
        assert error["error_type"] == "legacy_revision_unknown"
        assert "WARNING: an event of" not in server.stderr()
