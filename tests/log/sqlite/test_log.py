"""SQLiteLog: produce, read back, offsets and watermarks, URL spellings, restarts."""

from __future__ import annotations

import os
import time
from pathlib import Path

from eventplatform.log import Batch, EventLog, Message, Start, open_log
from eventplatform.log.sqlite import SQLiteLog
from tests.log.sqlite.helpers import collect, msgs, run


def test_produce_consume_offsets_watermarks(tmp_path: Path) -> None:
    async def main() -> None:
        log = open_log(f"sqlite://{tmp_path}/log")
        assert isinstance(log, SQLiteLog) and isinstance(log, EventLog)
        assert await log.produce(Batch.of(msgs("a", 3, ts=1000))) == [None, None, None]
        assert (
            await log.produce(Batch.of(msgs("b", 2, ts=2000) + msgs("a", 2, ts=3000, prefix="x")))
            == [None] * 4
        )
        assert log.partition == 0
        recs = await collect(log, ["a"], Start.beginning())
        assert [(r.offset, r.value, r.key, r.timestamp_ms) for r in recs] == [
            (0, b"e0", None, 1000),
            (1, b"e1", b"k", 1000),
            (2, b"e2", None, 1000),
            (3, b"x0", None, 3000),
            (4, b"x1", b"k", 3000),
        ]
        assert all(r.partition == 0 and r.topic == "a" for r in recs)
        assert await log.watermarks("a") == {0: (0, 5)}
        assert await log.watermarks("b") == {0: (0, 2)}
        assert await log.watermarks("nope") == {}
        assert await log.list_topics() == ["a", "b"]
        assert await collect(log, ["a"], Start.end()) == []
        both = await collect(log, ["a", "b"], Start.beginning())
        assert sorted((r.topic, r.offset) for r in both) == [("a", i) for i in range(5)] + [
            ("b", 0),
            ("b", 1),
        ]
        # produce() without a timestamp stamps "now"
        before = int(time.time() * 1000)
        await log.produce(Batch.of([Message("c", b"{}")]))
        (rec,) = await collect(log, ["c"], Start.beginning())
        assert before <= rec.timestamp_ms <= int(time.time() * 1000)
        await log.close()

    run(main())


def test_url_spellings_name_the_same_directory(tmp_path: Path) -> None:
    """sqlite:///abs, sqlite:////abs (SQLAlchemy's spelling) and sqlite:///./rel all reach one log."""

    async def main() -> None:
        writer = open_log(f"sqlite://{tmp_path}/log")
        await writer.produce(Batch.of(msgs("t", 2)))
        await writer.close()
        os.chdir(tmp_path)
        for url in (
            f"sqlite:///{tmp_path}/log",
            f"sqlite:////{str(tmp_path).lstrip('/')}/log",
            "sqlite:///./log",
        ):
            reader = open_log(url)
            assert await reader.list_topics() == ["t"], url
            assert [r.value for r in await collect(reader, ["t"], Start.beginning())] == [b"e0", b"e1"], url
            await reader.close()

    cwd = os.getcwd()
    try:
        run(main())
    finally:
        os.chdir(cwd)


def test_restart_keeps_offsets_and_partition(tmp_path: Path) -> None:
    async def main() -> None:
        log = SQLiteLog(tmp_path)
        await log.produce(Batch.of(msgs("a", 3)))
        await log.close()
        log = SQLiteLog(tmp_path)
        await log.produce(Batch.of(msgs("a", 2)))
        assert log.partition == 0
        assert [r.offset for r in await collect(log, ["a"], Start.beginning())] == [0, 1, 2, 3, 4]
        await log.close()

    run(main())
