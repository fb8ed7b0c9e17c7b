"""Retention: what is older than the cutoff goes, from the event log and from the lake, with the
reference's arithmetic and safety checks (``refinery-drop-older-than``, data-lake.md §3).

* **Threshold** = now truncated to the hour, minus N days (or a date given as is). Per stream, the stream
  config's ``retention_days`` overrides N.
* **Lake** (``<lake>/event`` and ``<lake>/quarantine``; ``event_sanitized`` is never touched): a directory
  whose whole period ends before the threshold (its *end* is the last second of its year, month, day or
  hour) goes at once; one that straddles the threshold is walked into; directories without time keys
  (``datacenter=``) are walked into. A directory is first renamed into ``<lake>/_purge`` (atomic), then
  removed, so a crash never leaves half a partition visible; the next run empties ``_purge``.
* **Log**: per topic and partition, the records before the first one at or after the threshold (offset
  order, as Kafka's time-based retention), through the log protocol's ``delete_before`` (Kafka:
  ``DeleteRecords``).
* **Safety**: a threshold in the future, a retention under the configured minimum, or anything that
  starts more than ``allowed_interval`` days before its threshold (a purge that has not run for a long time
  needs a person) is refused before anything is deleted. The plan has a checksum: ``--checksum`` makes the
  deletion happen only if what would go is exactly what was reviewed.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventplatform.log import EventLog, Record, Start
from eventplatform.streamconfig.config import StreamConfig

PURGED_DATABASES = ("event", "quarantine")  # never event_sanitized: sanitized data is kept
TRASH = "_purge"
IMPLAUSIBLE_DAYS = 36_500  # a hundred years: a typo (90000d for 90d), not a policy
RETENTION_SETTING = "retention_days"
_KEY = re.compile(r"^(year|month|day|hour)=(\d+)$")
_TABLE_CHARS = re.compile(r"(^[^A-Za-z_]|[^A-Za-z0-9_])")


class PurgeRefused(Exception):
    """A safety check failed: nothing was deleted (the message says which and why)."""


def threshold_for(days: float, now: datetime) -> datetime:
    """now truncated to the hour, minus ``days``."""
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)


def period(keys: Mapping[str, int]) -> tuple[datetime, datetime] | None:
    """[start, end] of a partition from its time keys; end is its last second. None without a year."""
    if "year" not in keys:
        return None
    y = keys["year"]
    if "month" not in keys:
        return datetime(y, 1, 1, tzinfo=UTC), datetime(y, 12, 31, 23, 59, 59, tzinfo=UTC)
    m = keys["month"]
    if "day" not in keys:
        last = calendar.monthrange(y, m)[1]
        return datetime(y, m, 1, tzinfo=UTC), datetime(y, m, last, 23, 59, 59, tzinfo=UTC)
    d = keys["day"]
    if "hour" not in keys:
        return datetime(y, m, d, tzinfo=UTC), datetime(y, m, d, 23, 59, 59, tzinfo=UTC)
    h = keys["hour"]
    return datetime(y, m, d, h, tzinfo=UTC), datetime(y, m, d, h, 59, 59, tzinfo=UTC)


def should_drop(keys: Mapping[str, int], threshold: datetime) -> bool | None:
    """True: the whole partition is older; False: keep it; None: it straddles the threshold (or has no
    time keys): look inside."""
    p = period(keys)
    if p is None:
        return None
    start, end = p
    if end < threshold:
        return True
    return None if start < threshold else False


def table_of(stream: str) -> str:
    if stream.startswith("eventlogging_"):
        stream = stream[len("eventlogging_") :]
    return _TABLE_CHARS.sub("_", stream).lower()


@dataclass(frozen=True, slots=True)
class LakeItem:
    path: Path  # a directory to remove
    start: datetime
    threshold: datetime


@dataclass(frozen=True, slots=True)
class LogItem:
    topic: str
    partition: int
    low: int  # first offset held
    cut: int  # first offset kept
    oldest_ms: int  # time of the oldest record that goes
    threshold: datetime

    @property
    def count(self) -> int:
        return self.cut - self.low


@dataclass
class Plan:
    lake: list[LakeItem] = field(default_factory=list)
    log: list[LogItem] = field(default_factory=list)

    def lines(self, lake_root: Path | None = None) -> list[str]:
        out = []
        for item in sorted(self.lake, key=lambda i: str(i.path)):
            shown = item.path.relative_to(lake_root) if lake_root else item.path
            out.append(f"lake {shown}")
        for li in sorted(self.log, key=lambda i: (i.topic, i.partition)):
            out.append(f"log {li.topic} [{li.partition}] offsets {li.low}..{li.cut - 1} ({li.count} records)")
        return out

    def checksum(self, lake_root: Path | None = None) -> str:
        """What will go, as a short digest: the same plan always has the same checksum."""
        return hashlib.sha256("\n".join(self.lines(lake_root)).encode()).hexdigest()[:16]

    @property
    def empty(self) -> bool:
        return not self.lake and not self.log


@dataclass
class Policy:
    """The retention of each stream: ``default_days`` unless the stream config says ``retention_days``."""

    config: StreamConfig
    default_days: float
    minimum_days: float
    now: datetime

    def days(self, stream: str | None) -> float:
        settings = self.config.get(stream) if stream else None
        value = settings.get(RETENTION_SETTING) if settings else None
        if value is None:
            return self.default_days
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise PurgeRefused(f"stream {stream}: {RETENTION_SETTING} must be a positive number of days")
        return float(value)

    def check(self) -> None:
        """Refusals that need no data: a cutoff in the future, a retention under the minimum."""
        if self.default_days <= 0:
            raise PurgeRefused("the cutoff is in the future (--older-than must be a positive age)")
        if self.default_days > IMPLAUSIBLE_DAYS:
            raise PurgeRefused(
                f"--older-than {self.default_days:g} days is implausible (over a century): check it"
            )
        checks = [("--older-than", self.default_days)]
        for name in self.config.names:
            if not name.startswith("/") and (self.config.get(name) or {}).get(RETENTION_SETTING) is not None:
                checks.append((f"stream {name} ({RETENTION_SETTING})", self.days(name)))
        for what, days in checks:
            if days < self.minimum_days:
                raise PurgeRefused(
                    f"{what}: {days:g} days is under the configured minimum of {self.minimum_days:g} days"
                    " (retention.minimum_days)"
                )

    def threshold(self, stream: str | None) -> datetime:
        return threshold_for(self.days(stream), self.now)

    def table_streams(self) -> dict[str, str]:
        """table name -> stream, for the configured (exact-name) streams."""
        return {table_of(n): n for n in self.config.names if not n.startswith("/")}


# -- planning ----------------------------------------------------------------------------------------


def plan_lake(lake: Path, policy: Policy) -> list[LakeItem]:
    items: list[LakeItem] = []
    streams = policy.table_streams()
    for database in PURGED_DATABASES:
        root = lake / database
        if not root.is_dir():
            continue
        for table_dir in sorted(
            p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        ):
            threshold = policy.threshold(streams.get(table_dir.name))
            _walk(table_dir, {}, threshold, items)
    return items


def _walk(directory: Path, keys: dict[str, int], threshold: datetime, out: list[LakeItem]) -> None:
    for child in sorted(directory.iterdir()):
        if not child.is_dir() or child.name.startswith((".", "_")):
            continue
        m = _KEY.match(child.name)
        if m is None:
            if "=" in child.name and "year" not in keys:  # datacenter=… and the like: no time
                _walk(child, keys, threshold, out)
            continue
        sub = {**keys, m.group(1): int(m.group(2))}
        verdict = should_drop(sub, threshold)
        if verdict is True:
            out.append(LakeItem(child, _oldest_start(child, sub), threshold))
        elif verdict is None:
            _walk(child, sub, threshold, out)


def _oldest_start(directory: Path, keys: dict[str, int]) -> datetime:
    """Start of the oldest partition holding files inside ``directory`` (empty leftovers do not count,
    as in the reference's allowed-interval check)."""
    starts: list[datetime] = []
    for root, dirs, files in os.walk(directory):
        if not files:
            continue
        sub = dict(keys)
        for part in Path(root).relative_to(directory).parts:
            m = _KEY.match(part)
            if m:
                sub[m.group(1)] = int(m.group(2))
        p = period(sub)
        if p:
            starts.append(p[0])
        dirs.sort()
    p = period(keys)
    return min(starts) if starts else (p[0] if p else datetime.max.replace(tzinfo=UTC))


def stream_of_topic(topic: str, config: StreamConfig) -> str:
    """The stream a topic holds: itself if configured, else without its ``<dc>.`` prefix."""
    if config.get(topic) is not None:
        return topic
    _, dot, rest = topic.partition(".")
    return rest if dot and config.get(rest) is not None else topic


async def _first_per_partition(
    log: EventLog, topic: str, start: Start, wanted: set[int]
) -> dict[int, Record]:
    found: dict[int, Record] = {}
    if not wanted:
        return found
    records = log.consume([topic], start)
    try:
        async for r in records:
            if r.partition not in found:
                found[r.partition] = r
                if len(found) == len(wanted):
                    break
    finally:
        await records.aclose()  # type: ignore[attr-defined]
    return found


async def plan_log(log: EventLog, policy: Policy, topics: Sequence[str] | None = None) -> list[LogItem]:
    items: list[LogItem] = []
    for topic in topics if topics is not None else await log.list_topics():
        threshold = policy.threshold(stream_of_topic(topic, policy.config))
        ms = int(threshold.timestamp() * 1000)
        marks = await log.watermarks(topic)
        held = {p for p, (low, high) in marks.items() if high > low}
        firsts = await _first_per_partition(log, topic, Start.beginning(), held)
        old = {p for p, r in firsts.items() if r.timestamp_ms < ms}
        kept = await _first_per_partition(log, topic, Start.at_time(ms), old)
        for p in sorted(old):
            high = marks[p][1]
            cut = kept[p].offset if p in kept else high
            if cut > firsts[p].offset:
                items.append(LogItem(topic, p, firsts[p].offset, cut, firsts[p].timestamp_ms, threshold))
    return items


def check_allowed_interval(plan: Plan, allowed_days: float | None) -> None:
    """The reference's ``--allowed-interval``: refuse if anything to delete starts more than that many
    days before its threshold."""
    if allowed_days is None:
        return
    for item in plan.lake:
        if item.start < item.threshold - timedelta(days=allowed_days):
            raise PurgeRefused(
                f"{item.path} starts {item.start:%Y-%m-%dT%H}, more than {allowed_days:g} days before the "
                f"threshold {item.threshold:%Y-%m-%dT%H}: has the purge not run for a while? Check, then "
                "pass a larger --allowed-interval"
            )
    for li in plan.log:
        oldest = datetime.fromtimestamp(li.oldest_ms / 1000, UTC)
        if oldest < li.threshold - timedelta(days=allowed_days):
            raise PurgeRefused(
                f"log {li.topic} [{li.partition}] holds records from {oldest:%Y-%m-%dT%H}, more than "
                f"{allowed_days:g} days before the threshold {li.threshold:%Y-%m-%dT%H}: has the purge not "
                "run for a while? Check, then pass a larger --allowed-interval"
            )


async def make_plan(
    policy: Policy, *, lake: Path | None, log: EventLog | None, allowed_days: float | None
) -> Plan:
    policy.check()
    plan = Plan()
    if lake is not None and lake.is_dir():
        plan.lake = plan_lake(lake, policy)
    if log is not None:
        plan.log = await plan_log(log, policy)
    check_allowed_interval(plan, allowed_days)
    return plan


# -- execution ---------------------------------------------------------------------------------------


def empty_trash(lake: Path) -> None:
    """What a crashed run moved aside but did not remove."""
    shutil.rmtree(lake / TRASH, ignore_errors=True)


async def execute(plan: Plan, *, lake: Path | None, log: EventLog | None) -> dict[str, int]:
    """Delete what the plan says. Lake directories: rename aside (atomic), then remove."""
    done = {"directories": 0, "records": 0}
    if lake is not None and plan.lake:
        empty_trash(lake)
        trash = lake / TRASH / uuid.uuid4().hex
        trash.mkdir(parents=True)
        for i, item in enumerate(plan.lake):
            os.replace(item.path, trash / str(i))
            done["directories"] += 1
        shutil.rmtree(lake / TRASH, ignore_errors=True)
    if log is not None:
        by_topic: dict[str, dict[int, int]] = {}
        for li in plan.log:
            by_topic.setdefault(li.topic, {})[li.partition] = li.cut
        for topic, offsets in by_topic.items():
            done["records"] += await log.delete_before(topic, offsets=offsets)
    return done
