"""The delivery timeout of SQLite produce calls: one timer per event loop rather than one per call."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from eventplatform.errors import Codes, EventError
from eventplatform.log.sqlite.writer import Job


class Watch:
    """The delivery timeout of one event loop's produce calls: a deque of pending jobs (commits are FIFO, so
    the oldest is first) and one timer that fires every second while any is pending. The commit may still
    happen later: like a Kafka delivery timeout, the outcome of a timed-out call is unknown."""

    def __init__(
        self, watches: dict[asyncio.AbstractEventLoop, Watch], loop: asyncio.AbstractEventLoop, timeout: float
    ) -> None:
        self.watches, self.loop, self.timeout = watches, loop, timeout
        self.pending: deque[tuple[float, Job]] = deque()
        self.armed = False

    def add(self, job: Job) -> None:
        pending = self.pending
        while pending and pending[0][1].future.done():  # type: ignore[union-attr]
            pending.popleft()
        pending.append((time.monotonic() + self.timeout, job))
        if not self.armed:
            self.armed = True
            self.loop.call_later(min(1.0, self.timeout), self.check)

    def check(self) -> None:
        pending, now, timeout = self.pending, time.monotonic(), self.timeout
        while pending:
            deadline, job = pending[0]
            fut = job.future
            assert fut is not None
            if not fut.done():
                if deadline > now:
                    break
                failure = EventError(
                    Codes.DELIVERY_TIMEOUT, f"SQLite log did not commit within {timeout:g} s"
                )
                fut.set_result([failure] * job.count)
            pending.popleft()
        # later jobs may be done while an earlier one waits; they are dropped when they reach the front
        if pending:
            self.loop.call_later(min(1.0, timeout), self.check)
        else:
            self.armed = False
            if self.watches.get(self.loop) is self:
                del self.watches[self.loop]
