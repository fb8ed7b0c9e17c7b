"""Intake on Kafka, end to end: ``eventplatform serve --log kafka://…`` over real sockets, read back with a
plain confluent-kafka consumer; and the broker going away under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gate.conftest import Server
from tests.kafka_broker import (
    LINK_HOVER_SCHEMA,
    Broker,
    acknowledged,
    kafka,
    link_hover_event,
    read_topic,
    unique,
    wait_until,
    write_stream_config,
)

pytestmark = [kafka, pytest.mark.kafka]


def start_intake(workdir: Path, log_url: str, stream_config: Path, datacenter: str) -> Server:
    """``eventplatform serve`` on the given log, for one datacenter."""
    return Server(
        workdir, "--stream-config", str(stream_config), "--datacenter", datacenter, log=log_url
    ).start()


@pytest.fixture
def stream(tmp_path: Path) -> tuple[str, Path]:
    name = unique("test.intake.")
    return name, write_stream_config(tmp_path / "streams.yaml", name)


@pytest.fixture
def intakes(kafka_broker: Broker, stream: tuple[str, Path], tmp_path: Path) -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    try:
        for dc in ("eqiad", "codfw"):
            started[dc] = start_intake(tmp_path / dc, kafka_broker.url, stream[1], dc)
        yield started
    finally:
        for i in started.values():
            i.stop()


def test_http_events_land_in_datacenter_topics_with_keys_and_timestamps(
    kafka_broker: Broker, intakes: dict[str, Server], stream: tuple[str, Path]
) -> None:
    name = stream[0]
    eqiad, codfw = intakes["eqiad"], intakes["codfw"]
    batch = [link_hover_event(name, f"e{i}", dt="2024-03-15T19:05:00.456Z") for i in range(20)]
    batch.append({"$schema": LINK_HOVER_SCHEMA, "meta": {"stream": name}, "link_href": 7})  # invalid
    r = httpx.post(f"{eqiad.url}/v1/events", json=batch, timeout=30)
    assert r.status_code == 207, r.text
    assert len(r.json()["invalid"]) == 1
    r = httpx.post(f"{codfw.url}/v1/events", json=[link_hover_event(name, "c0")], timeout=30)
    assert r.status_code == 201, r.text
    hasty = [link_hover_event(name, "h0"), link_hover_event(name, "h1")]
    r = httpx.post(f"{codfw.url}/v1/events?hasty=true", json=hasty, timeout=30)
    assert r.status_code == 202, r.text

    got = read_topic(kafka_broker.bootstrap, f"eqiad.{name}")
    assert [e["link_title"] for _, _, e in got] == [f"e{i}" for i in range(20)]
    ts, key, first = got[0]
    assert ts == 1710529500456  # Kafka timestamp = meta.dt
    assert key == b'{"title":"e0"}'
    assert first["meta"]["stream"] == name and first["meta"]["id"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the hasty events are produced after the 202
        titles = sorted(e["link_title"] for _, _, e in read_topic(kafka_broker.bootstrap, f"codfw.{name}"))
        if titles == ["c0", "h0", "h1"]:
            break
        time.sleep(0.3)
    assert titles == ["c0", "h0", "h1"]
    errors = read_topic(kafka_broker.bootstrap, "eqiad.eventplatform.error.validation")
    assert any(e["errored_stream_name"] == name for _, _, e in errors)


def test_serve_creates_the_topics_of_configured_streams_at_startup(
    kafka_broker: Broker, intakes: dict[str, Server], stream: tuple[str, Path]
) -> None:
    """Consumers can subscribe to a configured stream before its first event."""
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": kafka_broker.bootstrap}).list_topics(timeout=10).topics
    # each intake creates the topic of its own datacenter; regex streams name no concrete topic
    assert {f"eqiad.{stream[0]}", f"codfw.{stream[0]}"} <= set(topics)


def test_broker_stopped_under_load_never_loses_a_201(
    kafka_broker: Broker, stream: tuple[str, Path], tmp_path: Path
) -> None:
    """Stop the broker while clients post: intake answers 5xx (never 201) for what Kafka did not
    acknowledge, or 207 when part of a batch was acknowledged before the broker went away; it does not hang
    or crash, shows it in /metrics, and recovers by itself when the broker returns. Every event acknowledged
    (in a 201 or as accepted in a 207) is in the topic afterwards."""
    name = stream[0]
    timeout_s = 3.0
    intake = start_intake(
        tmp_path / "fault", f"{kafka_broker.url}?delivery_timeout={timeout_s}", stream[1], "eqiad"
    )
    acked: list[str] = []
    statuses: list[int] = []
    slowest = [0.0]
    stop = threading.Event()
    lock = threading.Lock()
    problems: list[str] = []

    def load(worker: int) -> None:
        n = 0
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                titles = [f"w{worker}-{n + i}" for i in range(10)]
                n += 10
                t0 = time.monotonic()
                try:
                    batch = [link_hover_event(name, t) for t in titles]
                    r = client.post(f"{intake.url}/v1/events", json=batch)
                except httpx.HTTPError as exc:  # intake must neither hang nor drop the connection
                    with lock:
                        problems.append(f"HTTP error {exc!r}")
                    continue
                elapsed = time.monotonic() - t0
                with lock:
                    statuses.append(r.status_code)
                    slowest[0] = max(slowest[0], elapsed)
                    ok = acknowledged(r, titles)
                    if ok is None:
                        problems.append(f"{r.status_code}: {r.text[:500]}")  # never 2xx when not acked
                    else:
                        acked.extend(ok)
                time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
    try:
        for t in threads:
            t.start()
        assert wait_until(lambda: statuses.count(201) > 10, 30), "no load acknowledged before the fault"
        kafka_broker.stop()
        time.sleep(timeout_s * 2 + 1)  # the outage: long enough for every in-flight batch to time out
        with lock:
            failures_while_down = sum(1 for s in statuses if s >= 500)
        assert failures_while_down > 0
        assert intake.proc.poll() is None  # still running
        metrics = httpx.get(f"{intake.url}/metrics", timeout=10).text
        assert "eventplatform_events_errored_total{" in metrics
        kafka_broker.start()
        with lock:
            mark = len(statuses)
        resumed = wait_until(lambda: statuses[mark:].count(201) >= 5, 60)
        assert resumed, "intake did not resume after the broker came back"
    finally:
        stop.set()
        for t in threads:
            t.join(90)
        if not kafka_broker.running():
            kafka_broker.start()
        intake.stop()
    assert not problems, problems[:3]
    # librdkafka fails a message by delivery_timeout; the answer may come a little later, never much later
    assert slowest[0] < timeout_s + 6, slowest[0]
    in_topic = {e["link_title"] for _, _, e in read_topic(kafka_broker.bootstrap, f"eqiad.{name}")}
    missing = [t for t in acked if t not in in_topic]
    assert not missing, f"{len(missing)} acknowledged events are missing, e.g. {missing[:5]}"
    print(
        f"\n{len(acked)} events acknowledged, all in the topic; statuses: "
        f"{ {s: statuses.count(s) for s in set(statuses)} }; slowest answer {slowest[0]:.1f}s"
    )
