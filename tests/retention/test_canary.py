"""Canary events through a real intake (``eventplatform serve`` over a socket) and the SQLite log."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from eventplatform.cli.tail import tail
from eventplatform.examples import LINK_HOVER_STREAM
from eventplatform.retention.canary import HOUR_MS, hours, iso_ms
from eventplatform.retention.cli import canary
from tests.gate.conftest import read_log, running

TOPIC = LINK_HOVER_STREAM  # no datacenter: the topic is the stream


def test_hours_window_since_inclusive_until_exclusive() -> None:
    assert hours(0, 3 * HOUR_MS) == [0, HOUR_MS, 2 * HOUR_MS]
    assert hours(1, 3 * HOUR_MS + 5) == [HOUR_MS, 2 * HOUR_MS]


def test_dry_run_prints_the_canary_built_from_the_first_example(tmp_path: Path) -> None:
    r = CliRunner().invoke(canary, ["--dry-run", "--timestamp", "2026-12-05T08:00:00Z"])
    assert r.exit_code == 0, r.output
    (line,) = r.stdout.splitlines()
    event = orjson.loads(line)
    assert event["meta"] == {
        "dt": "2026-12-05T08:00:00.000Z",
        "stream": LINK_HOVER_STREAM,
        "domain": "canary",
    }
    assert event["link_title"] == "mw:Extension:EventLogging"  # from examples[0] of the schema


def test_unknown_or_disabled_stream_is_refused() -> None:
    r = CliRunner().invoke(canary, ["--dry-run", "--stream", "nope"])
    assert r.exit_code == 2 and "not in the stream config" in r.output
    r = CliRunner().invoke(canary, ["--dry-run", "--stream", "eventplatform.test.event"])
    assert r.exit_code == 2 and "canary_events_enabled" in r.output


def test_canaries_are_accepted_in_every_datacenter_and_hidden_from_tail(tmp_path: Path) -> None:
    log = f"sqlite://{tmp_path}/log"
    with (
        running(tmp_path / "eqiad", "--log", log, "--datacenter", "eqiad") as eqiad,
        running(tmp_path / "codfw", "--log", log, "--datacenter", "codfw") as codfw,
    ):
        r = CliRunner().invoke(
            canary, ["--intake", eqiad.url + "/v1/events", "--intake", codfw.url + "/v1/events"]
        )
        assert r.exit_code == 0, r.output
        assert r.stdout.count("HTTP 201: ok") == 2
    for dc in ("eqiad", "codfw"):
        (event,) = read_log(log, f"{dc}.{TOPIC}")
        assert event["meta"]["domain"] == "canary" and event["meta"]["stream"] == LINK_HOVER_STREAM
        assert "id" in event["meta"]  # completed by intake like any event
    # consumers drop them: tail shows nothing unless asked
    base = [LINK_HOVER_STREAM, "--log", log, "--no-follow", "--from-beginning"]
    assert CliRunner().invoke(tail, base).stdout == ""
    assert len(CliRunner().invoke(tail, [*base, "--canaries"]).stdout.splitlines()) == 2


def test_a_refused_post_fails_the_run(tmp_path: Path) -> None:
    with running(tmp_path / "srv", "--log", f"sqlite://{tmp_path}/log") as srv:
        r = CliRunner().invoke(canary, ["--intake", srv.url + "/nowhere"])
    assert r.exit_code == 1
    assert "HTTP 404: FAILED" in r.stdout


def test_missing_canary_hours_are_reported(tmp_path: Path) -> None:
    log = f"sqlite://{tmp_path}/log"
    now_hour = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    two_ago = now_hour - 2 * HOUR_MS
    with running(tmp_path / "srv", "--log", log) as srv:
        # a canary for the hour two hours ago, none for the last hour
        r = CliRunner().invoke(
            canary, ["--intake", srv.url + "/v1/events", "--timestamp", iso_ms(two_ago + 60_000)]
        )
        assert r.exit_code == 0, r.output
    metrics = tmp_path / "canary.prom"
    r = CliRunner().invoke(canary, ["--log", log, "--check", iso_ms(two_ago), "--metrics-file", str(metrics)])
    assert r.exit_code == 1, r.output
    hour = time.strftime("%Y-%m-%dT%H", time.gmtime((now_hour - HOUR_MS) / 1000))
    assert r.stdout.splitlines() == [f"missing canary: stream {LINK_HOVER_STREAM} topic {TOPIC} hour {hour}"]
    text = metrics.read_text()
    assert f'eventplatform_canary_missing{{stream="{LINK_HOVER_STREAM}",topic="{TOPIC}"}} 1.0' in text
    # the hour with its canary alone is healthy
    r = CliRunner().invoke(
        canary,
        ["--log", log, "--check", iso_ms(two_ago), "--datacenter", "eqiad", "--metrics-file", str(metrics)],
    )
    assert f"topic eqiad.{TOPIC}" in r.stdout  # nothing ever reached the eqiad topic


@pytest.mark.parametrize("value", ["soon", "1x"])
def test_bad_every_is_a_usage_error(value: str) -> None:
    r = CliRunner().invoke(canary, ["--every", value])
    assert r.exit_code == 2 and "not a duration" in r.output


def test_serve_canary_interval_posts_canaries_to_itself(tmp_path: Path) -> None:
    log = f"sqlite://{tmp_path}/log"
    with running(tmp_path / "srv", "--log", log, "--datacenter", "eqiad", "--canary-interval", "1h") as srv:
        deadline = time.monotonic() + 30
        events: list[dict[str, object]] = []
        while time.monotonic() < deadline and not events:
            events = read_log(log, f"eqiad.{TOPIC}")
            time.sleep(0.1)
        assert srv.alive()
    assert len(events) == 1 and events[0]["meta"]["domain"] == "canary"  # type: ignore[index]


def test_serve_refuses_a_bad_canary_interval(tmp_path: Path) -> None:
    from eventplatform.cli.serve import serve

    r = CliRunner().invoke(serve, ["--canary-interval", "often", "--log", f"sqlite://{tmp_path}/log"])
    assert r.exit_code == 2 and "not a duration" in r.output


def test_metrics_file_reports_the_lake_consumer_lag(tmp_path: Path) -> None:
    import asyncio
    import sqlite3

    from eventplatform.log import Batch, open_log

    log = f"sqlite://{tmp_path}/log"

    async def write() -> None:
        lg = open_log(log)
        try:
            await lg.produce(Batch.to(TOPIC, [b'{"n": %d}' % i for i in range(5)]))
        finally:
            await lg.close()

    asyncio.run(write())
    lake = tmp_path / "lake"
    lake.mkdir()
    with sqlite3.connect(lake / "_status.sqlite") as db:  # the lake's refine positions (its schema)
        db.execute("CREATE TABLE positions (stream TEXT, topic TEXT, partition INTEGER, next_offset INTEGER)")
        db.execute("INSERT INTO positions VALUES (?, ?, 0, 2)", (LINK_HOVER_STREAM, TOPIC))
    metrics = tmp_path / "ops.prom"
    r = CliRunner().invoke(
        canary, ["--log", log, "--check", "-1h", "--metrics-file", str(metrics), "--lake", str(lake)]
    )
    assert r.exit_code in (0, 1), r.output
    text = metrics.read_text()
    assert f'eventplatform_consumer_lag_records{{consumer="lake",partition="0",topic="{TOPIC}"}} 3.0' in text
