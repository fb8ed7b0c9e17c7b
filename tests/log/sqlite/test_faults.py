"""The partition deleted under a writer comes back with every event and its offset (log/sqlite/faults.py)."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from eventplatform.errors import Causes
from eventplatform.log import Batch, Start
from eventplatform.log.sqlite import SQLiteLog
from eventplatform.log.sqlite.faults import cause_of
from tests.log.sqlite.helpers import collect, run


def test_deleted_directory_is_recreated_from_the_open_copy(tmp_path: Path) -> None:
    d = tmp_path / "log"

    async def main() -> list[tuple[int, bytes]]:
        log = SQLiteLog(d)
        try:
            assert await log.produce(Batch.to("t", [b"1", b"2"])) == [None, None]
            shutil.rmtree(d)
            # written into the unlinked file until the writer notices (within a second): kept all the same
            assert await log.produce(Batch.to("t", [b"3"])) == [None]
            log._writer._next_check = 0.0  # type: ignore[union-attr]  # look now rather than in a second
            assert await log.produce(Batch.to("t", [b"4"])) == [None]
            assert (d / "partition-0.db").exists()
            got = [(r.offset, r.value) for r in await collect(log, ["t"], Start.beginning())]
            assert got == [(0, b"1"), (1, b"2"), (2, b"3"), (3, b"4")]
            shutil.rmtree(d)  # and once more, with nothing written after it: close copies it back
            return got
        finally:
            await log.close()

    before = run(main())
    again = SQLiteLog(d, create=False)
    try:
        assert [(r.offset, r.value) for r in run(collect(again, ["t"], Start.beginning()))] == before
    finally:
        run(again.close())


def test_causes() -> None:
    assert cause_of(OSError(errno.ENOSPC, "full")) == Causes.DISK_FULL
    assert cause_of(PermissionError(errno.EACCES, "no")) == Causes.PERMISSION_DENIED
    assert cause_of(FileNotFoundError(errno.ENOENT, "gone")) == Causes.LOG_MISSING
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    assert cause_of(full) == Causes.DISK_FULL
    assert cause_of(ValueError("?")) == Causes.IO_ERROR
