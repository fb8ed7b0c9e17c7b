"""The events the intake benchmarks send: link-hover events of the bundled example schema and stream."""

from __future__ import annotations

from typing import Any

from eventplatform.examples import LINK_HOVER_SCHEMA_URI, LINK_HOVER_STREAM

SCHEMA = LINK_HOVER_SCHEMA_URI
STREAM = LINK_HOVER_STREAM


def event(i: int, valid: bool = True) -> dict[str, Any]:
    """Event ``i``; an invalid one has an integer ``link_href`` (a schema violation, not a parse error)."""
    return {
        "$schema": SCHEMA,
        "meta": {"stream": STREAM, "domain": "en.wikipedia.org"},
        "dt": "2024-03-15T19:05:00.456Z",
        "link_href": f"https://en.wikipedia.org/wiki/Special:Random/{i}" if valid else i,
        "link_title": "Random article",
    }
