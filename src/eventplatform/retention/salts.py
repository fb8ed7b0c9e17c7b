"""Hashing salts, rotated per period, kept outside the lake (data-lake.md §2.3).

A salt file is named ``<start>_<end>_<deletion>`` (UTC, ``YYYYMMDDHH``; an empty end = never expires) and
holds 64 random hex characters. ``hash(v)`` = HMAC-SHA256 keyed with the salt's **text** (not hex-decoded),
as 64 upper-case hex digits; the reference's test vector holds. Periods are counted in months from
1970-01: ``3`` months gives calendar quarters. A partition's hour must lie entirely inside one salt's
period, so the same value hashes the same within a quarter and differently across quarters.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

_NAME = re.compile(r"^(\d{10})_(\d{10})?_(\d{10})?$")
_SALT = re.compile(r"^[0-9a-f]{64}$")
FAR_FUTURE = datetime(3000, 1, 1, tzinfo=UTC)


class SaltError(Exception):
    """No usable salt: missing, unreadable or malformed (the message says which file or period)."""


def hmac_hex(salt: str, value: str) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest().upper()


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y%m%d%H")


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%d%H").replace(tzinfo=UTC)


def period_of(when: datetime, months: int) -> tuple[datetime, datetime]:
    """[start, end) of the period of ``months`` months holding ``when`` (counted from 1970-01)."""
    index = ((when.year - 1970) * 12 + when.month - 1) // months * months
    start = datetime(1970 + index // 12, index % 12 + 1, 1, tzinfo=UTC)
    nxt = index + months
    return start, datetime(1970 + nxt // 12, nxt % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Salt:
    path: Path
    start: datetime
    end: datetime  # exclusive
    value: str


class Salts:
    """The salt directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def all(self) -> list[Salt]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.iterdir()):
            m = _NAME.match(path.name)
            if m is None:
                continue
            try:
                value = path.read_text().strip()
            except OSError as exc:
                raise SaltError(f"salt file {path} cannot be read: {exc.strerror}") from None
            if not _SALT.match(value):
                raise SaltError(f"salt file {path} does not hold 64 hexadecimal characters")
            end = _parse(m.group(2)) if m.group(2) else FAR_FUTURE
            out.append(Salt(path, _parse(m.group(1)), end, value))
        return out

    def for_hour(self, hour_start: datetime) -> Salt:
        """The salt whose period holds the whole hour; SaltError if none does."""
        hour_end = hour_start + timedelta(hours=1)
        for salt in self.all():
            if salt.start <= hour_start and hour_end <= salt.end:
                return salt
        raise SaltError(
            f"no salt in {self.directory} covers the hour {hour_start:%Y-%m-%dT%H}: it was deleted or never "
            "made (eventplatform sanitize --rotate-salts makes the current period's)"
        )

    def rotate(self, now: datetime, months: int = 3, keep_days: int = 60) -> list[str]:
        """Make the current period's salt if missing; delete those past their deletion time. Returns what
        was done, one line each."""
        done = []
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        start, end = period_of(now, months)
        if not any(s.start <= start and end <= s.end for s in self.all()):
            name = f"{_stamp(start)}_{_stamp(end)}_{_stamp(end + timedelta(days=keep_days))}"
            tmp = self.directory / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.replace(tmp, self.directory / name)
            done.append(f"created salt {name}")
        for path in sorted(self.directory.iterdir()):
            m = _NAME.match(path.name)
            if m is None:
                continue
            deletion = m.group(3) or m.group(2)
            if deletion and _parse(deletion) <= now:
                path.unlink()
                done.append(f"deleted salt {path.name}")
        return done
