"""Fan-out of the live streams under a steady intake load: ``python bench/eventstreams.py`` (see ``--help``).

Starts ``eventplatform serve`` (intake, SQLite log in a temporary directory) and ``eventplatform
eventstreams`` (the read side, its own process, as deployed), opens ``--clients`` SSE connections to one
stream, posts ``--rate`` events/s to intake (batches every 100 ms, each event carrying its send time), and
prints every ``--report`` seconds and at the end: deliveries/s over all clients, post-to-receive latency
p50/p99 (measured on every ``--sample``-th client, which parses its events; the others count frames with
``bytes.count``), the read side's RSS and CPU, and the RSS slope (MB/min) after the first minute.

The clients are uvloop ``asyncio.Protocol`` objects (no HTTP library) in ``--procs`` processes; the load
generator is a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import queue as queue_module
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("eventplatform"))
STREAM = "mediawiki.interwiki_link_hover"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reader(asyncio.Protocol):
    """One SSE connection: counts ``data:`` frames; a sampling reader also parses them for latency."""

    def __init__(self, request: bytes, stats: Stats, sample: bool) -> None:
        self.request = request
        self.stats = stats
        self.sample = sample
        self.tail = b""
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self.opened.set_result(None)
        if not self.sample:  # count only: the frames' start, also across two reads
            self.stats.deliveries += (self.tail + data).count(b"\ndata: ")
            self.tail = data[-6:]
            return
        buf = self.tail + data
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self.tail = buf
            return
        whole, self.tail = buf[: cut + 2], buf[cut + 2 :]
        self.stats.deliveries += whole.count(b"\ndata: ")
        if self.sample:
            now = time.time_ns()
            for line in whole.split(b"\n"):
                if line.startswith(b"data: "):
                    i = line.find(b'"link_title":"')
                    if i > 0:
                        sent = int(line[i + 14 : line.index(b'"', i + 14)])
                        self.stats.latencies.append((now - sent) / 1e6)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.stats.lost += 1


class Stats:
    def __init__(self) -> None:
        self.deliveries = 0
        self.latencies: list[float] = []
        self.lost = 0
        self.posted = 0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def start(args: list[str], workdir: Path, url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
    proc = subprocess.Popen(
        [EXE, *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / f"{args[0]}.stderr").open("wb"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{args[0]} exited: {(workdir / f'{args[0]}.stderr').read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/_info", timeout=1).status_code == 200:
                return proc
        time.sleep(0.1)
    raise SystemExit(f"{args[0]} did not start")


async def post_load(url: str, rate: int, deadline: float, stats: Stats) -> None:
    """``rate`` events/s in batches every 100 ms, each event's link_title its send time (ns)."""
    per_batch = max(1, rate // 10)
    async with httpx.AsyncClient(timeout=30) as client:
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            now_ns = time.time_ns()
            events = [
                {
                    "$schema": "/analytics/link_hover/1.0.0",
                    "meta": {"stream": STREAM},
                    "link_href": "https://example.org/bench",
                    "link_title": str(now_ns),
                }
                for _ in range(per_batch)
            ]
            r = await client.post(url + "/v1/events", json=events)
            if r.status_code == 201:
                stats.posted += per_batch
            next_at += 0.1
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def readers(n: int, first: int, opts: argparse.Namespace, streams_url: str, out: mp.Queue) -> None:
    """One client process: ``n`` readers; every ``report`` seconds their deliveries and latencies."""
    loop = asyncio.get_running_loop()
    host, port = streams_url.removeprefix("http://").split(":")
    request = (
        f"GET /v2/stream/{STREAM} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    stats = Stats()
    conns = []
    for i in range(first, first + n):
        reader = Reader(request, stats, sample=i % opts.sample == 0)
        await loop.create_connection(lambda r=reader: r, host, int(port))
        conns.append(reader)
    await asyncio.wait_for(asyncio.gather(*(r.opened for r in conns)), 120)
    out.put(("open", n))
    deadline = time.monotonic() + opts.duration + opts.report
    while time.monotonic() < deadline:
        await asyncio.sleep(opts.report / 5)
        out.put(("stats", stats.deliveries, stats.latencies, stats.lost))
        stats.deliveries, stats.latencies = 0, []


def reader_process(n: int, first: int, opts: argparse.Namespace, streams_url: str, out: mp.Queue) -> None:
    import uvloop

    uvloop.run(readers(n, first, opts, streams_url, out))


def load_process(intake_url: str, opts: argparse.Namespace, out: mp.Queue) -> None:
    stats = Stats()
    asyncio.run(post_load(intake_url, opts.rate, time.monotonic() + opts.duration, stats))
    out.put(("posted", stats.posted))


def run(opts: argparse.Namespace, streams_url: str, proc: psutil.Process, intake_url: str) -> dict:
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    share = [opts.clients // opts.procs + (i < opts.clients % opts.procs) for i in range(opts.procs)]
    children = [
        ctx.Process(target=reader_process, args=(n, sum(share[:i]), opts, streams_url, queue), daemon=True)
        for i, n in enumerate(share)
    ]
    for c in children:
        c.start()
    opened = 0
    while opened < opts.clients:
        kind, *rest = queue.get(timeout=180)
        if kind == "open":
            opened += rest[0]
    load = ctx.Process(target=load_process, args=(intake_url, opts, queue), daemon=True)
    t0 = time.monotonic()
    load.start()
    cpu0 = sum(proc.cpu_times()[:2])
    rss: list[tuple[float, float]] = []
    rows = []
    posted = 0
    deliveries, lost, latencies, last_t = 0, 0, [], t0
    while time.monotonic() < t0 + opts.duration:
        end = min(last_t + opts.report, t0 + opts.duration)
        while (left := end - time.monotonic()) > 0:
            with contextlib.suppress(queue_module.Empty):
                kind, *rest = queue.get(timeout=left)
                if kind == "stats":
                    deliveries += rest[0]
                    latencies += rest[1]
                    lost = max(lost, rest[2])
                elif kind == "posted":
                    posted = rest[0]
        now = time.monotonic()
        mem = proc.memory_info().rss / 2**20
        rss.append((now - t0, mem))
        row = {
            "t": round(now - t0),
            "deliveries_per_s": round(deliveries / (now - last_t)),
            "p50_ms": round(pct(latencies, 0.5), 1),
            "p99_ms": round(pct(latencies, 0.99), 1),
            "rss_mb": round(mem, 1),
            "lost": lost,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        deliveries, latencies, last_t = 0, [], now
    load.join(30)
    while not queue.empty():
        kind, *rest = queue.get()
        if kind == "posted":
            posted = rest[0]
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    for c in children:
        c.terminate()
        c.join()
    late = [(t, m) for t, m in rss if t >= 60] or rss
    minutes = (late[-1][0] - late[0][0]) / 60 if len(late) > 1 else 0
    slope = (late[-1][1] - late[0][1]) / minutes if minutes else 0.0
    steady = rows[1:] or rows
    return {
        "clients": opts.clients,
        "rate": opts.rate,
        "duration_s": opts.duration,
        "client_procs": opts.procs,
        "posted": posted,
        "deliveries_per_s": round(sum(r["deliveries_per_s"] for r in steady) / len(steady)),
        "p50_ms_median": sorted(r["p50_ms"] for r in steady)[len(steady) // 2],
        "p99_ms_max": max(r["p99_ms"] for r in steady),
        "rss_start_mb": round(rss[0][1], 1) if rss else None,
        "rss_end_mb": round(rss[-1][1], 1) if rss else None,
        "rss_slope_mb_per_min_after_1min": round(slope, 2),
        "server_cpu_s_per_s": round(cpu / opts.duration, 2),
        "connections_lost": lost,
        "load": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=int, default=100, help="events/s posted to intake")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--report", type=float, default=10.0, help="seconds between progress lines")
    parser.add_argument("--sample", type=int, default=50, help="every N-th client measures latency")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill` still stops the servers (finally)
    workdir = Path(tempfile.mkdtemp(prefix="bench-eventstreams-"))
    (workdir / "eventplatform.yaml").write_text(
        "eventstreams: {client_ip_connection_limit: 0, connection_limit: 0}\n"
    )
    log = f"sqlite://{workdir / 'log'}"
    intake_port, streams_port = free_port(), free_port()
    intake_url, streams_url = f"http://127.0.0.1:{intake_port}", f"http://127.0.0.1:{streams_port}"
    procs = []
    try:
        procs.append(
            start(["serve", "--port", str(intake_port), "--workers", "1", "--log", log], workdir, intake_url)
        )
        procs.append(start(["eventstreams", "--port", str(streams_port), "--log", log], workdir, streams_url))
        result = run(opts, streams_url, psutil.Process(procs[1].pid), intake_url)
        print(json.dumps(result))
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
