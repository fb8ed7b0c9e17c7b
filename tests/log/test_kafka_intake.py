"""Intake on Kafka, end to end: ``eventplatform serve --log kafka://…`` over real sockets, read back with a
plain confluent-kafka consumer; and the broker going away under load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gate.conftest import Server
from tests.kafka_broker import Broker, kafka, read_topic, unique, write_stream_config

pytestmark = [kafka, pytest.mark.kafka]

SCHEMA = "/analytics/link_hover/1.0.0"


def start_intake(workdir: Path, log_url: str, stream_config: Path, datacenter: str) -> Server:
    """``eventplatform serve`` on the given log, for one datacenter."""
    return Server(
        workdir, "--stream-config", str(stream_config), "--datacenter", datacenter, log=log_url
    ).start()


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` (it reads lists the load threads append to) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def event(stream: str, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "meta": {"stream": stream, **extra},
        "link_href": "https://x.org",
        "link_title": title,
    }


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
    batch = [event(name, f"e{i}", dt="2024-03-15T19:05:00.456Z") for i in range(20)]
    batch.append({"$schema": SCHEMA, "meta": {"stream": name}, "link_href": 7})  # invalid
    r = httpx.post(f"{eqiad.url}/v1/events", json=batch, timeout=30)
    assert r.status_code == 207, r.text
    assert len(r.json()["invalid"]) == 1
    r = httpx.post(f"{codfw.url}/v1/events", json=[event(name, "c0")], timeout=30)
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{codfw.url}/v1/events?hasty=true", json=[event(name, "h0"), event(name, "h1")], timeout=30
    )
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
                    r = client.post(f"{intake.url}/v1/events", json=[event(name, t) for t in titles])
                except httpx.HTTPError as exc:  # intake must neither hang nor drop the connection
                    with lock:
                        problems.append(f"HTTP error {exc!r}")
                    continue
                elapsed = time.monotonic() - t0
                with lock:
                    statuses.append(r.status_code)
                    slowest[0] = max(slowest[0], elapsed)
                    body = {} if r.status_code == 201 else r.json()
                    if r.status_code == 201:
                        acked.extend(titles)
                    elif (
                        r.status_code not in (207, 500, 503)
                        or body.get("invalid")
                        or not body.get("error")
                        or not all(
                            e["code"] in ("log_unavailable", "delivery_timeout", "delivery_failed")
                            for e in body["error"]
                        )
                    ):
                        problems.append(f"{r.status_code}: {r.text[:500]}")  # never 2xx when not acked
                    elif r.status_code == 207:
                        # the broker went away in the middle of the batch: what it acknowledged is accepted
                        # (and must be in the topic), the rest is an error to retry
                        failed = {e["index"] for e in body["error"]}
                        acked.extend(t for i, t in enumerate(titles) if i not in failed)
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
