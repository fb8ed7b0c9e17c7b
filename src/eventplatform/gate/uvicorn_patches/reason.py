"""EventGate's reason sentences as the real HTTP reason phrase (``HTTP/1.1 201 All 2 out of 2 events were
accepted.``), which clients of EventGate log.

ASGI has no field for a reason phrase and uvicorn's httptools protocol writes the status line from a
module-level table ``STATUS_LINE[status]``. :func:`install` swaps that table for a mapping that first
looks at a context variable the app sets just before ``http.response.start``; uvicorn runs the app and
its ``send`` in one task, so the variable is private to the response being written and concurrent
responses cannot see each other's phrase. If uvicorn changes, :func:`install` returns False and the
standard phrase is used; the sentence is in the JSON ``message`` field either way.

The same hook carries the constant response headers of the intake hot path (CORS, security, content type:
ten headers): written once as bytes after the status line, they skip uvicorn's per-header validation
(two regex searches, a lower() and a few comparisons per header and response). :func:`hooked` says whether
a given ``send`` is uvicorn's httptools one with the table installed; only then may headers go there.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from uvicorn.protocols.http import httptools_impl

_current: ContextVar[tuple[int, bytes] | None] = ContextVar("eventplatform_reason", default=None)


class _StatusLines(dict[int, bytes]):
    def __getitem__(self, status: int) -> bytes:
        custom = _current.get()
        if custom is not None and custom[0] == status:
            return custom[1]
        return dict.__getitem__(self, status)


def set_reason(status: int, reason: str, header_block: bytes = b"") -> None:
    """Use ``reason`` for the status line of the response about to start in this task, followed by
    ``header_block`` (complete ``name: value\\r\\n`` lines, lower-case names; only when :func:`hooked`)."""
    phrase = reason[:512]
    if not (phrase.isascii() and phrase.isprintable()):
        phrase = "".join(c if " " <= c <= "~" else "?" for c in phrase)
    _current.set((status, f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1") + header_block))


_cycle_type: list[type | None] = []


def hooked(send: Any) -> bool:
    """Whether ``send`` writes its status line through the installed table (uvicorn + httptools)."""
    if not _cycle_type:
        ok = isinstance(getattr(httptools_impl, "STATUS_LINE", None), _StatusLines)
        _cycle_type.append(getattr(httptools_impl, "RequestResponseCycle", None) if ok else None)
    cycle = _cycle_type[0]
    return cycle is not None and type(getattr(send, "__self__", None)) is cycle


def install() -> bool:
    """Patch uvicorn's httptools status-line table; True when custom reason phrases are active."""
    table: Any = getattr(httptools_impl, "STATUS_LINE", None)
    if isinstance(table, _StatusLines):
        return True
    if not isinstance(table, dict) or not isinstance(table.get(200), bytes):
        return False
    httptools_impl.STATUS_LINE = _StatusLines(table)  # type: ignore[attr-defined]
    _cycle_type.clear()
    return True
