"""SQLite reading: from timestamps and offsets (the sparse time index), following new records."""

from __future__ import annotations

import asyncio
from pathlib import Path

from eventplatform.log import Batch, Message, Record, Start
from eventplatform.log.sqlite import SQLiteLog
from tests.log.sqlite.helpers import collect, msgs, run


def test_consume_from_timestamp_and_offsets(tmp_path: Path) -> None:
    async def main() -> None:
        log = SQLiteLog(tmp_path)
        # timestamps are not monotonic (meta.dt comes from producers)
        stamps = [100, 300, 200, 400, 250, 500]
        for ts in stamps:
            await log.produce(Batch.of([Message("t", str(ts).encode(), timestamp_ms=ts)]))

        async def offsets(start: Start) -> list[int]:
            return [r.offset for r in await collect(log, ["t"], start)]

        assert await offsets(Start.at_time(0)) == [0, 1, 2, 3, 4, 5]
        assert await offsets(Start.at_time(250)) == [1, 2, 3, 4, 5]  # earliest offset with ts >= 250
        assert await offsets(Start.at_time(401)) == [5]
        assert await offsets(Start.at_time(10_000)) == []
        assert await offsets(Start.at_offsets({("t", 0): 4})) == [4, 5]
        assert await offsets(Start.at_offsets({("t", 0): 99})) == []  # clamped to the high-water mark
        assert await offsets(Start.at_offsets({("x", 0): 1}, fallback="beginning")) == [0, 1, 2, 3, 4, 5]
        assert await offsets(Start.at_offsets({}, fallback="end")) == []
        # retention moves the low watermark; offsets never restart
        assert await log.delete_before("t", 300) == 1
        assert await log.watermarks("t") == {0: (1, 6)}
        assert await offsets(Start.at_offsets({("t", 0): 0})) == [1, 2, 3, 4, 5]
        assert await offsets(Start.at_time(0)) == [1, 2, 3, 4, 5]
        assert await log.delete_before("t", 10_000) == 5
        assert await log.watermarks("t") == {0: (6, 6)}
        await log.produce(Batch.of([Message("t", b"again", timestamp_ms=600)]))
        assert await offsets(Start.beginning()) == [6]
        assert await offsets(Start.at_time(550)) == [6]
        await log.close()

    run(main())


def test_time_lookup_with_sparse_checkpoints(tmp_path: Path) -> None:
    stamps = [5, 1, 9, 2, 7, 3, 12, 4, 8, 20, 6, 15, 30, 10, 25]

    def expected(t: int, low: int = 0) -> list[int]:
        first = next((i for i, ts in enumerate(stamps) if i >= low and ts >= t), None)
        return [] if first is None else list(range(max(first, low), len(stamps)))

    async def main() -> None:
        log = SQLiteLog(tmp_path, index_every=3)
        for i in range(0, len(stamps), 2):  # commits of 2 records: checkpoints land inside the data
            await log.produce(Batch.of([Message("s", b"x", timestamp_ms=ts) for ts in stamps[i : i + 2]]))
        for t in [0, 1, 3, 6, 8, 9, 10, 13, 16, 21, 26, 30, 31]:
            got = [r.offset for r in await collect(log, ["s"], Start.at_time(t))]
            assert got == expected(t), t
        await log.close()
        # after a restart (running maximum rebuilt) and a retention cut the answers stay right
        log = SQLiteLog(tmp_path, index_every=3)
        await log.produce(Batch.of([Message("s", b"y", timestamp_ms=11)]))
        stamps.append(11)
        assert await log.delete_before("s", 9) == 2  # offsets 0 and 1 (5, 1) precede the first ts >= 9
        for t in [0, 9, 11, 13, 26]:
            got = [r.offset for r in await collect(log, ["s"], Start.at_time(t))]
            assert got == expected(t, low=2), t
        await log.close()

    run(main())


def test_follow_sees_new_records_and_partitions(tmp_path: Path) -> None:
    async def main() -> None:
        writer1 = SQLiteLog(tmp_path)
        await writer1.produce(Batch.of(msgs("a", 2)))
        reader = SQLiteLog(tmp_path)
        got: list[Record] = []

        async def follow() -> None:
            async for r in reader.consume(["a"], Start.end(), follow=True, poll_interval=0.02):
                got.append(r)
                if len(got) == 3:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.1)
        await writer1.produce(Batch.of(msgs("a", 1, prefix="new")))
        writer2 = SQLiteLog(tmp_path)  # a second writer in this process: partition 1
        await writer2.produce(Batch.of(msgs("a", 2, prefix="p1-")))
        assert writer2.partition == 1
        await asyncio.wait_for(task, 20)
        assert sorted((r.partition, r.offset, r.value) for r in got) == [
            (0, 2, b"new0"),
            (1, 0, b"p1-0"),
            (1, 1, b"p1-1"),
        ]
        assert reader.partition is None  # reading claims nothing
        assert await reader.watermarks("a") == {0: (0, 3), 1: (0, 2)}
        for log in (writer1, writer2, reader):
            await log.close()

    run(main())


def test_follow_discovers_partitions_under_steady_traffic(tmp_path: Path) -> None:
    async def main() -> None:
        busy = SQLiteLog(tmp_path, synchronous="normal")
        await busy.produce(Batch.of(msgs("a", 1)))
        reader = SQLiteLog(tmp_path)
        stop = asyncio.Event()

        async def steady() -> None:
            while not stop.is_set():
                await busy.produce(Batch.of(msgs("a", 20)))
                await asyncio.sleep(0)

        async def until_partition_1() -> Record:
            async for r in reader.consume(["a"], Start.beginning(), follow=True, poll_interval=0.01):
                if r.partition == 1:
                    return r
            raise AssertionError("consume ended")

        traffic = asyncio.create_task(steady())
        waiter = asyncio.create_task(until_partition_1())
        await asyncio.sleep(0.2)
        other = SQLiteLog(tmp_path, synchronous="normal")
        await other.produce(Batch.of([Message("a", b"from-1")]))
        rec = await asyncio.wait_for(waiter, 20)
        assert (rec.partition, rec.offset, rec.value) == (1, 0, b"from-1")
        stop.set()
        await traffic
        for log in (busy, other, reader):
            await log.close()

    run(main())
