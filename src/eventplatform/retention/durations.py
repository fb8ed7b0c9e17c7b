"""Durations and times as operators write them: ``90d``, ``1h``, ``30m``; ISO 8601 times or ``-2h``."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``90d``, ``1h``, ``15m``, ``30s`` or a bare number of seconds; ValueError otherwise."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (examples: 90d, 1h, 15m, 30s)")
    return float(m.group(1)) * _UNIT[(m.group(2) or "s").lower()]


def parse_time(text: str, now: float | None = None) -> int:
    """Epoch ms from an ISO 8601 time (naive = UTC), a date, or ``-2h`` / ``2h`` meaning that long ago."""
    t = time.time() if now is None else now
    stripped = text.strip()
    try:
        return int((t - parse_duration(stripped.removeprefix("-"))) * 1000)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(stripped.replace("z", "Z"))
    except ValueError:
        why = "is neither a time (2026-12-01T00:00:00Z) nor a duration ago (-2h)"
        raise ValueError(f"{text!r} {why}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
