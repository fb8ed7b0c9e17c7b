"""A real Apache Kafka broker for the tests, started once per test process by ``scripts/kafka.sh``.

Tests that use it are marked ``xdist_group("kafka")`` so that ``pytest -n 2 --dist loadgroup`` runs them
all on one worker, which starts one broker (on free ports, with a temporary state dir) and stops it at the
end. Set ``EVENTPLATFORM_SKIP_KAFKA=1`` to skip them explicitly on a machine without Java and Maven.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from eventplatform.errors import Codes

if TYPE_CHECKING:
    import httpx

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "kafka.sh"

kafka = pytest.mark.xdist_group("kafka")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Broker:
    port: int
    controller_port: int
    state_dir: Path
    start_seconds: float = 0.0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_STATE_DIR": str(self.state_dir),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_WATCH_PID": str(os.getpid()),  # a killed test run does not leave a broker behind
            "KAFKA_START_TIMEOUT": os.environ.get("KAFKA_START_TIMEOUT", "120"),  # CI machines can be slow
        }

    def start(self) -> None:
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(SCRIPT), "start"], env=self._env(), capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise RuntimeError(f"scripts/kafka.sh start failed:\n{proc.stdout}\n{proc.stderr}")
        self.start_seconds = time.monotonic() - t0

    def stop(self) -> None:
        subprocess.run([str(SCRIPT), "stop"], env=self._env(), capture_output=True, text=True, timeout=120)

    def kill(self) -> None:
        """SIGKILL, the way a crashed broker goes away: no clean shutdown, no producer-state snapshot."""
        pid_file = self.state_dir / "kafka.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        pid_file.unlink(missing_ok=True)

    def running(self) -> bool:
        return subprocess.run([str(SCRIPT), "status"], env=self._env(), capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    if os.environ.get("EVENTPLATFORM_SKIP_KAFKA") == "1":
        pytest.skip("EVENTPLATFORM_SKIP_KAFKA=1: Kafka integration tests skipped on request")
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"the Kafka tests need {' and '.join(missing)} on PATH (scripts/kafka.sh fetches the broker "
            "from Maven Central); set EVENTPLATFORM_SKIP_KAFKA=1 to skip them"
        )
    port, controller_port = _free_ports(2)
    broker = Broker(port, controller_port, tmp_path_factory.mktemp("kafka"))
    try:
        broker.start()
    except RuntimeError as exc:  # e.g. another process took a port between our probe and the start
        print(f"\nfirst Kafka start failed, retrying on other ports: {exc}")
        broker.stop()
        port, controller_port = _free_ports(2)
        broker = Broker(port, controller_port, tmp_path_factory.mktemp("kafka"))
        broker.start()
    print(f"\nKafka broker on {broker.bootstrap} started in {broker.start_seconds:.1f}s")
    try:
        yield broker
    finally:
        broker.stop()


def unique(prefix: str) -> str:
    """A topic/stream name no other test uses (the broker is shared by the whole session)."""
    return f"{prefix}{time.monotonic_ns() % 10**12}"


def write_stream_config(path: Path, stream: str) -> Path:
    """A stream config with ``stream`` (link_hover, two datacenter prefixes, a message key) and the
    error streams, written to ``path``."""
    path.write_text(
        "streams:\n"
        f"  {stream}:\n"
        "    schema_title: analytics/link_hover\n"
        "    topic_prefixes: [eqiad., codfw.]\n"
        "    message_key_fields: {title: link_title}\n"
        "  /^[A-Za-z0-9_.-]+\\.error\\.validation$/:\n"
        "    schema_title: error\n"
        "    topic_prefixes: [eqiad., codfw.]\n"
    )
    return path


LINK_HOVER_SCHEMA = "/analytics/link_hover/1.0.0"
# the failures of a delivery, safe to retry
DELIVERY_CODES = frozenset({Codes.LOG_UNAVAILABLE, Codes.DELIVERY_TIMEOUT, Codes.DELIVERY_FAILED})


def link_hover_event(stream: str, title: str, **meta: Any) -> dict[str, Any]:
    """A valid event of the streams of :func:`write_stream_config`; ``title`` identifies it in the topic."""
    return {
        "$schema": LINK_HOVER_SCHEMA,
        "meta": {"stream": stream, **meta},
        "link_href": "https://x.org",
        "link_title": title,
    }


def acknowledged(response: httpx.Response, titles: list[str]) -> list[str] | None:
    """The titles that intake's answer to a batch of ``titles`` acknowledged while the broker may be away:
    all of a 201; the accepted ones of a 207 (part of the batch acknowledged before the broker went away) or
    none of a 500, when every error is a retryable delivery failure.

    None: an answer intake must never give."""
    if response.status_code == 201:
        return titles
    body = response.json()
    if (
        response.status_code not in (207, 500, 503)
        or body.get("invalid")
        or not body.get("error")
        or not all(e["code"] in DELIVERY_CODES for e in body["error"])
    ):
        return None
    failed = {e["index"] for e in body["error"]}
    return [t for i, t in enumerate(titles) if i not in failed]


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` (it reads lists that load threads append to) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def read_all(bootstrap: str, topic: str, partitions: int = 1) -> list[tuple[int, int, bytes | None, bytes]]:
    """(partition, timestamp, key, value) of every message in ``topic``, read by a plain confluent-kafka
    consumer of our own (independent of the code under test) up to the end of every partition."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: list[tuple[int, int, bytes | None, bytes]] = []
        eof: set[int] = set()
        deadline = time.monotonic() + 30
        while len(eof) < partitions and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                eof.add(msg.partition())
                continue
            out.append((msg.partition(), msg.timestamp()[1], msg.key(), msg.value()))
        return out
    finally:
        c.close()


def read_topic(bootstrap: str, topic: str, partitions: int = 1) -> list[tuple[int, bytes | None, dict]]:
    """(timestamp, key, event) of every message in ``topic``."""
    return [(ts, key, orjson.loads(value)) for _, ts, key, value in read_all(bootstrap, topic, partitions)]
