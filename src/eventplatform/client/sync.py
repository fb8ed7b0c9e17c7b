"""The threaded client: ``submit`` in the caller's thread, delivery on a background thread.

The background thread runs the delivery engine on a private event loop (one code path for both clients);
``close`` stops and joins it, so no thread outlives the client.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from eventplatform.client.base import ClientBase
from eventplatform.client.events import Identity


class EventClient(ClientBase):
    """Sends events to intake in batches; see :class:`ClientBase` for the options::

    with EventClient("http://127.0.0.1:8192/v1/events",
                     stream_config="http://127.0.0.1:8192/v1/stream-configs") as client:
        client.submit("mediawiki.interwiki_link_hover", {"$schema": "/analytics/link_hover/1.0.0", ...})
    """

    def __init__(self, intake_url: str, **options: Any) -> None:
        super().__init__(intake_url, **options)
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="eventplatform-client", daemon=True
        )
        self._thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        try:
            asyncio.run(self.engine.run(started.set))
        finally:
            started.set()

    def submit(self, stream: str, event: Any, *, identity: Identity | None = None) -> bool:
        """Queue one event for ``stream``: True if queued, False if refused (counted, logged and given to
        ``on_problem``; never an exception). The event is copied and stamped now: later changes to
        ``event`` are not sent. ``identity`` overrides the client's sampling ids (server code)."""
        return self._enqueue(stream, event, identity)

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True once each of those events is delivered or reported."""
        if not self._thread.is_alive():
            return len(self.buffer) == 0
        done = threading.Event()
        target = self._flush_target()
        loop = self.engine.loop
        assert loop is not None
        try:
            loop.call_soon_threadsafe(self._flush_on_loop, target, done.set)
        except RuntimeError:  # the loop just closed
            return len(self.buffer) == 0
        return done.wait(timeout)

    def _flush_on_loop(self, target: int, done: Any) -> None:
        self.engine.add_waiter(target, done)
        self.engine.request_flush()

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (retrying until ``timeout``), keep the rest in the spool or report it,
        and stop the background thread."""
        self._closed = True
        loop = self.engine.loop
        if self._thread.is_alive() and loop is not None:
            try:
                loop.call_soon_threadsafe(self.engine.begin_close, timeout)
            except RuntimeError:
                pass
        self._thread.join(timeout + 30.0)
        if self._thread.is_alive():
            raise RuntimeError("the eventplatform client thread did not stop")

    @property
    def closed(self) -> bool:
        return self._closed and not self._thread.is_alive()

    def __enter__(self) -> EventClient:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()
