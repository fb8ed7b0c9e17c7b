"""Refine throughput and peak memory: N events across S streams in a SQLite log, then one refine run.

    .venv/bin/python bench/refine.py [--events 2000000] [--streams 5] [--hours 24] [--engine local|spark]
        [--log-dir DIR] [--keep]

Events are link_hover events (the bundled schema) with a user agent, a domain and ``meta.dt`` spread over
``--hours`` hours; 1% are duplicates of an earlier ``meta.id`` and 0.1% canaries. The log is written once
(and reused with ``--log-dir``, so runs with another engine compare on the same input); the figure is the
refine run alone: events/s (wall), CPU seconds of the process and its children, and peak memory: the max RSS
of the largest process (getrusage), and the summed RSS of the process tree (workers, Spark's JVM), sampled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from eventplatform.log import Batch, open_log

UAS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Version/17.1 Mobile",
    "WikipediaApp/7.4.1 (Android 14; Phone) Google Play",
]
DOMAINS = [
    "en.wikipedia.org",
    "de.m.wikipedia.org",
    "www.wikidata.org",
    "commons.wikimedia.org",
    "example.org",
]


def stream_config(path: Path, streams: list[str]) -> None:
    doc = {"streams": {s: {"schema_title": "analytics/link_hover"} for s in streams}}
    path.write_bytes(orjson.dumps(doc))


async def fill(url: str, streams: list[str], n: int, hours: int) -> None:
    log = open_log(url)
    rnd = random.Random(1)
    base = 1_767_225_600  # 2026-01-01T00:00:00Z
    batch = 5_000
    ids: list[str] = []
    try:
        for start in range(0, n, batch):
            topics, values = [], []
            for _ in range(min(batch, n - start)):
                stream = rnd.choice(streams)
                t = base + rnd.randrange(hours * 3600)
                dt = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{rnd.randrange(1000):03d}Z"
                r = rnd.random()
                eid = rnd.choice(ids) if r < 0.01 and ids else str(uuid.UUID(int=rnd.getrandbits(128)))
                ids.append(eid)
                if len(ids) > 1000:
                    ids = ids[-500:]
                domain = "canary" if r > 0.999 else rnd.choice(DOMAINS)
                event = {
                    "$schema": "/analytics/link_hover/1.0.0",
                    "meta": {
                        "stream": stream,
                        "dt": dt,
                        "id": eid,
                        "domain": domain,
                        "request_id": str(uuid.UUID(int=rnd.getrandbits(128))),
                    },
                    "dt": dt,
                    "http": {
                        "client_ip": f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}",
                        "request_headers": {"user-agent": rnd.choice(UAS)},
                    },
                    "link_href": f"mw:Special:Page/{rnd.randrange(100000)}",
                    "link_title": f"Title {rnd.randrange(100000)}",
                }
                topics.append(stream)
                values.append(orjson.dumps(event))
            batch_ = Batch(topics, values, [None] * len(values), [None] * len(values))
            outcomes = await log.produce(batch_)
            assert all(o is None for o in outcomes)
    finally:
        await log.close()


def _watch(proc: subprocess.Popen[str]) -> int:
    """Peak of the summed RSS of ``proc`` and its descendants (workers, a JVM), sampled every 20 ms."""
    import psutil

    peak = 0
    try:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            total = 0
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak = max(peak, total)
            time.sleep(0.02)
    except psutil.Error:
        pass
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--streams", type=int, default=5)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--engine", choices=["local", "spark"], default="local")
    ap.add_argument("--log-dir", default=None, help="reuse (or create) the log here")
    ap.add_argument("--keep", action="store_true", help="keep the lake (printed)")
    ap.add_argument("--workers", type=int, default=None, help="refine --workers (default: the CPU count)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-refine-"))
    streams = [f"bench.stream_{i}" for i in range(args.streams)]
    log_dir = Path(args.log_dir) if args.log_dir else work / "log"
    url = f"sqlite:///{log_dir}"
    config = work / "streams.json"
    stream_config(config, streams)
    if not (log_dir / "partition-0.db").exists():
        began = time.perf_counter()
        asyncio.run(fill(url, streams, args.events, args.hours))
        print(f"log written: {args.events:,} events in {time.perf_counter() - began:.1f} s ({log_dir})")
    lake = work / "lake"
    cmd = [
        sys.executable,
        "-m",
        "eventplatform",
        "refine",
        "--log",
        url,
        "--lake",
        str(lake),
        "--stream-config",
        str(config),
        "--engine",
        args.engine,
    ]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree_peak = _watch(proc)
    out, err = proc.communicate()
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"refine failed:\n{err[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_mb = after.ru_maxrss / 1024
    print(out.strip())
    print(
        f"engine {args.engine}: {args.events:,} events in {wall:.1f} s = {args.events / wall:,.0f} events/s, "
        f"{cpu:.1f} CPU s ({args.events / cpu:,.0f} events per CPU second), peak memory {peak_mb:,.0f} MB "
        f"(largest process), {tree_peak / 2**20:,.0f} MB (all its processes together, sampled), "
        f"load {load:.2f} at the start"
    )
    if args.keep:
        print(f"lake: {lake}")
    else:
        shutil.rmtree(lake, ignore_errors=True)
    if not args.log_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
