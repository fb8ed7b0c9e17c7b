"""Names and partition paths exactly as the reference's Refine makes them (``HivePartition.normalize``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

_BAD = re.compile(r"(^[^A-Za-z_]|[^A-Za-z0-9_])")
LEGACY_PREFIX = "eventlogging_"
DEFAULT_DATACENTER = "local"  # topics without a datacenter prefix (the default SQLite log)


def clean(name: str) -> str:
    """Each character matching ``(^[^A-Za-z_]|[^A-Za-z0-9_])`` becomes ``_``, one for one (nested field
    names: case kept)."""
    return _BAD.sub("_", name)


def normalize(name: str) -> str:
    """Table and top-level column names: :func:`clean`, then lower-case."""
    return clean(name).lower()


def table_name(stream: str) -> str:
    """The table of a stream: the legacy ``eventlogging_`` prefix dropped, then :func:`normalize`."""
    if stream.startswith(LEGACY_PREFIX):
        stream = stream[len(LEGACY_PREFIX) :]
    return normalize(stream)


def split_topic(topic: str, stream: str, default_dc: str = DEFAULT_DATACENTER) -> str:
    """The datacenter of ``topic`` holding ``stream``: its ``<dc>.`` prefix, else ``default_dc``."""
    if topic != stream and topic.endswith("." + stream):
        return topic[: -len(stream) - 1]
    return default_dc


@dataclass(frozen=True, slots=True, order=True)
class Hour:
    """One partition of a table: a datacenter and an hour (UTC)."""

    datacenter: str
    year: int
    month: int
    day: int
    hour: int

    @classmethod
    def of(cls, datacenter: str, when: datetime) -> Hour:
        return cls(datacenter, when.year, when.month, when.day, when.hour)

    @property
    def path(self) -> str:
        """``datacenter=eqiad/year=2024/month=2/day=15/hour=0``: numbers not zero-padded."""
        return (
            f"datacenter={self.datacenter}/year={self.year}/month={self.month}"
            f"/day={self.day}/hour={self.hour}"
        )

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, self.day, self.hour, tzinfo=UTC)

    @property
    def key(self) -> str:
        return f"{self.datacenter}/{self.start:%Y-%m-%dT%H}"

    @classmethod
    def from_key(cls, key: str) -> Hour:
        dc, _, when = key.rpartition("/")
        return cls.of(dc, datetime.strptime(when, "%Y-%m-%dT%H").replace(tzinfo=UTC))

    @classmethod
    def from_path(cls, path: str) -> Hour:
        """The inverse of :attr:`path`, also for raw zero-padded paths (``month=02/hour=00``)."""
        parts = dict(p.split("=", 1) for p in path.strip("/").split("/") if "=" in p)
        return cls(
            parts.get("datacenter", DEFAULT_DATACENTER),
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"]),
        )
