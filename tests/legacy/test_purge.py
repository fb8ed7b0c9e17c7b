"""``eventplatform legacy purge`` against a real MariaDB: windows, allowlist rules, refusals, checkpoint."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from eventplatform.examples import SCHEMA_BASE_DIR
from eventplatform.legacy.cli import legacy
from eventplatform.legacy.jrm import columns_of
from eventplatform.legacy.mysqldb import LegacyDb
from eventplatform.legacy.purge import PurgeError, read_allowlist, window
from tests.gate.conftest import EXE
from tests.mariadb_server import MariaDB, mariadb

NAV = "NavigationTiming_10785754"
EDIT = "Edit_13457736"
NOW = datetime.now(UTC)


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y%m%d%H%M%S")


class Db:
    def __init__(self, server: MariaDB) -> None:
        self.server = server
        self.name = server.new_database("purge")
        self.url = server.url(self.name)
        legacy = LegacyDb(self.url)
        nav = yaml.safe_load((SCHEMA_BASE_DIR / "analytics/legacy/navigationtiming/1.0.0.yaml").read_text())
        legacy.prepare(NAV, columns_of(nav))
        legacy.reset()
        self.q(
            f"CREATE TABLE {EDIT} (id BIGINT AUTO_INCREMENT PRIMARY KEY, uuid CHAR(32), "
            "timestamp VARCHAR(14), wiki VARCHAR(1024), userAgent VARCHAR(1024), "
            "event_action VARCHAR(1024), event_editCount BIGINT)"
        )
        self.q("CREATE TABLE notes (id BIGINT PRIMARY KEY, timestamp VARCHAR(14), body TEXT)")  # not legacy

    def q(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        return self.server.query(self.name, sql, args)

    def nav(self, days: float, page: int) -> None:
        self.q(
            f"INSERT INTO {NAV} (uuid, timestamp, wiki, webHost, userAgent, event_pageId, event_action) "
            "VALUES (%s, %s, 'enwiki', 'en.wikipedia.org', 'Mozilla', %s, 'view')",
            (uuid.uuid4().hex, ago(days), page),
        )

    def edit(self, days: float, count: int) -> None:
        self.q(
            f"INSERT INTO {EDIT} (uuid, timestamp, wiki, userAgent, event_action, event_editCount) "
            "VALUES (%s, %s, 'enwiki', 'Mozilla', 'saveSuccess', %s)",
            (uuid.uuid4().hex, ago(days), count),
        )


def purge(db: Db, *args: str, ok: bool = True) -> Result:
    """The command in this process (click's runner): the database is the real server all the same."""
    done = CliRunner().invoke(legacy, ["purge", "--db", db.url, "--sleep-between-batches", "0", *args])
    assert (done.exit_code == 0) is ok, (done.output, done.exception)
    return done


@pytest.fixture
def db(mariadb_server: MariaDB) -> Db:
    return Db(mariadb_server)


def allowlist(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allowlist.tsv"
    path.write_text(text)
    return path


@mariadb
def test_old_rows_deleted_in_batches_allowlisted_tables_sanitized(db: Db, tmp_path: Path) -> None:
    for i, days in enumerate([200, 150, 120, 91, 89, 10, 1]):
        db.nav(days, i)
        db.edit(days, i)
    db.q("INSERT INTO notes VALUES (1, %s, 'not a legacy table')", (ago(500),))
    keep = allowlist(tmp_path, "# kept indefinitely\nEdit\tevent.action\nEdit\twiki\n")
    done = purge(db, "--allowlist", str(keep), "--batch-size", "2")
    assert f"{NAV}: 4 rows deleted" in done.stdout
    assert f"{EDIT}: 4 rows sanitized (kept: id, uuid, timestamp, wiki, event_action)" in done.stdout
    assert db.q(f"SELECT event_pageId FROM {NAV} ORDER BY id") == [(4,), (5,), (6,)]
    rows = db.q(
        f"SELECT uuid IS NOT NULL, timestamp, wiki, userAgent, event_action, event_editCount FROM {EDIT}"
    )
    assert len(rows) == 7
    for has_uuid, ts, wiki, agent, action, count in rows:
        assert has_uuid and ts and wiki == "enwiki" and action == "saveSuccess"
        if ts < ago(90):
            assert agent is None and count is None  # purged, never userAgent
        else:
            assert agent == "Mozilla" and count is not None
    assert db.q("SELECT COUNT(*) FROM notes") == [(1,)]


@mariadb
def test_window_newer_than_and_dry_run(db: Db) -> None:
    for days in (200, 150, 100, 30):
        db.nav(days, int(days))
    done = purge(db, "--newer-than", "160", "--dry-run")
    assert f"{NAV}: 2 rows would be deleted" in done.stdout and "(dry run)" in done.stderr
    assert db.q(f"SELECT COUNT(*) FROM {NAV}") == [(4,)]
    purge(db, "--newer-than", "160", "--older-than", "120")
    assert db.q(f"SELECT event_pageId FROM {NAV} ORDER BY id") == [(200,), (100,), (30,)]


@mariadb
def test_checkpoint_starts_where_the_last_run_ended(db: Db, tmp_path: Path) -> None:
    checkpoint = tmp_path / "purge.checkpoint"
    db.nav(100, 1)
    purge(db, "--checkpoint", str(checkpoint))
    end = checkpoint.read_text().strip()
    assert len(end) == 14 and ago(90.01) <= end <= ago(89.99)
    assert db.q(f"SELECT COUNT(*) FROM {NAV}") == [(0,)]
    db.nav(150, 2)  # before the checkpoint: outside the next window
    checkpoint.write_text(ago(120) + "\n")
    db.nav(100, 3)
    done = purge(db, "--start-ts-file", str(checkpoint))
    assert f"{NAV}: 1 rows deleted" in done.stdout
    assert db.q(f"SELECT event_pageId FROM {NAV}") == [(2,)]


@mariadb
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Edit\n", "expected 2 tab-separated columns (schema, field), got 1"),
        ("Edit\tevent_action\textra\n", "got 3"),
        ("Ed it\tevent_action\n", "schema 'Ed it' is not [A-Za-z0-9_]+"),
        ("Edit\tevent-action\n", "field 'event-action' is not [A-Za-z0-9_.]+"),
        ("Edit\tevent_action\nEdit\tevent.action\n", ":2: duplicate entry Edit event.action"),
        ("Edit\tclientIp\n", "clientIp can never be kept"),
        ("NavigationTiming\tuserAgent\n", "userAgent can never be kept"),
        ("Nope\tevent_action\n", "no table for schema(s) Nope"),
    ],
)
def test_invalid_allowlists_are_refused_before_anything_is_purged(
    db: Db, tmp_path: Path, text: str, message: str
) -> None:
    db.nav(100, 1)
    done = purge(db, "--allowlist", str(allowlist(tmp_path, text)), ok=False)
    assert message in done.stderr
    assert db.q(f"SELECT COUNT(*) FROM {NAV}") == [(1,)]


def test_under_90_days_refused(tmp_path: Path) -> None:
    with pytest.raises(PurgeError, match="--older-than 89 is refused: data is kept at least 90 days"):
        window(NOW, 89, None, None)
    done = subprocess.run(
        [EXE, "legacy", "purge", "--db", "mysql://u@127.0.0.1:1/log", "--older-than", "30"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--older-than 30 is refused" in done.stderr
    with pytest.raises(PurgeError, match="must be more than"):
        window(NOW, 90, 60, None)
    bad = tmp_path / "checkpoint"
    bad.write_text("yesterday")
    with pytest.raises(PurgeError, match="expected a timestamp YYYYMMDDHHMMSS"):
        window(NOW, 90, None, bad)
    assert read_allowlist(allowlist(tmp_path, "Edit\tevent.action\n")) == {"Edit": {"event_action"}}
