"""Pure logic of the clients: sampling statistics, stamping, serialising at submit time, refusals."""

from __future__ import annotations

import random

import orjson
import pytest

from eventplatform.client.events import (
    BadEvent,
    Identity,
    StreamTable,
    check_call,
    in_sample,
    iso_now,
    new_event_id,
    normalize_id,
    prepare,
    sample_verdict,
    valid_sample,
)


def identifiers(n: int = 10_000, seed: int = 12) -> list[str]:
    rng = random.Random(seed)
    return [rng.randbytes(10).hex() for _ in range(n)]


def test_rate_one_tenth_samples_ten_percent_of_identifiers() -> None:
    ids = identifiers()
    share = sum(in_sample(i, 0.1) for i in ids) / len(ids)
    # binomial standard deviation over 10,000 draws is 0.3 %: ± 1 % is more than 3 of them
    assert 0.09 <= share <= 0.11, share


def test_the_same_identifier_always_gets_the_same_decision() -> None:
    for i in identifiers(1000):
        assert len({in_sample(i, 0.3) for _ in range(5)}) == 1


def test_nested_rates_are_nested() -> None:
    ids = identifiers()
    inner = {i for i in ids if in_sample(i, 0.1)}
    outer = {i for i in ids if in_sample(i, 0.5)}
    assert inner < outer
    assert 0.48 <= len(outer) / len(ids) <= 0.52


def test_the_reference_normaliser() -> None:
    assert normalize_id("ffffffff00") == 1.0
    assert normalize_id("00000000ff") == 0.0
    assert normalize_id("80000000") == pytest.approx(0.5)
    assert not in_sample("zz", 1.0)  # not hex: out, never an exception


def test_sample_validity_as_the_reference() -> None:
    assert valid_sample({"unit": "session", "rate": 0.5})
    assert not valid_sample({"unit": "session", "rate": 0})  # falsy rate: invalid, hence out
    assert not valid_sample({"unit": "session", "rate": 1.5})
    assert not valid_sample({"rate": 0.5})
    assert not valid_sample({"unit": "session", "rate": True})


def test_units_session_pageview_device_and_unknown() -> None:
    ident = Identity(session_id="00000000aa", pageview_id="ffffffffaa", device_id="00000001aa")
    assert sample_verdict("s", {"sample": {"unit": "session", "rate": 0.5}}, ident) is None
    assert "out of sample" in sample_verdict("s", {"sample": {"unit": "pageview", "rate": 0.5}}, ident)
    assert sample_verdict("s", {"sample": {"unit": "device", "rate": 0.5}}, ident) is None
    assert "unknown unit 'planet'" in sample_verdict("s", {"sample": {"unit": "planet", "rate": 1}}, ident)
    assert sample_verdict("s", {}, ident) is None  # no sample key: in


def test_stream_table_exact_regex_and_disabled() -> None:
    table = StreamTable({"streams": {"a.b": {"x": 1}, "/^c\\..*$/": {"y": 2}}})
    assert table.lookup("a.b") == {"x": 1}
    assert table.lookup("c.d") == {"y": 2}
    assert table.lookup("e") is None
    assert table.verdict("e", Identity())[0] == "unconfigured"
    assert StreamTable(None).lookup("anything") == {}


def test_prepare_copies_stamps_and_keeps_the_callers_values() -> None:
    event = {"$schema": "/s/1.0.0", "meta": {"domain": "mine.example"}, "n": [1]}
    event_id, body = prepare("st", event, domain="default.example", max_bytes=10_000)
    sent = orjson.loads(body)
    assert sent["meta"] == {"domain": "mine.example", "stream": "st", "id": event_id}
    assert sent["dt"].endswith("Z") and len(sent["dt"]) == 24
    assert event == {"$schema": "/s/1.0.0", "meta": {"domain": "mine.example"}, "n": [1]}  # not mutated
    event["n"].append(2)  # a later change does not leak into what is sent
    assert orjson.loads(body)["n"] == [1]
    _id, body = prepare("st", {"$schema": "/s", "dt": "2020-01-01T00:00:00.000Z"}, domain="d", max_bytes=999)
    assert orjson.loads(body)["dt"] == "2020-01-01T00:00:00.000Z"  # PHP: the caller's dt wins
    assert orjson.loads(body)["meta"]["domain"] == "d"
    _id, body = prepare("st", {"$schema": "/s", "client_dt": "x"}, domain=None, max_bytes=999)
    assert "dt" not in orjson.loads(body)  # migrated legacy events: intake sets dt


def test_prepare_refuses_precisely() -> None:
    cyclic: dict = {"$schema": "/s"}
    cyclic["self"] = cyclic
    with pytest.raises(BadEvent) as exc:
        prepare("st", cyclic, domain=None, max_bytes=1000)
    assert exc.value.kind == "unserialisable"
    with pytest.raises(BadEvent) as exc:
        prepare("st", {"$schema": "/s", "x": "y" * 2000}, domain=None, max_bytes=1000)
    assert exc.value.kind == "too_large" and "over the limit of 1000" in exc.value.message
    with pytest.raises(BadEvent) as exc:
        prepare("st", {"$schema": "/s", "x": {1, 2}}, domain=None, max_bytes=1000)
    assert exc.value.kind == "unserialisable"
    for stream, event, kind in [
        ("st", None, "not_an_object"),
        ("st", [1], "not_an_object"),
        ("st", {"a": 1}, "missing_schema"),
        ("", {"$schema": "/s"}, "bad_stream"),
    ]:
        with pytest.raises(BadEvent) as exc:
            check_call(stream, event)
        assert exc.value.kind == kind


def test_ids_and_time_formats() -> None:
    ids = {new_event_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 36 and i[14] == "4" and i[19] in "89ab" for i in ids)
    assert iso_now()[10] == "T"
