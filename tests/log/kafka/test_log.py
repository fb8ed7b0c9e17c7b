"""KafkaLog against a real broker: what goes in comes out, read back with a plain confluent-kafka consumer."""

from __future__ import annotations

import asyncio
import os
import time

import orjson
import pytest

from eventplatform.errors import Codes, EventError, EventInvalid
from eventplatform.log import Batch, EventLog, Message, Record, Start, open_log
from eventplatform.log.kafka import KafkaLog
from tests.kafka_broker import Broker, kafka, read_all, unique

pytestmark = [kafka, pytest.mark.kafka]


async def collect(log: EventLog, topics: list[str], start: Start) -> list[Record]:
    return [r async for r in log.consume(topics, start)]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_is_an_event_log(kafka_broker: Broker) -> None:
    log = open_log(kafka_broker.url)
    assert isinstance(log, KafkaLog)
    assert isinstance(log, EventLog)


def test_guaranteed_produce_is_acked_and_read_back_with_key_and_timestamp(kafka_broker: Broker) -> None:
    topic = unique("eqiad.test.acked")

    async def go() -> list[Exception | None]:
        log = KafkaLog.from_url(kafka_broker.url)
        try:
            msgs = [
                Message(topic, orjson.dumps({"i": i}), b'{"page_id":%d}' % i, 1_700_000_000_000 + i)
                for i in range(200)
            ]
            return await log.produce(Batch.of(msgs))
        finally:
            await log.close()

    outcomes = run(go())
    assert outcomes == [None] * 200
    got = read_all(kafka_broker.bootstrap, topic)
    assert [orjson.loads(v)["i"] for _, _, _, v in got] == list(range(200))
    assert [ts for _, ts, _, _ in got] == [1_700_000_000_000 + i for i in range(200)]
    assert got[7][2] == b'{"page_id":7}'


def test_message_without_timestamp_gets_the_broker_time(kafka_broker: Broker) -> None:
    topic = unique("test.nots")

    async def go() -> None:
        log = KafkaLog.from_url(kafka_broker.url)
        assert await log.produce(Batch.of([Message(topic, b"{}")])) == [None]
        await log.close()

    before = int(time.time() * 1000)
    run(go())
    [(_, ts, key, _)] = read_all(kafka_broker.bootstrap, topic)
    assert before - 1000 <= ts <= int(time.time() * 1000) + 1000
    assert key is None


def test_hasty_produce_returns_before_ack_and_lands(kafka_broker: Broker) -> None:
    topic = unique("test.hasty")

    async def go() -> list[Exception | None]:
        log = KafkaLog.from_url(kafka_broker.url)
        msgs = [Message(topic, b'{"h":%d}' % i, b"k%d" % i, 1_700_000_000_000 + i) for i in range(50)]
        out = await log.produce(Batch.of(msgs), hasty=True)
        assert await log.flush(10) == 0
        await log.close()
        return out

    assert run(go()) == [None] * 50
    got = read_all(kafka_broker.bootstrap, topic)
    assert sorted((key, ts) for _, ts, key, _ in got) == sorted(
        (b"k%d" % i, 1_700_000_000_000 + i) for i in range(50)
    )


def test_same_key_same_partition(kafka_broker: Broker) -> None:
    topic = unique("test.keys")

    async def go() -> None:
        log = KafkaLog.from_url(kafka_broker.url)
        await log.ensure_topics([topic], partitions=4)
        msgs = [Message(topic, b'{"n":%d}' % i, b'{"id":%d}' % (i % 5)) for i in range(100)]
        assert await log.produce(Batch.of(msgs)) == [None] * 100
        await log.close()

    run(go())
    got = read_all(kafka_broker.bootstrap, topic, partitions=4)
    assert len(got) == 100
    partition_of: dict[bytes | None, set[int]] = {}
    for p, _, k, _ in got:
        partition_of.setdefault(k, set()).add(p)
    assert all(len(ps) == 1 for ps in partition_of.values())
    assert len(partition_of) == 5


def test_consume_across_topics_from_beginning_time_offsets_and_end(kafka_broker: Broker) -> None:
    stream = unique("test.multi")
    topics = [f"eqiad.{stream}", f"codfw.{stream}", stream]

    async def go() -> None:
        log = KafkaLog.from_url(kafka_broker.url)
        try:
            await log.ensure_topics(topics[:2], partitions=2)
            base = 1_750_000_000_000
            msgs = [Message(topics[i % 2], b'{"n":%d}' % i, b"k%d" % i, base + i * 1000) for i in range(20)]
            assert await log.produce(Batch.of(msgs)) == [None] * 20
            assert set(topics[:2]) <= set(await log.list_topics())
            # the unprefixed topic does not exist: it is skipped, not an error
            everything = await collect(log, topics, Start.beginning())
            assert sorted(orjson.loads(r.value)["n"] for r in everything) == list(range(20))
            assert {r.topic for r in everything} == set(topics[:2])
            since = await collect(log, topics, Start.at_time(base + 15_000))
            assert sorted(orjson.loads(r.value)["n"] for r in since) == [15, 16, 17, 18, 19]
            assert all(r.timestamp_ms >= base + 15_000 for r in since)
            assert await collect(log, topics, Start.end()) == []
            marks = await log.watermarks(topics[0])
            assert sorted(marks) == [0, 1]
            assert sum(high - low for low, high in marks.values()) == 10
            first = everything[0]
            resumed = await collect(
                log,
                [first.topic],
                Start.at_offsets({(first.topic, first.partition): first.offset + 1}, fallback="end"),
            )
            assert [r.offset for r in resumed] == [
                r.offset for r in everything if (r.topic, r.partition) == (first.topic, first.partition)
            ][1:]
        finally:
            await log.close()

    run(go())


def test_follow_sees_new_events_and_new_topics(kafka_broker: Broker) -> None:
    topic = unique("eqiad.test.follow")
    late_topic = topic.replace("eqiad.", "codfw.")

    async def go() -> None:
        log = KafkaLog.from_url(kafka_broker.url)
        try:
            log.discovery_interval = 0.5
            await log.ensure_topics([topic])
            seen: list[Record] = []

            # from a time just before producing: however slow the reader is to get assigned, it must see
            # both (Start.end() with follow is covered by the tail --follow test)
            since = Start.at_time(int(time.time() * 1000) - 1)

            async def reader() -> None:
                async for r in log.consume([topic, late_topic], since, follow=True, poll_interval=0.1):
                    seen.append(r)
                    if len(seen) == 2:
                        return

            task = asyncio.create_task(reader())
            await asyncio.sleep(0.5)  # usually waiting by now; correctness does not depend on it
            assert await log.produce(Batch.of([Message(topic, b'{"a":1}')])) == [None]
            assert await log.produce(Batch.of([Message(late_topic, b'{"b":1}')])) == [None]
            await asyncio.wait_for(task, 20)
            assert {r.topic for r in seen} == {topic, late_topic}
        finally:
            await log.close()

    run(go())


def test_topics_are_created_on_first_use_with_the_configured_partitions(kafka_broker: Broker) -> None:
    topic = unique("eqiad.test.created")

    async def go() -> dict[int, tuple[int, int]]:
        log = KafkaLog.from_url(f"{kafka_broker.url}?partitions=3&replication=1")
        assert (
            await log.produce(Batch.of([Message(topic, b'{"k":%d}' % i, b"%d" % i) for i in range(30)]))
            == [None] * 30
        )
        marks = await log.watermarks(topic)
        await log.close()
        return marks

    marks = run(go())
    assert sorted(marks) == [0, 1, 2]
    assert sum(high for _, high in marks.values()) == 30


def test_event_over_message_max_bytes_is_invalid_not_a_crash(kafka_broker: Broker) -> None:
    topic = unique("test.big")

    async def go() -> None:
        # librdkafka refuses locally above its own message.max.bytes (1 MB by default) ...
        log = KafkaLog.from_url(kafka_broker.url)
        out = await log.produce(Batch.of([Message(topic, b"x" * 10), Message(topic, b"y" * 1_200_000)]))
        assert out[0] is None
        assert isinstance(out[1], EventInvalid) and out[1].code == Codes.EVENT_TOO_LARGE
        await log.close()
        # ... and the broker refuses above its message.max.bytes (1048588) when the client allows more
        log = KafkaLog.from_url(kafka_broker.url, producer_config={"message.max.bytes": 5_000_000})
        out = await log.produce(
            Batch.of([Message(topic, os.urandom(2_000_000)), Message(topic, b"w" * 10)])
        )  # lz4 cannot shrink it
        assert isinstance(out[0], EventInvalid) and out[0].code == Codes.EVENT_TOO_LARGE
        assert "message.max.bytes" in out[0].message
        assert out[1] is None
        await log.close()

    run(go())
    assert [v for _, _, _, v in read_all(kafka_broker.bootstrap, topic)] == [b"x" * 10, b"w" * 10]


def test_topic_that_cannot_be_created_is_an_error_per_event(kafka_broker: Broker) -> None:
    async def go() -> None:
        log = KafkaLog.from_url(kafka_broker.url, delivery_timeout=5)
        out = await log.produce(
            Batch.of([Message("bad/topic name", b"{}"), Message(unique("test.ok"), b"{}")])
        )
        assert isinstance(out[0], EventError) and out[0].code == Codes.DELIVERY_FAILED
        assert "bad/topic name" in out[0].message
        assert out[1] is None
        with pytest.raises(EventError, match="Cannot create Kafka topics"):
            await log.ensure_topics(["bad/topic name"])
        await log.close()

    run(go())


def test_unknown_broker_address_fails_each_event_within_the_timeout() -> None:
    async def go() -> None:
        log = KafkaLog.from_url("kafka://no-such-broker.invalid:9092?delivery_timeout=1.5")
        t0 = time.monotonic()
        out = await log.produce(Batch.of([Message("t", b"{}"), Message("t", b"{}")]))
        elapsed = time.monotonic() - t0
        assert elapsed < 5
        for o in out:
            assert isinstance(o, EventError) and o.retryable
            assert o.code in (Codes.LOG_UNAVAILABLE, Codes.DELIVERY_TIMEOUT)
        assert out[0].code == Codes.LOG_UNAVAILABLE  # type: ignore[union-attr]
        assert "no-such-broker.invalid" in str(out[0])
        with pytest.raises(EventError):
            await KafkaLog.from_url("kafka://no-such-broker.invalid:9092?request_timeout=1").list_topics()
        await log.close()

    run(go())


def test_bad_url_and_options_are_refused() -> None:
    with pytest.raises(ValueError):
        KafkaLog.from_url("kafka://")
    with pytest.raises(ValueError, match="unknown Kafka log option"):
        KafkaLog.from_url("kafka://127.0.0.1:1?nonsense=1")


def test_topics_of_configured_streams_are_created_with_partitions(kafka_broker: Broker) -> None:
    from eventplatform.streamconfig.config import StreamConfig, configured_topics

    name = unique("test.configured.")
    config = StreamConfig.from_document(
        {"streams": {name: {"schema_title": "x"}, "eventlogging_Legacy": {"schema_title": "y"}, "/^re/": {}}}
    )
    topics = configured_topics(config, "codfw")
    assert topics == [f"codfw.{name}", "eventlogging_Legacy"]

    async def go() -> dict[int, tuple[int, int]]:
        log = KafkaLog.from_url(kafka_broker.url)
        await log.ensure_topics(topics[:1], partitions=2)
        await log.ensure_topics(topics[:1], partitions=5)  # an existing topic is left as it is
        await log.ensure_topics(topics[1:])  # partitions and replication from the log URL (1 and 1)
        assert await log.watermarks(topics[1]) == {0: (0, 0)}
        marks = await log.watermarks(topics[0])
        await log.close()
        return marks

    assert sorted(run(go())) == [0, 1]


def test_many_concurrent_followers_all_see_a_new_event(kafka_broker: Broker) -> None:
    """Live-stream clients each follow with their own reader; 40 of them (more than any shared pool)."""
    topic = unique("test.fanout")

    async def go() -> list[bytes]:
        log = KafkaLog.from_url(kafka_broker.url)
        try:
            await log.ensure_topics([topic])
            ready = asyncio.Event()
            started = 0

            async def reader() -> bytes:
                nonlocal started
                # from the beginning, so a reader slow to start still sees the event (no flaky timing)
                stream = log.consume([topic], Start.beginning(), follow=True, poll_interval=0.1)
                started += 1
                if started == 40:
                    ready.set()
                async for r in stream:
                    await stream.aclose()  # type: ignore[attr-defined]
                    return r.value
                return b""

            tasks = [asyncio.create_task(reader()) for _ in range(40)]
            await ready.wait()
            await asyncio.sleep(1.5)  # most readers are assigned and waiting
            assert await log.produce(Batch.of([Message(topic, b'{"fan":"out"}')])) == [None]
            return list(await asyncio.wait_for(asyncio.gather(*tasks), 30))
        finally:
            await log.close()

    assert run(go()) == [b'{"fan":"out"}'] * 40
