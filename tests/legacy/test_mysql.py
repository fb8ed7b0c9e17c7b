"""``eventplatform legacy mysql`` against a real MariaDB started by ``scripts/mariadb.sh``: tables, columns,
types, the seed's query, restarts without duplicates, a schema version adding a field, a column whose type
no longer fits, and a database that refuses writes or goes away mid-stream."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from eventplatform.examples import NAVIGATION_TIMING_STREAM, SCHEMA_BASE_DIR, STREAM_CONFIG_PATH
from eventplatform.intake.batch import RequestContext
from eventplatform.intake.builder import open_intake
from eventplatform.settings import Settings
from tests.gate.conftest import EXE, read_log
from tests.mariadb_server import MariaDB, mariadb

pytestmark = mariadb

TABLE = "NavigationTiming_10785754"
ERRORS = "eventplatform.error.validation"
SEED_QUERY = (
    "select left(timestamp,8) ts , COUNT(*) from {db}.NavigationTiming_10785754 "
    "where timestamp >= '20150402062613'   group by ts order by  ts"
)


def legacy_repo(root: Path) -> Path:
    """The bundled repository plus navigationtiming 1.1.0 (adds event.transferSize) and 1.2.0 (event.pageId
    becomes a string: a type the 1.0.0 column no longer fits)."""
    base = root / "jsonschema"
    shutil.copytree(SCHEMA_BASE_DIR, base, symlinks=True)
    directory = base / "analytics" / "legacy" / "navigationtiming"
    schema = yaml.safe_load((directory / "1.0.0.yaml").read_text())
    props = schema["properties"]["event"]["properties"]
    schema["$id"] = "/analytics/legacy/navigationtiming/1.1.0"
    props["transferSize"] = {"type": "integer", "minimum": 0, "maximum": 9007199254740991}
    (directory / "1.1.0").write_text(yaml.safe_dump(schema, sort_keys=False))
    schema["$id"] = "/analytics/legacy/navigationtiming/1.2.0"
    props["pageId"] = {"type": "string", "maxLength": 64}
    (directory / "1.2.0").write_text(yaml.safe_dump(schema, sort_keys=False))
    return base


def nav(dt: str | None = None, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "$schema": f"/analytics/legacy/navigationtiming/{version}",
        "meta": {"stream": NAVIGATION_TIMING_STREAM},
        "schema": "NavigationTiming",
        "revision": 10785754,
        "wiki": "enwiki",
        "webHost": "en.wikipedia.org",
        "uuid": uuid.uuid4().hex,
        "http": {"request_headers": {"user-agent": "Mozilla/5.0 test"}, "client_ip": "198.51.100.1"},
        "event": {"isAnon": True, **fields},
    }
    if dt:
        event["dt"] = event["client_dt"] = dt
    return event


@dataclass
class Setup:
    server: MariaDB
    database: str
    workdir: Path
    repo: Path

    @property
    def log(self) -> str:
        return f"sqlite://{self.workdir / 'log'}"

    @property
    def db(self) -> str:
        return self.server.url(self.database)

    def produce(self, events: list[dict[str, Any]]) -> None:
        """Through intake's real pipeline into the real log (as beacons would)."""
        settings = Settings()
        settings.log.url = self.log
        settings.schemas.base_uris = [str(self.repo)]
        settings.streamconfig.source = str(STREAM_CONFIG_PATH)

        async def main() -> None:
            async with open_intake(settings) as intake:
                result = await intake.pipeline.process(events, RequestContext.now())
                assert not result.invalid and not result.error, [o.failure for o in result.invalid]

        asyncio.run(main())

    def args(self, *extra: str) -> list[str]:
        return [
            EXE, "legacy", "mysql", "--db", self.db, "--log", self.log,
            "--schema-base-uri", str(self.repo), "--stream-config", str(STREAM_CONFIG_PATH), *extra,
        ]  # fmt: skip

    def sink(self, *extra: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
        done = subprocess.run(self.args(*extra), capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        return done

    def follow(self, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
        stderr = self.workdir / f"sink-{time.monotonic_ns()}.txt"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
        proc = subprocess.Popen(
            self.args("--follow", *extra),
            stdout=subprocess.DEVNULL,
            stderr=stderr.open("wb"),
            env=env,
            start_new_session=True,
        )
        return proc, stderr

    def rows(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        return self.server.query(self.database, sql, args)

    def count(self) -> int:
        try:
            return int(self.rows(f"SELECT COUNT(*) FROM {TABLE}")[0][0])
        except Exception:
            return 0

    def errors(self) -> list[dict[str, Any]]:
        return read_log(self.log, ERRORS)


@pytest.fixture
def setup(mariadb_server: MariaDB, tmp_path: Path) -> Setup:
    return Setup(mariadb_server, mariadb_server.new_database(), tmp_path, legacy_repo(tmp_path / "repo"))


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_table_per_schema_revision_with_the_reference_layout_and_the_seed_query(setup: Setup) -> None:
    dts = ["2015-04-01T23:59:59Z", "2015-04-01T10:00:00Z", "2015-04-02T06:26:13Z"]
    dts += ["2015-04-02T10:00:00.250Z", "2015-04-02T23:00:00Z", "2015-04-03T00:00:00Z"]
    setup.produce([nav(dt, pageId=i, responseStart=100 + i) for i, dt in enumerate(dts)])
    done = setup.sink()
    assert f"6 events in 1 batches; tables: {TABLE} (6); 0 refused" in done.stderr
    # the seed's query, unchanged but for the database name
    assert setup.rows(SEED_QUERY.format(db=setup.database)) == [("20150402", 3), ("20150403", 1)]
    columns = {
        name: (ctype, nullable)
        for name, ctype, nullable in setup.rows(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (setup.database, TABLE),
        )
    }
    names = list(columns)
    assert names[:2] == ["id", "uuid"]
    assert names.index("timestamp") < names.index("client_dt") < names.index("event_pageId")  # fewer _ first
    assert columns["id"] == ("bigint(20)", "NO")
    assert all(nullable == "YES" for name, (_, nullable) in columns.items() if name != "id")
    assert columns["uuid"][0] == "char(32)" and columns["timestamp"][0] == "varchar(14)"
    assert columns["event_pageId"][0] == "bigint(20)" and columns["event_isAnon"][0] == "tinyint(1)"
    assert columns["event_action"][0] == "varchar(1024)" and columns["dt"][0] == "datetime(3)"
    assert columns["userAgent"][0] == "varchar(1024)" and columns["wiki"][0] == "varchar(1024)"
    for never in ("recvFrom", "revision", "schema", "seqId", "topic", "ip", "clientIp", "meta_stream"):
        assert never not in columns
    indexes = {
        (r[2], r[4], r[1]) for r in setup.rows(f"SHOW INDEX FROM {TABLE}")
    }  # (key, column, non_unique)
    assert ("ix_NavigationTiming_10785754_uuid", "uuid", 0) in indexes
    assert ("ix_NavigationTiming_10785754_timestamp", "timestamp", 1) in indexes
    row = setup.rows(
        f"SELECT timestamp, dt, event_pageId, event_isAnon, userAgent, wiki, webHost FROM {TABLE} "
        "WHERE event_pageId = 3"
    )[0]
    assert row[0] == "20150402100000" and str(row[1]) == "2015-04-02 10:00:00.250000"
    assert row[2:] == (3, 1, "Mozilla/5.0 test", "enwiki", "en.wikipedia.org")
    # a second run finds nothing new: the positions are in the database
    assert "0 events in 0 batches" in setup.sink().stderr
    assert setup.count() == 6


def test_restart_mid_stream_without_loss_or_duplicates(
    setup: Setup, stopper: list[subprocess.Popen[bytes]]
) -> None:
    proc, _ = setup.follow("--batch-size", "3", "--batch-time", "0.2s")
    stopper.append(proc)
    setup.produce([nav(pageId=i) for i in range(40)])
    wait_for(lambda: setup.count() >= 9)
    os.killpg(proc.pid, signal.SIGKILL)  # a crash: no clean shutdown
    proc.wait(10)
    setup.produce([nav(pageId=i) for i in range(40, 60)])
    setup.sink("--batch-size", "7")
    assert setup.rows(
        f"SELECT COUNT(*), COUNT(DISTINCT uuid), COUNT(DISTINCT event_pageId) FROM {TABLE}"
    ) == [(60, 60, 60)]
    assert not setup.errors()  # no duplicate was even attempted


def test_new_schema_version_adds_a_column_and_a_type_that_no_longer_fits_is_refused(setup: Setup) -> None:
    setup.produce([nav(pageId=1), nav(pageId=2)])
    setup.sink()
    setup.produce([nav(version="1.1.0", pageId=3, transferSize=4096)])
    done = setup.sink()
    assert "columns event_transferSize created" in done.stderr
    assert setup.rows(f"SELECT event_pageId, event_transferSize FROM {TABLE} ORDER BY id") == [
        (1, None),
        (2, None),
        (3, 4096),
    ]
    (ctype,) = setup.rows(
        "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
        "AND COLUMN_NAME = 'event_transferSize'",
        (setup.database, TABLE),
    )[0]
    assert ctype == "bigint(20)"
    # 1.2.0 makes pageId a string: the BIGINT column keeps its type; a value it cannot hold is refused
    bad, good = nav(version="1.2.0", pageId="abc"), nav(version="1.2.0", transferSize=1)
    setup.produce([bad, good])
    done = setup.sink()
    assert "1 refused" in done.stderr
    assert "Unable to store: " in done.stderr and bad["uuid"] in done.stderr
    assert setup.count() == 4
    [error] = setup.errors()
    assert error["error_type"] == "legacy_mysql_row_refused"
    assert error["message"] == f"{TABLE}.event_pageId: 'abc' does not fit BIGINT"
    assert error["errored_stream_name"] == NAVIGATION_TIMING_STREAM
    assert orjson.loads(error["raw_event"])["uuid"] == bad["uuid"]


def test_a_uuid_already_stored_is_refused_with_an_error_event(setup: Setup) -> None:
    first = nav(pageId=1)
    setup.produce([first])
    setup.sink()
    setup.produce([{**first, "event": {"isAnon": False, "pageId": 2}}])
    assert "1 refused" in setup.sink().stderr
    assert setup.rows(f"SELECT event_pageId FROM {TABLE}") == [(1,)]
    [error] = setup.errors()
    assert error["error_type"] == "legacy_mysql_duplicate_uuid"
    assert error["message"] == f"uuid {first['uuid']} is already stored in {TABLE}"


def test_refused_writes_and_a_database_down_are_retried_without_loss(
    setup: Setup, stopper: list[subprocess.Popen[bytes]]
) -> None:
    setup.produce([nav(pageId=0)])
    setup.sink()
    setup.rows(
        f"CREATE TRIGGER refuse BEFORE INSERT ON {TABLE} FOR EACH ROW "
        "IF NEW.event_pageId = 666 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test'; "
        "END IF"
    )
    proc, stderr = setup.follow("--batch-size", "5", "--batch-time", "0.2s")
    stopper.append(proc)
    setup.produce([nav(pageId=i) for i in (1, 2, 666, 3, 4)])  # one batch: the write fails mid-batch
    wait_for(lambda: "refused by the test" in stderr.read_text() and "retrying" in stderr.read_text())
    assert setup.count() == 1  # the whole batch rolled back: nothing half-written
    setup.rows("DROP TRIGGER refuse")
    wait_for(lambda: setup.count() == 6)
    # the database goes away: the sink keeps the batch and waits for it
    setup.server.stop()
    try:
        setup.produce([nav(pageId=i) for i in range(10, 15)])
        wait_for(lambda: "2003" in stderr.read_text())  # Can't connect to MySQL server
        assert proc.poll() is None
    finally:
        setup.server.start()
    wait_for(lambda: setup.count() == 11)
    assert setup.rows(f"SELECT COUNT(DISTINCT uuid) FROM {TABLE}") == [(11,)]
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
