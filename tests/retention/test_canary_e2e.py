"""Canary events end to end on one ``serve`` (intake + EventStreams) and the SQLite log: accepted by intake,
then absent from EventStreams, from the lake (refine drops them, the status counts them), and from the
sanitized copy made of the refined hour."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from eventplatform.cli.main import cli
from eventplatform.examples import LINK_HOVER_STREAM
from tests.eventstreams.conftest import post, sse
from tests.gate.conftest import link_hover, running


def test_canaries_accepted_then_absent_from_eventstreams_lake_and_sanitized(tmp_path: Path) -> None:
    log = f"sqlite://{tmp_path}/log"
    lake = tmp_path / "lake"
    runner = CliRunner()
    with (
        running(tmp_path / "srv", "--log", log, "--datacenter", "eqiad") as srv,
        sse(srv, f"/v2/stream/{LINK_HOVER_STREAM}") as plain,
        sse(srv, f"/v2/stream/{LINK_HOVER_STREAM}?canary=include") as everything,
    ):
        r = runner.invoke(cli, ["canary", "--intake", srv.url + "/v1/events"])
        assert r.exit_code == 0 and "HTTP 201: ok" in r.stdout, r.output
        post(
            srv,
            [link_hover(link_title="real", meta={"stream": LINK_HOVER_STREAM, "domain": "en.wikipedia.org"})],
        )
        assert everything.next().json["meta"]["domain"] == "canary"  # it was accepted and is in the log
        assert everything.next().json["link_title"] == "real"
        assert plain.next().json["link_title"] == "real"  # EventStreams dropped the canary

    r = runner.invoke(cli, ["refine", "--log", log, "--lake", str(lake)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli,
        [
            "query",
            "SELECT link_title, meta.domain AS domain FROM event.mediawiki_interwiki_link_hover",
            "--lake",
            str(lake),
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert [json.loads(x) for x in r.stdout.splitlines()] == [
        {"link_title": "real", "domain": "en.wikipedia.org"}
    ]
    r = runner.invoke(cli, ["lake", "status", "--lake", str(lake), "--format", "json"])
    assert r.exit_code == 0, r.output
    hours = [json.loads(x) for x in r.stdout.splitlines()]  # one hour (two at an hour's turn)
    totals = [sum(h[k] for h in hours) for k in ("rows_in", "rows_out", "canaries")]
    assert totals == [2, 1, 1]  # counted, then dropped

    # the sanitized copy of the refined hour (real refine output): allowlisted fields only
    allowlist = tmp_path / "allowlist.yaml"
    allowlist.write_text("mediawiki_interwiki_link_hover:\n  link_title: keep\n  meta:\n    domain: keep\n")
    r = runner.invoke(
        cli,
        ["sanitize", "--allowlist", str(allowlist), "--lake", str(lake), "--salts", str(tmp_path / "salts")],
    )
    assert r.exit_code == 0, r.output
    parts = list((lake / "event_sanitized" / "mediawiki_interwiki_link_hover").rglob("*.parquet"))
    (row,) = [r for p in parts for r in pq.read_table(p).to_pylist()]
    part = next(p for p in parts if pq.read_table(p).num_rows)
    assert row["link_title"] == "real" and row["meta"]["domain"] == "en.wikipedia.org"
    assert row["meta"]["id"] is None and row["http"] is None  # not listed: gone
    sources = (lake / "event" / "mediawiki_interwiki_link_hover").rglob("*.parquet")
    assert part.relative_to(lake / "event_sanitized").parent in {
        s.relative_to(lake / "event").parent for s in sources
    }  # the same partition path


def test_lake_status_reports_an_hour_without_canary_as_broken(tmp_path: Path) -> None:
    from tests.lake.helpers import event, produce, refine

    log, lake = f"sqlite://{tmp_path}/log", tmp_path / "lake"
    produce(
        log,
        "eqiad.mediawiki.interwiki_link_hover",
        [
            event("2026-02-15T00:10:00.000Z", domain="canary"),
            event("2026-02-15T00:20:00.000Z"),
            event("2026-02-15T01:20:00.000Z"),  # an hour with events but no canary
            event("2026-02-15T03:05:00.000Z", domain="canary"),  # hour 02: nothing at all
        ],
    )
    refine(log, lake)
    r = CliRunner().invoke(cli, ["lake", "status", "--lake", str(lake)])
    assert r.exit_code == 0, r.output
    table = "mediawiki_interwiki_link_hover datacenter=eqiad"
    assert r.stderr.splitlines() == [
        f"broken: {table} hour 2026-02-15T01 has no canary event",
        f"broken: {table} hour 2026-02-15T02 has no canary event",
    ]
