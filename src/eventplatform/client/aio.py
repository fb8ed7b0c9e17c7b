"""The asyncio client: the same engine as the threaded client, as a task on the caller's event loop."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from eventplatform.client.base import ClientBase
from eventplatform.client.events import Identity


class AsyncEventClient(ClientBase):
    """``async with AsyncEventClient(url, ...) as client: await client.submit(stream, event)``.

    Same options as :class:`~eventplatform.client.EventClient`. ``submit`` is a coroutine only so that a
    full queue with ``overflow="block"`` can wait without blocking the loop."""

    def __init__(self, intake_url: str, **options: Any) -> None:
        super().__init__(intake_url, **options)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start delivering (``async with`` does it); loads the stream config first."""
        if self._task is not None:
            return
        started = asyncio.Event()
        self._task = asyncio.create_task(self.engine.run(started.set), name="eventplatform-client")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # raises what stopped it

    async def submit(self, stream: str, event: Any, *, identity: Identity | None = None) -> bool:
        """As :meth:`EventClient.submit`."""
        if self._task is None:
            await self.start()
        if self.buffer.policy == "block" and len(self.buffer) >= self.buffer.max_events:
            await self._wait_for_room()
        return self._enqueue(stream, event, identity)

    async def _wait_for_room(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.buffer.block_timeout
        while len(self.buffer) >= self.buffer.max_events and loop.time() < deadline:
            self.engine.request_flush()
            await asyncio.sleep(0.005)
        if len(self.buffer) >= self.buffer.max_events:
            self.buffer.block_timeout = 0.0  # _enqueue then refuses at once (counted as overflow)

    async def flush(self, timeout: float | None = None) -> bool:
        if self._task is None or self._task.done():
            return len(self.buffer) == 0
        done = asyncio.Event()
        self.engine.add_waiter(self._flush_target(), done.set)
        self.engine.request_flush()
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def aclose(self, timeout: float = 30.0) -> None:
        self._closed = True
        if self._task is None:
            if self.engine.spool is not None:
                self.engine.spool.close()
            return
        if not self._task.done():
            self.engine.begin_close(timeout)
        await self._task

    async def __aenter__(self) -> AsyncEventClient:
        await self.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.aclose()
