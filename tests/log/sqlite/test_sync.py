"""SQLite durability: SIGKILL loses no acknowledged event; a failed fsync fails the waiting calls."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from eventplatform.errors import EventError
from eventplatform.log import Batch, Start
from eventplatform.log.sqlite import SQLiteLog
from tests.log.sqlite.helpers import collect, msgs, run
from tests.log.sqlite.procs import spawn


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_sigkill_keeps_every_acknowledged_event(tmp_path: Path, sync: str) -> None:
    proc = spawn(tmp_path, "p", 1_000_000, sync)
    acked = -1
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while acked < 30 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "producer died"
        acked = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # lines written before the kill but not read yet are acknowledged too
    rest = proc.stdout.read()
    for line in rest.split():
        acked = int(line)
    assert proc.returncode == -signal.SIGKILL

    async def main() -> set[bytes]:
        log = SQLiteLog(tmp_path)
        values = {r.value for r in await collect(log, ["dur"], Start.beginning())}
        await log.close()
        return values

    values = run(main())
    missing = [
        f"p-{b}-{i}" for b in range(acked + 1) for i in range(50) if f"p-{b}-{i}".encode() not in values
    ]
    assert not missing, missing[:5]
    assert acked >= 30


def test_fsync_failure_fails_the_waiting_calls(tmp_path: Path) -> None:
    """A failed fsync fails every call waiting on it with LOG_UNAVAILABLE, and the partition takes no
    more writes (a later fsync could not vouch for them); re-opening the log recovers."""

    broken = False

    def fsync(fd: int) -> None:
        if broken:
            raise OSError(5, "Input/output error")
        os.fdatasync(fd)

    async def main() -> None:
        nonlocal broken
        log = SQLiteLog(tmp_path, fsync=fsync)
        log.claim()
        assert await log.produce(Batch.of(msgs("f", 2))) == [None, None]
        broken = True
        outs = await asyncio.gather(*(log.produce(Batch.of(msgs("f", 2))) for _ in range(5)))
        for out in outs:
            assert all(isinstance(o, EventError) and o.code == "log_unavailable" for o in out), out
            assert "fsync failed" in str(out[0])
        later = await log.produce(Batch.of(msgs("f", 1)))
        assert isinstance(later[0], EventError) and later[0].code == "log_unavailable"
        with pytest.raises(EventError):
            await log.flush(5)
        await log.close()
        again = SQLiteLog(tmp_path)
        assert await again.produce(Batch.of(msgs("f", 1, prefix="ok"))) == [None]
        await again.close()

    run(main())


def test_hasty_then_flush_is_durable(tmp_path: Path) -> None:
    """Hasty calls return at once and are committed at the next loop iteration; flush() waits for their
    commit and, with synchronous=full, for an fsync after it."""

    async def main() -> None:
        log = SQLiteLog(tmp_path)
        log.claim()
        for i in range(20):
            assert await log.produce(Batch.of(msgs("h", 5, prefix=f"{i}-")), hasty=True) == [None] * 5
        assert log.counters["fsyncs"] == 0  # nobody waited for durability yet
        await log.flush(10)
        assert log.counters["fsyncs"] == 1
        assert (await log.watermarks("h"))[0] == (0, 100)
        await log.ensure_topics(["later"])
        assert "later" in await log.list_topics()
        await log.close()

    run(main())
