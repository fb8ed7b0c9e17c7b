"""Even spread of connections over the workers that share one listening socket.

Left to the kernel and libuv, a burst of new connections goes to whichever worker wakes first, and libuv
accepts every pending connection in one go: 16 keep-alive connections opened together ended up 4/12 or 0/16
between two workers (0/16 also whenever one worker was up before the other). Clients that keep their
connections (HTTP keep-alive pools of producers, load balancers) then load one worker while the other idles,
for as long as the connections live. Here each worker accepts for itself, one connection at a time, once
its siblings are up too, and leaves a pending connection to a worker that holds fewer (counts in shared
memory), unless that worker does not take it within ``DEFER_S`` (it may be busy or gone): nothing waits for
a worker that cannot come.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import multiprocessing
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import uvicorn

logger = logging.getLogger("eventplatform.gate")

DEFER_S = 0.005  # how long a pending connection is left to a less loaded worker
SLACK = 1  # a worker may hold this many connections more than the least loaded one and still accept
SIBLINGS_WAIT_S = 5.0  # at start, how long a worker waits for the others before accepting alone
PUBLISH_S = 0.25  # how often a worker publishes its count (closed connections lower it between accepts)
_PAUSE_S = 0.1  # after an accept error such as EMFILE: let connections close before accepting again


NOT_ACCEPTING = 1 << 30  # the count of a worker that is starting, stopping or gone: never deferred to


class ConnectionCounts:
    """Open connections per worker, in memory shared by the forked workers (one int each, written by its
    owner only: a torn or stale read only makes a worker accept a little early or late)."""

    def __init__(self, workers: int) -> None:
        self._counts = multiprocessing.RawArray(ctypes.c_int, [NOT_ACCEPTING] * workers)

    def set(self, index: int, count: int) -> None:
        self._counts[index] = count

    def all_accepting(self) -> bool:
        return NOT_ACCEPTING not in self._counts[:]

    def should_accept(self, mine: int) -> bool:
        """Whether a worker holding ``mine`` connections should take the next one now."""
        return mine <= min(self._counts) + SLACK


class BalancedServer(uvicorn.Server):
    """A uvicorn server that accepts from a shared socket itself, in turn with its sibling workers."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, counts: ConnectionCounts, index: int):
        super().__init__(config)
        self.sock = sock
        self.counts = counts
        self.index = index
        self._acceptor: asyncio.Task[None] | None = None
        self._publisher: asyncio.TimerHandle | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan, and no listener of uvicorn's own
        if not self.should_exit:
            self._acceptor = asyncio.create_task(self._accept_forever(), name="eventplatform-acceptor")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acceptor
        self.counts.set(self.index, NOT_ACCEPTING)
        await self._stop_listening()
        await super().shutdown(sockets=sockets)

    async def _stop_listening(self) -> None:
        """Refuse new connections without resetting any that is already queued: new SYNs are dropped
        (the client's retry finds the port closed: refused, never sent), the queue is accepted and
        served, then this worker's copy of the socket is closed. Closing with connections still queued
        would reset them after their clients had sent a request."""
        refuse_new_connections(self.sock)
        await asyncio.sleep(HANDSHAKE_S)  # the handshakes already begun complete meanwhile
        loop = asyncio.get_running_loop()
        factory = self._protocol_factory()
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # BlockingIOError: the queue is empty (or another worker took the rest)
                break
            conn.setblocking(False)
            try:
                await loop.connect_accepted_socket(factory, conn)
            except OSError:
                conn.close()
        self.sock.close()

    def _protocol_factory(self) -> Callable[[], Any]:
        config, state, app_state = self.config, self.server_state, self.lifespan.state
        return lambda: config.http_protocol_class(config=config, server_state=state, app_state=app_state)

    def _publish(self) -> int:
        """This worker's open connections, now also in the shared counts."""
        mine = len(self.server_state.connections)
        self.counts.set(self.index, mine)
        return mine

    async def _accept_forever(self) -> None:
        """A worker that stopped accepting would look alive and serve nobody new: a bug is logged, and
        accepting goes on."""
        while True:
            try:
                await self._accept_loop()
            except Exception:
                logger.exception("accepting connections failed; accepting again")
                await asyncio.sleep(_PAUSE_S)

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        factory = self._protocol_factory()
        sock, fd = self.sock, self.sock.fileno()
        sock.setblocking(False)
        readable = asyncio.Event()
        self._publish_periodically(loop)  # from now on, this worker takes its turns
        await self._wait_for_siblings()
        loop.add_reader(fd, readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                if not self.counts.should_accept(self._publish()):
                    await asyncio.sleep(DEFER_S)  # a less loaded worker takes it meanwhile, or we do
                try:
                    conn, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    continue  # another worker took it
                except OSError as exc:
                    if exc.errno not in (errno.ECONNABORTED, errno.EPROTO):  # not just this connection's
                        logger.warning("cannot accept a connection: %s; pausing", exc)  # e.g. EMFILE
                        await asyncio.sleep(_PAUSE_S)
                    readable.set()  # more may be pending: look again
                    continue
                readable.set()  # more may be pending: one accept per turn, then the others' turn
                conn.setblocking(False)
                try:  # shielded: a stop during the hand-over must not drop an accepted connection
                    await asyncio.shield(loop.connect_accepted_socket(factory, conn))
                except OSError:  # the client went away already
                    conn.close()
                    continue
                self._publish()
                await asyncio.sleep(0)  # let a sibling that woke too take the next one
        finally:
            if self._publisher is not None:
                self._publisher.cancel()
            loop.remove_reader(fd)

    async def _wait_for_siblings(self) -> None:
        """At start, until every worker can accept (or ``SIBLINGS_WAIT_S``): the first worker up would
        otherwise take every connection of a client that connects at once, for as long as they live."""
        deadline = time.monotonic() + SIBLINGS_WAIT_S
        while not self.counts.all_accepting() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _publish_periodically(self, loop: asyncio.AbstractEventLoop) -> None:
        self._publish()
        self._publisher = loop.call_later(PUBLISH_S, self._publish_periodically, loop)


SO_ATTACH_FILTER = 26  # Linux <asm-generic/socket.h>
HANDSHAKE_S = 0.2  # at stop, how long handshakes already begun get to complete (a round trip or more)


def refuse_new_connections(sock: socket.socket) -> None:
    """A classic BPF program on the listening socket that drops SYNs: no new handshake begins, those
    already begun complete, and queued connections stay there to be accepted. Best effort."""
    code = [
        (0x30, 0, 0, 13),  # ldb [13]: the TCP flags (the filter sees the segment from its TCP header)
        (0x45, 0, 1, 0x02),  # jset #SYN
        (0x06, 0, 0, 0),  # a SYN: drop
        (0x06, 0, 0, 0xFFFFFFFF),  # anything else (the ACK ending a handshake already begun): keep
    ]
    program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in code))
    fprog = struct.pack("HL", len(code), ctypes.addressof(program))
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
