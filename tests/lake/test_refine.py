"""refine on the SQLite log, checked with query: partitions by meta.dt, canaries, dedup, transforms,
quarantine, idempotent re-runs, late data, windows, crash mid-hour."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from tests.lake.helpers import STREAM, event, produce, query, refine

TABLE = "mediawiki_interwiki_link_hover"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def test_partitions_canaries_dedup_transforms(log_url: str, lake: Path) -> None:
    events = [
        event("2026-02-15T00:10:00.000Z", id="a", http={"request_headers": {"user-agent": UA}}),
        event("2026-02-15T00:20:00.000Z", id="b", domain="en.m.wikipedia.org"),
        event("2026-02-15T01:05:00Z", id="c", domain="example.org"),
        event("2026-02-15T00:30:00.000Z", id="k", domain="canary"),
        # duplicates of "dup": the latest meta.dt is kept
        event("2026-02-15T00:00:01Z", id="dup", link_title="first"),
        event("2026-02-15T00:00:03Z", id="dup", link_title="third"),
        event("2026-02-15T00:00:02Z", id="dup", link_title="second"),
    ]
    produce(log_url, STREAM, events)
    out = refine(log_url, lake).output
    assert "7 read, 4 rows in 2 hours, 1 canaries, 2 duplicates, 0 quarantined" in out
    hour0 = lake / "event" / TABLE / "datacenter=local/year=2026/month=2/day=15/hour=0"
    files = list(hour0.glob("part-*.parquet"))
    assert len(files) == 1
    assert "year" not in pq.read_schema(files[0]).names  # partition columns stay out of the files
    rows = query(
        lake,
        f"SELECT meta.id AS id, link_title, hour, is_own_domain, normalized_host, "
        f"user_agent_map FROM event.{TABLE} ORDER BY id",
    )
    assert [r["id"] for r in rows] == ["a", "b", "c", "dup"]
    by_id = {r["id"]: r for r in rows}
    assert by_id["dup"]["link_title"] == "third"
    assert by_id["c"]["hour"] == 1 and by_id["a"]["hour"] == 0
    assert by_id["a"]["is_own_domain"] is True and by_id["c"]["is_own_domain"] is False
    assert by_id["b"]["normalized_host"] == {
        "project_class": "wikipedia",
        "project": "en",
        "qualifiers": ["m"],
        "tld": "org",
        "project_family": "wikipedia",
    }
    ua = by_id["a"]["user_agent_map"]
    assert ua["browser_family"] == "Firefox" and ua["browser_major"] == "120" and ua["os_family"] == "Linux"
    assert by_id["b"]["user_agent_map"] is None


def test_quarantine_and_idempotent_rerun_and_late_data(log_url: str, lake: Path) -> None:
    produce(
        log_url,
        STREAM,
        [
            event("2026-02-15T00:10:00Z", id="a"),
            b'{"$schema": "/analytics/link_hover/1.0.0", "meta": {"id": "bad", "dt": "2026-02-15T00:11:00Z"},'
            b' "link_title": 12}',
            b"not json",
        ],
    )
    out = refine(log_url, lake).output
    assert "3 read, 1 rows in 1 hours, 0 canaries, 0 duplicates, 2 quarantined" in out
    bad = query(lake, f'SELECT reason, value, "offset" FROM quarantine.{TABLE} ORDER BY "offset"')
    assert [b["offset"] for b in bad] == [1, 2]
    assert "string" in bad[0]["reason"] and '"link_title": 12' in bad[0]["value"]
    # nothing new: nothing done
    assert "0 read, 0 rows in 0 hours" in refine(log_url, lake).output
    # a late event of hour 0 and a new hour: hour 0 re-refined with both rows, no duplicate
    produce(log_url, STREAM, [event("2026-02-15T00:50:00Z", id="late"), event("2026-02-15T03:00:00Z")])
    assert "2 read, 3 rows in 2 hours" in refine(log_url, lake).output
    rows = query(lake, f"SELECT hour, count(*) AS n FROM event.{TABLE} GROUP BY hour ORDER BY hour")
    assert rows == [{"hour": 0, "n": 2}, {"hour": 3, "n": 1}]
    status = query(lake, "SELECT hour, rows_in, rows_out, quarantined, runs FROM lake.status ORDER BY hour")
    assert status[0] == {"hour": "2026-02-15T00", "rows_in": 2, "rows_out": 2, "quarantined": 1, "runs": 2}


def test_window_rebuilds_nothing_twice_and_refuses_since_after_until(log_url: str, lake: Path) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z"), event("2026-02-15T05:10:00Z")])
    out = refine(log_url, lake, "--since", "2026-02-15T04:00:00Z", "--until", "2026-02-15T06:00:00Z").output
    assert "1 rows in 1 hours" in out and "1 outside the window" in out
    # the window did not move the positions: the incremental run refines both, the window's hour once
    out = refine(log_url, lake).output
    assert "2 read" in out and "1 already refined" in out
    assert query(lake, f"SELECT count(*) AS n FROM event.{TABLE}") == [{"n": 2}]
    bad = refine(
        log_url, lake, "--since", "2026-02-15T06:00:00Z", "--until", "2026-02-15T04:00:00Z", ok=False
    )
    assert bad.exit_code == 2 and "is not before --until" in bad.output


def test_unknown_stream_reported_and_others_refined(log_url: str, lake: Path) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z")])
    result = refine(log_url, lake, "--stream", "no.such.stream", "--stream", STREAM, ok=False)
    assert result.exit_code == 1
    assert "no.such.stream: ERROR stream 'no.such.stream' is not in the stream config" in result.output
    assert query(lake, f"SELECT count(*) AS n FROM event.{TABLE}") == [{"n": 1}]


def test_follow_keeps_refining(log_url: str, lake: Path) -> None:
    produce(log_url, STREAM, [event("2026-02-15T00:10:00Z")])
    out = refine(log_url, lake, "--follow", "--interval", "0", "--runs", "2").output
    assert "1 read, 1 rows in 1 hours" in out and "0 read, 0 rows in 0 hours" in out
