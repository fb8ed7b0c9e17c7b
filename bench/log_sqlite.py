"""Throughput of the SQLite log: one writer (one partition), batches of small events, group commit.

    .venv/bin/python bench/log_sqlite.py [--events N] [--batch 100] [--concurrency 64] [--synchronous full]

Prints events/s for acknowledged (durable) produce calls, and the read-back rate.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time

import orjson

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


async def run(events: int, batch: int, concurrency: int, synchronous: str, directory: str) -> None:
    log = SQLiteLog(directory, synchronous=synchronous)
    payload = [Message("eqiad.test.event", small_event(i)) for i in range(batch)]
    log.claim()
    batches = events // batch
    todo = iter(range(batches))

    async def worker() -> None:
        for _ in todo:
            out = await log.produce(payload)
            assert out[0] is None

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    n = batches * batch
    print(
        f"produce: {n} events in batches of {batch}, {concurrency} concurrent producers, "
        f"synchronous={synchronous}: {n / dt:,.0f} events/s ({dt:.2f} s); "
        f"CPU {cpu / batches * 1e6:,.1f} µs per produce call, {cpu / n * 1e6:.2f} µs per event"
    )
    t0 = time.perf_counter()
    count = 0
    async for _ in log.consume(["eqiad.test.event"], Start.beginning()):
        count += 1
    dt = time.perf_counter() - t0
    print(f"consume: {count} events: {count / dt:,.0f} events/s")
    await log.close()


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
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--synchronous", choices=["full", "normal"], default="full")
    ap.add_argument("--baseline", action="store_true", help="also time raw sqlite3 (same pragmas)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as d:
        asyncio.run(run(args.events, args.batch, args.concurrency, args.synchronous, d))
        if args.baseline:
            baseline(args.events, args.batch * args.concurrency, args.synchronous, d)


if __name__ == "__main__":
    main()
