"""Canary events: the predicate every consumer uses and the event the canary producer builds."""

from __future__ import annotations

import orjson

from eventplatform.streamconfig.canary import canary_enabled, is_canary, is_canary_value, make_canary


def test_is_canary_exact_meta_domain() -> None:
    assert is_canary({"meta": {"domain": "canary"}})
    assert not is_canary({"meta": {"domain": "Canary"}})  # exact, case-sensitive (reference)
    assert not is_canary({"meta": {"domain": "en.wikipedia.org"}})
    assert not is_canary({"meta": None, "domain": "canary"})
    assert not is_canary({"link_title": "canary"})
    assert not is_canary(["canary"])


def test_is_canary_value_on_serialized_events() -> None:
    assert is_canary_value(orjson.dumps({"meta": {"domain": "canary", "stream": "s"}}))
    assert is_canary_value('{"meta": {"domain": "canary"}}')
    # the word elsewhere, a non-JSON value, an ordinary event
    assert not is_canary_value(orjson.dumps({"meta": {"domain": "x"}, "link_title": "canary"}))
    assert not is_canary_value(b'{"meta": {"domain": "canary"')
    assert not is_canary_value(b'{"meta": {"domain": "en.wikipedia.org"}}')


def test_canary_enabled_only_when_true() -> None:
    assert canary_enabled({"canary_events_enabled": True})
    assert not canary_enabled({"canary_events_enabled": False})
    assert not canary_enabled({"canary_events_enabled": "true"})
    assert not canary_enabled({})
    assert not canary_enabled(None)


def test_make_canary_copies_the_example_and_marks_it() -> None:
    example = {"$schema": "/a/1.0.0", "meta": {"dt": "2020-01-01T00:00:00Z", "id": "x"}, "n": [1]}
    c = make_canary(example, "my.stream", "2026-12-05T08:00:00Z")
    assert c["meta"] == {"dt": "2026-12-05T08:00:00Z", "id": "x", "domain": "canary", "stream": "my.stream"}
    assert c["n"] == [1] and c["n"] is not example["n"]
    assert example["meta"] == {"dt": "2020-01-01T00:00:00Z", "id": "x"}  # the example is untouched
    assert "dt" not in make_canary(example, "s")["meta"]  # intake fills meta.dt in
    assert make_canary({"$schema": "/a/1.0.0"}, "s")["meta"] == {"domain": "canary", "stream": "s"}
    assert is_canary(c)
