"""Durations and times as operators write them, one grammar for every command and setting.

A duration is a number with an optional unit: ``250ms``, ``30s``, ``15m``, ``1h``, ``90d``, ``2w`` (no unit:
seconds). A time is an ISO 8601 time or date (naive means UTC), or a duration ago: ``-2h`` (the ``-`` is
optional: ``2h`` is also two hours ago).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
EXAMPLES = "250ms, 30s, 15m, 1h, 90d"


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``90d``, ``1h``, ``15m``, ``30s``, ``250ms`` or a bare number of seconds; ValueError
    otherwise."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (examples: {EXAMPLES})")
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
