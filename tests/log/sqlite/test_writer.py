"""The SQLite write path: group commit, hasty, delivery timeout, several event loops, failed commits."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path

from eventplatform.errors import EventError
from eventplatform.log import Batch, Message, Start
from eventplatform.log.sqlite import SQLiteLog
from tests.log.sqlite.helpers import collect, msgs, run


def test_hasty_flush_and_group_commit(tmp_path: Path) -> None:
    async def main() -> None:
        log = SQLiteLog(tmp_path, synchronous="normal")
        assert await log.produce(Batch.of(msgs("h", 10)), hasty=True) == [None] * 10
        await log.flush()
        assert (await log.watermarks("h"))[0] == (0, 10)
        # many concurrent produce calls: every one acknowledged, offsets dense and unique
        outs = await asyncio.gather(
            *(log.produce(Batch.of(msgs("g", 5, prefix=f"{i}-"))) for i in range(200))
        )
        assert all(o == [None] * 5 for o in outs)
        recs = await collect(log, ["g"], Start.beginning())
        assert [r.offset for r in recs] == list(range(1000))
        assert len({r.value for r in recs}) == 1000
        await log.ensure_topics(["empty"])
        assert "empty" in await log.list_topics()
        assert await log.watermarks("empty") == {0: (0, 0)}
        await log.close()
        assert (await log.produce(Batch.of(msgs("h", 1))))[0].code == "log_unavailable"  # type: ignore[union-attr]

    run(main())


def test_delivery_timeout_and_columns(tmp_path: Path) -> None:
    """A call whose commit does not come within ``delivery_timeout`` gets DELIVERY_TIMEOUT (the write may
    still happen); calls queued behind it that commit in time succeed; the column form writes mixed topics.
    While another connection holds the write lock (retention does), the event loop is not blocked: the
    batch waits on the committer thread."""

    async def main() -> None:
        log = SQLiteLog(tmp_path / "log", delivery_timeout=0.3)
        part = log.claim()
        blocker = sqlite3.connect(log.directory / f"partition-{part}.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # like retention in another process: holds the write lock
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        t0 = time.monotonic()
        out = await log.produce(Batch.of(msgs("a", 2)))
        assert [type(o) for o in out] == [EventError, EventError] and time.monotonic() - t0 < 1.4
        assert out[0].code == "delivery_timeout"  # type: ignore[union-attr]
        assert ticks >= 5  # the loop kept running while the write lock was taken
        tick_task.cancel()
        blocker.execute("ROLLBACK")
        blocker.close()
        await log.flush(10)  # the timed-out call is committed once the lock is free
        out = await log.produce(Batch(["a", "b", "a"], [b"x", b"y", b"z"], [None, b"k", None], [5, None, 7]))
        assert out == [None, None, None]
        got = await collect(log, ["a", "b"], Start.beginning())
        assert [(r.topic, r.offset, r.value) for r in got] == [
            ("a", 0, b"e0"),
            ("a", 1, b"e1"),
            ("a", 2, b"x"),
            ("a", 3, b"z"),
            ("b", 0, b"y"),
        ]
        assert (got[2].timestamp_ms, got[3].timestamp_ms) == (5, 7)
        assert abs(got[4].timestamp_ms - time.time() * 1000) < 60_000  # None: the time of the produce call
        assert got[-1].key == b"k"
        # the watchdog (every min(1 s, timeout)) is gone once nothing is pending
        deadline = time.monotonic() + 5
        while log.describe()["watchdogs"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert log.describe()["watchdogs"] == 0
        await log.close()

    run(main())


def test_concurrent_calls_share_commits_and_fsyncs(tmp_path: Path) -> None:
    """Every produce call reaching the log in one loop iteration shares one transaction and one fsync;
    calls committed while an fsync runs share the next one."""

    async def main() -> None:
        log = SQLiteLog(tmp_path)
        log.claim()
        outs = await asyncio.gather(
            *(log.produce(Batch.of(msgs("g", 3, prefix=f"g{i}-"))) for i in range(200))
        )
        assert all(o == [None] * 3 for o in outs)
        assert log.counters["commits"] == 1 and log.counters["fsyncs"] == 1, log.counters

        # 8 producers, 50 calls each: never one commit or fsync per call
        async def producer(n: int) -> None:
            for b in range(50):
                assert await log.produce(Batch.of([Message("w", f"{n}-{b}".encode())])) == [None]

        await asyncio.gather(*(producer(n) for n in range(8)))
        counters = log.counters
        assert counters["commits"] <= 1 + 100 and counters["fsyncs"] <= counters["commits"], counters

        # arrivals spread over time: what arrives while an fsync runs waits and shares the next commit, so
        # there are about as many commits as fsyncs (not one commit per loop iteration)
        async def spread(n: int) -> None:
            rng = random.Random(n)
            for b in range(40):
                assert await log.produce(Batch.of([Message("s", f"s{n}-{b}".encode())])) == [None]
                await asyncio.sleep(rng.uniform(0, 0.002))

        before = log.counters
        await asyncio.gather(*(spread(n) for n in range(16)))
        commits = log.counters["commits"] - before["commits"]
        fsyncs = log.counters["fsyncs"] - before["fsyncs"]
        assert fsyncs < 640 and commits <= fsyncs * 1.5 + 2, (commits, fsyncs)
        recs = await collect(log, ["g", "w", "s"], Start.beginning())
        assert sorted(r.offset for r in recs if r.topic == "g") == list(range(600))
        assert sorted(r.offset for r in recs if r.topic == "w") == list(range(400))
        assert sorted(r.offset for r in recs if r.topic == "s") == list(range(640))
        assert len({r.value for r in recs}) == 1640
        await log.close()

    run(main())


def test_produce_from_two_event_loops(tmp_path: Path) -> None:
    """One log used from two event loops on two threads at once (and from asyncio.to_thread)."""

    async def produce_many(log: SQLiteLog, name: str) -> list[list[Exception | None]]:
        return await asyncio.gather(
            *(log.produce(Batch.of(msgs("x", 4, prefix=f"{name}{i}-"))) for i in range(150))
        )

    async def main() -> None:
        log = SQLiteLog(tmp_path)
        log.claim()

        def other_loop() -> list[list[Exception | None]]:
            return asyncio.run(produce_many(log, "t"))

        mine, theirs = await asyncio.gather(produce_many(log, "m"), asyncio.to_thread(other_loop))
        assert all(o == [None] * 4 for o in mine + theirs)
        await log.produce(Batch.of(msgs("x", 1, prefix="last")), hasty=True)
        await log.flush(10)
        recs = await collect(log, ["x"], Start.beginning())
        assert [r.offset for r in recs] == list(range(1201))
        assert len({r.value for r in recs}) == 1201
        await log.close()

    run(main())


def test_commit_error_fails_exactly_that_transaction(tmp_path: Path) -> None:
    """A transaction SQLite rejects fails the calls in it (LOG_UNAVAILABLE) and hands out no offsets;
    the next transaction commits normally."""

    async def main() -> None:
        log = SQLiteLog(tmp_path)
        log.claim()
        assert await log.produce(Batch.of(msgs("e", 2))) == [None, None]
        # one loop iteration, one transaction: the NULL value (NOT NULL column) fails both calls in it
        bad, also = await asyncio.gather(
            log.produce(Batch(["e"], [None], [None], [1])),  # type: ignore[list-item]
            log.produce(Batch.of(msgs("e", 1, prefix="same-tx"))),
        )
        for out in (bad, also):
            assert isinstance(out[0], EventError) and out[0].code == "log_unavailable", out
            assert "write failed" in str(out[0])
        assert await log.produce(Batch.of(msgs("e", 1, prefix="next"))) == [None]
        recs = await collect(log, ["e"], Start.beginning())
        assert [(r.offset, r.value) for r in recs] == [(0, b"e0"), (1, b"e1"), (2, b"next0")]
        await log.close()

    run(main())
