"""The pipeline without HTTP: real schema registry and stream config, an in-memory log (pure logic)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventplatform.errors import Codes, EventError
from eventplatform.examples import LINK_HOVER_STREAM, SCHEMA_BASE_DIR
from eventplatform.gate.responses import batch_response
from eventplatform.intake.batch import RequestContext, iso_now
from eventplatform.intake.pipeline import Pipeline, PipelineSettings
from eventplatform.log import Batch, Message
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.streamconfig.config import StreamConfig
from tests.gate.conftest import link_hover

COUNTER_SCHEMA = """
title: test/counter
$id: /test/counter/1.0.0
$schema: 'https://json-schema.org/draft-07/schema#'
type: object
required: [$schema, meta, count]
properties:
  $schema: {type: string, maxLength: 100}
  dt: {type: string, format: date-time, maxLength: 128}
  meta:
    type: object
    required: [stream]
    properties:
      stream: {type: string, maxLength: 100}
      id: {type: string, maxLength: 64}
      dt: {type: string, format: date-time, maxLength: 128}
  count: {type: integer}
  page: {type: object, properties: {id: {type: integer}, title: {type: string, maxLength: 100}}}
  tags: {type: array, default: [], items: {type: string, maxLength: 10}}
  flavour: {type: string, default: vanilla, maxLength: 20}
"""


class MemoryLog:
    def __init__(self, fail: Exception | None = None) -> None:
        self.messages: list[Message] = []
        self.fail = fail

    async def produce(self, batch: Batch, *, hasty: bool = False) -> list[Exception | None]:
        if self.fail is not None:
            raise self.fail
        self.messages.extend(map(Message, batch.topics, batch.values, batch.keys, batch.timestamps))
        return [None] * len(batch)

    async def close(self) -> None:
        pass


@pytest.fixture
def schemas(tmp_path: Path) -> list[str]:
    for title in ("test/counter", "analytics/legacy/thing"):
        d = tmp_path / title
        d.mkdir(parents=True)
        text = (
            COUNTER_SCHEMA
            if title == "test/counter"
            else COUNTER_SCHEMA.replace("test/counter", "analytics/legacy/thing")
        )
        (d / "1.0.0").write_text(text)
    return [str(tmp_path), str(SCHEMA_BASE_DIR)]


def make(schemas: list[str], log: MemoryLog, **settings: Any) -> Pipeline:
    streams = StreamConfig.from_document(
        {
            "streams": {
                "counter": {"schema_title": "test/counter", "message_key_fields": {"page_id": "page.id"}},
                "legacy": {"schema_title": "analytics/legacy/thing"},
                LINK_HOVER_STREAM: {"schema_title": "analytics/link_hover"},
                "/.*\\.error\\.validation$/": {"schema_title": "error"},
            }
        }
    )
    return Pipeline(SchemaRegistry(schemas), streams, log, PipelineSettings(**settings))


def run(p: Pipeline, events: list[Any], **ctx: Any) -> Any:
    return asyncio.run(p.process(events, RequestContext.now(**ctx)))


def counter(**kw: Any) -> dict[str, Any]:
    return {"$schema": "/test/counter/1.0.0", "meta": {"stream": "counter"}, "count": 1, **kw}


def test_defaults_integers_and_keys(schemas: list[str]) -> None:
    log = MemoryLog()
    result = run(make(schemas, log), [counter(count=2.0, page={"id": 7.0}), counter(count=2.5)])
    assert result.status_counts() == (1, 1, 0)
    [msg] = [m for m in log.messages if m.topic == "counter"]
    stored = orjson.loads(msg.value)
    assert stored["count"] == 2 and type(stored["count"]) is int  # 2.0 is the integer 2
    assert stored["page"]["id"] == 7
    assert stored["flavour"] == "vanilla" and stored["tags"] == []  # schema defaults, as AJV useDefaults
    assert msg.key == b'{"page_id":7}'
    assert msg.timestamp_ms is not None
    assert result.invalid[0].failure.code == Codes.VALIDATION_FAILED


def test_mutable_defaults_are_not_shared(schemas: list[str]) -> None:
    log = MemoryLog()
    result = run(make(schemas, log), [counter(), counter()])
    a, b = (o.event for o in result.success)
    assert a["tags"] == [] and a["tags"] is not b["tags"]


def test_legacy_dt_and_query_params(schemas: list[str]) -> None:
    log = MemoryLog()
    p = make(schemas, log, schema_uri_query_param="schema_uri", stream_query_param="stream")
    event = {"count": 1, "meta": {}}
    result = run(p, [event], query={"schema_uri": "/analytics/legacy/thing/1.0.0", "stream": "legacy"})
    assert result.status_counts() == (1, 0, 0), result.invalid and result.invalid[0].failure
    stored = orjson.loads(log.messages[0].value)
    assert stored["$schema"] == "/analytics/legacy/thing/1.0.0"
    assert stored["meta"]["stream"] == "legacy"
    assert stored["dt"] == stored["meta"]["dt"]  # legacy schemas get dt = receive time


def test_log_failure_is_an_error_not_invalid(schemas: list[str]) -> None:
    p = make(schemas, MemoryLog(fail=EventError(Codes.LOG_UNAVAILABLE, "disk full")))
    result = run(p, [link_hover(), link_hover()])
    assert result.status_counts() == (0, 0, 2)
    assert {o.failure.code for o in result.error} == {Codes.LOG_UNAVAILABLE}
    status, reason, body = batch_response(result)
    assert status == 500
    assert reason == "2 out of 2 events had failures and were not accepted. (0 invalid and 2 errored)."
    assert body["error"][0]["context"] == {"message": "disk full"}
    p = make(schemas, MemoryLog(fail=OSError("boom")))
    result = run(p, [link_hover()])
    assert result.error[0].failure.code == Codes.LOG_UNAVAILABLE


def test_one_produce_per_batch_plus_error_events(schemas: list[str]) -> None:
    calls: list[int] = []

    class CountingLog(MemoryLog):
        async def produce(self, batch: Batch, *, hasty: bool = False) -> list[Exception | None]:
            calls.append(len(batch))
            return await super().produce(batch, hasty=hasty)

    log = CountingLog()
    result = run(
        make(schemas, log, service_name="svc"), [link_hover() for _ in range(50)] + [counter(count="x")]
    )
    assert result.status_counts() == (50, 1, 0)
    assert calls == [50, 1]  # the batch in one produce; the error event after it
    err = orjson.loads(log.messages[-1].value)
    assert log.messages[-1].topic == "svc.error.validation"
    assert err["error_type"] == "validation_failed"
    assert err["message"] == "'.count' should be integer"


def test_disabled_error_events_and_datacenter(schemas: list[str]) -> None:
    log = MemoryLog()
    result = run(make(schemas, log, error_stream="", datacenter="codfw"), [link_hover(), counter(count="x")])
    assert result.status_counts() == (1, 1, 0)
    assert [m.topic for m in log.messages] == ["codfw." + LINK_HOVER_STREAM]


def test_iso_now_is_javascript_shape() -> None:
    assert iso_now(1710529500.456) == "2024-03-15T19:05:00.456Z"
    assert iso_now(1710529501.0) == "2024-03-15T19:05:01.000Z"


def test_error_events_need_a_configured_error_stream(schemas: list[str]) -> None:
    log = MemoryLog()
    p = make(schemas, log, error_stream="not.configured.errors")
    result = run(p, [counter(count="x"), link_hover()])
    assert result.status_counts() == (1, 1, 0)
    assert [m.topic for m in log.messages] == [LINK_HOVER_STREAM]  # no error event to an unknown stream
