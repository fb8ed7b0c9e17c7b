"""SQLite retention (delete_before) seen from another process."""

from __future__ import annotations

from pathlib import Path

from eventplatform.log import Batch, Start
from eventplatform.log.sqlite import SQLiteLog
from tests.log.sqlite.helpers import collect, msgs, run


def test_retention_from_another_process_view(tmp_path: Path) -> None:
    async def main() -> None:
        w0, w1 = SQLiteLog(tmp_path), SQLiteLog(tmp_path)
        await w0.produce(Batch.of(msgs("r", 4, ts=100) + msgs("r", 2, ts=900, prefix="late")))
        await w1.produce(Batch.of(msgs("r", 3, ts=100)))
        janitor = SQLiteLog(tmp_path)  # claims nothing, purges every partition
        assert await janitor.delete_before("r", 500) == 7
        assert janitor.partition is None
        assert await janitor.watermarks("r") == {0: (4, 6), 1: (3, 3)}
        await w0.produce(
            Batch.of(msgs("r", 1, ts=1000, prefix="after"))
        )  # the writer carries on, offsets too
        assert [(r.offset, r.value) for r in await collect(janitor, ["r"], Start.beginning())] == [
            (4, b"late0"),
            (5, b"late1"),
            (6, b"after0"),
        ]
        assert await janitor.delete_before("nope", 500) == 0
        for log in (w0, w1, janitor):
            await log.close()

    run(main())
