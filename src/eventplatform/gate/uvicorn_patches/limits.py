"""Slow clients and graceful drain, in uvicorn's httptools protocol (a subclass, given as ``http=``).

uvicorn times out only idle keep-alive connections: a connection that sends half a request head, or a
body at a trickle, stays open for ever, and thousands of them exhaust file descriptors. Here:

- the request head must arrive within ``header_timeout`` of the connection (or of the previous
  response), and the body within ``body_timeout`` of the head: else ``408`` and the connection closes;
- beyond ``max_connections`` open connections, a new one gets ``503`` with ``Connection: close`` at once;
- while the worker drains (:func:`install_drain`: SIGTERM/SIGINT), every response carries
  ``Connection: close``, and a request whose head is being read when the server stops is still answered
  (uvicorn would close its connection as idle).
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _canned(status: bytes, body: bytes, *extra: bytes) -> bytes:
    """A whole response written straight to the transport (no ASGI cycle exists for it)."""
    head = [b"HTTP/1.1 " + status, b"content-type: application/json", *extra, b"connection: close"]
    return b"\r\n".join([*head, b"content-length: %d" % len(body), b"", body])


BUSY = _canned(b"503 Service Unavailable", b'{"message":"Too many connections; retry."}', b"retry-after: 1")
TIMEOUT = _canned(b"408 Request Timeout", b'{"message":"The request was not received in time."}')


class Limits:
    """The values one worker applies (from ``settings.server``)."""

    def __init__(self, header_timeout: float, body_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections


LIMITS = Limits(10.0, 30.0, 0)  # set by gate.server.run_worker before serving


class GateHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request timeouts, a connection limit and drain behaviour."""

    _timer: asyncio.TimerHandle | None = None
    _reading_head = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if LIMITS.max_connections and len(self.connections) > LIMITS.max_connections:
            transport.write(BUSY)
            transport.close()
            return
        self._arm(LIMITS.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        if delay > 0:
            self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        if self._timer is None:  # a keep-alive connection's next request
            self._arm(LIMITS.header_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()
        if getattr(self.server_state, "draining", False) and self.cycle is not None:
            self.cycle.keep_alive = False  # the client opens its next connection elsewhere
        self._arm(LIMITS.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _head_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return  # a response is on its way; the next head is timed when it begins
        if self._reading_head:
            self.transport.write(TIMEOUT)
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or not cycle.more_body:
            return
        if not cycle.response_started:
            self.transport.write(TIMEOUT)
        self.transport.close()  # the app's receive() now says http.disconnect

    def shutdown(self) -> None:
        if self._reading_head:  # read what was sent and answer it (with Connection: close)
            return
        super().shutdown()


def install_drain(server: Any, app: Any, delay: float) -> None:
    """On the first SIGTERM/SIGINT: readiness turns 503 (``app.draining``), responses close their
    connections, and the server keeps accepting and answering for ``delay`` seconds (for load balancers
    to see it) before it stops accepting and lets in-flight requests finish. A second SIGINT forces."""
    handle_exit, on_tick = server.handle_exit, server.on_tick
    started: list[float] = []

    def handle(sig: int, frame: Any) -> None:
        if started:
            if sig == signal.SIGINT:
                handle_exit(sig, frame)  # uvicorn: a second SIGINT forces the exit
            server.should_exit = True
            return
        started.append(time.monotonic())
        app.draining = True
        server.server_state.draining = True
        for connection in list(server.server_state.connections):  # requests being answered close too
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False
        if delay <= 0:
            handle_exit(sig, frame)

    async def tick(counter: int) -> bool:
        if started and not server.should_exit and time.monotonic() - started[0] >= delay:
            server.should_exit = True
        return bool(await on_tick(counter))

    server.handle_exit = handle
    server.on_tick = tick
