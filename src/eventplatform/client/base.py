"""What the threaded and the asyncio client share: options, the submit-time checks, counters, reports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from eventplatform.client.buffer import Buffer, Policy
from eventplatform.client.engine import Engine, Problem
from eventplatform.client.events import BadEvent, Identity, StreamTable, check_call, prepare
from eventplatform.client.spool import Spool

logger = logging.getLogger("eventplatform.client")

DEFAULT_MAX_BODY = 4 * 1024 * 1024  # intake's default max_body_size


class ClientBase:
    """Options (all keyword-only after ``intake_url``):

    - ``stream_config``: a URL (``…/v1/stream-configs``, fetched then refreshed every ``config_refresh``
      seconds), a mapping (the API's body or its ``streams``), or None: no stream config, every stream is
      accepted and unsampled (the reference's ``streamConfigs: false``).
    - ``domain``: ``meta.domain`` when the event has none.
    - ``identity``: the session/pageview/device ids sampling is keyed on (default: random for this client).
    - batching: ``batch_size`` events, ``batch_bytes``, ``linger`` seconds after the first queued event.
    - ``max_body_bytes`` (intake's limit; an event must fit) and ``max_event_bytes``.
    - memory: at most ``max_queue`` events queued; when full, ``overflow="block"`` waits ``block_timeout``
      seconds for room then refuses the event, ``"drop_oldest"`` evicts the oldest (counted either way).
    - retries: ``backoff`` (first wait and jitter), ``max_backoff``, ``max_retry_time`` (None: until close).
    - ``spool``: a file path; batches that fail ``attempts_before_spool`` times, and what is unsent at
      close, are kept there and sent when intake is back, also by the next process.
    - ``on_problem``: called with a :class:`Problem` for every event not delivered (also logged).
    """

    def __init__(
        self,
        intake_url: str,
        *,
        stream_config: str | Mapping[str, Any] | None = None,
        domain: str | None = None,
        identity: Identity | None = None,
        batch_size: int = 500,
        batch_bytes: int = 512 * 1024,
        linger: float = 1.0,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        max_event_bytes: int | None = None,
        max_queue: int = 100_000,
        overflow: Policy = "block",
        block_timeout: float = 1.0,
        max_in_flight: int = 4,
        backoff: float = 0.2,
        max_backoff: float = 30.0,
        max_retry_time: float | None = None,
        spool: str | Path | None = None,
        attempts_before_spool: int = 3,
        timeout: float = 30.0,
        config_refresh: float = 300.0,
        on_problem: Callable[[Problem], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if batch_size < 1 or max_queue < 1 or max_in_flight < 1:
            raise ValueError("batch_size, max_queue and max_in_flight must be at least 1")
        self.intake_url = intake_url
        self.domain = domain
        self.identity = identity or Identity()
        self.max_event_bytes = min(max_event_bytes or max_body_bytes, max_body_bytes - 2)  # "[" + "]"
        self.on_problem = on_problem
        self.buffer = Buffer(
            max_events=max_queue,
            batch_size=batch_size,
            batch_bytes=min(batch_bytes, max_body_bytes),
            policy=overflow,
            block_timeout=block_timeout,
        )
        self._refused: dict[str, int] = {}
        self._verdicts: dict[str, tuple[str, str] | None] = {}
        self._closed = False

        def http() -> httpx.AsyncClient:
            limits = httpx.Limits(
                max_connections=max_in_flight + 1, max_keepalive_connections=max_in_flight + 1
            )
            return httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport)

        self.engine = Engine(
            url=intake_url,
            buffer=self.buffer,
            http=http,
            stream_config=stream_config,
            config_refresh=config_refresh,
            linger=linger,
            max_in_flight=max_in_flight,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_time=max_retry_time,
            spool=Spool(spool) if spool is not None else None,
            attempts_before_spool=max(1, attempts_before_spool),
            report=self._report,
        )
        self.engine.on_table = lambda _table: self._verdicts.clear()

    # -- submit --------------------------------------------------------------------------------------

    def _enqueue(self, stream: str, event: Any, identity: Identity | None) -> bool:
        """Checks, stamps, serialises and queues; never raises into the caller. Hot function."""
        try:
            if self._closed:
                raise BadEvent(
                    "closed", f"submit( {stream}, eventData ) after close(). No event will be sent."
                )
            check_call(stream, event)
            table: StreamTable | None = self.engine.table
            pending = None
            if table is None:
                pending = identity or self.identity  # decided when the stream config arrives
            elif identity is None:
                try:
                    verdict = self._verdicts[stream]
                except KeyError:
                    verdict = self._verdicts[stream] = table.verdict(stream, self.identity)
                if verdict is not None:
                    return self._refuse(verdict[0], verdict[1], stream)
            else:
                verdict = table.verdict(stream, identity)
                if verdict is not None:
                    return self._refuse(verdict[0], verdict[1], stream)
            event_id, body = prepare(stream, event, domain=self.domain, max_bytes=self.max_event_bytes)
        except BadEvent as exc:
            return self._refuse(exc.kind, exc.message, stream if isinstance(stream, str) else None, event)
        except Exception as exc:  # never into the caller's code
            logger.exception("submit( %s ) failed unexpectedly", stream)
            return self._refuse("error", f"submit( {stream}, eventData ) failed: {exc!r}", None, event)
        lost = self.buffer.put((event_id, body, stream, pending))
        if lost is None:
            return True
        self._report(
            Problem(
                "overflow",
                f"the queue is full ({self.buffer.max_events} events, policy {self.buffer.policy}): "
                f"an event of {lost[2]} (meta.id {lost[0]}) was dropped",
                lost[2],
            )
        )
        return lost[0] != event_id  # drop_oldest queued this one; block refused it

    def _refuse(self, kind: str, message: str, stream: str | None, event: Any = None) -> bool:
        self._refused[kind] = self._refused.get(kind, 0) + 1
        if kind == "out_of_sample":
            logger.debug(message)
            return False
        self._report(Problem(kind, message, stream, event))
        return False

    def _report(self, problem: Problem) -> None:
        if problem.kind != "overflow":
            logger.warning("%s: %s", problem.kind, problem.message)
        elif _power_of_ten(self.buffer.overflowed):  # a full queue would flood the log: 1, 10, 100...
            logger.warning("%s (%d events dropped so far)", problem.message, self.buffer.overflowed)
        if self.on_problem is not None:
            try:
                self.on_problem(problem)
            except Exception:
                logger.exception("the on_problem callback failed")

    # -- counters ------------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters: ``queued`` (accepted by submit), ``delivered``, ``invalid``, ``rejected``,
        ``undeliverable``, ``overflow``, ``retries``, ``spooled``, refusals at submit by kind
        (``missing_schema``, ``unconfigured``, ``out_of_sample``, ``too_large``...), and ``in_queue``."""
        out: dict[str, int] = dict(self._refused)
        out.update(self.engine.counts)
        out["queued"] = self.buffer.enqueued
        out["overflow"] = self.buffer.overflowed
        out["in_queue"] = len(self.buffer)
        out["restored"] = self.engine.restored
        return out

    def _flush_target(self) -> int:
        return self.buffer.enqueued + self.engine.restored


def _power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1
