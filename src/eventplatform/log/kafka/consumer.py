"""Reading from Kafka: ``assign()`` (no consumer group), from the beginning, the end, explicit offsets or a
time (``offsets_for_times``), across several topics.

A reader's consumer that lost every broker is replaced (see :class:`.health.Health`), resuming after the
last record it yielded; a one-shot read that gets nothing for ``request_timeout`` ends with
``log_unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from eventplatform.errors import Codes, EventError
from eventplatform.log.base import Block, Record, Start, blocks_of
from eventplatform.log.kafka.config import LOGGER, KafkaSettings
from eventplatform.log.kafka.health import Health


class Consuming:
    """The readers of :class:`KafkaLog` (a mixin)."""

    settings: KafkaSettings
    _readers: list[Health]
    readers_replaced: int
    discovery_interval: float
    _admin_stale: bool
    _meta_stale: bool

    def _plan(
        self, consumer: Consumer, topics: Sequence[str], start: Start, follow: bool
    ) -> tuple[list[TopicPartition], dict[tuple[str, int], int]]:
        """Start offsets for every partition of the existing topics, and (without follow) the end of each."""
        parts = self._partitions(topics)
        assignment: list[TopicPartition] = []
        ends: dict[tuple[str, int], int] = {}
        for topic, plist in parts.items():
            marks = self._watermarks(topic, plist)
            if start.kind == "timestamp":
                assert start.timestamp_ms is not None
                found = self._retrying(
                    partial(
                        consumer.offsets_for_times,
                        [TopicPartition(topic, p, start.timestamp_ms) for p in plist],
                        timeout=self.settings.request_timeout,
                    )
                )
                starts = {
                    tp.partition: (tp.offset if tp.offset >= 0 else marks[tp.partition][1]) for tp in found
                }
            else:
                starts = {}
                for p in plist:
                    low, high = marks[p]
                    kind = start.kind
                    if kind == "offsets":
                        assert start.offsets is not None
                        given = start.offsets.get((topic, p))
                        if given is not None:
                            starts[p] = min(max(given, low), high)
                            continue
                        kind = start.fallback
                    starts[p] = low if kind == "beginning" else high
            for p in plist:
                offset = starts[p]
                if not follow:
                    if offset >= marks[p][1]:
                        continue
                    ends[(topic, p)] = marks[p][1]
                assignment.append(TopicPartition(topic, p, offset))
        return assignment, ends

    def consume(
        self, topics: Sequence[str], start: Start, *, follow: bool = False, poll_interval: float = 0.2
    ) -> AsyncIterator[Record]:
        return self._consume(list(topics), start, follow, poll_interval)

    def read_blocks(
        self, topic: str, partition: int, start: int, end: int, *, max_records: int = 50_000
    ) -> AsyncIterator[Block]:
        """No bulk read in librdkafka's Python client: the records of ``consume``, grouped."""
        records = self._consume([topic], Start.at_offsets({(topic, partition): start}), False, 0.2)
        return blocks_of(_of_partition(records, partition), end, max_records)

    async def _consume(
        self, topics: list[str], start: Start, follow: bool, poll_interval: float
    ) -> AsyncIterator[Record]:
        # one thread per reader: a following reader blocks in consume() for poll_interval at a time, and
        # hundreds of live-stream clients must not queue behind each other on a shared pool
        loop = asyncio.get_running_loop()
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-reader")

        def run(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
            return loop.run_in_executor(thread, fn, *args)

        health = Health()
        self._readers.append(health)
        consumer: Consumer | None = None
        try:
            consumer = await run(Consumer, self._consumer_config(health))
            try:
                assignment, ends = await run(self._plan, consumer, topics, start, follow)
            except KafkaException as exc:
                raise self._unavailable(exc) from exc
            if not follow and not ends:
                return
            # where each partition began: a replaced consumer starts there if none of its records came
            starts = {(tp.topic, tp.partition): tp.offset for tp in assignment}
            if assignment:
                await run(consumer.assign, assignment)
            next_discovery = time.monotonic() + self.discovery_interval
            timeout = self.settings.request_timeout
            idle_deadline = time.monotonic() + timeout  # one-shot: no progress for this long is an error
            failed_looks = 0  # partition discoveries in a row that got no metadata
            while True:
                batch = await run(consumer.consume, 500, poll_interval)
                for msg in batch:
                    err = msg.error()
                    if err is not None:
                        if err.fatal():
                            raise EventError(Codes.LOG_UNAVAILABLE, f"Kafka consumer failed: {err.str()}")
                        continue  # transient (broker restart, partition EOF): librdkafka recovers
                    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                    if not follow:
                        end = ends.get((topic, partition))
                        if end is None or offset >= end:
                            continue
                        if offset + 1 >= end:
                            del ends[(topic, partition)]
                    yield Record(topic, partition, offset, msg.timestamp()[1], msg.key(), msg.value())
                if health.lost:
                    consumer = await self._replace_reader(run, consumer, health, starts, ends, follow)
                if not follow:
                    left = len(ends)
                    if not batch and ends:
                        # offsets without a record (deleted by retention, control records): the position
                        # tells us we are past the end all the same
                        positions = await run(consumer.position, [TopicPartition(t, p) for t, p in ends])
                        for tp in positions:
                            if tp.offset >= 0 and tp.offset >= ends[(tp.topic, tp.partition)]:
                                del ends[(tp.topic, tp.partition)]
                    if not ends:
                        return
                    now = time.monotonic()
                    if batch or len(ends) < left:
                        idle_deadline = now + timeout
                    elif now >= idle_deadline:
                        raise EventError(
                            Codes.LOG_UNAVAILABLE,
                            f"Kafka ({self.settings.bootstrap_servers}) delivered nothing for {timeout:g}s "
                            f"with {len(ends)} partition(s) not read to their end "
                            f"(brokers: {health.states or 'none known'}).",
                        )
                if follow and time.monotonic() >= next_discovery:
                    # topics and partitions created after we began (a datacenter's first event); a short
                    # timeout: while Kafka is away this must not hold back records for long once it is back
                    next_discovery = time.monotonic() + self.discovery_interval
                    try:
                        parts = await run(self._partitions, topics, min(timeout, 2.0))
                    except KafkaException:
                        failed_looks += 1
                        if failed_looks >= 3:  # the admin client may know no broker any more (#5301)
                            failed_looks = 0
                            self._admin_stale = True
                    else:
                        failed_looks = 0
                        new = [
                            TopicPartition(t, p, OFFSET_BEGINNING)
                            for t, plist in parts.items()
                            for p in plist
                            if (t, p) not in starts
                        ]
                        if new:
                            with contextlib.suppress(KafkaException):  # tried again at the next look
                                await run(consumer.incremental_assign, new)
                                starts.update(((tp.topic, tp.partition), tp.offset) for tp in new)
        finally:
            with contextlib.suppress(ValueError):
                self._readers.remove(health)
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await run(consumer.close)
            thread.shutdown(wait=False)

    async def _replace_reader(
        self,
        run: Callable[..., asyncio.Future[Any]],
        old: Consumer,
        health: Health,
        starts: Mapping[tuple[str, int], int],
        ends: Mapping[tuple[str, int], int],
        follow: bool,
    ) -> Consumer:
        """A reader's consumer that knows no broker any more never delivers again (see ``_on_stats``):
        a new one is assigned the same partitions, each at the offset after the last record yielded
        from it (where it began if none was). That is the old consumer's position (local state, no
        broker asked): it is called between batches, and every record of a batch was yielded (or, one-shot,
        lies past the end). Nothing is tracked per record. The metadata clients may be in the same state
        as the consumer: made anew."""
        health.reset()
        self._admin_stale = self._meta_stale = True
        keys = list(starts) if follow else list(ends)
        after: dict[tuple[str, int], int] = {}
        with contextlib.suppress(KafkaException):
            for tp in await run(old.position, [TopicPartition(t, p) for t, p in keys]):
                if tp.error is None and tp.offset >= 0:
                    after[(tp.topic, tp.partition)] = tp.offset
        with contextlib.suppress(Exception):
            await run(old.close)
        consumer: Consumer = await run(Consumer, self._consumer_config(health))
        self.readers_replaced += 1
        LOGGER.warning("Kafka reader consumer replaced: it lost every broker")
        assignment = [TopicPartition(t, p, after.get((t, p), starts[(t, p)])) for t, p in keys]
        if assignment:
            await run(consumer.assign, assignment)
        return consumer


async def _of_partition(records: AsyncIterator[Record], partition: int) -> AsyncIterator[Record]:
    """The records of one partition (``consume`` reads every partition of the topic)."""
    try:
        async for r in records:
            if r.partition == partition:
                yield r
    finally:
        await records.aclose()  # type: ignore[attr-defined]
