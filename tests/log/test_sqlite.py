"""SQLiteLog: offsets, consume from offsets/timestamps/end, follow, partitions across processes, SIGKILL."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from eventplatform.errors import EventError
from eventplatform.log import Batch, EventLog, Message, Record, Start, open_log
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


def test_retention_from_another_process_view(tmp_path: Path) -> None:
    async def main() -> None:
        w0, w1 = SQLiteLog(tmp_path), SQLiteLog(tmp_path)
        await w0.produce(Batch.of(msgs("r", 4, ts=100) + msgs("r", 2, ts=900, prefix="late")))
        await w1.produce(Batch.of(msgs("r", 3, ts=100)))
        janitor = SQLiteLog(tmp_path)  # claims nothing, purges every partition
        assert await janitor.delete_before("r", 500) == 7
        assert janitor.partition is None
        assert await janitor.watermarks("r") == {0: (4, 6), 1: (3, 3)}
        await w0.produce(
            Batch.of(msgs("r", 1, ts=1000, prefix="after"))
        )  # the writer carries on, offsets too
        assert [(r.offset, r.value) for r in await collect(janitor, ["r"], Start.beginning())] == [
            (4, b"late0"),
            (5, b"late1"),
            (6, b"after0"),
        ]
        assert await janitor.delete_before("nope", 500) == 0
        for log in (w0, w1, janitor):
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


def test_explicit_partition_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    async def main() -> None:
        a = SQLiteLog.from_url(f"sqlite://{tmp_path}?partition=3&synchronous=normal")
        assert a.claim() == 3
        b = SQLiteLog(tmp_path, partition=3)
        out = await b.produce(Batch.of(msgs("a", 2)))
        assert all(isinstance(o, EventError) and o.code == "log_unavailable" for o in out)
        assert "held by another process" in str(out[0])
        await a.close()
        await b.close()
        with pytest.raises(ValueError):
            SQLiteLog(tmp_path, synchronous="sometimes")
        assert SQLiteLog.from_url("sqlite:///./rel/dir").directory.resolve() == tmp_path / "rel" / "dir"
        (tmp_path / "sub").mkdir()
        monkeypatch.chdir(tmp_path / "sub")
        up = SQLiteLog.from_url("sqlite:///../rel?synchronous=normal", create=False)
        assert up.directory.resolve() == tmp_path / "rel" and up.synchronous == "normal"

    run(main())


PRODUCER = textwrap.dedent(
    """
    import asyncio, sys
    from eventplatform.log import Batch, Message
    from eventplatform.log.sqlite import SQLiteLog

    async def main(directory, name, batches, sync):
        log = SQLiteLog(directory, synchronous=sync)
        if name != "p":  # claim first, then wait for "go" so that both writers overlap
            sys.stdout.write(f"claimed {log.claim()}\\n")
            sys.stdout.flush()
            sys.stdin.readline()
        for b in range(batches):
            batch = [Message("dur", f"{name}-{b}-{i}".encode()) for i in range(50)]
            out = await log.produce(Batch.of(batch))
            assert out == [None] * 50, out
            sys.stdout.write(f"{b}\\n")
            sys.stdout.flush()
        await log.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    """
)


def _spawn(directory: Path, name: str, batches: int, sync: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PRODUCER, str(directory), name, str(batches), sync],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_sigkill_keeps_every_acknowledged_event(tmp_path: Path, sync: str) -> None:
    proc = _spawn(tmp_path, "p", 1_000_000, sync)
    acked = -1
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while acked < 30 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "producer died"
        acked = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # lines written before the kill but not read yet are acknowledged too
    rest = proc.stdout.read()
    for line in rest.split():
        acked = int(line)
    assert proc.returncode == -signal.SIGKILL

    async def main() -> set[bytes]:
        log = SQLiteLog(tmp_path)
        values = {r.value for r in await collect(log, ["dur"], Start.beginning())}
        await log.close()
        return values

    values = run(main())
    missing = [
        f"p-{b}-{i}" for b in range(acked + 1) for i in range(50) if f"p-{b}-{i}".encode() not in values
    ]
    assert not missing, missing[:5]
    assert acked >= 30


def test_two_processes_two_partitions(tmp_path: Path) -> None:
    procs = [_spawn(tmp_path, name, 40, "normal") for name in ("a", "b")]
    claimed = set()
    for p in procs:
        assert p.stdout is not None
        claimed.add(p.stdout.readline().strip())
    assert claimed == {"claimed 0", "claimed 1"}
    for p in procs:
        out, err = p.communicate("go\n", timeout=60)
        assert p.returncode == 0, err
        assert out.split()[-1] == "39"

    async def main() -> None:
        log = SQLiteLog(tmp_path)
        recs = await collect(log, ["dur"], Start.beginning())
        assert len(recs) == 2 * 40 * 50
        by_part: dict[int, list[int]] = {}
        for r in recs:
            by_part.setdefault(r.partition, []).append(r.offset)
        assert sorted(by_part) == [0, 1]
        for offsets in by_part.values():
            assert offsets == list(range(40 * 50))  # dense from 0, in order within a partition
        assert {r.value.split(b"-")[0] for r in recs} == {b"a", b"b"}
        marks = await log.watermarks("dur")
        assert marks == {0: (0, 2000), 1: (0, 2000)}
        await log.close()

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


def test_wal_is_checkpointed_under_sustained_writes(tmp_path: Path) -> None:
    """With the automatic checkpoint off, the checkpointer thread keeps the WAL bounded while writes go on,
    and close() leaves a database that holds everything without its WAL."""

    async def main() -> None:
        log = SQLiteLog(tmp_path, synchronous="normal", checkpoint_pages=100)
        wal = tmp_path / f"partition-{log.claim()}.db-wal"
        biggest = 0
        for i in range(2000):  # one commit each: a 16 KiB WAL frame at least, 32 MB without checkpoints
            await log.produce(Batch.of([Message("c", f"{i}".encode())]))
            if i % 50 == 0:
                biggest = max(biggest, wal.stat().st_size)
        assert log.counters["checkpoints"] >= 5, log.counters
        # restarts keep the WAL far below 2000 frames (a few hundred while the checkpointer catches up)
        assert biggest < 1000 * 16_408, biggest
        await log.close()
        assert not wal.exists() or wal.stat().st_size == 0  # SQLite checkpointed and removed it at close
        reader = SQLiteLog(tmp_path)
        assert [r.value for r in await collect(reader, ["c"], Start.beginning())] == [
            f"{i}".encode() for i in range(2000)
        ]
        await reader.close()

    run(main())


def test_fsync_failure_fails_the_waiting_calls(tmp_path: Path) -> None:
    """A failed fsync fails every call waiting on it with LOG_UNAVAILABLE, and the partition takes no
    more writes (a later fsync could not vouch for them); re-opening the log recovers."""

    broken = False

    def fsync(fd: int) -> None:
        if broken:
            raise OSError(5, "Input/output error")
        os.fdatasync(fd)

    async def main() -> None:
        nonlocal broken
        log = SQLiteLog(tmp_path, fsync=fsync)
        log.claim()
        assert await log.produce(Batch.of(msgs("f", 2))) == [None, None]
        broken = True
        outs = await asyncio.gather(*(log.produce(Batch.of(msgs("f", 2))) for _ in range(5)))
        for out in outs:
            assert all(isinstance(o, EventError) and o.code == "log_unavailable" for o in out), out
            assert "fsync failed" in str(out[0])
        later = await log.produce(Batch.of(msgs("f", 1)))
        assert isinstance(later[0], EventError) and later[0].code == "log_unavailable"
        with pytest.raises(EventError):
            await log.flush(5)
        await log.close()
        again = SQLiteLog(tmp_path)
        assert await again.produce(Batch.of(msgs("f", 1, prefix="ok"))) == [None]
        await again.close()

    run(main())


def test_hasty_then_flush_is_durable(tmp_path: Path) -> None:
    """Hasty calls return at once and are committed at the next loop iteration; flush() waits for their
    commit and, with synchronous=full, for an fsync after it."""

    async def main() -> None:
        log = SQLiteLog(tmp_path)
        log.claim()
        for i in range(20):
            assert await log.produce(Batch.of(msgs("h", 5, prefix=f"{i}-")), hasty=True) == [None] * 5
        assert log.counters["fsyncs"] == 0  # nobody waited for durability yet
        await log.flush(10)
        assert log.counters["fsyncs"] == 1
        assert (await log.watermarks("h"))[0] == (0, 100)
        await log.ensure_topics(["later"])
        assert "later" in await log.list_topics()
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
