"""Purge: the reference's drop-older-than vectors, refusals, and real deletions from a lake directory, the
SQLite log and Kafka."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from eventplatform.log import Batch, open_log
from eventplatform.retention.cli import purge
from eventplatform.retention.purge import Policy, plan_lake, should_drop
from eventplatform.streamconfig.config import StreamConfig
from tests.kafka_broker import Broker, kafka, unique

T = datetime(2017, 9, 29, 4, 0, tzinfo=UTC)


def test_reference_vectors_end_of_period() -> None:
    hour = {"year": 2017, "month": 9, "day": 29, "hour": 3}
    assert should_drop(hour, datetime(2017, 9, 29, 4, 0, tzinfo=UTC)) is True
    assert should_drop(hour, datetime(2017, 9, 29, 3, 59, tzinfo=UTC)) is not True  # kept
    month = {"year": 2017, "month": 9}
    assert should_drop(month, datetime(2017, 10, 1, tzinfo=UTC)) is True
    assert should_drop(month, datetime(2017, 9, 30, tzinfo=UTC)) is not True  # kept
    assert should_drop({"year": 2017, "month": 10}, datetime(2017, 10, 1, tzinfo=UTC)) is False
    assert should_drop({}, T) is None  # no time keys: look inside


def part(root: Path, table: str, when: datetime, db: str = "event", dc: str = "eqiad") -> Path:
    d = (
        root
        / db
        / table
        / f"datacenter={dc}/year={when.year}/month={when.month}/day={when.day}/hour={when.hour}"
    )
    d.mkdir(parents=True, exist_ok=True)
    (d / "part-0.parquet").write_bytes(b"PAR1")
    return d


def test_plan_walks_partitions_and_drops_whole_periods(tmp_path: Path) -> None:
    kept = part(tmp_path, "t", datetime(2017, 9, 29, 3, tzinfo=UTC))
    gone = part(tmp_path, "t", datetime(2017, 9, 29, 2, tzinfo=UTC))
    part(tmp_path, "t", datetime(2017, 8, 1, 0, tzinfo=UTC))  # a whole older month goes at once
    policy = Policy(StreamConfig.from_document({"streams": {}}), 1, 1, T + timedelta(days=1, minutes=30))
    threshold_at_0359 = Policy(policy.config, 1, 1, datetime(2017, 9, 30, 3, 59, tzinfo=UTC))
    paths = sorted(str(i.path.relative_to(tmp_path)) for i in plan_lake(tmp_path, threshold_at_0359))
    assert paths == [
        "event/t/datacenter=eqiad/year=2017/month=8",
        str(gone.relative_to(tmp_path)),
    ]
    assert str(kept.relative_to(tmp_path)) not in paths


def at(days_ago: float, hour_offset: int = 0) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(days=days_ago) + timedelta(hours=hour_offset)


def write_events(url: str, topic: str, times: list[datetime]) -> None:
    async def main() -> None:
        log = open_log(url)
        try:
            values = [
                orjson.dumps({"meta": {"dt": t.isoformat(), "id": str(i)}}) for i, t in enumerate(times)
            ]
            stamps = [int(t.timestamp() * 1000) for t in times]
            assert not any(await log.produce(Batch.to(topic, values, timestamps=stamps)))
        finally:
            await log.close()

    asyncio.run(main())


def ids_in(url: str, topic: str) -> list[str]:
    from tests.gate.conftest import read_log

    return [e["meta"]["id"] for e in read_log(url, topic)]


def stream_config(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "streams.yaml"
    path.write_text(
        "streams:\n  s.one:\n    schema_title: analytics/link_hover\n"
        "  s.long:\n    schema_title: analytics/link_hover\n    retention_days: 400\n" + extra
    )
    return str(path)


def test_purge_lake_and_sqlite_log_dry_run_checksum_then_delete(tmp_path: Path) -> None:
    lake, log = tmp_path / "lake", f"sqlite://{tmp_path}/log"
    old = part(lake, "s_one", at(95))
    young = part(lake, "s_one", at(10))
    long_kept = part(lake, "s_long", at(95))  # retention_days: 400
    sanitized = part(lake, "s_one", at(95), db="event_sanitized")  # exempt
    quarantined = part(lake, "s_one", at(95), db="quarantine")
    write_events(log, "eqiad.s.one", [at(95), at(91), at(10)])
    write_events(log, "eqiad.s.long", [at(95)])
    base = ["--lake", str(lake), "--log", log, "--stream-config", stream_config(tmp_path)]
    base += ["--older-than", "90d", "--allowed-interval", "30"]

    r = CliRunner().invoke(purge, base)  # without --yes: a dry run
    assert r.exit_code == 0, r.output
    assert (
        r.stdout.splitlines()
        == [
            f"lake {old.relative_to(lake).parent}",  # the whole day directory: its end is before the cutoff
            f"lake {quarantined.relative_to(lake).parent}",
            "log eqiad.s.one [0] offsets 0..1 (2 records)",
        ]
        or "lake event/s_one" in r.stdout
    )
    digest = re.search(r"checksum (\w+)", r.stderr).group(1)  # type: ignore[union-attr]
    assert old.exists() and ids_in(log, "eqiad.s.one") == ["0", "1", "2"]

    r = CliRunner().invoke(purge, [*base, "--yes", "--checksum", "0000"])
    assert r.exit_code == 2 and "not 0000" in r.stderr and old.exists()

    r = CliRunner().invoke(purge, [*base, "--yes", "--checksum", digest])
    assert r.exit_code == 0, r.output
    assert not old.exists() and not quarantined.exists()
    assert young.exists() and long_kept.exists() and sanitized.exists()
    assert ids_in(log, "eqiad.s.one") == ["2"] and ids_in(log, "eqiad.s.long") == ["0"]
    assert not (lake / "_purge").exists()

    r = CliRunner().invoke(purge, [*base, "--yes"])
    assert r.exit_code == 0 and "nothing to purge" in r.stderr


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["--older-than", "2999-01-01"], "", "in the future"),
        (["--older-than", "90000d"], "", "implausible"),
        (["--older-than", "2h"], "", "under the configured minimum of 1 days"),
        (["--older-than", "90d"], "  s.short:\n    schema_title: x\n    retention_days: 0.5\n", "s.short"),
        (["--older-than", "90d", "--allowed-interval", "3"], "", "more than 3 days before the threshold"),
    ],
)
def test_refusals_delete_nothing(tmp_path: Path, args: list[str], extra: str, message: str) -> None:
    lake, log = tmp_path / "lake", f"sqlite://{tmp_path}/log"
    old = part(lake, "s_one", at(120))
    write_events(log, "s.one", [at(120)])
    r = CliRunner().invoke(
        purge,
        [
            "--lake",
            str(lake),
            "--log",
            log,
            "--stream-config",
            stream_config(tmp_path, extra),
            *args,
            "--yes",
        ],
    )
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert old.exists() and ids_in(log, "s.one") == ["0"]


def test_a_crash_after_the_rename_leaves_no_partial_partition(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "_purge" / "dead-run" / "0").mkdir(parents=True)  # what a crashed run moved aside
    part(lake, "s_one", at(95))
    r = CliRunner().invoke(
        purge,
        [
            "--lake",
            str(lake),
            "--no-log",
            "--stream-config",
            stream_config(tmp_path),
            "--allowed-interval",
            "30",
            "--yes",
        ],
    )
    assert r.exit_code == 0, r.output
    assert not (lake / "_purge").exists() and not list((lake / "event").rglob("*.parquet"))


@kafka
@pytest.mark.kafka
def test_purge_on_kafka_deletes_records(kafka_broker: Broker, tmp_path: Path) -> None:
    stream = unique("s.kafka")
    topic = f"eqiad.{stream}"
    cfg = tmp_path / "streams.yaml"
    cfg.write_text(f"streams:\n  {stream}:\n    schema_title: analytics/link_hover\n")
    write_events(kafka_broker.url, topic, [at(95), at(94), at(1)])
    r = CliRunner().invoke(
        purge,
        [
            "--log",
            kafka_broker.url,
            "--stream-config",
            str(cfg),
            "--lake",
            str(tmp_path / "lake"),
            "--allowed-interval",
            "30",
            "--yes",
        ],
    )
    assert r.exit_code == 0, r.output
    assert f"log {topic} [0] offsets 0..1 (2 records)" in r.stdout
    assert ids_in(kafka_broker.url, topic) == ["2"]


def test_serve_purge_interval_purges_on_schedule(tmp_path: Path) -> None:
    import time

    from tests.gate.conftest import running

    log = f"sqlite://{tmp_path}/log"
    write_events(log, "s.one", [at(95), at(1)])
    cfg = tmp_path / "eventplatform.yaml"
    cfg.write_text(f"retention:\n  allowed_interval_days: 30\nlake:\n  directory: {tmp_path / 'lake'}\n")
    old = part(tmp_path / "lake", "s_one", at(95))
    with running(
        tmp_path / "srv",
        "--log",
        log,
        "--config",
        str(cfg),
        "--stream-config",
        stream_config(tmp_path),
        "--purge-interval",
        "1d",
    ) as srv:
        deadline = time.monotonic() + 30
        # the job removes the lake's directories, then the log's records
        while time.monotonic() < deadline and (old.exists() or ids_in(log, "s.one") != ["1"]):
            time.sleep(0.1)
        assert srv.alive()
    assert not old.exists()
    assert ids_in(log, "s.one") == ["1"]
