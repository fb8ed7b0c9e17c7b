"""``--output FILE``: every accepted event also written to a file of JSON lines."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence


class OutputFile:
    """``--output FILE``: every accepted event as one JSON line, one O_APPEND write per batch, so several
    worker processes can share the file without interleaving lines."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, values: Sequence[bytes]) -> None:
        if values:
            os.write(self.fd, b"\n".join(values) + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
