"""Intake on the Kafka log (real broker): accepted events and error events land in <dc>.<stream> topics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_STREAM
from eventplatform.log import Start, open_log
from tests.gate.conftest import Server, link_hover
from tests.kafka_broker import Broker, kafka, kafka_broker, unique

pytestmark = [kafka, pytest.mark.kafka]
__all__ = ["kafka_broker"]


def read(url: str, topic: str) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        log = open_log(url)
        try:
            return [orjson.loads(r.value) async for r in log.consume([topic], Start.beginning())]
        finally:
            await log.close()

    return asyncio.run(main())


def test_intake_on_kafka(kafka_broker: Broker, tmp_path: Path) -> None:
    dc = unique("dc")
    srv = Server(tmp_path, "--datacenter", dc)
    srv.args[srv.args.index("--log") + 1] = kafka_broker.url
    srv.start(timeout=60)
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            r = c.post(
                "/v1/events",
                content=orjson.dumps([link_hover(), link_hover(link_href=1)]),
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 207, r.text
            r = c.post(
                "/v1/events?hasty=true",
                content=orjson.dumps([link_hover(link_title="hasty")]),
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 202
    finally:
        srv.kill()
    accepted = read(kafka_broker.url, f"{dc}.{LINK_HOVER_STREAM}")
    assert [e["link_title"] for e in accepted][:1] == ["mw:Extension:EventLogging"]
    errors = read(kafka_broker.url, f"{dc}.eventplatform.error.validation")
    assert [e["error_type"] for e in errors] == ["validation_failed"]
