"""Which process writes which partition: ``DIR/partition-<n>.lock``, claimed with ``fcntl.flock``.

A process claims the first partition whose lock file it can lock (at its first produce or ``claim()``, so
pure readers claim nothing); the lock dies with the process, so a restarted worker takes over a free
partition with its data intact, and writers never contend for one database.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from eventplatform.errors import Codes, EventError


def claim_partition(directory: Path, wanted: int | None) -> tuple[int, int]:
    """Lock a partition: ``wanted`` or the first free one. Returns (partition, lock fd)."""
    n = 0 if wanted is None else wanted
    while True:
        fd = os.open(directory / f"partition-{n}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if wanted is not None:
                raise EventError(
                    Codes.LOG_UNAVAILABLE, f"partition {wanted} of {directory} is held by another process"
                ) from None
            n += 1
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return n, fd
