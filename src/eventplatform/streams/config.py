"""Stream configuration: streams by exact name or ``/regex/``, defaults deep-merged, topics computed.

Interface fixed here so intake can be built against it; the implementation fills in the bodies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class StreamConfig:
    """An immutable, resolved stream-config document (the reference's ``streamconfigs`` shape)."""

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> StreamConfig:
        """``{"streams": {name_or_/regex/: settings}, "defaults": {...}}``."""
        raise NotImplementedError

    def get(self, stream: str) -> dict[str, Any] | None:
        """Settings of a concrete stream (exact name wins, then the first matching regex), with ``stream``
        and ``topics`` filled in, or None when no entry matches."""
        raise NotImplementedError

    def select(
        self, streams: Sequence[str] | None = None, constraints: Mapping[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The ``streams`` map of the API response: all entries, or the requested names; filtered."""
        raise NotImplementedError


def topic_for(stream: str, datacenter: str | None) -> str:
    """The topic an intake of ``datacenter`` produces ``stream`` to: ``<dc>.<stream>``, except legacy
    ``eventlogging_*`` streams and when there is no datacenter."""
    if not datacenter or stream.startswith("eventlogging_"):
        return stream
    return f"{datacenter}.{stream}"


class StreamConfigSource:
    """Loads a StreamConfig from a file or http(s) URL and refreshes it, keeping the last good one."""

    def __init__(self, location: str, *, refresh_interval: float | None = None) -> None:
        raise NotImplementedError

    @property
    def current(self) -> StreamConfig:
        raise NotImplementedError

    async def start(self) -> None:
        """First load (raises on failure) and start the refresh task, if any."""
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError
