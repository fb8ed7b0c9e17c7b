"""Load generator for intake: ``python bench/intake.py`` (see ``--help``).

Starts ``eventplatform serve`` (durable SQLite log in a temporary directory, N workers) unless ``--url``
is given, then for each scenario (batch size x invalid fraction) keeps ``--connections`` HTTP/1.1
keep-alive connections busy for ``--duration`` seconds with pre-built request bytes, and prints events/s
accepted, requests/s, p50/p99 latency and the server's CPU time per accepted event.

The client is a uvloop ``asyncio.Protocol`` per connection (no HTTP library, no per-request allocation
beyond the response buffer) and can be spread over several processes (``--procs``), so that it costs the
machine as little as possible; its own CPU time is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from workload import event  # bench/ is on sys.path when this file runs

ROOT = Path(__file__).resolve().parents[1]


def build_request(host: str, port: int, path: str, batch: int, invalid_fraction: float, seed: int) -> bytes:
    n_invalid = round(batch * invalid_fraction)
    events = [event(seed * 1000 + i, valid=i >= n_invalid) for i in range(batch)]
    body = json.dumps(events[0] if batch == 1 else events, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"User-Agent: bench/intake\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class Conn(asyncio.Protocol):
    """One keep-alive connection: send, read one response (Content-Length framing), repeat."""

    def __init__(self, requests: list[bytes], stats: Stats, deadline: float) -> None:
        self.requests = requests
        self.stats = stats
        self.deadline = deadline
        self.buf = bytearray()
        self.i = 0
        self.t0 = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        req = self.requests[self.i % len(self.requests)]
        self.i += 1
        self.t0 = time.perf_counter()
        assert self.transport is not None
        self.transport.write(req)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end])
        length = 0
        lower = head.lower()
        k = lower.find(b"content-length:")
        if k >= 0:
            length = int(lower[k + 15 : lower.find(b"\r\n", k) if lower.find(b"\r\n", k) > 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        now = time.perf_counter()
        status = int(head[9:12])
        self.stats.record(status, now - self.t0)
        del self.buf[: end + 4 + length]
        if now >= self.deadline:
            assert self.transport is not None
            self.transport.close()
            return
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


@dataclass
class Stats:
    count: int = 0
    by_status: dict[int, int] | None = None
    latencies: list[float] | None = None

    def __post_init__(self) -> None:
        self.by_status = {}
        self.latencies = []

    def record(self, status: int, latency: float) -> None:
        self.count += 1
        assert self.by_status is not None and self.latencies is not None
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.latencies.append(latency)


async def _run_client(
    host: str, port: int, requests: list[bytes], connections: int, duration: float
) -> Stats:
    loop = asyncio.get_running_loop()
    stats = Stats()
    deadline = time.perf_counter() + duration
    conns = []
    for _ in range(connections):
        _, proto = await loop.create_connection(lambda: Conn(requests, stats, deadline), host, port)
        conns.append(proto)
    await asyncio.wait([c.done for c in conns], timeout=duration + 30)
    return stats


def _client_proc(args: tuple[str, int, list[bytes], int, float], out: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    host, port, requests, connections, duration = args
    t_cpu = time.process_time()
    stats = asyncio.run(_run_client(host, port, requests, connections, duration))
    out.put((stats.count, stats.by_status, stats.latencies, time.process_time() - t_cpu))


def proc_cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` and all its live descendants (from /proc), plus reaped children's time."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    seen = set()
    while pids:
        p = pids.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            pids.extend(int(c) for c in children)
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_scenario(
    host: str,
    port: int,
    server_pid: int | None,
    batch: int,
    invalid: float,
    connections: int,
    duration: float,
    procs: int,
) -> dict[str, float]:
    variants = 10 if (batch == 1 and invalid > 0) else 1
    requests: list[bytes] = []
    for v in range(variants):
        frac = 1.0 if (variants > 1 and v < round(invalid * variants)) else (0.0 if variants > 1 else invalid)
        requests.append(build_request(host, port, "/v1/events", batch, frac, v))
    per_proc = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    cpu0 = proc_cpu_seconds(server_pid) if server_pid else 0.0
    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    workers = [
        mp.Process(target=_client_proc, args=((host, port, requests, c, duration), queue))
        for c in per_proc
        if c
    ]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    results = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    cpu1 = proc_cpu_seconds(server_pid) if server_pid else 0.0
    count = sum(r[0] for r in results)
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r[1].items():
            statuses[k] = statuses.get(k, 0) + v
    lat = sorted(x for r in results for x in r[2])
    client_cpu = sum(r[3] for r in results)
    accepted_per_req = batch - round(batch * invalid) if batch > 1 else 1
    if batch == 1:
        accepted = statuses.get(201, 0)
    else:
        accepted = (statuses.get(201, 0) + statuses.get(207, 0)) * accepted_per_req
    eff = duration  # requests are issued for `duration` seconds
    return {
        "batch": batch,
        "invalid": invalid,
        "connections": connections,
        "requests": count,
        "req_s": count / eff,
        "events_s": accepted / eff,
        "p50_ms": lat[len(lat) // 2] * 1000 if lat else float("nan"),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan"),
        "server_cpu_us_per_event": (cpu1 - cpu0) / accepted * 1e6
        if accepted and server_pid
        else float("nan"),
        "client_cpu_s": client_cpu,
        "elapsed_s": elapsed,
        "statuses": statuses,  # type: ignore[dict-item]
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"GET /_info HTTP/1.1\r\nHost: x\r\n\r\n")
            if s.recv(100).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on {host}:{port} did not become ready")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="benchmark a running intake (http://HOST:PORT) instead of starting one")
    ap.add_argument("--server-pid", type=int, help="with --url: pid of the server, for CPU time per event")
    ap.add_argument("--workers", type=int, default=2, help="workers of the started server [2]")
    ap.add_argument("--log", help="log URL of the started server [sqlite in a temp dir]")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per scenario [10]")
    ap.add_argument("--connections", type=int, default=16, help="concurrent connections [16]")
    ap.add_argument("--procs", type=int, default=1, help="load generator processes [1]")
    ap.add_argument("--batches", default="1,10,100", help="batch sizes [1,10,100]")
    ap.add_argument("--invalid", default="0,0.1", help="invalid fractions [0,0.1]")
    ap.add_argument("--json", action="store_true", help="print one JSON line per scenario")
    args = ap.parse_args()

    tmp = None
    server = None
    if args.url:
        u = urlsplit(args.url)
        host, port, server_pid = u.hostname or "127.0.0.1", u.port or 80, args.server_pid
    else:
        tmp = tempfile.mkdtemp(prefix="bench-intake-")
        host, port = "127.0.0.1", free_port()
        exe = shutil.which("eventplatform", path=str(Path(sys.executable).parent)) or "eventplatform"
        log = args.log or f"sqlite:///{tmp}/log"
        cmd = [exe, "serve", "--port", str(port), "--workers", str(args.workers), "--log", log]
        print("server:", " ".join(cmd), file=sys.stderr)
        server = subprocess.Popen(cmd, cwd=tmp)
        server_pid = server.pid
        wait_ready(host, port)
    try:
        rows = []
        hdr = f"{'batch':>5} {'invalid':>7} {'conns':>5} {'events/s':>10} {'req/s':>9} "
        hdr += f"{'p50 ms':>7} {'p99 ms':>7} "
        hdr += f"{'srv CPU µs/ev':>13} {'client CPU s':>12}  statuses"
        if not args.json:
            print(hdr)
        for batch in (int(b) for b in args.batches.split(",")):
            for invalid in (float(x) for x in args.invalid.split(",")):
                r = run_scenario(
                    host, port, server_pid, batch, invalid, args.connections, args.duration, args.procs
                )
                rows.append(r)
                if args.json:
                    print(json.dumps(r), flush=True)
                else:
                    print(
                        f"{batch:>5} {invalid:>7.0%} {args.connections:>5} {r['events_s']:>10,.0f} "
                        f"{r['req_s']:>9,.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
                        f"{r['server_cpu_us_per_event']:>13.1f} {r['client_cpu_s']:>12.1f}  {r['statuses']}",
                        flush=True,
                    )
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
