"""What the SQLite log tests share."""

from __future__ import annotations

import asyncio
from typing import Any

from eventplatform.log import Message, Record, Start
from eventplatform.log.sqlite import SQLiteLog


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def collect(log: SQLiteLog, topics: list[str], start: Start) -> list[Record]:
    return [r async for r in log.consume(topics, start)]


def msgs(topic: str, n: int, ts: int | None = None, prefix: str = "e") -> list[Message]:
    return [
        Message(topic, f"{prefix}{i}".encode(), key=b"k" if i % 2 else None, timestamp_ms=ts)
        for i in range(n)
    ]
