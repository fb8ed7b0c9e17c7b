"""Throughput and CPU cost of the SQLite log: one writer (one partition), batches of small events.

    .venv/bin/python bench/log_sqlite.py [--events N] [--batch 100] [--concurrency 64] [--synchronous full]
    .venv/bin/python bench/log_sqlite.py --scenarios 1x8,100x8 --repeat 3 --impl /tmp/old/src

Prints, per scenario (events per produce call x concurrent producers), events/s for acknowledged (durable)
produce calls and the CPU time of the whole process (``process_time``: every thread) per produce call and
per event, minus ``--work-us`` (CPU the bench burns on the event loop before each call, as a request's own
parsing and validation would). ``--think-ms`` spreads arrivals over time as a server's clients do. CPU
time is the figure to compare on a shared 2-core machine; wall-clock rates depend on the disk and on
whoever else is running. ``--impl SRC`` imports ``eventplatform`` from another checkout's ``src``
directory (e.g. ``git archive`` of an older commit) so that old and new can be run interleaved on the
same machine state.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from typing import Any

import orjson

if __name__ == "__main__" and "--impl" in sys.argv:  # before eventplatform is imported
    sys.path.insert(0, sys.argv[sys.argv.index("--impl") + 1])

from eventplatform.log.base import Message, Start
from eventplatform.log.sqlite import SQLiteLog


def small_event(i: int) -> bytes:
    return orjson.dumps(
        {
            "$schema": "/test/event/1.0.0",
            "meta": {"stream": "test.event", "dt": "2024-01-01T00:00:00Z", "id": f"id-{i}"},
            "test": "a small test event",
        }
    )


async def run(
    cls: Any,
    events: int,
    batch: int,
    concurrency: int,
    synchronous: str,
    directory: str,
    read: bool,
    work: float = 0.0,
    think: float = 0.0,
    work_ops: int = 0,
) -> dict[str, float]:
    log = cls(directory, synchronous=synchronous)
    messages = [Message("eqiad.test.event", small_event(i)) for i in range(batch)]
    payload: Any = messages
    if not hasattr(log, "produce_columns"):  # the log protocol v2 takes a Batch (older trees: messages)
        from eventplatform.log.base import Batch

        payload = Batch.of(messages)
    log.claim()
    batches = events // batch
    todo = iter(range(batches))

    rng = random.Random(1)
    # the request's own work on the event loop (parsing, validation), holding the GIL: a fixed number of
    # orjson round trips, calibrated in CPU time (not wall time, which other processes would stretch)
    sample = small_event(0)
    c0 = time.process_time()
    for _ in range(5000):
        orjson.dumps(orjson.loads(sample))
    per_op = (time.process_time() - c0) / 5000
    ops = round(work / per_op) if work else work_ops

    async def worker() -> None:
        for _ in todo:
            for _ in range(ops):
                orjson.dumps(orjson.loads(sample))
            out = await log.produce(payload)
            assert out[0] is None, out[0]
            if think:  # the client's round trip: arrivals spread over time instead of lockstep waves
                await asyncio.sleep(rng.uniform(0, think))

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if work:
        cpu -= batches * ops * per_op  # the simulated request work is not the log's
    n = batches * batch
    counters = getattr(log, "counters", None)
    extra = ""
    if counters:
        extra = (
            f"; {counters['commits']} commits, {counters['fsyncs']} fsyncs, "
            f"{counters['checkpoints']} checkpoints"
        )
    print(
        f"produce: {n} events in batches of {batch}, {concurrency} concurrent producers, "
        f"synchronous={synchronous}, work {work * 1e6:.0f} µs / {work_ops} ops (counted), "
        f"think {think * 1e3:g} ms: "
        f"{n / dt:,.0f} events/s ({dt:.2f} s); "
        f"CPU {cpu / batches * 1e6:,.1f} µs per produce call, {cpu / n * 1e6:.2f} µs per event{extra}",
        flush=True,
    )
    if read:
        t0 = time.perf_counter()
        count = 0
        async for _ in log.consume(["eqiad.test.event"], Start.beginning()):
            count += 1
        rdt = time.perf_counter() - t0
        print(f"consume: {count} events: {count / rdt:,.0f} events/s")
    await log.close()
    return {"call_us": cpu / batches * 1e6, "event_us": cpu / n * 1e6, "rate": n / dt}


def baseline(events: int, per_tx: int, synchronous: str, directory: str) -> None:
    """Raw sqlite3 executemany into the same table shape and pragmas: the ceiling for this machine."""
    conn = sqlite3.connect(f"{directory}/baseline.db", isolation_level=None)
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute(
        "CREATE TABLE t (offset INTEGER PRIMARY KEY, ts INTEGER NOT NULL, key BLOB, value BLOB NOT NULL)"
    )
    value = small_event(0)
    t0 = time.perf_counter()
    for start in range(0, events, per_tx):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO t (offset, ts, key, value) VALUES (?, ?, ?, ?)",
            ((start + i, 0, None, value) for i in range(per_tx)),
        )
        conn.execute("COMMIT")
    dt = time.perf_counter() - t0
    conn.close()
    print(f"baseline: raw sqlite3, {per_tx} rows per transaction: {events / dt:,.0f} rows/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--events", type=int, default=None, help="per scenario [default: 2000 calls' worth, min 20k]"
    )
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument(
        "--scenarios", default=None, help="BATCHxCONCURRENCY,... (e.g. 1x8,100x8); overrides the two above"
    )
    ap.add_argument("--repeat", type=int, default=1, help="run every scenario this many times")
    ap.add_argument("--synchronous", choices=["full", "normal"], default="full")
    ap.add_argument(
        "--work-us", type=float, default=0.0, help="CPU spent on the loop before each call (not counted)"
    )
    ap.add_argument(
        "--work-ops", type=int, default=0, help="orjson round trips on the loop before each call (counted)"
    )
    ap.add_argument(
        "--think-ms", type=float, default=0.0, help="each producer sleeps uniform(0, this) between calls"
    )
    ap.add_argument(
        "--impl", default=None, help="import eventplatform from this src directory (old/new comparisons)"
    )
    ap.add_argument(
        "--writer",
        choices=["inline", "thread"],
        default="inline",
        help="thread: the one-writer-thread-per-partition experiment (bench/sqlite_writer_thread.py)",
    )
    ap.add_argument("--read", action="store_true", help="also time reading everything back")
    ap.add_argument("--baseline", action="store_true", help="also time raw sqlite3 (same pragmas)")
    args = ap.parse_args()
    cls = SQLiteLog
    if args.writer == "thread":
        from sqlite_writer_thread import install  # bench/ is on sys.path when this file runs

        install()
    if args.scenarios:
        scenarios = [tuple(int(x) for x in s.split("x")) for s in args.scenarios.split(",")]
    else:
        scenarios = [(args.batch, args.concurrency)]
    for _ in range(args.repeat):
        for batch, concurrency in scenarios:
            events = args.events or max(20_000, 2000 * batch)
            with tempfile.TemporaryDirectory(dir=".") as d:
                asyncio.run(
                    run(
                        cls,
                        events,
                        batch,
                        concurrency,
                        args.synchronous,
                        d,
                        args.read,
                        args.work_us / 1e6,
                        args.think_ms / 1e3,
                        args.work_ops,
                    )
                )
                if args.baseline:
                    baseline(events, batch * concurrency, args.synchronous, d)


if __name__ == "__main__":
    main()
