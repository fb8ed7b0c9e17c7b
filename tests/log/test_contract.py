"""The EventLog contract: the same cases against the SQLite log and the Kafka log (on the test broker).

Whatever a caller (intake, tail, live streams, the lake, retention) relies on is here, so a third backend
passes this file or is not an EventLog. Backend-specific behaviour (partition claims, broker restarts,
fsync failures) is tested next to each backend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventplatform.errors import EventError
from eventplatform.log import Batch, EventLog, Message, NotSupported, Record, Start, open_log
from tests.kafka_broker import kafka, unique


@dataclass
class Backend:
    name: str
    url: str

    def open(self) -> Any:
        return open_log(self.url)

    def topic(self, prefix: str) -> str:
        return unique(f"contract.{prefix}.") if self.name == "kafka" else prefix


@pytest.fixture(params=["sqlite", pytest.param("kafka", marks=[kafka, pytest.mark.kafka])])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "kafka":
        broker = request.getfixturevalue("kafka_broker")
        yield Backend("kafka", broker.url)
    else:
        yield Backend("sqlite", f"sqlite://{tmp_path}/log")


def run(backend: Backend, test: Callable[[Any], Any]) -> Any:
    async def main() -> Any:
        log = backend.open()
        try:
            return await test(log)
        finally:
            await log.close()

    return asyncio.run(main())


async def collect(log: EventLog, topics: list[str], start: Start) -> list[Record]:
    return [r async for r in log.consume(topics, start)]


def test_is_an_event_log_with_a_description(backend: Backend) -> None:
    async def test(log: Any) -> None:
        assert isinstance(log, EventLog)
        info = log.describe()
        assert info["backend"] == backend.name
        assert all(isinstance(v, int) for v in log.counters.values())
        claimed = log.claim()
        assert claimed == (0 if backend.name == "sqlite" else None)
        assert await log.produce(Batch([], [], [], [])) == []

    run(backend, test)


def test_produce_is_durable_and_round_trips_keys_and_timestamps(backend: Backend) -> None:
    topic, other = backend.topic("a"), backend.topic("b")

    async def test(log: Any) -> None:
        batch = Batch(
            [topic, topic, other, topic],
            [b'{"n":0}', b'{"n":1}', b'{"n":2}', b'{"n":3}'],
            [None, b"k1", b"k2", None],
            [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002, None],
        )
        before = int(time.time() * 1000)
        assert await log.produce(batch) == [None] * 4
        got = await collect(log, [topic], Start.beginning())
        assert [(r.topic, r.partition, r.offset, r.key, r.value) for r in got] == [
            (topic, 0, 0, None, b'{"n":0}'),
            (topic, 0, 1, b"k1", b'{"n":1}'),
            (topic, 0, 2, None, b'{"n":3}'),
        ]
        assert [r.timestamp_ms for r in got[:2]] == [1_700_000_000_000, 1_700_000_000_001]
        assert before - 1000 <= got[2].timestamp_ms <= int(time.time() * 1000) + 1000  # None: "now"
        [b] = await collect(log, [other], Start.beginning())
        assert (b.key, b.value, b.timestamp_ms, b.position.offset) == (
            b"k2",
            b'{"n":2}',
            1_700_000_000_002,
            0,
        )
        assert await log.watermarks(topic) == {0: (0, 3)}
        assert await log.watermarks(backend.topic("nope")) == {}
        assert {topic, other} <= set(await log.list_topics())
        # the Message helper builds the same batch
        assert await log.produce(Batch.of([Message(topic, b'{"n":4}', b"k4", 5)])) == [None]
        assert await log.watermarks(topic) == {0: (0, 4)}

    run(backend, test)


def test_hasty_returns_at_once_and_flush_makes_it_durable(backend: Backend) -> None:
    topic = backend.topic("hasty")

    async def test(log: Any) -> None:
        assert (
            await log.produce(Batch.to(topic, [b'{"h":%d}' % i for i in range(20)]), hasty=True)
            == [None] * 20
        )
        assert await log.flush(10) == 0
        assert await log.watermarks(topic) == {0: (0, 20)}
        assert len(await collect(log, [topic], Start.beginning())) == 20

    run(backend, test)


def test_consume_from_beginning_end_timestamp_and_offsets(backend: Backend) -> None:
    topic = backend.topic("starts")

    async def test(log: Any) -> None:
        stamps = [1000, 2000, 3000, 4000, 5000]
        assert (
            await log.produce(Batch.to(topic, [b"%d" % t for t in stamps], timestamps=stamps)) == [None] * 5
        )

        async def offsets(start: Start) -> list[int]:
            return [r.offset for r in await collect(log, [topic], start)]

        assert await offsets(Start.beginning()) == [0, 1, 2, 3, 4]
        assert await offsets(Start.end()) == []
        assert await offsets(Start.at_time(2500)) == [2, 3, 4]
        assert await offsets(Start.at_time(3000)) == [2, 3, 4]
        assert await offsets(Start.at_time(9000)) == []
        assert await offsets(Start.at_offsets({(topic, 0): 3})) == [3, 4]
        assert await offsets(Start.at_offsets({(topic, 0): 99})) == []  # clamped to the high-water mark
        assert await offsets(Start.at_offsets({}, fallback="beginning")) == [0, 1, 2, 3, 4]
        assert await offsets(Start.at_offsets({}, fallback="end")) == []
        assert await collect(log, [backend.topic("missing")], Start.beginning()) == []

    run(backend, test)


def test_follow_receives_new_records(backend: Backend) -> None:
    topic = backend.topic("follow")

    async def test(log: Any) -> None:
        assert await log.produce(Batch.to(topic, [b"old0", b"old1"])) == [None, None]
        got: list[Record] = []

        async def follow() -> None:
            start = Start.at_offsets({(topic, 0): 2}, fallback="end")
            async for r in log.consume([topic], start, follow=True, poll_interval=0.05):
                got.append(r)
                if len(got) == 2:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        assert await log.produce(Batch.to(topic, [b"new0"])) == [None]
        await asyncio.sleep(0.1)
        assert await log.produce(Batch.to(topic, [b"new1"])) == [None]
        await asyncio.wait_for(task, 30)
        assert [(r.offset, r.value) for r in got] == [(2, b"new0"), (3, b"new1")]

    run(backend, test)


def test_delete_before_timestamp_and_offsets(backend: Backend) -> None:
    topic = backend.topic("retention")

    async def test(log: Any) -> None:
        stamps = [100, 200, 300, 400, 500, 600]
        assert (
            await log.produce(Batch.to(topic, [b"%d" % t for t in stamps], timestamps=stamps)) == [None] * 6
        )
        with pytest.raises(ValueError):
            await log.delete_before(topic)
        assert await log.delete_before(topic, 300) == 2  # offsets 0 and 1 precede the first ts >= 300
        assert await log.watermarks(topic) == {0: (2, 6)}
        assert [r.offset for r in await collect(log, [topic], Start.beginning())] == [2, 3, 4, 5]
        assert await log.delete_before(topic, 100) == 0  # nothing older left
        assert await log.delete_before(topic, offsets={0: 4}) == 2
        assert await log.watermarks(topic) == {0: (4, 6)}
        assert await log.delete_before(topic, 10_000) == 2  # everything: offsets never restart
        assert await log.watermarks(topic) == {0: (6, 6)}
        assert await log.produce(Batch.to(topic, [b"again"], timestamps=[700])) == [None]
        assert [r.offset for r in await collect(log, [topic], Start.beginning())] == [6]
        assert await log.delete_before(backend.topic("nope"), 500) == 0

    run(backend, test)


def test_ensure_topics_and_not_supported(backend: Backend) -> None:
    topic, wide = backend.topic("ensured"), backend.topic("wide")

    async def test(log: Any) -> None:
        log.claim()
        await log.ensure_topics([topic])
        assert topic in await log.list_topics()
        assert await log.watermarks(topic) == {0: (0, 0)}
        await log.ensure_topics([topic])  # an existing topic is left as it is
        if backend.name == "sqlite":  # documented: a SQLite topic has one partition per writer process
            with pytest.raises(NotSupported) as caught:
                await log.ensure_topics([wide], partitions=3)
            assert isinstance(caught.value, EventError) and caught.value.code == "log_unavailable"
        else:
            await log.ensure_topics([wide], partitions=3)
            assert sorted(await log.watermarks(wide)) == [0, 1, 2]

    run(backend, test)


def test_flush_with_nothing_produced(backend: Backend) -> None:
    async def test(log: Any) -> None:
        assert await log.flush(5) == 0

    run(backend, test)
