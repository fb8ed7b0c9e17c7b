"""CPU cost of the Kafka log alone: ``KafkaLog.produce`` of intake-sized batches against a broker.

    scripts/kafka.sh start --port 19092
    .venv/bin/python bench/log_kafka.py --log kafka://127.0.0.1:19092 [--batch 100] [--concurrency 16]
    PYTHONPATH=/path/to/old/src .venv/bin/python bench/log_kafka.py ...   # the same for another version

Keeps ``--concurrency`` guaranteed produce calls of ``--batch`` events in flight for ``--duration`` seconds
(as intake's workers do under load) and prints events/s acknowledged and the process's CPU time per event,
all threads (the event loop's share: producing; librdkafka's: compression, requests; the poll thread's:
delivery reports), best of ``--repeat``. CPU per event is the figure to compare on a shared machine: the
broker runs on it too and takes the wall-clock rate with it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import orjson

from eventplatform.log import Batch
from eventplatform.log.kafka import KafkaLog
from workload import event  # bench/ is on sys.path when this file runs


def values(n: int) -> list[bytes]:
    """Serialized events of intake's size (the bundled link-hover event with the metadata intake adds)."""
    out = []
    for i in range(n):
        e = event(i)
        e["meta"].update(id=str(uuid.uuid1()), dt="2024-03-15T19:05:00.456Z", request_id=str(uuid.uuid4()))
        e["http"] = {"request_headers": {"user-agent": "bench/log_kafka"}}
        out.append(orjson.dumps(e))
    return out


async def scenario(
    log: KafkaLog, topic: str, batch: int, concurrency: int, duration: float
) -> tuple[float, float]:
    """(events/s, CPU µs per event) of one timed run."""
    topics, vals = [topic] * batch, values(batch)
    keys: list[bytes | None] = [None] * batch
    stamps: list[int | None] = [1_710_529_500_456] * batch
    columns = Batch(topics, vals, keys, stamps)
    acked = 0
    deadline = 0.0

    async def producer() -> None:
        nonlocal acked
        while time.perf_counter() < deadline:
            out = await log.produce(columns)
            acked += out.count(None)

    await log.produce(columns)  # connect, create the topic, warm up
    deadline = time.perf_counter() + duration
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(producer() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return acked / wall, cpu / max(acked, 1) * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", default="kafka://127.0.0.1:19092", help="Kafka log URL [%(default)s]")
    ap.add_argument("--batch", type=int, default=100, help="events per produce call [100]")
    ap.add_argument("--concurrency", type=int, default=16, help="produce calls in flight [16]")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per run [5]")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the best CPU figure is printed [3]")
    args = ap.parse_args()
    log = KafkaLog.from_url(args.log)
    topic = f"bench.log_kafka.{uuid.uuid4().hex[:8]}"
    try:
        runs = [
            await scenario(log, topic, args.batch, args.concurrency, args.duration)
            for _ in range(args.repeat)
        ]
    finally:
        await log.close()
    rate, cpu = min(runs, key=lambda r: r[1])
    print(
        f"log_kafka: batch {args.batch} x {args.concurrency} in flight: {rate:,.0f} events/s, "
        f"{cpu:.2f} µs CPU per event (best of {args.repeat}; all runs: "
        + ", ".join(f"{c:.2f}" for _, c in runs)
        + ")"
    )


if __name__ == "__main__":
    asyncio.run(main())
