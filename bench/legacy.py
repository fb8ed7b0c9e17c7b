"""Legacy EventLogging figures: ``python bench/legacy.py`` (see ``--help``).

1. **Beacons over HTTP** (needs ``wrk``): starts ``eventplatform serve`` (SQLite log in a temporary
   directory, ``--workers``), then runs ``wrk`` for ``--duration`` seconds against
   ``GET /beacon/event?<capsule>;`` and, for comparison, ``POST /v1/events`` with the same event as JSON;
   prints requests/s and latency of both (every request is one event, durable before the answer).
2. **The MariaDB sink**: ``--events`` legacy events produced through intake's pipeline into a fresh log, then
   ``eventplatform legacy mysql`` into a fresh database: events/s of the whole command (wall clock,
   process start included) and of its batches. Uses ``--db`` (a server URL; a database of its own is
   created) or starts one with ``scripts/mariadb.sh`` in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("eventplatform"))
CAPSULE = {
    "schema": "NavigationTiming",
    "revision": 10785754,
    "wiki": "enwiki",
    "webHost": "en.wikipedia.org",
    "event": {
        "isAnon": True,
        "pageId": 15580374,
        "responseStart": 321,
        "domComplete": 1620,
        "action": "view",
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, duration: float, connections: int, script: str | None = None) -> dict[str, float]:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
    if script:
        args += ["-s", script]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "rps": rps,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def bench_http(args: argparse.Namespace, work: Path) -> dict[str, dict[str, float]]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the HTTP figures (apt-get install wrk), or use --skip-http")
    port = free_port()
    serve = subprocess.Popen(
        [EXE, "serve", "--port", str(port), "--workers", str(args.workers), "--log", f"sqlite://{work}/log"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or serve.poll() is not None:
                    raise SystemExit("serve did not start") from None
                time.sleep(0.1)
        time.sleep(1)
        query = quote(json.dumps(CAPSULE, separators=(",", ":")), safe="") + ";"
        event = {
            "$schema": "/analytics/legacy/navigationtiming/1.0.0",
            "meta": {"stream": "eventlogging_NavigationTiming"},
            **{k: v for k, v in CAPSULE.items()},
        }
        lua = work / "post.lua"
        body = json.dumps(event).replace("\\", "\\\\").replace('"', '\\"')
        lua.write_text(
            f'wrk.method = "POST"\nwrk.body = "{body}"\nwrk.headers["Content-Type"] = "application/json"\n'
        )
        wrk(f"{base}/beacon/event?{query}", 1, args.connections)  # warm-up
        out = {
            "beacon": wrk(f"{base}/beacon/event?{query}", args.duration, args.connections),
            "post_one_event": wrk(f"{base}/v1/events", args.duration, args.connections, str(lua)),
        }
        return out
    finally:
        os.killpg(serve.pid, 15)
        serve.wait(30)


def produce(log: str, n: int) -> None:
    from eventplatform.intake.batch import RequestContext
    from eventplatform.intake.builder import open_intake
    from eventplatform.settings import Settings

    settings = Settings()
    settings.log.url = log

    async def main() -> None:
        async with open_intake(settings) as intake:
            for start in range(0, n, 1000):
                events = []
                for i in range(start, min(n, start + 1000)):
                    events.append(
                        {
                            "$schema": "/analytics/legacy/navigationtiming/1.0.0",
                            "meta": {"stream": "eventlogging_NavigationTiming"},
                            **CAPSULE,
                            "uuid": uuid.uuid4().hex,
                            "event": {**CAPSULE["event"], "pageId": i},
                        }
                    )
                result = await intake.pipeline.process(events, RequestContext.now(user_agent="bench"))
                assert not result.invalid and not result.error

    asyncio.run(main())


def bench_mysql(args: argparse.Namespace, work: Path) -> dict[str, float]:
    started = None
    db = args.db
    if db is None:
        port = free_port()
        env = {**os.environ, "MARIADB_STATE_DIR": str(work / "mariadb"), "MARIADB_PORT": str(port)}
        subprocess.run([str(ROOT / "scripts/mariadb.sh"), "start"], env=env, check=True, capture_output=True)
        started = env
        db = f"mysql://eventplatform:eventplatform@127.0.0.1:{port}/log"
    try:
        import pymysql

        base, _, _ = db.rpartition("/")
        name = f"bench_{time.monotonic_ns() % 10**9}"
        from eventplatform.legacy.mysqldb import DbUrl

        u = DbUrl.parse(db)
        conn = pymysql.connect(host=u.host, port=u.port, user=u.user, password=u.password or "")
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        conn.close()
        log = f"sqlite://{work}/sinklog"
        produce(log, args.events)
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                EXE,
                "legacy",
                "mysql",
                "--db",
                f"{base}/{name}",
                "--log",
                log,
                "--batch-size",
                str(args.batch_size),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - t0
        assert f"{args.events} events" in done.stderr, done.stderr
        return {
            "events": args.events,
            "seconds": round(seconds, 2),
            "events_per_s": round(args.events / seconds),
        }
    finally:
        if started is not None:
            subprocess.run([str(ROOT / "scripts/mariadb.sh"), "stop"], env=started, capture_output=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=3000)
    p.add_argument("--db", default=None, help="mysql://… of a running server (default: start one)")
    p.add_argument("--skip-http", action="store_true")
    p.add_argument("--skip-mysql", action="store_true")
    args = p.parse_args()
    out: dict[str, object] = {"load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-legacy-") as tmp:
        work = Path(tmp)
        if not args.skip_http:
            out["http"] = bench_http(args, work)
        if not args.skip_mysql:
            out["mysql"] = bench_mysql(args, work)
    out["load_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
