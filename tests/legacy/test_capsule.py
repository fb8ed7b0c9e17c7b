"""The capsule parser (the legacy processor's ``%q``) and the capsule -> event conversion: pure logic."""

from __future__ import annotations

import pytest

from eventplatform.errors import EventInvalid
from eventplatform.legacy.capsule import (
    LegacyCodes,
    decode_query,
    parse_capsule,
    pin_version,
    schema_uri,
    to_event,
)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        (b'?{"a":1};', '{"a":1}'),
        (b"%7B%22a%22%3A%22b+c%22%7D;", '{"a":"b c"}'),  # + is a space
        (b"%7B%22a%22:%22%C3%A9%20x%22%7D;&", '{"a":"é x"}'),
        (b"?;", ""),
    ],
)
def test_decode_query(query: bytes, text: str) -> None:
    assert decode_query(query) == text


def test_not_utf8_names_the_byte() -> None:
    with pytest.raises(EventInvalid) as info:
        decode_query(b"%7B%22a%22:%22%E9%22%7D;")
    assert info.value.code == LegacyCodes.NOT_UTF8
    assert "byte 0xe9 at 6" in info.value.message


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("", LegacyCodes.NOT_JSON, "empty"),
        ("{nope", LegacyCodes.NOT_JSON, "not JSON"),
        ("[1]", LegacyCodes.NOT_OBJECT, "got list"),
        ("null", LegacyCodes.NOT_OBJECT, "got null"),
        ('{"revision": 1}', LegacyCodes.SCHEMA_MISSING, "schema is missing"),
        ('{"schema": "a b", "revision": 1}', LegacyCodes.SCHEMA_MISSING, 'not a schema name: "a b"'),
        ('{"schema": "S"}', LegacyCodes.REVISION_MISSING, "revision is missing"),
        ('{"schema": "S", "revision": "1"}', LegacyCodes.REVISION_MISSING, 'not an integer: "1"'),
        ('{"schema": "S", "revision": true}', LegacyCodes.REVISION_MISSING, "not an integer: true"),
    ],
)
def test_refused_capsules(text: str, code: str, message: str) -> None:
    with pytest.raises(EventInvalid) as info:
        parse_capsule(text)
    assert info.value.code == code and message in info.value.message


def test_schema_uri_from_the_revision_mapping_else_latest() -> None:
    revisions = {"NavigationTiming": {10785754: "1.0.0", 15485142: "1.1.0"}}
    assert schema_uri("NavigationTiming", 15485142, revisions) == "/analytics/legacy/navigationtiming/1.1.0"
    assert schema_uri("Edit", 1, revisions) == "/analytics/legacy/edit/latest"
    with pytest.raises(EventInvalid) as info:
        schema_uri("NavigationTiming", 7, revisions)
    assert info.value.code == LegacyCodes.REVISION_UNKNOWN
    assert "known revisions: 10785754, 15485142" in info.value.message


def test_to_event_places_the_capsule_fields_as_the_migrated_schemas_do() -> None:
    capsule = {
        "schema": "Edit",
        "revision": 17541122,
        "event": {"action": "init"},
        "wiki": "enwiki",
        "webHost": "en.wikipedia.org",
        "clientValidated": True,  # historic flags are dropped, as the processor dropped them
        "isTruncated": False,
        "clientIp": "10.0.0.1",  # never kept
        "userAgent": "capsule UA",  # wins over the request's header, as in the legacy parser
    }
    event = to_event(capsule, {}, received_iso="2024-01-01T00:00:00.000Z", user_agent="header UA")
    assert event["$schema"] == "/analytics/legacy/edit/latest"
    assert event["meta"] == {"stream": "eventlogging_Edit", "domain": "en.wikipedia.org"}
    assert event["client_dt"] == "2024-01-01T00:00:00.000Z"
    assert event["http"] == {"request_headers": {"user-agent": "capsule UA"}}
    assert len(event["uuid"]) == 32
    for gone in ("clientValidated", "isTruncated", "clientIp", "userAgent"):
        assert gone not in event
    assert {k: event[k] for k in ("schema", "revision", "event", "wiki", "webHost")} == {
        k: capsule[k] for k in ("schema", "revision", "event", "wiki", "webHost")
    }
    pin_version(event, "/analytics/legacy/edit/1.2.0")
    assert event["$schema"] == "/analytics/legacy/edit/1.2.0"


def test_to_event_keeps_client_values_and_unknown_fields_for_the_schema_to_judge() -> None:
    capsule = {"schema": "S", "revision": 1, "client_dt": "2020-01-01T00:00:00Z", "uuid": "u", "extra": 1}
    event = to_event(capsule, {}, received_iso="2024-01-01T00:00:00.000Z")
    assert event["client_dt"] == "2020-01-01T00:00:00Z" and event["uuid"] == "u" and event["extra"] == 1
    assert event["event"] == {} and "http" not in event
