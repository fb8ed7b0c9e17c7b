"""One grammar of durations and times for every command (tail, retention, legacy, serve's settings)."""

from __future__ import annotations

import pytest

from eventplatform.durations import parse_duration, parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("30", 30), ("30s", 30), ("1.5sec", 1.5), ("15m", 900), ("2min", 120), ("1h", 3600),
     ("90d", 90 * 86400), ("2w", 14 * 86400), (" 5 M ", 300), (7, 7.0)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "-1h", "1y", "1h30m", "one hour"])
def test_not_durations_say_what_is(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration .examples: 250ms"):
        parse_duration(text)


def test_times_ago_and_iso() -> None:
    assert parse_time("-1h", NOW) == int((NOW - 3600) * 1000)
    assert parse_time("30m", NOW) == int((NOW - 1800) * 1000)
    assert parse_time("-500ms", NOW) == int((NOW - 0.5) * 1000)
    assert parse_time("2026-11-23T05:00:00Z") == 1795410000000
    assert parse_time("2026-11-23T05:00:00") == 1795410000000  # naive = UTC
    assert parse_time("2026-11-23T06:00:00+01:00") == 1795410000000
    assert parse_time("2026-11-23") == 1795392000000
    with pytest.raises(ValueError, match=r"neither a time .* nor a duration ago"):
        parse_time("yesterday")


def test_the_commands_share_it() -> None:
    import click

    from eventplatform.cli.tail import parse_since
    from eventplatform.legacy.cli import parse_seconds

    assert parse_since("-2d", NOW) == parse_time("2d", NOW)
    assert parse_seconds("500ms") == 0.5
    with pytest.raises(click.BadParameter, match=r"--since|neither"):
        parse_since("soon")
    with pytest.raises(click.BadParameter, match="not a duration"):
        parse_seconds("5 minutes")
