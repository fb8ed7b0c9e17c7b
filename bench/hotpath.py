"""The intake hot path alone, before/after: CPU µs per event with the compiled path on and off.

    .venv/bin/python bench/hotpath.py [--batches 1,10,100] [--invalid 0,0.1] [--events 20000] [--repeat 5]
                                      [--rev GIT_REV] [--json]

In one process, without HTTP and with an in-memory log: what a worker does for each request body between
reading it and sending the answer (``parse_events``, ``Pipeline.process`` with its error events, the
response body), for batches of 1, 10 and 100 events with 0 % and 10 % invalid events. ``native`` is the
compiled path (``native/``), ``python`` the same with ``EVENTPLATFORM_NATIVE=0``. ``--rev`` also runs the
Python code of an older commit (its ``src/``, with the extension built now) for a before/after of a change.

The events are the side-by-side comparison's (``../shared/peers``: schema ``analytics/link_hover`` of the
peers, events as ``wrk_events.lua`` makes them, invalid = ``page_namespace`` a string) when that directory is
there, else the bundled example schema and ``bench/workload.py``'s events. Figures: CPU time of the process
(``time.process_time``), best of ``--repeat``; record them with the load (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "peers"


class NullLog:
    async def produce(self, batch: Any, *, hasty: bool = False) -> list[Exception | None]:
        return [None] * len(batch)

    async def close(self) -> None:
        pass


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{random.randint(0, 999):03d}Z"


def peer_event(rnd: random.Random, valid: bool) -> dict[str, Any]:
    """An event as ../shared/peers/wrk_events.lua makes it (invalid: page_namespace is a string)."""
    now = time.time()
    action = rnd.choice(["hover-start", "hover-end", "preview-shown", "click"])
    ns = rnd.choice([0, 0, 0, 1, 2, 4, 14])
    titles = ["Main_Page", "Albert_Einstein", "Special:Search", "Wikipedia:About", "Ada_Lovelace"]
    return {
        "$schema": "/analytics/link_hover/1.0.0",
        "dt": _iso(now - rnd.randint(0, 5)),
        "meta": {
            "stream": "analytics.link_hover",
            "dt": _iso(now),
            "id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "domain": "en.wikipedia.org",
        },
        "action": action,
        "page_title": rnd.choice(titles),
        "page_namespace": ns if valid else f"ns-{ns}",
        "is_anon": rnd.random() < 0.8,
        "link_target": rnd.choice(titles),
        "hover_duration_ms": 0 if action == "hover-start" else rnd.randint(50, 5000),
        "context": {
            "skin": rnd.choice(["vector-2022", "minerva", "vector", "timeless"]),
            "session_id": f"{rnd.getrandbits(31):08x}{rnd.getrandbits(31):08x}",
            "editcount_bucket": rnd.choice(["0 edits", "1-4 edits", "5-99 edits", "100-999 edits"]),
            "is_mobile": rnd.random() < 0.4,
        },
    }


def bodies(batch: int, invalid: float, pool: int = 100) -> list[bytes]:
    """``pool`` request bodies, as wrk_events.lua: from batch 10 on, each has round(invalid*batch) invalid
    events; below, round(invalid*pool) of the bodies are wholly invalid."""
    rnd = random.Random(batch * 1000 + int(invalid * 100))
    out = []
    for b in range(pool):
        if batch >= 10:
            n_bad = round(invalid * batch)
            flags = [i >= n_bad for i in range(batch)]
        else:
            flags = [b >= round(invalid * pool)] * batch
        if PEERS.is_dir():
            events = [peer_event(rnd, ok) for ok in flags]
        else:
            from workload import event  # bench/ is on sys.path when this file runs

            events = [event(b * batch + i, ok) for i, ok in enumerate(flags)]
        out.append(orjson.dumps(events if batch > 1 else events[0]))
    return out


async def measure(
    native: bool, batches: list[int], invalids: list[float], events: int, repeat: int
) -> list[dict]:
    os.environ["EVENTPLATFORM_NATIVE"] = "1" if native else "0"
    from eventplatform.gate import responses as R
    from eventplatform.gate.request import Head, parse_events
    from eventplatform.intake.pipeline import Pipeline, PipelineSettings
    from eventplatform.schemas.registry import SchemaRegistry
    from eventplatform.streamconfig.config import StreamConfig

    if PEERS.is_dir():
        registry = SchemaRegistry([str(PEERS / "schemas")])
        streams = StreamConfig.from_file(PEERS / "streams.yaml")
        settings = PipelineSettings(service_name="eventgate-bench", datacenter="eqiad")
    else:
        from eventplatform.examples import LINK_HOVER_STREAM, SCHEMA_BASE_DIR

        registry = SchemaRegistry([str(SCHEMA_BASE_DIR)])
        streams = StreamConfig.from_document(
            {"streams": {LINK_HOVER_STREAM: {"schema_title": "analytics/link_hover"}}}
        )
        settings = PipelineSettings(error_stream="")
    pipeline = Pipeline(registry, streams, NullLog(), settings)  # type: ignore[arg-type]
    if native and pipeline.native_parse is None:
        print("hotpath: the compiled path is not built (make install builds it)", file=sys.stderr)
        return []
    scope = {"client": ("127.0.0.1", 40000)}
    limit, max_events = 10 * 1024 * 1024, 10_000

    async def one(body: bytes) -> int:
        head = Head(content_type="application/json", user_agent="hotpath-bench")
        head.request_id = str(uuid.uuid4())
        parsed = parse_events(body, head, limit, max_events, pipeline.native_parse)
        result = await pipeline.process(parsed, head.context(scope, {}))
        status, _reason, answer = R.batch_response(result)
        R.dumps(answer)
        return status

    rows = []
    for batch in batches:
        for invalid in invalids:
            pool = bodies(batch, invalid)
            for body in pool:  # warm the caches (schemas, routes)
                await one(body)
            requests = max(1, events // batch)
            work = [pool[i % len(pool)] for i in range(requests)]
            best = float("inf")
            for _ in range(repeat):
                t0 = time.process_time()
                for body in work:
                    await one(body)
                best = min(best, time.process_time() - t0)
            rows.append(
                {
                    "mode": "native" if native else "python",
                    "batch": batch,
                    "invalid": invalid,
                    "us_per_event": round(best / (requests * batch) * 1e6, 2),
                }
            )
    return rows


def at_rev(rev: str, args: argparse.Namespace) -> list[dict]:
    """This script on the Python code of ``rev`` (its src/ unpacked into a temp dir)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        env = {**os.environ, "PYTHONPATH": f"{tmp}/src"}
        cmd = [sys.executable, __file__, "--batches", args.batches, "--invalid", args.invalid]
        cmd += ["--events", str(args.events), "--repeat", str(args.repeat), "--json", "--modes", args.modes]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    for row in rows:
        row["mode"] = f"{rev} {row['mode']}"
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="1,10,100")
    ap.add_argument("--invalid", default="0,0.1")
    ap.add_argument("--events", type=int, default=20_000, help="events per measurement")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--modes", default="native,python")
    ap.add_argument("--rev", help="also run the Python code of this git revision")
    ap.add_argument("--json", action="store_true", help="one JSON line per figure")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    invalids = [float(f) for f in args.invalid.split(",")]
    rows: list[dict] = []
    if args.rev:
        rows += at_rev(args.rev, args)
    for mode in args.modes.split(","):
        rows += asyncio.run(measure(mode == "native", batches, invalids, args.events, args.repeat))
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    fig = {(r["mode"], r["batch"], r["invalid"]): r["us_per_event"] for r in rows}
    print(f"hot path, CPU µs per event (best of {args.repeat}; load {os.getloadavg()[0]:.2f})")
    print(f"{'batch':>5} {'invalid':>7} " + " ".join(f"{m:>14}" for m in modes))
    for batch in batches:
        for invalid in invalids:
            print(
                f"{batch:>5} {invalid:>7.0%} " + " ".join(f"{fig[(m, batch, invalid)]:>14.2f}" for m in modes)
            )


if __name__ == "__main__":
    main()
