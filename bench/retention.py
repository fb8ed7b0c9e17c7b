"""Retention's throughput: sanitize (rows/s, with HMAC hashing) over hourly Parquet partitions, and purge
of old records from the SQLite log (records/s), on temporary data.

    .venv/bin/python bench/retention.py --rows 200000 --hours 10 --log-records 200000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from eventplatform.log import Batch, open_log
from eventplatform.retention.allowlist import Allowlist
from eventplatform.retention.purge import Plan, Policy, execute, plan_log
from eventplatform.retention.salts import Salts
from eventplatform.retention.sanitize import sanitize
from eventplatform.streamconfig.config import StreamConfig

SCHEMA = pa.schema(
    [
        ("dt", pa.string()),
        ("link_title", pa.string()),
        ("meta", pa.struct([("id", pa.string()), ("domain", pa.string())])),
        ("http", pa.struct([("client_ip", pa.string())])),
        ("geocoded_data", pa.map_(pa.string(), pa.string())),
    ]
)
ALLOWLIST = (
    "t:\n  dt: keep\n  link_title: hash\n  meta:\n    domain: keep\n  geocoded_data:\n    country: keep\n"
)


def bench_sanitize(root: Path, rows: int, hours: int) -> None:
    lake = root / "lake"
    per = rows // hours
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for h in range(hours):
        when = start + timedelta(hours=h)
        d = (
            lake
            / "event"
            / "t"
            / f"datacenter=eqiad/year={when.year}/month={when.month}/day={when.day}/hour={when.hour}"
        )
        d.mkdir(parents=True)
        table = pa.Table.from_pylist(
            [
                {
                    "dt": when.isoformat(),
                    "link_title": f"title {i % 1000}",
                    "meta": {"id": f"id-{h}-{i}", "domain": "en.wikipedia.org"},
                    "http": {"client_ip": "192.0.2.1"},
                    "geocoded_data": [("country", "France"), ("city", "Paris")],
                }
                for i in range(per)
            ],
            schema=SCHEMA,
        )
        pq.write_table(table, d / "part-0.parquet")
    salts = Salts(root / "salts")
    salts.directory.mkdir()
    (salts.directory / "2026100100_2027010100_").write_text("a" * 64)
    t = time.perf_counter()
    report = sanitize(lake, Allowlist.parse(ALLOWLIST), salts)
    secs = time.perf_counter() - t
    n = sum(r for _, _, r in report.sanitized)
    print(f"sanitize: {n:,} rows in {len(report.sanitized)} hours, {secs:.2f} s: {n / secs:,.0f} rows/s")


async def bench_purge(root: Path, records: int) -> None:
    url = f"sqlite://{root}/log"
    log = open_log(url)
    old = int((datetime.now(UTC) - timedelta(days=100)).timestamp() * 1000)
    try:
        for first in range(0, records, 10_000):
            n = min(10_000, records - first)
            values = [orjson.dumps({"meta": {"id": str(first + i)}}) for i in range(n)]
            await log.produce(Batch.to("s", values, timestamps=[old + first + i for i in range(n)]))
        await log.produce(Batch.to("s", [b"{}"]))  # one young record stays
        policy = Policy(StreamConfig.from_document({"streams": {}}), 90, 1, datetime.now(UTC))
        t = time.perf_counter()
        plan = Plan(log=await plan_log(log, policy))
        planned = time.perf_counter() - t
        done = await execute(plan, lake=None, log=log)
        secs = time.perf_counter() - t
        print(
            f"purge: {done['records']:,} log records in {secs:.2f} s (plan {planned:.2f} s): "
            f"{done['records'] / secs:,.0f} records/s"
        )
    finally:
        await log.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--hours", type=int, default=10)
    ap.add_argument("--log-records", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_sanitize(Path(tmp), args.rows, args.hours)
        asyncio.run(bench_purge(Path(tmp), args.log_records))


if __name__ == "__main__":
    main()
