"""The delivery engine: batches from the queue to intake over HTTP, on one event loop.

The threaded client runs it on a private loop in its own thread, the asyncio client on the caller's loop.
A batch is one ``POST`` of a JSON array; up to ``max_in_flight`` batches are in flight. Intake's answer
decides each event's fate: accepted (201/202), invalid (reported, never retried), errored (207/500 entries,
retried), or the whole batch retried (5xx, 429, network errors) with exponential backoff and jitter
(tenacity). With a spool, a batch that keeps failing moves to disk and is sent from there; without one it is
retried until the client closes, and whatever is still undelivered at the close deadline is reported. Every
event is settled exactly once, in a counter: that is what ``flush`` waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_any,
    stop_when_event_set,
    wait_exponential_jitter,
)

from eventplatform.client.buffer import Buffer, Item
from eventplatform.client.events import Identity, StreamTable
from eventplatform.client.spool import Spool

logger = logging.getLogger("eventplatform.client")

JSON_HEADERS = {"content-type": "application/json"}


@dataclass(frozen=True)
class Problem:
    """One event (or a batch) not delivered, as given to ``on_problem`` and logged. ``kind`` is the
    counter it was counted in: ``invalid`` (intake refused it; never retried), ``missing_schema``,
    ``not_an_object``, ``unserialisable``, ``too_large``, ``unconfigured``, ``overflow``, ``rejected``
    (intake refused the request), ``undeliverable`` (given up at close), ``closed``..."""

    kind: str
    message: str
    stream: str | None = None
    event: Any = None
    context: Any = None


class _Retry(Exception):
    def __init__(self, items: list[Item], reason: str) -> None:
        super().__init__(reason)
        self.items = items
        self.reason = reason


@dataclass(slots=True)
class _Sending:
    """The events of one delivery not settled yet: what is left when retries stop or the client closes."""

    items: list[Item]


class Engine:
    def __init__(
        self,
        *,
        url: str,
        buffer: Buffer,
        http: Callable[[], httpx.AsyncClient],
        stream_config: str | Mapping[str, Any] | None,
        config_refresh: float,
        linger: float,
        max_in_flight: int,
        backoff: float,
        max_backoff: float,
        max_retry_time: float | None,
        spool: Spool | None,
        attempts_before_spool: int,
        report: Callable[[Problem], None],
    ) -> None:
        self.url = url
        self.buffer = buffer
        self._make_http = http
        self.http: httpx.AsyncClient | None = None
        self.config_source = stream_config
        self.table: StreamTable | None = (
            None if isinstance(stream_config, str) else StreamTable(stream_config)  # type: ignore[arg-type]
        )
        self.on_table: Callable[[StreamTable], None] = lambda _t: None
        self.config_refresh = config_refresh
        self.linger = linger
        self.max_in_flight = max_in_flight
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_time = max_retry_time
        self.spool = spool
        self.attempts_before_spool = attempts_before_spool
        self.report = report
        self.counts: Counter[str] = Counter()
        self.settled = 0  # events of the queue and the spool whose fate is known (flush waits for it)
        self.restored = 0  # rows found in the spool at start (part of the flush target)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        self._close_deadline = 0.0
        self._flush_wanted = 0
        self._waiters: list[tuple[int, Callable[[], None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._spool_task: asyncio.Task[Any] | None = None
        self._config_loaded_at = 0.0
        self._spool_gen = 0  # bumped at each write to the spool, so its sender knows when it is done

    # -- control (on the loop) -----------------------------------------------------------------------

    def wake(self) -> None:
        assert self._event is not None
        self._event.set()

    def request_flush(self) -> None:
        self._flush_wanted += 1
        self.wake()

    def begin_close(self, timeout: float) -> None:
        assert self.loop is not None and self._closing is not None
        self._close_deadline = self.loop.time() + timeout
        self._closing.set()
        self.wake()

    def add_waiter(self, target: int, done: Callable[[], None]) -> None:
        """Call ``done`` once ``target`` events are settled."""
        self._waiters.append((target, done))
        self._check_waiters()

    def settled_total(self) -> int:
        return self.settled + self.buffer.overflowed

    def _check_waiters(self) -> None:
        if not self._waiters:
            return
        total = self.settled_total()
        keep = []
        for target, done in self._waiters:
            if total >= target:
                done()
            else:
                keep.append((target, done))
        self._waiters = keep

    def _settle(self, kind: str, n: int) -> None:
        self.counts[kind] += n
        self.settled += n
        self._check_waiters()

    # -- the main loop -------------------------------------------------------------------------------

    async def run(self, started: Callable[[], None] = lambda: None) -> None:
        self.loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._closing = asyncio.Event()
        self._slots = asyncio.Semaphore(self.max_in_flight)
        self.http = self._make_http()
        self.buffer.wake = self._threadsafe_wake()
        if self.spool is not None:
            self.restored = await asyncio.to_thread(self.spool.count)
            self._spool_gen = int(self.restored > 0)
            if self.restored:
                logger.info(
                    "%d events in the spool %s from before: sending them first",
                    self.restored,
                    self.spool.path,
                )
        try:
            await self._load_config(first=True)
            started()
            await self._batches()
            await self._finish()
        finally:
            await self.http.aclose()
            if self.spool is not None:
                self.spool.close()
            for _target, done in self._waiters:
                done()
            self._waiters = []

    def _threadsafe_wake(self) -> Callable[[], None]:
        loop = self.loop
        assert loop is not None
        event = self._event
        assert event is not None
        owner = threading.get_ident()

        def wake() -> None:
            if threading.get_ident() == owner:
                event.set()
            else:
                with contextlib.suppress(RuntimeError):  # the loop closed: close() settles the rest
                    loop.call_soon_threadsafe(event.set)

        return wake

    async def _batches(self) -> None:
        assert self.loop is not None and self._event is not None and self._closing is not None
        loop, event, closing, buffer = self.loop, self._event, self._closing, self.buffer
        while True:
            self._spool_start()
            if not len(buffer):
                if closing.is_set():
                    return
                await self._wait(event, self._next_timer())
                await self._maybe_refresh()
                continue
            deadline = loop.time() + self.linger
            while len(buffer):
                if self.table is None:  # sampling decisions wait for the stream config
                    await self._load_config()
                    if self.table is None:
                        if closing.is_set():
                            return
                        continue
                flushing = self._flush_wanted > 0 or closing.is_set()
                batch = buffer.take(partial=flushing or loop.time() >= deadline)
                if batch:
                    await self._dispatch(batch)
                    continue
                await self._wait(event, deadline - loop.time())
            self._flush_wanted = 0

    async def _wait(self, event: asyncio.Event, timeout: float | None) -> None:
        if timeout is not None and timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    def _next_timer(self) -> float | None:
        if isinstance(self.config_source, str) and self.loop is not None:
            return max(0.0, self._config_loaded_at + self.config_refresh - self.loop.time())
        return None

    async def _dispatch(self, batch: list[Item]) -> None:
        assert self._slots is not None
        if self.table is not None and any(item[3] is not None for item in batch):
            batch = self._decide(batch)
            if not batch:
                return
        await self._slots.acquire()
        task = asyncio.create_task(self._deliver(batch))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        assert self._slots is not None
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            logger.error("delivery task failed", exc_info=task.exception())

    def _decide(self, batch: list[Item]) -> list[Item]:
        """Sampling of events submitted before the stream config was known."""
        assert self.table is not None
        out = []
        for item in batch:
            ident: Identity | None = item[3]
            verdict = None if ident is None else self.table.verdict(item[2], ident)
            if verdict is None:
                out.append(item)
            else:
                kind, message = verdict
                self._settle(kind, 1)
                if kind != "out_of_sample":
                    self.report(Problem(kind, message, item[2]))
        return out

    async def _finish(self) -> None:
        """Closing: wait for the batches in flight until the deadline; what is left goes to the spool or
        is reported undeliverable."""
        assert self.loop is not None
        pending = set(self._tasks)
        if self._spool_task is not None:
            pending.add(self._spool_task)
        if pending:
            _done, late = await asyncio.wait(
                pending, timeout=max(0.0, self._close_deadline - self.loop.time())
            )
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        left = self.buffer.drain()
        if left:
            self._abandon(left, "the client closed before they could be sent")

    def _abandon(self, items: list[Item], reason: str) -> None:
        undecided = [i for i in items if i[3] is not None]
        if undecided:  # their sampling needs the stream config, which never came
            items = [i for i in items if i[3] is None]
            self._settle("undeliverable", len(undecided))
            self.report(
                Problem(
                    "undeliverable",
                    f"{len(undecided)} events not delivered: the stream "
                    f"config never loaded from {self.config_source}, so their sampling is unknown",
                )
            )
        if not items:
            return
        if self.spool is not None:
            try:
                self.spool.put((i[0], i[1], i[2]) for i in items)
            except Exception as exc:  # disk full, permissions...: reported below as undeliverable
                logger.error("cannot write %d events to the spool %s: %s", len(items), self.spool.path, exc)
            else:
                self.counts["spooled"] += len(items)
                self._spool_gen += 1
                self._spool_start()
                logger.warning("%d events kept in the spool %s: %s", len(items), self.spool.path, reason)
                return
        self._settle("undeliverable", len(items))
        self.report(Problem("undeliverable", f"{len(items)} events not delivered: {reason}"))

    # -- stream config -------------------------------------------------------------------------------

    async def _load_config(self, first: bool = False) -> None:
        source = self.config_source
        if not isinstance(source, str):
            return
        assert self.http is not None and self.loop is not None
        try:
            resp = await self.http.get(source, timeout=10.0)
            resp.raise_for_status()
            table = StreamTable(resp.json())
        except (httpx.HTTPError, ValueError) as exc:
            self._config_loaded_at = self.loop.time() - self.config_refresh + min(self.config_refresh, 5.0)
            logger.warning(
                "cannot load the stream config from %s: %s (%s)",
                source,
                exc,
                "keeping the last one" if self.table is not None else "events wait for it",
            )
            self.counts["config_errors"] += 1
            if self.table is None and not first:
                await self._wait(self._event, 1.0)  # type: ignore[arg-type]
            return
        self.table = table
        self._config_loaded_at = self.loop.time()
        self.on_table(table)

    async def _maybe_refresh(self) -> None:
        t = self._next_timer()
        if t is not None and t <= 0:
            await self._load_config()

    # -- sending -------------------------------------------------------------------------------------

    def _retrying(self, *, from_spool: bool) -> AsyncRetrying:
        assert self._closing is not None
        stops = [self._past_close_deadline]
        if self.spool is not None and not from_spool:
            stops.append(self._time_to_spool)
        elif self.max_retry_time is not None:
            from tenacity import stop_after_delay

            stops.append(stop_after_delay(self.max_retry_time))
        if from_spool:
            stops.append(stop_when_event_set(_EventFlag(self._closing)))  # rows stay on disk
        return AsyncRetrying(
            retry=retry_if_exception_type(_Retry),
            wait=wait_exponential_jitter(multiplier=self.backoff, max=self.max_backoff, jitter=self.backoff),
            stop=stop_any(*stops),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def _past_close_deadline(self, _state: RetryCallState) -> bool:
        assert self._closing is not None and self.loop is not None
        return self._closing.is_set() and self.loop.time() >= self._close_deadline

    def _time_to_spool(self, state: RetryCallState) -> bool:
        assert self._closing is not None
        return state.attempt_number >= self.attempts_before_spool or self._closing.is_set()

    async def _sleep(self, seconds: float) -> None:
        """Backoff, cut short at the close deadline."""
        assert self._closing is not None and self.loop is not None
        if self._closing.is_set():
            seconds = min(seconds, max(0.0, self._close_deadline - self.loop.time()))
        await asyncio.sleep(seconds)

    def _before_sleep(self, state: RetryCallState) -> None:
        self.counts["retries"] += 1
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, _Retry) else repr(exc)
        n = len(exc.items) if isinstance(exc, _Retry) else 0
        logger.warning("retrying %d events (attempt %d): %s", n, state.attempt_number, reason)

    async def _post_retrying(self, sending: _Sending, *, from_spool: bool) -> None:
        """Posts until intake settled every event; raises the last _Retry when the retries stop."""
        async for attempt in self._retrying(from_spool=from_spool):
            with attempt:
                try:
                    await self._post(sending.items)
                except _Retry as exc:
                    sending.items = exc.items
                    raise
                sending.items = []

    async def _deliver(self, batch: list[Item]) -> None:
        sending = _Sending(batch)
        try:
            await self._post_retrying(sending, from_spool=False)
        except _Retry as exc:
            self._abandon(exc.items, exc.reason)
        except asyncio.CancelledError:
            self._abandon(sending.items, "the close deadline passed while they were being sent")
            raise

    async def _post(self, items: list[Item]) -> None:
        """One request: settles what intake decided; raises _Retry with what is to be sent again."""
        assert self.http is not None
        body = b"[" + b",".join([i[1] for i in items]) + b"]"
        try:
            resp = await self.http.post(self.url, content=body, headers=JSON_HEADERS)
        except httpx.TransportError as exc:
            raise _Retry(items, f"{type(exc).__name__}: {exc}") from None
        status = resp.status_code
        if status in (200, 201, 202, 204):
            self._settle("delivered", len(items))
            return
        answer = _json(resp)
        lists = isinstance(answer, dict) and ("invalid" in answer or "error" in answer)
        if lists and status in (207, 400, 500):
            self._answered(items, answer, status)
            return
        if status == 413 and len(items) > 1:
            half = len(items) // 2
            again: list[Item] = []
            for part in (items[:half], items[half:]):
                try:
                    await self._post(part)
                except _Retry as exc:
                    again += exc.items
            if again:
                raise _Retry(again, "intake answered 413 and part of the split batch failed")
            return
        message = _message(answer, resp)
        if status == 429 or status >= 500:
            raise _Retry(items, f"intake answered {status}: {message}")
        self._settle("rejected", len(items))
        self.report(
            Problem(
                "rejected",
                f"intake refused {len(items)} events with {status}: {message}",
                items[0][2] if len(items) == 1 else None,
                context=answer,
            )
        )

    def _answered(self, items: list[Item], answer: dict[str, Any], status: int) -> None:
        by_id = {i[0]: n for n, i in enumerate(items)}
        fate: dict[int, str] = {}
        for kind, entries in (("invalid", answer.get("invalid") or []), ("error", answer.get("error") or [])):
            for entry in entries:
                n = _index(entry, by_id, len(items))
                if n is None:
                    continue
                fate[n] = kind
                if kind == "invalid":
                    item = items[n]
                    self._settle("invalid", 1)
                    self.report(
                        Problem(
                            "invalid",
                            f"intake refused an event of {item[2]} (meta.id {item[0]}) as invalid: "
                            f"{entry.get('message') or entry.get('context')}",
                            item[2],
                            event=entry.get("event"),
                            context=entry.get("context"),
                        )
                    )
        if status == 500 and not fate:  # an answer we cannot map to events: all again
            raise _Retry(items, "intake answered 500")
        again = [items[n] for n, kind in fate.items() if kind == "error"]
        self._settle("delivered", len(items) - len(fate))
        if again:
            raise _Retry(again, f"intake could not store {len(again)} events ({status})")

    # -- the spool -----------------------------------------------------------------------------------

    def _spool_start(self) -> None:
        if self.spool is None or (self._spool_task is not None and not self._spool_task.done()):
            return
        assert self._closing is not None
        if self._closing.is_set():
            return
        if self._spool_gen:
            self._spool_task = asyncio.create_task(self._send_spool())

    async def _send_spool(self) -> None:
        """Sends the spool's rows, oldest first, until it is empty (or the client closes)."""
        spool = self.spool
        assert spool is not None and self._closing is not None
        while not self._closing.is_set():
            gen = self._spool_gen
            rows = await asyncio.to_thread(spool.peek, self.buffer.batch_size, self.buffer.batch_bytes)
            if not rows:
                if gen == self._spool_gen:
                    self._spool_gen = 0
                    return
                continue
            items: list[Item] = [(r[1], r[2], r[3], None) for r in rows]
            sending = _Sending(items)
            try:
                await self._post_retrying(sending, from_spool=True)
            except _Retry:
                keep = {i[0] for i in sending.items}
                done = [r[0] for r in rows if r[1] not in keep]
                await asyncio.to_thread(spool.delete, done)
                return  # closing: the rest stays on disk
            await asyncio.to_thread(spool.delete, [r[0] for r in rows])


class _EventFlag:
    """tenacity's ``stop_when_event_set`` wants an object with ``is_set``."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def is_set(self) -> bool:
        return self.event.is_set()


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _message(answer: Any, resp: httpx.Response) -> str:
    if isinstance(answer, dict):
        for key in ("message", "detail", "title"):
            if answer.get(key):
                return str(answer[key])
    return resp.reason_phrase or resp.text[:200]


def _index(entry: Any, by_id: dict[str, int], n: int) -> int | None:
    """Which event of the batch an EventStatus entry is about: our intake gives ``index``, EventGate
    only the event (matched by ``meta.id``)."""
    if not isinstance(entry, dict):
        return None
    index = entry.get("index")
    if isinstance(index, int) and 0 <= index < n:
        return index
    event = entry.get("event")
    meta = event.get("meta") if isinstance(event, dict) else None
    if isinstance(meta, dict):
        return by_id.get(str(meta.get("id")))
    return None
