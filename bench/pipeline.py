"""CPU cost of the intake pipeline without HTTP and without a real log (best of ``--repeat``).

    .venv/bin/python bench/pipeline.py [--batch 100] [--batches 200] [--repeat 7] [--invalid 0.1]

Runs ``Pipeline.process`` on batches of link-hover events (the bundled example schema and stream config)
with an in-memory log and prints CPU µs per event (``time.process_time``; stable on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson

from eventplatform.examples import LINK_HOVER_STREAM, SCHEMA_BASE_DIR
from eventplatform.intake.batch import RequestContext
from eventplatform.intake.pipeline import Pipeline, PipelineSettings
from eventplatform.log import Batch
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.streamconfig.config import StreamConfig
from workload import event  # bench/ is on sys.path when this file runs


class NullLog:
    async def produce(self, batch: Batch, *, hasty: bool = False) -> list[Exception | None]:
        return [None] * len(batch)

    async def close(self) -> None:
        pass


async def run(batch: int, batches: int, repeat: int, invalid: float) -> None:
    registry = SchemaRegistry([str(SCHEMA_BASE_DIR)])
    streams = StreamConfig.from_document(
        {"streams": {LINK_HOVER_STREAM: {"schema_title": "analytics/link_hover"}}}
    )
    pipeline = Pipeline(registry, streams, NullLog(), PipelineSettings(error_stream=""))  # type: ignore[arg-type]
    n_bad = round(batch * invalid)
    body = orjson.dumps([event(i, i >= n_bad) for i in range(batch)])
    await pipeline.process(orjson.loads(body), RequestContext.now(user_agent="bench"))  # warm the caches
    best = float("inf")
    for _ in range(repeat):
        payloads = [orjson.loads(body) for _ in range(batches)]
        t0 = time.process_time()
        for events in payloads:
            await pipeline.process(events, RequestContext.now(user_agent="bench", client_ip="127.0.0.1"))
        best = min(best, time.process_time() - t0)
    print(
        f"pipeline: batches of {batch} ({invalid:.0%} invalid), best of {repeat}: "
        f"{best / (batch * batches) * 1e6:.2f} µs CPU per event"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--invalid", type=float, default=0.0)
    args = ap.parse_args()
    asyncio.run(run(args.batch, args.batches, args.repeat, args.invalid))


if __name__ == "__main__":
    main()
