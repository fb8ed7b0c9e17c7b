"""Kafka metadata and administration: topics, partitions, watermarks, creation, record deletion.

Blocking librdkafka calls run on the log's thread pool; the admin client and the metadata consumer are
made anew when they may have lost every broker (see :mod:`.health`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from eventplatform.errors import Codes, EventError
from eventplatform.log.kafka.config import KafkaSettings, merge_config
from eventplatform.log.kafka.failures import LEADERLESS
from eventplatform.log.kafka.health import Health


class Admin:
    """Metadata and topic administration of :class:`KafkaLog` (a mixin)."""

    settings: KafkaSettings
    _admin: AdminClient | None
    _meta: Consumer | None
    _meta_lock: threading.Lock
    _executor: ThreadPoolExecutor
    _admin_stale: bool
    _meta_stale: bool
    health_interval: float

    def _admin_client(self) -> AdminClient:
        if self._admin_stale:  # see _on_stats; the old one goes when its last user lets go
            self._admin_stale = False
            self._admin = None
        if self._admin is None:
            self._admin = AdminClient(
                {**self.settings.common(), "client.id": f"{self.settings.client_id}-admin"}
            )
        return self._admin

    def _meta_consumer(self) -> Consumer:
        if self._meta_stale and self._meta is not None:  # under _meta_lock: nobody else uses it
            self._meta_stale = False
            with contextlib.suppress(Exception):
                self._meta.close()
            self._meta = None
        if self._meta is None:
            self._meta = Consumer(self._consumer_config())
        return self._meta

    def _consumer_config(self, health: Health | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if health is not None:  # a reader's consumer: watch it for the broker-less state
            extra = {"statistics.interval.ms": int(self.health_interval * 1000), "stats_cb": health.on_stats}
        conf = {
            **self.settings.common(),
            "client.id": f"{self.settings.client_id}-reader",
            "group.id": f"eventplatform-reader-{uuid.uuid4()}",  # assign() only; never committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            **extra,
        }
        return merge_config(conf, self.settings.consumer_config)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _partitions(self, topics: Sequence[str], timeout: float | None = None) -> dict[str, list[int]]:
        """Existing topics among ``topics`` -> their partition ids (blocking)."""
        t = self.settings.request_timeout if timeout is None else timeout
        md = self._admin_client().list_topics(timeout=t)
        out: dict[str, list[int]] = {}
        for topic in topics:
            tm = md.topics.get(topic)
            if tm is None or tm.error is not None or not tm.partitions:
                continue
            out[topic] = sorted(tm.partitions)
        return out

    async def list_topics(self) -> list[str]:
        def fetch() -> list[str]:
            try:
                md = self._admin_client().list_topics(timeout=self.settings.request_timeout)
            except KafkaException as exc:
                raise self._unavailable(exc) from exc
            return sorted(t for t in md.topics if not t.startswith("__"))

        return await self._run(fetch)

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """``call()``, retried while Kafka answers with a transient error (a new topic's partitions have no
        leader for a moment), up to ``request_timeout``."""
        deadline = time.monotonic() + self.settings.request_timeout
        delay = 0.05
        while True:
            try:
                return call()
            except KafkaException as exc:
                err = exc.args[0]
                transient = isinstance(err, KafkaError) and (err.retriable() or err.code() in LEADERLESS)
                if not transient or time.monotonic() + delay >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _watermarks(self, topic: str, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
        with self._meta_lock:
            consumer = self._meta_consumer()
            out = {}
            for p in partitions:
                low, high = self._retrying(
                    partial(
                        consumer.get_watermark_offsets,
                        TopicPartition(topic, p),
                        timeout=self.settings.request_timeout,
                        cached=False,
                    )
                )
                out[p] = (low, high)
            return out

    async def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        def fetch() -> dict[int, tuple[int, int]]:
            try:
                parts = self._partitions([topic]).get(topic, [])
                return self._watermarks(topic, parts)
            except KafkaException as exc:
                raise self._unavailable(exc) from exc

        return await self._run(fetch)

    async def ensure_topics(
        self, topics: Sequence[str], *, partitions: int | None = None, replication: int | None = None
    ) -> None:
        """Create the topics that do not exist yet; an existing topic is left as it is."""
        if not topics:
            return

        def create() -> None:
            problems = self._create_topics(
                list(topics),
                self.settings.partitions if partitions is None else partitions,
                self.settings.replication if replication is None else replication,
            )
            if problems:
                raise EventError(
                    Codes.LOG_UNAVAILABLE,
                    "Cannot create Kafka topics: "
                    + "; ".join(f"{t}: {text}" for t, (_, text) in problems.items()),
                )

        await self._run(create)

    def _create_topics(
        self, topics: Sequence[str], partitions: int, replication: int, timeout: float | None = None
    ) -> dict[str, tuple[int, str]]:
        """Create what does not exist (blocking); topic -> (Kafka error code, message) of each failure."""
        admin = self._admin_client()
        t = self.settings.request_timeout if timeout is None else timeout
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=replication) for name in topics],
            operation_timeout=t,
            request_timeout=t,
        )
        problems: dict[str, tuple[int, str]] = {}
        created: list[str] = []
        for name, fut in futures.items():
            try:
                fut.result(timeout=t + 1)
                created.append(name)
            except KafkaException as exc:
                err = exc.args[0]
                if isinstance(err, KafkaError):
                    if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        problems[name] = (err.code(), f"{err.name()}: {err.str()}")
                else:
                    problems[name] = (KafkaError.UNKNOWN, str(err))
            except Exception as exc:
                problems[name] = (KafkaError._TIMED_OUT, str(exc))
        if created:
            self._await_leaders(created, t)
        return problems

    def _await_leaders(self, topics: Sequence[str], timeout: float) -> None:
        """A created topic answers "not leader" until its partitions have a leader: wait for that (bounded),
        so that what follows the creation (produce, watermarks) sees a usable topic."""
        admin = self._admin_client()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(KafkaException):
                md = admin.list_topics(timeout=max(0.1, deadline - time.monotonic()))
                ready = all(
                    (tm := md.topics.get(name)) is not None
                    and tm.error is None
                    and tm.partitions
                    and all(pm.leader >= 0 for pm in tm.partitions.values())
                    for name in topics
                )
                if ready:
                    return
            time.sleep(0.05)

    async def delete_before(
        self, topic: str, timestamp_ms: int | None = None, *, offsets: Mapping[int, int] | None = None
    ) -> int:
        """Retention with ``AdminClient.delete_records``: per partition, the records before the first at or
        after ``timestamp_ms`` (``offsets_for_times``), or before ``offsets`` (partition -> first offset
        kept). Returns how many records went (the rise of the low watermarks)."""
        if timestamp_ms is None and offsets is None:
            raise ValueError("delete_before needs a timestamp or offsets")
        t = self.settings.request_timeout

        def delete() -> int:
            try:
                parts = self._partitions([topic]).get(topic, [])
                if not parts:
                    return 0
                marks = self._watermarks(topic, parts)
                cuts: dict[int, int] = {}
                if timestamp_ms is not None:
                    with self._meta_lock:
                        consumer = self._meta_consumer()
                        found = self._retrying(
                            partial(
                                consumer.offsets_for_times,
                                [TopicPartition(topic, p, timestamp_ms) for p in parts],
                                timeout=t,
                            )
                        )
                    for tp in found:
                        cuts[tp.partition] = tp.offset if tp.offset >= 0 else marks[tp.partition][1]
                for p, offset in (offsets or {}).items():
                    if p in marks:
                        cuts[p] = max(cuts.get(p, 0), min(offset, marks[p][1]))
                todo = [TopicPartition(topic, p, cut) for p, cut in cuts.items() if cut > marks[p][0]]
                if not todo:
                    return 0
                futures = self._admin_client().delete_records(todo, request_timeout=t, operation_timeout=t)
                deleted = 0
                for tp, fut in futures.items():
                    deleted += fut.result(timeout=t + 1).low_watermark - marks[tp.partition][0]
                return deleted
            except KafkaException as exc:
                raise self._unavailable(exc) from exc

        return await self._run(delete)
