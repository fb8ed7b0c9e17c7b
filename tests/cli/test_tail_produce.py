"""``eventplatform produce`` and ``tail`` against the real Kafka broker (and pure parts without it)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from eventplatform.cli.produce import produce
from eventplatform.cli.tail import parse_since, stream_topics, tail
from eventplatform.streamconfig.keys import message_key
from tests.kafka_broker import Broker, kafka, read_topic, unique, write_stream_config

SCHEMA = "/analytics/link_hover/1.0.0"


def stream_config(tmp_path: Path, stream: str) -> str:
    return str(write_stream_config(tmp_path / "streams.yaml", stream))


def event(title: str, dt: str | None = None) -> bytes:
    e: dict[str, object] = {
        "$schema": SCHEMA,
        "link_href": f"https://example.org/{title}",
        "link_title": title,
    }
    if dt:
        e["meta"] = {"dt": dt}
    return orjson.dumps(e)


# -- pure ---------------------------------------------------------------------------------------------


def test_parse_since_relative_and_iso() -> None:
    now = 1_800_000_000.0
    assert parse_since("-1h", now) == int((now - 3600) * 1000)
    assert parse_since("30m", now) == int((now - 1800) * 1000)
    assert parse_since("-90", now) == int((now - 90) * 1000)
    assert parse_since("2026-11-23T05:00:00Z") == 1795410000000
    assert parse_since("2026-11-23T05:00:00") == 1795410000000  # naive = UTC
    with pytest.raises(Exception, match=r"neither a time .* nor a duration ago"):
        parse_since("yesterday")


def test_stream_topics_every_datacenter_and_unprefixed() -> None:
    configured = ["eqiad.s.x", "codfw.s.x"]
    existing = ["eqiad.s.x", "esams.s.x", "other.s.x.y", "a.b.s.x", "s.x", "dc.s.x"]
    is_stream = {"dc.s.x"}.__contains__  # a configured stream of its own, not a datacenter topic
    assert stream_topics("s.x", configured, existing, is_stream) == [
        "eqiad.s.x",
        "codfw.s.x",
        "s.x",
        "esams.s.x",
    ]
    assert stream_topics("s", ["/^(eqiad\\.)s$/"], [], lambda _: False) == ["s"]


def test_message_key_from_message_key_fields() -> None:
    e = {"page": {"id": 7, "title": "T"}, "wiki": "en"}
    assert message_key(e, {"page_id": "page.id", "wiki": "wiki"}) == b'{"page_id":7,"wiki":"en"}'
    assert message_key(e, {"missing": "page.nope", "wiki": "wiki"}) == b'{"wiki":"en"}'
    assert message_key(e, None) is None
    assert message_key(e, {}) is None


def test_tail_refuses_since_with_from_beginning(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        tail, ["s", "--since", "-1h", "--from-beginning", "--log", f"sqlite:///{tmp_path}"]
    )
    assert r.exit_code == 2
    assert "exclude each other" in r.output


# -- against the broker -------------------------------------------------------------------------------


@kafka
@pytest.mark.kafka
def test_produce_validates_reports_lines_and_lands_in_the_datacenter_topic(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    stream = unique("test.produce.")
    cfg = stream_config(tmp_path, stream)
    lines = b"\n".join(
        [
            event("A", "2020-01-02T03:04:05.678Z"),
            b"",
            b'{"$schema": "/analytics/link_hover/1.0.0", "link_href": 5}',
            b"{not json",
            orjson.dumps({"link_title": "no schema"}),
            orjson.dumps({"$schema": SCHEMA, "meta": {"stream": "elsewhere"}}),
            event("B"),
        ]
    )
    r = CliRunner().invoke(
        produce,
        [stream, "-", "--log", kafka_broker.url, "--stream-config", cfg, "--datacenter", "eqiad"],
        input=lines,
    )
    assert r.exit_code == 1, r.output
    assert "2 of 6 events produced" in r.stdout
    assert f"topic eqiad.{stream}" in r.stdout
    errs = r.stderr.splitlines()
    assert errs[0].startswith("line 3: validation_failed: ")
    assert errs[1].startswith("line 4: malformed_json: ")
    assert errs[2].startswith("line 5: schema_uri_missing: ")
    assert errs[3].startswith("line 6: stream_mismatch: ")
    got = read_topic(kafka_broker.bootstrap, f"eqiad.{stream}")
    assert [e["link_title"] for _, _, e in got] == ["A", "B"]
    ts, key, first = got[0]
    assert first["meta"]["stream"] == stream
    assert ts == 1577934245678  # the Kafka timestamp is meta.dt
    assert key == b'{"title":"A"}'  # from message_key_fields
    assert abs(got[1][0] - time.time() * 1000) < 60_000  # meta.dt set by the pipeline = now


def check_tail_every_datacenter_since_a_time(log_url: str, tmp_path: Path) -> None:
    stream = unique("test.tail.")
    cfg = stream_config(tmp_path, stream)
    runner = CliRunner()
    for dc, title, dt in (
        ("eqiad", "old", "2021-05-01T00:00:00Z"),
        ("codfw", "new", None),
        ("eqiad", "newer", None),
    ):
        r = runner.invoke(
            produce,
            [stream, "--log", log_url, "--stream-config", cfg, "--datacenter", dc],
            input=event(title, dt),
        )
        assert r.exit_code == 0, r.output
    base = ["--log", log_url, "--stream-config", cfg, "--no-follow"]
    r = runner.invoke(tail, [stream, "--from-beginning", *base])
    assert r.exit_code == 0, r.output
    lines = [orjson.loads(line) for line in r.stdout.splitlines()]
    assert sorted(e["link_title"] for e in lines) == ["new", "newer", "old"]
    r = runner.invoke(tail, [stream, "--since", "2022-01-01T00:00:00Z", *base])
    assert sorted(orjson.loads(line)["link_title"] for line in r.stdout.splitlines()) == ["new", "newer"]
    r = runner.invoke(tail, [stream, "--since", "-1h", "--format", "pretty", "-n", "1", *base])
    assert r.stdout.startswith("# ") and ".test.tail." in r.stdout.splitlines()[0]
    assert '  "link_title": "new' in r.stdout
    r = runner.invoke(tail, [stream, *base])  # by default the last 10 events, oldest first, like tail(1)
    assert r.exit_code == 0, r.output
    # (Kafka's time retention may have deleted "old", dated 2021, by now: it is the only one that may miss)
    assert [orjson.loads(line)["link_title"] for line in r.stdout.splitlines()] in (
        ["old", "new", "newer"],
        ["new", "newer"],
    )
    r = runner.invoke(tail, [stream, "--lines", "2", *base])
    assert [orjson.loads(line)["link_title"] for line in r.stdout.splitlines()] == ["new", "newer"]
    r = runner.invoke(tail, [stream, "--lines", "2", "-n", "1", *base])  # -n still stops after N
    assert [orjson.loads(line)["link_title"] for line in r.stdout.splitlines()] == ["new"]
    r = runner.invoke(tail, [stream, "--lines", "0", *base])  # 0: start at the end
    assert r.exit_code == 0 and r.stdout == ""
    r = runner.invoke(tail, [stream, "--lines", "2", "--from-beginning", *base])
    assert r.exit_code == 2 and "--lines" in r.output


@kafka
@pytest.mark.kafka
def test_tail_reads_every_datacenter_since_a_time_on_kafka(kafka_broker: Broker, tmp_path: Path) -> None:
    check_tail_every_datacenter_since_a_time(kafka_broker.url, tmp_path)


def test_tail_reads_every_datacenter_since_a_time_on_sqlite(tmp_path: Path) -> None:
    check_tail_every_datacenter_since_a_time(f"sqlite://{tmp_path}/log", tmp_path)


@kafka
@pytest.mark.kafka
def test_tail_follows_new_events_in_a_separate_process(kafka_broker: Broker, tmp_path: Path) -> None:
    stream = unique("test.follow.")
    cfg = stream_config(tmp_path, stream)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("eventplatform")),
            "tail",
            stream,
            "--log",
            kafka_broker.url,
            "--stream-config",
            cfg,
            "-n",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # tail starts at the end whenever it gets there: produce f0, f1, … until it has printed two events,
    # instead of guessing how long its start-up takes
    produced = 0
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            r = CliRunner().invoke(
                produce,
                [stream, "--log", kafka_broker.url, "--stream-config", cfg, "--datacenter", "eqiad"],
                input=event(f"f{produced}"),
            )
            assert r.exit_code == 0, r.output
            produced += 1
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.3)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    titles = [orjson.loads(line)["link_title"] for line in out.splitlines()]
    assert len(titles) == 2, titles
    first = int(titles[0][1:])
    assert titles == [f"f{first}", f"f{first + 1}"]  # two consecutive new events, in order


def test_tail_hides_canary_events_unless_asked(tmp_path: Path) -> None:
    stream = unique("test.canary.")
    cfg = stream_config(tmp_path, stream)
    log_url = f"sqlite://{tmp_path}/log"
    canary = orjson.loads(event("the canary"))
    canary["meta"] = {"domain": "canary"}
    runner = CliRunner()
    r = runner.invoke(
        produce,
        [stream, "--log", log_url, "--stream-config", cfg],
        input=b"\n".join([event("before"), orjson.dumps(canary), event("after")]),
    )
    assert r.exit_code == 0, r.output
    base = ["--log", log_url, "--stream-config", cfg, "--no-follow", "--from-beginning"]
    r = runner.invoke(tail, [stream, *base])
    assert [orjson.loads(x)["link_title"] for x in r.stdout.splitlines()] == ["before", "after"]
    r = runner.invoke(tail, [stream, *base, "--canaries"])
    assert [orjson.loads(x)["link_title"] for x in r.stdout.splitlines()] == ["before", "the canary", "after"]
