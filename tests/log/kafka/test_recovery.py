"""The Kafka broker restarts while deliveries are in flight: producing recovers by itself within a bounded
time, nothing answered success is lost, and every failure is a precise code that came within the delivery
timeout. Each test restarts the broker several times so that a flaky recovery shows up."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from eventplatform.errors import Codes, EventError
from eventplatform.log import Batch, Record, Start
from eventplatform.log.kafka import KafkaLog
from tests.gate.conftest import Server
from tests.kafka_broker import (
    DELIVERY_CODES,
    Broker,
    acknowledged,
    kafka,
    link_hover_event,
    read_all,
    read_topic,
    unique,
    wait_until,
    write_stream_config,
)

pytestmark = [kafka, pytest.mark.kafka]

RETRYABLE = DELIVERY_CODES
RECOVERY_S = 30.0  # after the broker answers again, new produce calls must succeed within this
SLACK_S = 6.0  # a failure is answered by delivery_timeout; a little later on a loaded machine, never much


@dataclass
class Tally:
    """What the producers saw; appended to from several tasks/threads (list.append is atomic)."""

    acked: list[bytes] = field(default_factory=list)  # values answered success
    answers: list[tuple[float, float, bool]] = field(default_factory=list)  # (sent, answered, all ok)
    codes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    slowest: float = 0.0
    t0: float = field(default_factory=time.monotonic)
    timeline: list[str] = field(default_factory=list)  # what happened when, for a failure's message

    def failure(self, code: str, elapsed: float, text: str = "") -> None:
        self.codes[code] = self.codes.get(code, 0) + 1
        self.slowest = max(self.slowest, elapsed)
        if self.codes[code] <= 3 or elapsed > 5:  # the first of each kind and the slow ones
            self.mark(f"failure {code} after {elapsed:.1f}s: {text[:200]}")

    def mark(self, text: str) -> None:
        if len(self.timeline) < 200:
            self.timeline.append(f"{time.monotonic() - self.t0:6.1f}s {text}")

    def explain(self, log: KafkaLog) -> str:
        return f"{log.describe()}; failures {self.codes}\ntimeline:\n" + "\n".join(self.timeline)

    def recovered_after(self, back: float) -> float | None:
        """Seconds from ``back`` to the answer of the first call sent after ``back`` that fully succeeded."""
        done = [answered for sent, answered, ok in list(self.answers) if ok and sent >= back]
        return min(done) - back if done else None


def restart(broker: Broker, how: str) -> None:
    """Take the broker away (a clean stop or SIGKILL) and bring it back on the same port and state dir."""
    if how == "kill":
        broker.kill()
    else:
        broker.stop()
    time.sleep(0.5)
    broker.start()


@pytest.fixture
def broker_back(kafka_broker: Broker) -> Iterator[Broker]:
    """The shared broker, running again after the test whatever happened."""
    try:
        yield kafka_broker
    finally:
        if not kafka_broker.running():
            kafka_broker.start()


@pytest.mark.parametrize(
    ("delivery_timeout", "ways"),
    [
        # in-flight batches outlive the outage and are delivered to the restarted broker
        (30.0, ("stop", "kill", "stop")),
        # in-flight batches time out during the outage; new ones are queued while the broker returns
        (2.0, ("stop", "stop", "stop")),
    ],
    ids=["delivered-after-restart", "timed-out-during-outage"],
)
def test_kafkalog_recovers_when_the_broker_restarts_with_batches_in_flight(
    broker_back: Broker, delivery_timeout: float, ways: tuple[str, ...]
) -> None:
    """Many concurrent ``produce`` calls; the broker goes away right after a call was answered
    (the others still in flight) and comes back; three times."""
    broker = broker_back
    topic = unique("test.recovery.")
    tally = Tally()
    recoveries: list[float] = []
    fresh_ok: list[str] = []

    async def producer(log: KafkaLog, worker: int, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            values = [orjson.dumps({"w": worker, "n": n + i}) for i in range(20)]
            n += 20
            sent = time.monotonic()
            outcomes = await log.produce(Batch([topic] * 20, values, [None] * 20, [None] * 20))
            answered = time.monotonic()
            ok = True
            for value, outcome in zip(values, outcomes, strict=True):
                if outcome is None:
                    tally.acked.append(value)
                    continue
                ok = False
                if not isinstance(outcome, EventError) or outcome.code not in RETRYABLE:
                    tally.problems.append(repr(outcome))
                else:
                    tally.failure(outcome.code, answered - sent, str(outcome))
            tally.answers.append((sent, answered, ok))
            await asyncio.sleep(0.01)

    async def until(condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def go() -> KafkaLog:
        log = KafkaLog.from_url(f"{broker.url}?delivery_timeout={delivery_timeout}&partitions=2")
        stop = asyncio.Event()
        tasks = [asyncio.create_task(producer(log, w, stop)) for w in range(8)]
        try:
            back = time.monotonic()
            for how in [*ways, None]:
                assert await until(lambda b=back: tally.recovered_after(b) is not None, RECOVERY_S), (
                    f"no produce call succeeded within {RECOVERY_S:g}s after the broker came back: "
                    + tally.explain(log)
                )
                recoveries.append(tally.recovered_after(back) or 0.0)
                tally.mark(f"recovered after {recoveries[-1]:.1f}s")
                if how is None:
                    break
                # a topic first used after the restart is created like any other (with 2 partitions)
                fresh = unique("test.recovery.fresh.")
                if await log.produce(Batch([fresh], [b"{}"], [None], [None])) == [None]:
                    fresh_ok.append(fresh)
                tally.mark(f"{how} the broker")
                await asyncio.to_thread(restart, broker, how)  # the other producers' batches in flight
                back = time.monotonic()
                tally.mark("broker back")
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await log.close()
        return log

    t0 = time.monotonic()
    log = asyncio.run(go())
    assert not tally.problems, tally.problems[:5]
    assert tally.slowest < delivery_timeout + SLACK_S, "\n".join(tally.timeline)
    in_topic = {v for _, _, _, v in read_all(broker.bootstrap, topic, partitions=2)}
    missing = [v for v in tally.acked if v not in in_topic]
    assert not missing, f"{len(missing)} of {len(tally.acked)} acknowledged messages lost, e.g. {missing[:3]}"
    assert len(fresh_ok) == len(ways), fresh_ok
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert all(len(md.topics[t].partitions) == 2 for t in fresh_ok)
    print(
        f"\n{len(tally.acked)} acknowledged, all in the topic; failures {tally.codes}; "
        f"recovered after {', '.join(f'{r:.1f}' for r in recoveries)} s; slowest failure "
        f"{tally.slowest:.1f}s; producers replaced (no broker left) {log.replaced}/{log.hasty_replaced}; "
        f"{time.monotonic() - t0:.0f}s in all"
    )


def test_topic_first_used_after_the_broker_returns_is_created_with_the_configured_partitions(
    broker_back: Broker,
) -> None:
    """While the log believes Kafka away (``brokers_down``, cleared by a success) it skips creating new
    topics, to answer quickly. When the broker is back and every batch goes to a new topic, no success
    comes to clear the flag: creation must still be tried, not left to the broker's auto-creation (with
    its own partition count) or to a timeout on a cluster without it."""
    broker = broker_back
    known, fresh = unique("test.recovery.known."), unique("test.recovery.new.")

    async def go() -> tuple[list[Exception | None], float]:
        log = KafkaLog.from_url(f"{broker.url}?delivery_timeout=2&partitions=2")
        try:
            assert await log.produce(Batch([known], [b"{}"], [None], [None])) == [None]
            await asyncio.to_thread(broker.stop)
            outcome = await log.produce(Batch([known], [b"{}"], [None], [None]))
            assert isinstance(outcome[0], EventError) and outcome[0].code == Codes.LOG_UNAVAILABLE, outcome
            assert log.brokers_down
            await asyncio.to_thread(broker.start)
            back = time.monotonic()
            while True:  # only the new topic from now on
                outcome = await log.produce(Batch([fresh], [b"{}"], [None], [None]))
                if outcome == [None] or time.monotonic() - back > RECOVERY_S:
                    return outcome, time.monotonic() - back
                assert isinstance(outcome[0], EventError) and outcome[0].code in RETRYABLE, outcome
        finally:
            await log.close()

    outcome, took = asyncio.run(go())
    assert outcome == [None], f"no success {took:.0f}s after the broker returned: {outcome}"
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert len(md.topics[fresh].partitions) == 2, "created by the broker, not by the log"
    print(f"\nnew topic written {took:.1f}s after the broker returned")


def test_fatal_producer_error_mid_flight_answers_every_call_and_a_new_producer_takes_over(
    kafka_broker: Broker,
) -> None:
    """An idempotent producer that reports a fatal error is unusable: the log replaces it. The calls whose
    messages were queued in the old one get an answer (a failure with a precise code, not the watchdog's
    timeout), later calls succeed on the new producer, nothing answered success is lost. The fatal error
    is injected through the log's error callback (no real broker produces one on demand)."""
    topic = unique("test.recovery.fatal.")
    tally = Tally()
    delivery_timeout = 5.0

    async def producer(log: KafkaLog, worker: int, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            values = [orjson.dumps({"w": worker, "n": n + i}) for i in range(50)]
            n += 50
            sent = time.monotonic()
            outcomes = await log.produce(Batch([topic] * 50, values, [None] * 50, [None] * 50))
            answered = time.monotonic()
            for value, outcome in zip(values, outcomes, strict=True):
                if outcome is None:
                    tally.acked.append(value)
                elif isinstance(outcome, EventError) and outcome.code == Codes.DELIVERY_FAILED:
                    tally.failure(outcome.code, answered - sent)
                else:
                    tally.problems.append(repr(outcome))
            tally.answers.append((sent, answered, all(o is None for o in outcomes)))
            await asyncio.sleep(0)

    async def go() -> KafkaLog:
        # batches linger 100 ms in librdkafka's queue: there are always some left to purge
        log = KafkaLog.from_url(f"{kafka_broker.url}?delivery_timeout={delivery_timeout}&linger_ms=100")
        stop = asyncio.Event()
        tasks = [asyncio.create_task(producer(log, w, stop)) for w in range(8)]
        try:
            # until messages are in flight
            while len(tally.acked) < 1000 or not log.describe()["guaranteed_queued"]:
                await asyncio.sleep(0.001)
            log.testing.fatal_error("injected")
            replaced_at = time.monotonic()
            while log.describe()["producers_replaced"] == 0:
                await asyncio.sleep(0.01)
            while tally.recovered_after(replaced_at) is None and time.monotonic() - replaced_at < 10:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await log.close()
        return log

    log = asyncio.run(go())
    assert log.replaced == 1
    assert not tally.problems, tally.problems[:5]
    assert tally.codes.get(Codes.DELIVERY_FAILED), "no call had messages in the replaced producer"
    assert tally.slowest < delivery_timeout, tally.slowest  # purged messages are reported, no watchdog
    assert tally.recovered_after(0.0) is not None
    in_topic = {v for _, _, _, v in read_all(kafka_broker.bootstrap, topic)}
    missing = [v for v in tally.acked if v not in in_topic]
    assert not missing, f"{len(missing)} of {len(tally.acked)} acknowledged messages lost"
    print(f"\n{len(tally.acked)} acknowledged; {tally.codes} purged; slowest failure {tally.slowest:.2f}s")


def test_producer_that_knows_no_broker_any_more_is_replaced(kafka_broker: Broker) -> None:
    """librdkafka can end up knowing no broker at all after a broker's controlled shutdown and then never
    reconnects (librdkafka issue #5301; the broker-restart tests above ran into it under load). The log
    watches the statistics for that state and replaces such a producer; here the statistics are
    injected, as no broker produces the state on demand."""
    topic = unique("test.recovery.brokerless.")
    none, one = '{"brokers": {}}', '{"brokers": {"127.0.0.1:1/1": {"state": "UP"}}}'

    async def go() -> KafkaLog:
        log = KafkaLog.from_url(f"{kafka_broker.url}?delivery_timeout=5")
        try:
            assert await log.produce(Batch([topic], [b"{}"], [None], [None])) == [None]
            for text in (none, one, none):  # a re-bootstrap has moments without a broker: not enough
                log.testing.producer_statistics(False, text)
            await asyncio.sleep(0.3)
            assert log.replaced == 0 and log.hasty_replaced == 0
            for hasty_one in (False, False, True, True):
                log.testing.producer_statistics(hasty_one, none)
            deadline = time.monotonic() + 5
            while (log.replaced == 0 or log.hasty_replaced == 0) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert log.replaced == 1 and log.hasty_replaced == 1
            out = await log.produce(Batch([topic] * 10, [b"{}"] * 10, [None] * 10, [None] * 10))
            assert out == [None] * 10
            assert await log.produce(Batch([topic], [b"{}"], [None], [None]), hasty=True) == [None]
            assert await log.flush(5) == 0
        finally:
            await log.close()
        return log

    log = asyncio.run(go())
    assert log.replaced == 1 and log.hasty_replaced == 1
    assert len(read_all(kafka_broker.bootstrap, topic)) == 12


def test_poll_thread_survives_a_callback_that_raises(kafka_broker: Broker) -> None:
    """Without the poll thread no delivery report is served and every produce call waits for the
    watchdog: an exception from a callback must not end it."""
    topic = unique("test.recovery.raise.")

    def raises(err: object, msg: object) -> None:
        raise RuntimeError("callback failed")

    async def go() -> list[Exception | None]:
        log = KafkaLog.from_url(f"{kafka_broker.url}?delivery_timeout=5")
        try:
            assert await log.produce(Batch([topic], [b"{}"], [None], [None])) == [None]
            log.testing.produce_raw(topic, b"{}", raises)
            await asyncio.sleep(1.0)
            assert log.describe()["poll_thread_alive"]
            t0 = time.monotonic()
            out = await log.produce(Batch([topic] * 10, [b"{}"] * 10, [None] * 10, [None] * 10))
            assert time.monotonic() - t0 < 5
            return out
        finally:
            await log.close()

    assert asyncio.run(go()) == [None] * 10


def test_intake_recovers_when_the_broker_restarts_at_the_first_5xx(
    broker_back: Broker, tmp_path: Path
) -> None:
    """``eventplatform serve`` under concurrent HTTP posting; the broker is restarted as soon as the first
    5xx comes back (batches still in flight in librdkafka), three times. Intake answers 201 again within
    a bounded time each time, and every event answered 201 is in the topic."""
    broker = broker_back
    name = unique("test.recovery.intake.")
    config = write_stream_config(tmp_path / "streams.yaml", name)
    timeout_s = 3.0
    intake = Server(
        tmp_path / "intake",
        "--stream-config",
        str(config),
        "--datacenter",
        "eqiad",
        log=f"{broker.url}?delivery_timeout={timeout_s}",
    ).start()
    tally = Tally()
    stop = threading.Event()

    def load(worker: int) -> None:
        n = 0
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                titles = [f"w{worker}-{n + i}" for i in range(10)]
                n += 10
                sent = time.monotonic()
                try:
                    batch = [link_hover_event(name, t) for t in titles]
                    r = client.post(f"{intake.url}/v1/events", json=batch)
                except httpx.HTTPError as exc:  # intake must neither hang nor drop the connection
                    tally.problems.append(f"HTTP error {exc!r}")
                    continue
                answered = time.monotonic()
                tally.answers.append((sent, answered, r.status_code == 201))
                ok = acknowledged(r, titles)
                if ok is None:
                    tally.problems.append(f"{r.status_code}: {r.text[:300]}")  # never 2xx when not acked
                else:
                    tally.acked.extend(t.encode() for t in ok)
                    if r.status_code != 201:  # a 500, or a 207 when the broker went away mid-batch
                        tally.failure(r.json()["error"][0]["code"], answered - sent, r.text)
                time.sleep(0.01)

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    recoveries: list[float] = []
    t0 = time.monotonic()
    try:
        for t in threads:
            t.start()
        back = time.monotonic()
        for how in ("stop", "kill", "stop", None):
            assert wait_until(lambda b=back: tally.recovered_after(b) is not None, RECOVERY_S), (
                f"intake answered no 201 within {RECOVERY_S:g}s after the broker came back "
                f"(failures {tally.codes}); timeline:\n"
                + "\n".join(tally.timeline)
                + f"\nintake stderr:\n{intake.stderr()[-3000:]}"
            )
            recoveries.append(tally.recovered_after(back) or 0.0)
            tally.mark(f"recovered after {recoveries[-1]:.1f}s")
            if how is None:
                break
            mark = len(tally.answers)
            tally.mark(f"{how} the broker")
            broker.kill() if how == "kill" else broker.stop()
            assert wait_until(lambda m=mark: any(not ok for _, _, ok in tally.answers[m:]), timeout_s + 10)
            tally.mark("first 5xx: start the broker")
            broker.start()  # at the first 5xx: the newer batches are still in librdkafka's queue
            back = time.monotonic()
            tally.mark("broker back")
        assert intake.alive()
    finally:
        stop.set()
        for t in threads:
            t.join(90)
        intake.stop()
    assert not tally.problems, tally.problems[:3]
    assert tally.slowest < timeout_s + SLACK_S, "\n".join(tally.timeline)
    in_topic = {e["link_title"].encode() for _, _, e in read_topic(broker.bootstrap, f"eqiad.{name}")}
    missing = [t for t in tally.acked if t not in in_topic]
    assert not missing, f"{len(missing)} events answered 201 are missing, e.g. {missing[:5]}"
    print(
        f"\n{len(tally.acked)} events answered 201, all in the topic; failures {tally.codes}; recovered "
        f"after {', '.join(f'{r:.1f}' for r in recoveries)} s; slowest failure {tally.slowest:.1f}s; "
        f"producers replaced {intake.stderr().count('producer replaced')}; "
        f"{time.monotonic() - t0:.0f}s in all"
    )


# -- reading ---------------------------------------------------------------------------------------------


def by_partition(records: list[Record]) -> dict[int, list[tuple[int, bytes]]]:
    out: dict[int, list[tuple[int, bytes]]] = {}
    for r in records:
        out.setdefault(r.partition, []).append((r.offset, r.value))
    return out


def assert_exactly_the_topic(records: list[Record], bootstrap: str, topic: str, partitions: int) -> None:
    """``records`` hold every record of ``topic``, once, in offset order per partition (compared with
    what an independent consumer reads)."""
    got = by_partition(records)
    for p, items in got.items():
        offsets = [o for o, _ in items]
        assert offsets == sorted(set(offsets)), f"partition {p}: out of order or repeated offsets"
    expected: dict[int, list[bytes]] = {}
    for p, _, _, value in read_all(bootstrap, topic, partitions=partitions):
        expected.setdefault(p, []).append(value)
    for p in range(partitions):
        values = [v for _, v in got.get(p, [])]
        assert values == expected.get(p, []), (
            f"partition {p}: read {len(values)} records, the topic holds {len(expected.get(p, []))}"
        )


def test_follower_sees_every_new_event_after_broker_restarts(broker_back: Broker) -> None:
    """``consume(follow=True)`` (``tail --follow``, live streams) while events are produced and the broker
    is stopped cleanly and started again, three times (a clean stop is what can leave librdkafka without
    any broker, librdkafka #5301). After each return, the follower sees the events acknowledged since
    within ``RECOVERY_S``; in the end it has read every record of the topic once, in order."""
    broker = broker_back
    topic = unique("test.recovery.follow.")
    seen: list[Record] = []
    acked: list[bytes] = []
    latencies: list[float] = []
    timeline = Tally()

    async def go() -> KafkaLog:
        writer = KafkaLog.from_url(f"{broker.url}?delivery_timeout=3&partitions=2")
        reader = KafkaLog.from_url(f"{broker.url}?request_timeout=5")
        stop = asyncio.Event()

        async def follow() -> None:
            async for record in reader.consume([topic], Start.beginning(), follow=True, poll_interval=0.1):
                seen.append(record)

        async def produce() -> None:
            n = 0
            while not stop.is_set():
                values = [orjson.dumps({"n": n + i}) for i in range(20)]
                n += 20
                out = await writer.produce(Batch([topic] * 20, values, [None] * 20, [None] * 20))
                acked.extend(v for v, o in zip(values, out, strict=True) if o is None)
                await asyncio.sleep(0.02)

        async def caught_up(back: float) -> None:
            """Wait for a success sent after ``back``, then for the follower to have all acked so far."""
            mark = len(acked)
            while len(acked) == mark:
                assert time.monotonic() - back < RECOVERY_S, "producing did not recover: " + str(
                    writer.describe()
                )
                await asyncio.sleep(0.05)
            target = set(acked)
            while not target <= {r.value for r in seen}:
                assert time.monotonic() - back < RECOVERY_S, (
                    f"the follower missed events {RECOVERY_S:g}s after the broker came back: "
                    f"{reader.describe()}\n" + "\n".join(timeline.timeline)
                )
                await asyncio.sleep(0.05)
            latencies.append(time.monotonic() - back)
            timeline.mark(f"follower caught up after {latencies[-1]:.1f}s")

        await writer.ensure_topics([topic])
        tasks = [asyncio.create_task(follow()), asyncio.create_task(produce())]
        try:
            await caught_up(time.monotonic())
            for _ in range(3):
                timeline.mark("stop the broker")
                await asyncio.to_thread(restart, broker, "stop")
                back = time.monotonic()
                timeline.mark("broker back")
                await caught_up(back)
            stop.set()
            await tasks[1]
            target = set(acked)
            deadline = time.monotonic() + RECOVERY_S
            while not target <= {r.value for r in seen} and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # anything unacknowledged but written arrives too
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await writer.close()
            await reader.close()
        return reader

    t0 = time.monotonic()
    reader = asyncio.run(go())
    assert set(acked) <= {r.value for r in seen}
    assert_exactly_the_topic(seen, broker.bootstrap, topic, partitions=2)
    print(
        f"\n{len(seen)} records followed ({len(acked)} acknowledged); caught up "
        f"{', '.join(f'{x:.1f}' for x in latencies)} s after each return; reader consumers replaced "
        f"{reader.readers_replaced}; {time.monotonic() - t0:.0f}s in all"
    )


NO_BROKER = '{"brokers": {}}'


def fill(bootstrap: str, topic: str, count: int) -> None:
    """``count`` small records spread over the topic's partitions (by key)."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(count):
        p.produce(topic, orjson.dumps({"i": i, "pad": "x" * 200}), key=str(i).encode())
    assert p.flush(20) == 0


@pytest.mark.parametrize("follow", [False, True], ids=["one-shot", "follow"])
def test_reader_that_knows_no_broker_any_more_replaces_its_consumer(
    kafka_broker: Broker, follow: bool
) -> None:
    """A reader's consumer whose statistics show no broker twice in a row is replaced; the new one goes
    on after the last record yielded from each partition: nothing lost, nothing twice, although the old
    consumer had fetched records ahead that were never yielded. Statistics are injected (no broker
    produces the state on demand); the real ones come too rarely here to interfere."""
    topic = unique("test.recovery.reader.")
    count = 3000

    async def go() -> tuple[KafkaLog, list[Record]]:
        log = KafkaLog.from_url(f"{kafka_broker.url}?partitions=2")
        log.health_interval = 600.0
        await log.ensure_topics([topic])
        await asyncio.to_thread(fill, kafka_broker.bootstrap, topic, count)
        records: list[Record] = []
        try:
            it = log.consume([topic], Start.beginning(), follow=follow)
            records.append(await anext(it))
            assert log.describe()["readers"] == 1
            log.testing.reader_statistics(NO_BROKER)
            log.testing.reader_statistics('{"brokers": {"127.0.0.1:1/1": {"state": "UP"}}}')
            # a moment without a broker (a re-bootstrap) is not enough
            assert log.testing.reader_statistics(NO_BROKER) == [False]
            assert log.testing.reader_statistics(NO_BROKER) == [True]
            if follow:
                await asyncio.to_thread(fill, kafka_broker.bootstrap, topic, 500)
            deadline = time.monotonic() + 20
            while len(records) < count + (500 if follow else 0):
                assert time.monotonic() < deadline, f"{len(records)} records read"
                try:
                    records.append(await asyncio.wait_for(anext(it), 10))
                except StopAsyncIteration:
                    break
            if not follow:
                with pytest.raises(StopAsyncIteration):
                    await anext(it)
            await it.aclose()  # type: ignore[attr-defined]
            assert log.describe()["readers"] == 0
        finally:
            await log.close()
        return log, records

    log, records = asyncio.run(go())
    assert log.readers_replaced == 1
    assert log.describe()["reader_consumers_replaced"] == 1
    assert_exactly_the_topic(records, kafka_broker.bootstrap, topic, partitions=2)


def test_one_shot_read_with_the_broker_gone_fails_after_its_timeout(broker_back: Broker) -> None:
    """A one-shot read that cannot get the rest of its records (the broker went away mid-read) ends with
    ``log_unavailable`` after ``request_timeout`` instead of waiting forever."""
    broker = broker_back
    topic = unique("test.recovery.oneshot.")

    async def go() -> tuple[EventError, float, int]:
        # the consumer fetches little ahead: most records are still on the broker when it stops
        log = KafkaLog.from_url(
            f"{broker.url}?request_timeout=2",
            consumer_config={
                "fetch.max.bytes": 4096,
                "max.partition.fetch.bytes": 4096,
                "message.max.bytes": 4096,
                "queued.max.messages.kbytes": 4,
                "queued.min.messages": 1,
            },
        )
        await log.ensure_topics([topic])
        await asyncio.to_thread(fill, broker.bootstrap, topic, 5000)
        n = 0
        try:
            it = log.consume([topic], Start.beginning())
            await anext(it)
            await asyncio.to_thread(broker.stop)
            t0 = time.monotonic()
            with pytest.raises(EventError) as caught:
                async for _ in it:
                    n += 1
            return caught.value, time.monotonic() - t0, n
        finally:
            await log.close()

    error, took, n = asyncio.run(go())
    assert error.code == Codes.LOG_UNAVAILABLE, error
    assert "delivered nothing for 2s" in str(error), error
    assert took < 2 + SLACK_S, took
    print(f"\nlog_unavailable {took:.1f}s after the broker stopped ({n} more records read): {error}")
