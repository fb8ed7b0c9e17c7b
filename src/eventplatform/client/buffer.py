"""The bounded queue between ``submit`` (any thread) and the delivery engine (one event loop).

``put`` is on the caller's hot path: one uncontended lock, one ``deque.append``, and a wake-up of the
engine only when the queue becomes non-empty (to start the linger timer) or reaches a full batch. When the
queue is full the configured policy applies: ``block`` waits up to ``block_timeout`` for room and then
refuses the new event, ``drop_oldest`` evicts the oldest; either way the loss is counted and reported.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

Item = tuple[str, bytes, str, Any]  # (meta.id, JSON body, stream, Identity when sampling is undecided)
Policy = Literal["block", "drop_oldest"]


class Buffer:
    def __init__(
        self,
        *,
        max_events: int,
        batch_size: int,
        batch_bytes: int,
        policy: Policy,
        block_timeout: float,
    ) -> None:
        if policy not in ("block", "drop_oldest"):
            raise ValueError(f"overflow policy must be 'block' or 'drop_oldest', not {policy!r}")
        self.max_events = max_events
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.policy = policy
        self.block_timeout = block_timeout
        self.items: deque[Item] = deque()
        self.bytes = 0
        self.enqueued = 0  # ever accepted (the engine's flush target)
        self.overflowed = 0  # refused or evicted because the queue was full
        self.lock = threading.Lock()
        self.room = threading.Condition(self.lock)
        self.wake: Callable[[], None] = lambda: None  # set by the engine once its loop runs
        self._woken_first = False
        self._woken_full = False

    def put(self, item: Item) -> Item | None:
        """Queue ``item``; returns the item lost to overflow (the new one or the evicted oldest), if any.
        Hot function."""
        wake = False
        with self.lock:
            items = self.items
            lost = None
            if len(items) >= self.max_events:
                lost = self._overflow(item)
                if lost is item:  # block: no room came in time
                    return lost
            items.append(item)
            self.bytes += len(item[1])
            self.enqueued += 1
            if not self._woken_first:
                self._woken_first = wake = True
            elif not self._woken_full and (len(items) >= self.batch_size or self.bytes >= self.batch_bytes):
                self._woken_full = wake = True
        if wake:
            self.wake()
        return lost

    def _overflow(self, item: Item) -> Item | None:
        """Called with the lock held and the queue full."""
        if self.policy == "drop_oldest":
            oldest = self.items.popleft()
            self.bytes -= len(oldest[1])
            self.overflowed += 1
            return oldest
        deadline = time.monotonic() + self.block_timeout
        while len(self.items) >= self.max_events:
            left = deadline - time.monotonic()
            if left <= 0 or not self.room.wait(left):
                if len(self.items) < self.max_events:
                    break
                self.overflowed += 1
                return item
        return None

    def full_batch(self) -> bool:
        return len(self.items) >= self.batch_size or self.bytes >= self.batch_bytes

    def take(self, partial: bool) -> list[Item]:
        """The next batch (at most ``batch_size`` events and about ``batch_bytes``), or [] when only a
        partial batch is there and ``partial`` is false."""
        with self.lock:
            items = self.items
            if not items or (not partial and not self.full_batch()):
                return []
            out: list[Item] = []
            size = 0
            limit = self.batch_bytes
            while items and len(out) < self.batch_size:
                n = len(items[0][1]) + 1
                if out and size + n > limit:
                    break
                out.append(items.popleft())
                size += n
            self.bytes -= size - len(out)
            if not items:
                self._woken_first = False
            self._woken_full = False
            self.room.notify_all()
            return out

    def drain(self) -> list[Item]:
        with self.lock:
            out = list(self.items)
            self.items.clear()
            self.bytes = 0
            self.room.notify_all()
            return out

    def __len__(self) -> int:
        return len(self.items)
