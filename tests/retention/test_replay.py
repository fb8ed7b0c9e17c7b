"""Replay of failed events after a schema fix: a real intake, the SQLite log (and Kafka), no duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import orjson
import pytest
from click.testing import CliRunner

from eventplatform.cli.produce import produce
from eventplatform.examples import LINK_HOVER_STREAM, SCHEMA_BASE_DIR
from eventplatform.retention.cli import replay
from tests.gate.conftest import link_hover, read_log, running
from tests.kafka_broker import Broker, kafka, read_topic, unique, write_stream_config

ERRORS = "eventplatform.error.validation"


def schema_repo(tmp_path: Path) -> Path:
    """A copy of the bundled schema repository, to fix later."""
    repo = tmp_path / "schemas"
    shutil.copytree(SCHEMA_BASE_DIR, repo, symlinks=True)
    return repo


def add_version_1_1_0(repo: Path) -> None:
    """The schema fix: version 1.1.0 of analytics/link_hover (the clients already sent it)."""
    d = repo / "analytics" / "link_hover"
    text = (
        (d / "1.0.0.yaml").read_text().replace("/analytics/link_hover/1.0.0", "/analytics/link_hover/1.1.0")
    )
    (d / "1.1.0.yaml").write_text(text)
    (d / "1.1.0").symlink_to("1.1.0.yaml")


def test_replay_after_a_schema_fix_without_duplicates(tmp_path: Path) -> None:
    repo = schema_repo(tmp_path)
    log = f"sqlite://{tmp_path}/log"
    early = link_hover(link_title="too early")
    early["$schema"] = "/analytics/link_hover/1.1.0"  # not published yet
    early["meta"]["id"] = "4a1e5f52-d1b0-11f0-8000-000000000001"  # the client's own id
    broken = link_hover(link_title="broken", link_href=5)  # invalid whatever the schema version
    with running(
        tmp_path / "srv", "--log", log, "--datacenter", "eqiad", "--schema-base-uri", str(repo)
    ) as s:
        r = httpx.post(s.url + "/v1/events", json=[link_hover(link_title="fine"), early, broken])
        assert r.status_code == 207, r.text
    errors = read_log(log, f"eqiad.{ERRORS}")
    assert sorted(e["error_type"] for e in errors) == ["schema_not_found", "validation_failed"]
    early_id = orjson.loads(next(e for e in errors if e["error_type"] == "schema_not_found")["raw_event"])
    common = ["--log", log, "--schema-base-uri", str(repo)]
    env_state = {"EVENTPLATFORM_RETENTION__STATE_DIR": str(tmp_path / "state")}

    # before the fix: nothing passes, both reported with their reasons
    r = CliRunner(env=env_state).invoke(replay, [*common, "--format", "json"])
    assert r.exit_code == 1
    report = orjson.loads(r.stdout)
    assert report["replayed"] == 0 and report["still_failing"] == 2
    assert {f["code"] for f in report["failures"]} == {"schema_not_found", "validation_failed"}

    add_version_1_1_0(repo)
    r = CliRunner(env=env_state).invoke(replay, [*common, "--dry-run", "--format", "json"])
    assert orjson.loads(r.stdout)["replayed"] == 1
    assert len(read_log(log, f"eqiad.{LINK_HOVER_STREAM}")) == 1  # a dry run produces nothing

    r = CliRunner(env=env_state).invoke(replay, [*common])
    assert r.exit_code == 1  # the broken one still fails
    assert "still failing:" in r.stdout and "validation_failed" in r.stdout
    assert "1 replayed, 1 still failing, 0 replayed before" in r.stderr
    events = read_log(log, f"eqiad.{LINK_HOVER_STREAM}")  # the original datacenter's topic
    assert [e["link_title"] for e in events] == ["fine", "too early"]
    assert events[1]["meta"]["id"] == early_id["meta"]["id"]  # the original meta.id
    assert early_id["meta"]["id"] == "4a1e5f52-d1b0-11f0-8000-000000000001"
    assert events[1]["$schema"] == "/analytics/link_hover/1.1.0"

    # a second run produces nothing new
    r = CliRunner(env=env_state).invoke(replay, [*common, "--format", "json"])
    assert orjson.loads(r.stdout)["replayed"] == 0 and orjson.loads(r.stdout)["already_replayed"] == 1
    assert len(read_log(log, f"eqiad.{LINK_HOVER_STREAM}")) == 2
    assert len(read_log(log, f"eqiad.{ERRORS}")) == 2  # and no new error events


def test_replay_of_a_stream_that_no_longer_exists_is_reported(tmp_path: Path) -> None:
    log = f"sqlite://{tmp_path}/log"
    cfg = tmp_path / "streams.yaml"
    write_stream_config(cfg, "gone.stream")
    with running(tmp_path / "srv", "--log", log, "--stream-config", str(cfg)) as s:
        bad = link_hover(link_href=5)
        bad["meta"] = {"stream": "gone.stream"}
        assert httpx.post(s.url + "/v1/events", json=[bad]).status_code == 400
    cfg.write_text(cfg.read_text().replace("gone.stream", "other.stream"))  # the stream was removed
    r = CliRunner().invoke(
        replay,
        ["--log", log, "--stream-config", str(cfg)],
        env={"EVENTPLATFORM_RETENTION__STATE_DIR": str(tmp_path / "state")},
    )
    assert r.exit_code == 1
    assert "stream gone.stream: stream_not_configured" in r.stdout


def test_since_after_until_is_refused() -> None:
    r = CliRunner().invoke(replay, ["--since", "2026-01-02", "--until", "2026-01-01"])
    assert r.exit_code == 2 and "--since must be before --until" in r.output


@kafka
@pytest.mark.kafka
def test_replay_on_kafka_after_a_fix_twice(kafka_broker: Broker, tmp_path: Path) -> None:
    repo = schema_repo(tmp_path)
    stream = unique("test.replay.")
    cfg = str(write_stream_config(tmp_path / "streams.yaml", stream))
    service = unique("svc")
    base = ["--log", kafka_broker.url, "--stream-config", cfg, "--schema-base-uri", str(repo)]
    early = {
        "$schema": "/analytics/link_hover/1.1.0",
        "link_title": "early",
        "meta": {"id": "id-early", "stream": stream},
    }
    r = CliRunner().invoke(
        produce,
        [stream, "-", *base, "--datacenter", "codfw", "--service-name", service],
        input=orjson.dumps(early),
    )
    assert r.exit_code == 1, r.output
    add_version_1_1_0(repo)
    env = {"EVENTPLATFORM_RETENTION__STATE_DIR": str(tmp_path / "state")}
    for expected in (1, 0):
        args = [*base, "--stream", stream, "--service-name", service, "--format", "json"]
        r = CliRunner(env=env).invoke(replay, args)
        assert r.exit_code == 0, r.output
        assert orjson.loads(r.stdout)["replayed"] == expected
    got = read_topic(kafka_broker.bootstrap, f"codfw.{stream}")
    assert [e["meta"]["id"] for _, _, e in got] == ["id-early"]


def test_a_crash_between_record_and_produce_is_finished_without_duplicates(tmp_path: Path) -> None:
    """Pending entries of a run that died: the one already in the log is only marked done, the other is
    produced; a further run does nothing."""
    import asyncio

    from eventplatform.intake.builder import new_registry
    from eventplatform.log import Batch, open_log
    from eventplatform.retention.replay import ReplayRecord
    from eventplatform.retention.replay import replay as run
    from eventplatform.settings import Settings
    from eventplatform.streamconfig.config import load_stream_config

    topic = f"eqiad.{LINK_HOVER_STREAM}"
    values = {i: orjson.dumps(link_hover(meta={"stream": LINK_HOVER_STREAM, "id": i})) for i in ("a", "b")}
    record = ReplayRecord(tmp_path / "state" / "replay.sqlite")
    record.add_pending([(f"err-{i}", i, topic, v, None, 1_700_000_000_000) for i, v in values.items()])
    settings = Settings()

    async def main() -> list[int]:
        log = open_log(f"sqlite://{tmp_path}/log")
        registry = new_registry(settings)
        config = load_stream_config(settings.streamconfig.source)
        try:
            await log.produce(Batch.to(topic, [values["a"]], timestamps=[1_700_000_000_000]))  # "a" made it
            counts = []
            for _ in range(2):
                report = await run(log, registry, config, record, error_stream=ERRORS)
                counts.append(report.recovered)
            return counts
        finally:
            record.close()
            await registry.close()
            await log.close()

    assert asyncio.run(main()) == [2, 0]
    assert sorted(e["meta"]["id"] for e in read_log(f"sqlite://{tmp_path}/log", topic)) == ["a", "b"]
