"""SQLite checkpoints keep the WAL bounded under sustained writes."""

from __future__ import annotations

from pathlib import Path

from eventplatform.log import Batch, Message, Start
from eventplatform.log.sqlite import SQLiteLog
from tests.log.sqlite.helpers import collect, run


def test_wal_is_checkpointed_under_sustained_writes(tmp_path: Path) -> None:
    """With the automatic checkpoint off, the checkpointer thread keeps the WAL bounded while writes go on,
    and close() leaves a database that holds everything without its WAL."""

    async def main() -> None:
        log = SQLiteLog(tmp_path, synchronous="normal", checkpoint_pages=100)
        wal = tmp_path / f"partition-{log.claim()}.db-wal"
        biggest = 0
        for i in range(2000):  # one commit each: a 16 KiB WAL frame at least, 32 MB without checkpoints
            await log.produce(Batch.of([Message("c", f"{i}".encode())]))
            if i % 50 == 0:
                biggest = max(biggest, wal.stat().st_size)
        assert log.counters["checkpoints"] >= 5, log.counters
        # restarts keep the WAL far below 2000 frames (a few hundred while the checkpointer catches up)
        assert biggest < 1000 * 16_408, biggest
        await log.close()
        assert not wal.exists() or wal.stat().st_size == 0  # SQLite checkpointed and removed it at close
        reader = SQLiteLog(tmp_path)
        assert [r.value for r in await collect(reader, ["c"], Start.beginning())] == [
            f"{i}".encode() for i in range(2000)
        ]
        await reader.close()

    run(main())
