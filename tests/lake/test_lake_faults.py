"""Schema evolution across versions, type clashes, crashes mid-hour, error events, bad lake directories,
and the `lake` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from eventplatform.cli.main import cli
from eventplatform.examples import SCHEMA_BASE_DIR
from eventplatform.lake import hours as hours_module
from eventplatform.lake.status import Status
from tests.lake.helpers import STREAM, event, produce, query, refine, refine_in_process

TABLE = "mediawiki_interwiki_link_hover"


def _new_version(repo: Path, version: str, change: Any) -> None:
    """analytics/link_hover at ``version``: 1.0.0 changed by ``change(schema)``, made the latest."""
    folder = repo / "analytics" / "link_hover"
    schema = yaml.safe_load((folder / "1.0.0.yaml").read_text())
    change(schema)
    schema["$id"] = f"/analytics/link_hover/{version}"
    (folder / f"{version}.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    for name in ("latest", "latest.yaml"):
        (folder / name).unlink()
        (folder / name).symlink_to(f"{version}.yaml")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    out = tmp_path / "schemas"
    shutil.copytree(SCHEMA_BASE_DIR, out, symlinks=True)
    return out


def test_evolution_adds_columns_old_files_stay_readable(log_url: str, lake: Path, repo: Path) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z", id="old")])
    refine(log_url, lake, "--schema-base-uri", str(repo))

    def add(schema: dict) -> None:
        schema["properties"]["zeta"] = {"type": "integer"}
        schema["properties"]["alpha"] = {"type": "string"}
        schema["properties"]["meta"]["properties"]["extra"] = {"type": "boolean"}

    _new_version(repo, "1.1.0", add)
    produce(log_url, STREAM, [event("2026-02-15T01:10:00Z", id="new", zeta=7, alpha="a")])
    out = refine(log_url, lake, "--schema-base-uri", str(repo)).output
    assert "columns added: alpha, zeta, meta.extra" in out
    rows = query(
        lake, f"SELECT meta.id AS id, alpha, zeta, meta.extra AS extra FROM event.{TABLE} ORDER BY id"
    )
    assert rows == [
        {"id": "new", "alpha": "a", "zeta": 7, "extra": None},
        {"id": "old", "alpha": None, "zeta": None, "extra": None},
    ]
    columns = [f.name for f in pq.read_schema(next((lake / "event" / TABLE).rglob("hour=1/*.parquet")))]
    assert columns[-2:] == ["alpha", "zeta"] and columns.index("meta") < columns.index("alpha")
    old_file = next((lake / "event" / TABLE).rglob("hour=0/*.parquet"))
    assert "zeta" not in pq.read_schema(old_file).names  # the old file was not rewritten
    history = json.loads((lake / "event" / TABLE / "_schema.json").read_text())["history"]
    assert [h["schema_uri"] for h in history] == [
        "/analytics/link_hover/1.0.0",
        "/analytics/link_hover/1.1.0",
    ]


def test_a_retyped_field_is_a_loud_clash_and_its_records_go_to_quarantine(
    log_url: str, lake: Path, repo: Path
) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z")])
    refine(log_url, lake, "--schema-base-uri", str(repo))
    _new_version(repo, "2.0.0", lambda s: s["properties"].__setitem__("link_title", {"type": "integer"}))
    produce(log_url, STREAM, [event("2026-02-15T00:20:00Z", link_title=5)])
    result = refine(log_url, lake, "--schema-base-uri", str(repo))
    assert "TYPE CLASH (table type kept, such records quarantined): link_title: the table has string" in (
        result.output
    )
    assert "1 quarantined" in result.output
    assert query(lake, f"SELECT count(*) AS n FROM event.{TABLE}") == [{"n": 1}]
    [bad] = query(lake, f"SELECT reason FROM quarantine.{TABLE}")
    assert "link_title" in bad["reason"] or "string" in bad["reason"]




def test_crash_between_the_renames_of_a_swap(
    log_url: str, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z", id="a")])
    refine_in_process(log_url, lake)
    produce(log_url, STREAM, [event("2026-02-15T00:20:00Z", id="late")])
    real = hours_module.os.replace
    calls = []

    def crash_on_second(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the old partition is aside, the new one not yet in place
            raise OSError("power cut")
        real(src, dst)

    monkeypatch.setattr(hours_module.os, "replace", crash_on_second)
    with pytest.raises(OSError, match="power cut"):
        refine_in_process(log_url, lake)
    monkeypatch.setattr(hours_module.os, "replace", real)
    # never a partial partition: the hour is absent until the next run puts it back and completes it
    assert not list((lake / "event" / TABLE).rglob("hour=0/*.parquet"))
    refine_in_process(log_url, lake)
    assert query(lake, f"SELECT meta.id AS id FROM event.{TABLE} ORDER BY id") == [
        {"id": "a"},
        {"id": "late"},
    ]


def test_crash_before_the_status_commit_doubles_nothing(
    log_url: str, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z"), event("2026-02-15T00:11:00Z")])
    no_id = json.loads(json.dumps(event("2026-02-15T00:12:00Z")))
    del no_id["meta"]["id"]  # without an id, deduplication cannot hide a doubled record
    produce(log_url, STREAM, [no_id])

    def crash(*_: Any, **__: Any) -> None:
        raise OSError("killed")

    monkeypatch.setattr(Status, "commit", crash)
    with pytest.raises(OSError, match="killed"):
        refine_in_process(log_url, lake)
    monkeypatch.undo()
    assert query(lake, f"SELECT count(*) AS n FROM event.{TABLE}") == [{"n": 3}]  # swapped in, not committed
    [report] = refine_in_process(log_url, lake)
    assert (report.read, report.skipped) == (3, 3)
    assert query(lake, f"SELECT count(*) AS n FROM event.{TABLE}") == [{"n": 3}]
    assert query(lake, "SELECT rows_out FROM lake.status") == [{"rows_out": 3}]


def test_error_events_land_in_their_own_table(log_url: str, lake: Path, tmp_path: Path) -> None:
    lines = tmp_path / "events.jsonl"
    lines.write_text(
        json.dumps({"$schema": "/analytics/link_hover/1.0.0", "meta": {"stream": STREAM}, "link_title": 3})
        + "\n"
    )
    result = CliRunner().invoke(cli, ["produce", STREAM, str(lines), "--log", log_url])
    assert "invalid" in result.output.lower() or result.exit_code != 0
    out = refine(log_url, lake).output
    assert "eventplatform.error.validation -> event.eventplatform_error_validation: 1 read, 1 rows" in out
    [row] = query(
        lake, "SELECT errored_stream_name, error_type, raw_event FROM event.eventplatform_error_validation"
    )
    assert row["errored_stream_name"] == STREAM and row["error_type"] == "validation_failed"
    assert '"link_title":3' in row["raw_event"].replace(" ", "")


def test_a_lake_that_cannot_be_written_is_reported(log_url: str, tmp_path: Path) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z")])
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = refine(log_url, blocker / "lake", ok=False)
    assert result.exit_code == 1 and "cannot use the lake directory" in result.output


def test_lake_commands(log_url: str, lake: Path) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z"), event("2026-02-15T03:10:00Z")])
    refine(log_url, lake)
    run = CliRunner()
    tables = run.invoke(cli, ["lake", "tables", "--lake", str(lake), "--format", "csv"])
    assert tables.output.splitlines() == ["table,rows,partitions", f"{TABLE},2,2"]
    desc = run.invoke(cli, ["lake", "describe", TABLE, "--lake", str(lake), "--format", "csv"]).output
    assert 'meta,"struct<domain: string, dt: string' in desc and "local,2026,2,15,3,1" in desc
    status = run.invoke(cli, ["lake", "status", "--lake", str(lake), "--format", "csv"]).output.splitlines()
    assert [line.split(",")[2:4] for line in status[1:]] == [
        ["2026-02-15T00", "1"],
        ["2026-02-15T01", "MISSING"],
        ["2026-02-15T02", "MISSING"],
        ["2026-02-15T03", "1"],
    ]
    ddl = run.invoke(cli, ["lake", "ddl", TABLE, "--lake", str(lake)]).output
    assert f"CREATE EXTERNAL TABLE IF NOT EXISTS `event`.`{TABLE}`" in ddl
    assert (
        "PARTITIONED BY (`datacenter` string, `year` bigint, `month` bigint, `day` bigint, `hour` bigint)"
        in ddl
    )
    assert "`http` struct<`client_ip`:string,`request_headers`:map<string,string>>" in ddl
    trino = run.invoke(cli, ["lake", "ddl", TABLE, "--lake", str(lake), "--dialect", "trino"]).output
    assert "partitioned_by = ARRAY['datacenter', 'year', 'month', 'day', 'hour']" in trino
    csv_out = run.invoke(
        cli, ["query", f"SELECT hour FROM event.{TABLE} ORDER BY 1", "--lake", str(lake), "--format", "csv"]
    ).output
    assert csv_out.splitlines() == ["hour", "0", "3"]
    parquet = lake.parent / "out.parquet"
    run.invoke(
        cli,
        [
            "query",
            f"SELECT meta.id FROM event.{TABLE} WHERE hour = 3",
            "--lake",
            str(lake),
            "--format",
            "parquet",
            "-o",
            str(parquet),
        ],
    )
    assert pq.read_table(parquet).num_rows == 1
    bad = run.invoke(cli, ["query", "SELECT * FROM event.nope", "--lake", str(lake)])
    assert bad.exit_code == 1 and "nope" in bad.output
