"""A producer in its own process, for the tests that kill it or run two writers at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PRODUCER = textwrap.dedent(
    """
    import asyncio, sys
    from eventplatform.log import Batch, Message
    from eventplatform.log.sqlite import SQLiteLog

    async def main(directory, name, batches, sync):
        log = SQLiteLog(directory, synchronous=sync)
        if name != "p":  # claim first, then wait for "go" so that both writers overlap
            sys.stdout.write(f"claimed {log.claim()}\\n")
            sys.stdout.flush()
            sys.stdin.readline()
        for b in range(batches):
            batch = [Message("dur", f"{name}-{b}-{i}".encode()) for i in range(50)]
            out = await log.produce(Batch.of(batch))
            assert out == [None] * 50, out
            sys.stdout.write(f"{b}\\n")
            sys.stdout.flush()
        await log.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    """
)


def spawn(directory: Path, name: str, batches: int, sync: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PRODUCER, str(directory), name, str(batches), sync],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
