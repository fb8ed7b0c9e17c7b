"""Python client benchmark: ``python bench/client.py`` (see ``--help``).

1. The cost of one ``EventClient.submit`` in the caller's thread (check, stamp, copy, serialise, queue):
   median, p99 and max over ``--submits`` calls, with delivery idle (a client whose batches never leave) and
   while the background thread is delivering to intake (so both share the GIL).
2. Sustained delivery from one process to a local intake (``eventplatform serve``, durable SQLite log,
   ``--workers``): ``--events`` events submitted as fast as the queue takes them, then ``flush``; events/s
   is the count over the time from the first submit to the end of the flush, every event delivered (the
   client's counters are checked). The server's and the client's CPU time per event are printed too.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eventplatform.client import EventClient
from intake import free_port, proc_cpu_seconds, wait_ready  # bench/ is on sys.path when this file runs
from workload import SCHEMA, STREAM

logging.getLogger("eventplatform.client").setLevel(logging.ERROR)  # the idle client's close reports its queue


def event(i: int) -> dict[str, object]:
    return {
        "$schema": SCHEMA,
        "link_href": f"https://en.wikipedia.org/wiki/Special:Random/{i}",
        "link_title": "Random article",
    }


def submit_costs(client: EventClient, n: int) -> list[int]:
    """Nanoseconds per submit (the events are built beforehand: only submit is timed)."""
    events = [event(i) for i in range(n)]
    out = [0] * n
    clock = time.perf_counter_ns
    submit = client.submit
    for i in range(n):
        t0 = clock()
        submit(STREAM, events[i])
        out[i] = clock() - t0
    return out


def summary(ns: list[int]) -> str:
    ns = sorted(ns)
    p = lambda q: ns[min(len(ns) - 1, int(q * len(ns)))] / 1000  # noqa: E731
    return f"median {statistics.median(ns) / 1000:.2f} µs, p99 {p(0.99):.2f} µs, max {ns[-1] / 1000:.0f} µs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submits", type=int, default=200_000, help="submits timed one by one [200000]")
    ap.add_argument("--events", type=int, default=500_000, help="events delivered in the throughput run")
    ap.add_argument("--workers", type=int, default=2, help="workers of the started intake [2]")
    ap.add_argument("--batch-size", type=int, default=1000, help="client batch size [1000]")
    ap.add_argument("--in-flight", type=int, default=4, help="client batches in flight [4]")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)

    # 1. submit, delivery idle: nothing listens on the URL and linger is long, so nothing leaves the queue
    dead = f"http://127.0.0.1:{free_port()}/v1/events"
    idle = EventClient(dead, linger=3600, batch_size=10**9, batch_bytes=2**62, max_queue=args.submits + 1)
    costs = submit_costs(idle, args.submits)
    idle.close(timeout=0)
    print(f"submit, delivery idle ({args.submits:,} calls): {summary(costs)}", flush=True)

    tmp = tempfile.mkdtemp(prefix="bench-client-")
    port = free_port()
    exe = shutil.which("eventplatform", path=str(Path(sys.executable).parent)) or "eventplatform"
    cmd = [exe, "serve", "--port", str(port), "--workers", str(args.workers), "--log", f"sqlite:///{tmp}/log"]
    print("server:", " ".join(cmd), flush=True)
    server = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL)
    try:
        wait_ready("127.0.0.1", port)
        url = f"http://127.0.0.1:{port}/v1/events"
        opts = {
            "batch_size": args.batch_size,
            "max_in_flight": args.in_flight,
            "max_queue": 200_000,
            "batch_bytes": 4 * 1024 * 1024,
            "linger": 0.05,
        }

        # 2. submit while delivering
        with EventClient(url, **opts) as client:
            costs = submit_costs(client, args.submits)
            assert client.flush(300)
            busy = client.stats()
        assert busy["delivered"] == args.submits, busy
        print(f"submit, while delivering ({args.submits:,} calls): {summary(costs)}", flush=True)

        # 3. sustained delivery
        events = [event(i) for i in range(args.events)]
        srv0, cpu0 = proc_cpu_seconds(server.pid), time.process_time()
        with EventClient(url, **opts) as client:
            t0 = time.perf_counter()
            for e in events:
                client.submit(STREAM, e)
            assert client.flush(600)
            elapsed = time.perf_counter() - t0
            stats = client.stats()
        srv, cpu = proc_cpu_seconds(server.pid) - srv0, time.process_time() - cpu0
        assert stats["delivered"] == args.events and stats["overflow"] == 0, stats
        print(
            f"delivery: {args.events:,} events in {elapsed:.2f} s = {args.events / elapsed:,.0f} events/s "
            f"(batch {args.batch_size}, {args.in_flight} in flight, intake --workers {args.workers}); "
            f"CPU µs/event: client {cpu / args.events * 1e6:.1f}, server {srv / args.events * 1e6:.1f}",
            flush=True,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
