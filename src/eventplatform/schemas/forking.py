"""Pure work fanned out to forked child processes, for the schema commands (materialize, test).

Not ``ProcessPoolExecutor``: on runs of 0.25-0.5 s, importing ``concurrent.futures.process`` cold costs about
45 ms and each call about 4 ms more; a fork shares every module and parsed schema already loaded, and only the
results cross a pipe (pickled).
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

MAX_WORKERS = 8
_ENV = ("EVENTPLATFORM_WORKERS", "EVENTPLATFORM_SCHEMA_JOBS")  # either one; the first set wins


def free_workers(n_items: int, threshold: int) -> int:
    """Processes worth running ``n_items`` on: one per *free* CPU, and one alone below ``threshold`` items.

    On a busy machine a second process only adds its start-up work (measured: slower at load 7 on 2 cores),
    so we fork only when the load average leaves more than half a core free. ``EVENTPLATFORM_WORKERS`` (or
    ``EVENTPLATFORM_SCHEMA_JOBS``) = N forces N processes whatever the load; 1 never forks.
    """
    wanted = next((os.environ[k] for k in _ENV if os.environ.get(k)), "")
    if wanted == "1" or n_items < threshold:
        return 1
    if wanted.isdigit():
        return max(1, min(int(wanted), MAX_WORKERS))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = os.getloadavg()[0]
    except (OSError, AttributeError):
        busy = 0.0
    return min(cpus, MAX_WORKERS) if busy < cpus - 0.5 else 1


def can_fork() -> bool:
    """Forking a process while other threads run can deadlock the child (a lock held by one of them)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def fork_map(
    func: Callable[[Any], Any], chunks: list[Any], local: Callable[[Any], Any] | None = None
) -> list[Any]:
    """``[func(c) for c in chunks]`` with every chunk but the last in a forked child; the last runs here, with
    ``local`` when given (its result need not cross a pipe). Results keep the order of ``chunks``.

    An exception in a child is raised here (the first one, by chunk order) once every child is reaped. A child
    that dies without answering (a native library's thread, invisible to ``threading``, held a lock at fork
    time) has its chunk redone here: the work is pure.
    """
    local = local or func
    if len(chunks) <= 1 or not can_fork():
        return [local(c) for c in chunks]
    sys.stdout.flush()
    sys.stderr.flush()
    children: list[tuple[int, int]] = []
    try:
        for chunk in chunks[:-1]:
            children.append(_fork(func, chunk))
        last = local(chunks[-1])
    finally:
        answers = [_reap(pid, fd) for pid, fd in children]
    results: list[Any] = []
    for chunk, answer in zip(chunks, answers, strict=False):
        if answer is None:
            print(f"eventplatform: a worker process died; redoing its {len(chunk)} items", file=sys.stderr)
            results.append(func(chunk))
            continue
        kind, value = answer
        if kind == "raise":
            raise value
        if kind == "crash":
            raise RuntimeError(f"a worker process failed: {value}")
        results.append(value)
    results.append(last)
    return results


def _fork(func: Callable[[Any], Any], chunk: Any) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: compute, send, exit without running the parent's cleanup
        code = 0
        try:
            os.close(read_fd)
            try:
                payload = pickle.dumps(("ok", func(chunk)), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:
                payload = _pickled_failure(exc)
            with os.fdopen(write_fd, "wb") as fh:
                fh.write(payload)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _pickled_failure(exc: BaseException) -> bytes:
    """The exception itself when it survives pickling (so the parent raises the same error), else its text."""
    try:
        payload = pickle.dumps(("raise", exc), protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(payload)
        return payload
    except Exception:
        return pickle.dumps(("crash", f"{type(exc).__name__}: {exc}"))


def _reap(pid: int, read_fd: int) -> tuple[str, Any] | None:
    with os.fdopen(read_fd, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return pickle.loads(data) if data else None  # our own child's bytes
