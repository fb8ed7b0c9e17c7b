"""The compiled intake path (native/) against the pure-Python pipeline: same verdicts, bodies and rows.

Each case is a request body run through two pipelines built alike, one with the compiled path and one
without, with the same request context, twice (the first run plans the schemas and routes, the second
takes the compiled path). Everything the client and the log see must be identical; the only difference
allowed is the random ``meta.id`` intake generates, compared by shape.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from datetime import datetime
from typing import Any

import orjson
import pytest

from eventplatform.gate.responses import batch_response
from eventplatform.intake import native
from eventplatform.intake.batch import RequestContext
from eventplatform.intake.pipeline import Pipeline, _timestamp_ms
from tests.intake.test_pipeline import MemoryLog, make
from tests.intake.test_pipeline import schemas as schemas

module = native.load()
needs_native = pytest.mark.skipif(
    module is None, reason="the compiled path is not built (make install builds it; needs cargo)"
)
UUID1 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
ID = "b0c6d1a8-4e67-4a8e-9a38-2f1a2b3c4d5e"
DT = "2026-12-05T08:00:00.123Z"


def counter(**kw: Any) -> dict[str, Any]:
    meta = {"stream": "counter", "id": ID, "dt": DT, **kw.pop("meta", {})}
    return {"$schema": "/test/counter/1.0.0", "meta": meta, "count": 1, **kw}


def legacy(**kw: Any) -> dict[str, Any]:
    event = counter(**kw)
    return {**event, "$schema": "/analytics/legacy/thing/1.0.0", "meta": {"stream": "legacy", "id": ID}}


def body(*events: Any) -> bytes:
    return orjson.dumps(list(events))


def raw(*fields: bytes) -> bytes:
    """A body of counter events written by hand: numbers exactly as given."""
    head = b'{"$schema":"/test/counter/1.0.0","meta":{"stream":"counter","id":"x"},'
    return b"[" + b",".join(head + f + b"}" for f in fields) + b"]"


CASES: dict[str, bytes] = {
    "valid": body(counter(), counter(count=5, page={"id": 3, "title": "T"})),
    "single object": orjson.dumps(counter()),
    "no meta.id": body(counter(meta={"id": None}) | {"meta": {"stream": "counter", "dt": DT}}),
    "no meta.dt": body({"$schema": "/test/counter/1.0.0", "meta": {"stream": "counter"}, "count": 1}),
    "meta.dt shapes": body(
        *(
            counter(meta={"dt": dt})
            for dt in (
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:00:00.999999Z",
                "1970-01-01T00:00:00.001Z",
                "2024-02-29T23:59:59.5Z",
                "2026-01-01T00:00:00.123+01:00",
                "2026-02-30T00:00:00.000Z",
                "2026-01-01t00:00:00z",
                "0001-01-01T00:00:00.000Z",
                "2026-01-01 00:00:00.000Z",
            )
        )
    ),
    "meta.dt invalid": body(counter(meta={"dt": "yesterday"}), counter(meta={"dt": 5})),
    "integral floats": raw(b'"count":2.0,"page":{"id":7.0}', b'"count":1e2', b'"count":-0.0', b'"count":-0'),
    "floats and big numbers": raw(
        b'"count":2.5',
        b'"count":1e20',
        b'"count":1,"x":0.1',
        b'"count":9223372036854775807',
        b'"count":9223372036854775808',
        b'"count":-9223372036854775808',
        b'"count":123456789012345678901234',
    ),
    "strings": body(
        counter(page={"title": "é\u2028\"\\/\b\x1f\x7f😀"}),
        counter(x="\u0000 \t\n\r\f"),
        counter(page={"title": "x" * 101}),
    ),
    "escapes in the body": b'[{"$schema":"\\/test\\/counter\\/1.0.0",'
    b'"meta":{"stream":"count\\u0065r","id":"x"},"count":1,"s":"\\ud83d\\ude00"}]',
    "duplicate keys": raw(b'"count":"a","count":1,"meta":{"stream":"counter","id":"y"}'),
    "message keys": body(
        counter(page={"id": 1}), counter(page=None), counter(page={"title": "t"}), counter()
    ),
    "http field": body(
        counter(http=None), counter(http={}), counter(http={"client_ip": "1.1.1.1"}), counter(http="x")
    ),
    "defaults": body(counter(tags=["a"], flavour="mint"), counter(tags=None), counter(page=None)),
    "bad defaults target": body(counter(tags="not a list"), counter(tags=["waytoolongtag"])),
    "stream problems": body(
        counter(meta={"stream": "legacy"}),
        counter(meta={"stream": "nope"}),
        counter(meta={"stream": ""}),
        counter(meta={"stream": 3}),
        {"$schema": "/test/counter/1.0.0", "count": 1},
        {"$schema": "/test/counter/1.0.0", "meta": "m", "count": 1},
    ),
    "schema problems": body(
        counter() | {"$schema": "/test/nothing/1.0.0"},
        counter() | {"$schema": 5},
        {"meta": {"stream": "counter"}},
        {},
        3,
        "event",
        None,
        [counter()],
    ),
    "legacy": body(legacy(), legacy(dt="2026-01-01T00:00:00Z"), legacy(dt=None)),
    "mixed": body(
        counter(), counter(count="x"), counter(x=1.5), counter(count=3), 7, counter(meta={"dt": "x"})
    ),
    "link hover": body(
        {
            "$schema": "/analytics/link_hover/1.0.0",
            "dt": DT,
            "meta": {"stream": "analytics.link_hover", "dt": DT, "id": ID, "domain": "en.wikipedia.org"},
            "action": "click",
            "page_title": "Main_Page",
            "page_namespace": 0,
            "is_anon": True,
            "link_target": "Ada_Lovelace",
            "hover_duration_ms": 120,
            "context": {"skin": "minerva", "session_id": "0123456789abcdef", "is_mobile": False},
        }
    ),
    "deep": b"[" + b'{"a":' * 200 + b"1" + b"}" * 200 + b"]",
}


def normalized(value: Any) -> Any:
    """Generated v1 UUIDs (random) replaced by a marker, after checking their shape."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalized(v) for v in value]
    if isinstance(value, str) and UUID1.fullmatch(value):
        return "<uuid1>"
    return value


def observe(p: Pipeline, data: bytes, ctx: RequestContext) -> tuple[Any, ...]:
    log = p.log
    assert isinstance(log, MemoryLog)
    log.messages.clear()
    lane = p._native
    parsed = lane.parse(data) if lane is not None else None
    events = parsed
    if parsed is None:  # as the gate's parser: one event or an array of them
        events = orjson.loads(data)
        events = [events] if isinstance(events, dict) else events
    result = asyncio.run(p.process(events, ctx))
    status, reason, response = batch_response(result)
    rows = [(m.topic, orjson.loads(m.value), m.key, m.timestamp_ms) for m in log.messages]
    success = [(o.index, o.event, o.stream, o.schema_uri) for o in result.success]
    return normalized((status, reason, response, rows, success, result.accepted_by))


def context() -> RequestContext:
    return RequestContext(
        request_id="req-1",
        received_ms=1796457600123,
        received_iso=DT,
        user_agent="agent/1.0 " + "u" * 500,
        client_ip="10.1.2.3",
    )


@needs_native
@pytest.mark.parametrize("case", list(CASES))
def test_same_as_python(case: str, schemas: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fast = make(schemas, MemoryLog())
    assert fast._native is not None
    monkeypatch.setenv(native.ENV, "0")
    slow = make(schemas, MemoryLog())
    assert slow._native is None
    data = CASES[case]
    for _ in range(2):  # the first run plans schemas and routes, the second takes the compiled path
        assert observe(fast, data, context()) == observe(slow, data, context())


@needs_native
def test_valid_events_take_the_compiled_path(schemas: list[str]) -> None:
    p = make(schemas, MemoryLog())
    assert p._native is not None
    data = body(counter(), counter(meta={"id": None}) | {"meta": {"stream": "counter"}}, counter(count="x"))
    observe(p, data, context())
    index, values, keys, stamps, routes, deferred, fix = p._native.run(p._native.parse(data), context())
    assert index == [0, 1] and [i for i, _ in deferred] == [2]  # the invalid one is Python's to describe
    assert routes == 0 and not fix and stamps == [1796457600123, 1796457600123]
    assert keys is None or keys == [b"{}", b"{}"]
    assert UUID1.fullmatch(orjson.loads(values[1])["meta"]["id"])


@needs_native
def test_timestamps_as_python() -> None:
    assert module is not None
    for dt in (DT, "1999-12-31T23:59:59.999Z", "2038-01-19T03:14:08Z", "0001-01-01T00:00:00Z"):
        assert module.native_timestamp_ms(dt) == _timestamp_ms(dt)
    for ms in range(0, 86_400_000 * 3, 86_400_000 // 997 + 13):  # every millisecond shape, float rounding
        dt = datetime.fromtimestamp(1_700_000_000 + ms / 1000).strftime("%Y-%m-%dT%H:%M:%S.%f")
        for text in (dt[:-3] + "Z", dt + "Z"):
            assert module.native_timestamp_ms(text) == _timestamp_ms(text), text
    for odd in ("2026-02-30T00:00:00Z", "2026-01-01T00:00:00.1Z", "2026-01-01T24:00:00Z", "x"):
        assert module.native_timestamp_ms(odd) is None  # left to Python


def test_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native.ENV, "0")
    assert native.load() is None


def test_missing_extension_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, schemas: list[str]
) -> None:
    monkeypatch.delenv(native.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "eventplatform_native", None)  # import fails as if never built
    monkeypatch.setattr(native, "_warned", [])
    with caplog.at_level(logging.WARNING, "eventplatform.intake"):
        p = make(schemas, MemoryLog())
        make(schemas, MemoryLog())
    assert p._native is None and p.native_parse is None
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "pure-Python" in caplog.records[0].message
    result = asyncio.run(p.process([counter()], context()))
    assert result.status_counts() == (1, 0, 0)

