"""The ASGI app in process (httpx's ASGI transport), for what a real server cannot provoke."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from eventplatform.gate.app import GateApp
from eventplatform.log import Batch
from eventplatform.settings import Settings
from eventplatform.streamconfig.config import StreamConfig
from tests.gate.conftest import link_hover


class MemoryLog:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    async def produce(self, batch: Batch, *, hasty: bool = False) -> list[Exception | None]:
        self.values.extend(batch.values)
        return [None] * len(batch.values)

    async def close(self) -> None:
        pass


def test_unexpected_pipeline_failure_is_500_with_reason() -> None:
    """Should never happen (event failures are values); if the pipeline itself breaks, EventGate's answer."""

    async def main() -> httpx.Response:
        app = GateApp(Settings(), log=MemoryLog(), streams=StreamConfig.from_document({"streams": {}}))
        await app.startup()

        async def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("kaput")

        app.pipeline.process = broken  # type: ignore[method-assign,union-attr]
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
                return await c.post(
                    "/v1/events",
                    content=orjson.dumps(link_hover()),
                    headers={"content-type": "application/json"},
                )
        finally:
            await app.shutdown()

    r = asyncio.run(main())
    assert r.status_code == 500
    assert r.json() == {"message": "Encountered an unexpected error while processing events: kaput"}
