"""SQLite partitions: one writer process each, claimed with a lock file."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventplatform.errors import EventError
from eventplatform.log import Batch, Start
from eventplatform.log.sqlite import SQLiteLog
from tests.log.sqlite.helpers import collect, msgs, run
from tests.log.sqlite.procs import spawn


def test_explicit_partition_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    async def main() -> None:
        a = SQLiteLog.from_url(f"sqlite://{tmp_path}?partition=3&synchronous=normal")
        assert a.claim() == 3
        b = SQLiteLog(tmp_path, partition=3)
        out = await b.produce(Batch.of(msgs("a", 2)))
        assert all(isinstance(o, EventError) and o.code == "log_unavailable" for o in out)
        assert "held by another process" in str(out[0])
        await a.close()
        await b.close()
        with pytest.raises(ValueError):
            SQLiteLog(tmp_path, synchronous="sometimes")
        assert SQLiteLog.from_url("sqlite:///./rel/dir").directory.resolve() == tmp_path / "rel" / "dir"
        (tmp_path / "sub").mkdir()
        monkeypatch.chdir(tmp_path / "sub")
        up = SQLiteLog.from_url("sqlite:///../rel?synchronous=normal", create=False)
        assert up.directory.resolve() == tmp_path / "rel" and up.synchronous == "normal"

    run(main())


def test_two_processes_two_partitions(tmp_path: Path) -> None:
    procs = [spawn(tmp_path, name, 40, "normal") for name in ("a", "b")]
    claimed = set()
    for p in procs:
        assert p.stdout is not None
        claimed.add(p.stdout.readline().strip())
    assert claimed == {"claimed 0", "claimed 1"}
    for p in procs:
        out, err = p.communicate("go\n", timeout=60)
        assert p.returncode == 0, err
        assert out.split()[-1] == "39"

    async def main() -> None:
        log = SQLiteLog(tmp_path)
        recs = await collect(log, ["dur"], Start.beginning())
        assert len(recs) == 2 * 40 * 50
        by_part: dict[int, list[int]] = {}
        for r in recs:
            by_part.setdefault(r.partition, []).append(r.offset)
        assert sorted(by_part) == [0, 1]
        for offsets in by_part.values():
            assert offsets == list(range(40 * 50))  # dense from 0, in order within a partition
        assert {r.value.split(b"-")[0] for r in recs} == {b"a", b"b"}
        marks = await log.watermarks("dur")
        assert marks == {0: (0, 2000), 1: (0, 2000)}
        await log.close()

    run(main())
