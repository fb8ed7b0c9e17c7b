"""The asyncio client against a real intake: same engine, on the caller's loop."""

from __future__ import annotations

import asyncio

from eventplatform.client import AsyncEventClient, Problem
from tests.client.conftest import Server

STREAM = "mediawiki.interwiki_link_hover"
SCHEMA = "/analytics/link_hover/1.0.0"


def test_async_client_delivers_reports_and_closes(intake: Server) -> None:
    problems: list[Problem] = []

    async def main() -> dict[str, int]:
        async with AsyncEventClient(
            intake.url + "/v1/events",
            stream_config=intake.url + "/v1/stream-configs",
            batch_size=7,
            on_problem=problems.append,
        ) as client:
            for n in range(30):
                assert await client.submit(STREAM, {"$schema": SCHEMA, "link_href": f"async:{n}"})
            assert not await client.submit(STREAM, {"link_href": "no schema"})
            assert await client.submit(STREAM, {"$schema": SCHEMA, "link_href": ["not a string"]})
            assert await client.flush(30)
            return client.stats()

    stats = asyncio.run(main())
    assert stats["delivered"] == 30 and stats["invalid"] == 1 and stats["missing_schema"] == 1
    assert [p.kind for p in problems] == ["missing_schema", "invalid"]
    hrefs = {r["link_href"] for r in intake.records(STREAM) if str(r["link_href"]).startswith("async:")}
    assert hrefs == {f"async:{n}" for n in range(30)}
