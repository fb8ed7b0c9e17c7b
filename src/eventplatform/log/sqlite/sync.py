"""Durability: the fsync is off the commit path (group fsync), on the partition's syncer thread.

The writer connection runs ``synchronous=NORMAL`` with ``wal_autocheckpoint=0``: COMMIT appends the
transaction's frames (with the commit marker) to the WAL with ``write()`` and returns without syncing. With
``synchronous="full"`` (default) the writer then hands its waiting calls to the :class:`Syncer`, which
calls ``fdatasync`` on the WAL file (its own descriptor, re-opened if the file was unlinked or replaced; the
directory is fsynced after each (re-)open, as SQLite does for a new WAL) and only then resolves every call
committed before that fsync began, with one ``call_soon_threadsafe`` per event loop. Batches that arrive
while an fsync runs could not be acknowledged before the next fsync anyway, so they wait: the callback that
resolves the loop's calls commits them all and hands them to the syncer (about one commit per fsync, not
one per loop iteration; two thread hand-offs per fsync, none per call).

This is what ``synchronous=FULL`` does inside COMMIT (sync the WAL after the commit's frames are written;
fdatasync also flushes the file size, the one metadata change a growing WAL needs), moved to another thread
and shared by every commit since the previous sync: an acknowledged event survives a power loss, not only a
crash. The other syncs SQLite makes in NORMAL mode stay: the checkpoint syncs the WAL before and the
database file after copying pages, and the writer syncs the WAL header when it restarts the WAL after a
complete checkpoint. If an fsync fails, the calls waiting on it fail with ``log_unavailable`` and the
partition refuses every later write until the log is re-opened: after a failed fsync Linux may drop the
unwritten pages, WAL recovery stops at the first bad frame, and so no later commit could honestly be called
durable. ``synchronous="normal"`` skips the syncer's fsync: a call returns after COMMIT, when the data is in
the OS (it survives a SIGKILL of the process, but not a kernel crash or power loss).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventplatform.errors import Causes, Codes, EventError

if TYPE_CHECKING:
    from eventplatform.log.sqlite.writer import Writer

log = logging.getLogger("eventplatform.log.sqlite")

# a call waiting for the fsync: (its event loop, its future, its event count; 0 = a flush() barrier)
Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], int]


def closed_error() -> EventError:
    return EventError(Codes.LOG_UNAVAILABLE, "the SQLite log is closed", cause=Causes.CLOSED)


def deliver(waiters: list[Waiter], error: Exception | None, here: asyncio.AbstractEventLoop | None) -> None:
    """Resolve ``waiters`` (all succeeded, or all failed with ``error``): directly for the loop running on
    this thread (``here``), with one ``call_soon_threadsafe`` per other loop."""
    for loop, done in outcomes(waiters, error).items():
        if loop is here:
            resolve_all(done)
            continue
        try:
            loop.call_soon_threadsafe(resolve_all, done)
        except RuntimeError:  # the producer's event loop is gone: nobody is waiting
            pass


def outcomes(
    waiters: list[Waiter], error: Exception | None
) -> dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]]:
    """loop -> [(future, outcome)] for ``waiters`` (all succeeded, or all failed with ``error``)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for loop, fut, count in waiters:
        if error is None:
            outcome: Any = [None] * count
        else:
            outcome = [error] * count if count else error  # a flush() barrier raises
        done = by_loop.get(loop)
        if done is None:
            by_loop[loop] = [(fut, outcome)]
        else:
            done.append((fut, outcome))
    return by_loop


def resolve_all(done: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, outcome in done:
        if fut.done():
            continue
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)


class Syncer:
    """The thread that makes commits durable: one fdatasync of the WAL per group of commits, then the calls
    committed before it began are resolved. See the module docstring."""

    def __init__(
        self, db_path: Path, partition: int, writer: Writer, fsync: Callable[[int], None] = os.fdatasync
    ) -> None:
        self.wal_path = db_path.with_name(db_path.name + "-wal")
        self.partition = partition
        self.writer = writer
        self.fsync = fsync  # a test passes a failing one (SQLiteLog(fsync=...))
        self.fsyncs = 0
        self.failed: OSError | None = None  # set by a failed fsync: nothing after it is durable
        self._queue: queue.SimpleQueue[list[Waiter] | None] = queue.SimpleQueue()
        self._stop_lock = threading.Lock()
        self._stopping = False
        self._fd = -1
        self._new_fd = False
        self._checked = 0.0  # when _wal_fd last checked that the WAL file is still linked
        self._thread = threading.Thread(target=self._run, name=f"sqlite-log-sync-{partition}", daemon=True)
        self._thread.start()

    def committed(self, waiters: list[Waiter]) -> None:
        """``waiters``' rows are committed (called under the writer's lock, so never after ``stop``)."""
        self._queue.put(waiters)

    def add_barrier(self, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any]) -> None:
        """Resolve ``fut`` after an fsync that starts from now on."""
        with self._stop_lock:
            if self._stopping:
                fut.set_exception(closed_error())
                return
            self._queue.put([(loop, fut, 0)])

    def stop(self) -> None:
        with self._stop_lock:
            self._stopping = True
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            waiters: list[Waiter] = []
            while True:  # everything committed so far shares this fsync
                if item is None:
                    stop = True
                else:
                    waiters.extend(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if waiters:
                self._sync(waiters)
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def _sync(self, waiters: list[Waiter]) -> None:
        """fdatasync the WAL, then resolve ``waiters`` (all were committed before it began)."""
        error = self.failed
        if error is None:
            try:
                fd = self._wal_fd()
                self.fsync(fd)
                if self._new_fd:  # a new WAL's directory entry must be durable too
                    dfd = os.open(self.wal_path.parent, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.fsync(dfd)
                    finally:
                        os.close(dfd)
                    self._new_fd = False
                self.fsyncs += 1
            except OSError as exc:
                log.error(
                    "fsync of %s failed: %s; the calls waiting on it fail and partition %d takes no more"
                    " writes until the log is re-opened",
                    self.wal_path,
                    exc,
                    self.partition,
                )
                self.failed = error = exc
        failure = None
        if error is not None:
            failure = EventError(
                Codes.LOG_UNAVAILABLE, f"SQLite log fsync failed: {error}", cause=Causes.FSYNC_FAILED
            )
        by_loop = outcomes(waiters, failure)
        kick = self.writer.sync_idle() if self._queue.empty() else set()
        # one wake-up per event loop: its calls' outcomes, and the commit of what waited for this fsync
        for loop in by_loop.keys() | kick:
            try:
                loop.call_soon_threadsafe(self.writer.after_sync, loop, by_loop.get(loop, []), loop in kick)
            except RuntimeError:  # the loop is gone: nobody waits on it; its batches go to the committer
                if loop in kick:
                    self.writer.hand_off()

    def _wal_fd(self) -> int:
        """Our descriptor of the WAL file, re-opened if the file was unlinked or replaced."""
        fd = self._fd
        if fd >= 0:
            # SQLite removes the WAL only when its last connection closes, and the writer's stays open, so
            # this guards against outside interference only: checked once a second, as every system call
            # here costs a GIL hand-off with the busy event loop thread
            now = time.monotonic()
            if now < self._checked + 1.0:
                return fd
            self._checked = now
            if os.fstat(fd).st_nlink > 0:  # an unlinked or replaced (renamed over) file has no link left
                return fd
            if not self.wal_path.with_name(self.wal_path.name[: -len("-wal")]).exists():
                # the whole partition was deleted: keep syncing the open file, which the log copies into a
                # re-created partition (see .faults)
                return fd
            log.warning("the WAL %s was removed or replaced behind SQLite's back; re-opening", self.wal_path)
            self._fd = -1
            os.close(fd)
        self._fd = os.open(self.wal_path, os.O_RDONLY | os.O_CLOEXEC)
        self._new_fd = True
        return self._fd
