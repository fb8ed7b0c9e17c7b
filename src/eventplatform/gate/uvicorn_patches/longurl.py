"""Request targets longer than 64 KiB: the legacy beacon must refuse a 100 kB query string itself (with an
error event and a log line), not get uvicorn's bare ``400 Invalid HTTP request received.``

uvicorn's httptools protocol splits the target with ``httptools.parse_url``, whose C structure holds 16-bit
offsets: any URL of 65,536 bytes or more fails there. :func:`install` gives the protocol module a stand-in
for the ``httptools`` module whose ``parse_url`` splits such a URL at the first ``?`` itself (the path part,
short, still goes through httptools). Targets over :data:`MAX_URL` bytes are still refused as before.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import httptools
from uvicorn.protocols.http import httptools_impl

MAX_URL = 1024 * 1024
SHORT_URL = 65535  # httptools' http_parser_url offsets are uint16


class _Url(NamedTuple):
    """The fields of ``httptools.parse_url``'s result that uvicorn reads."""

    path: bytes | None
    query: bytes | None


class _Httptools:
    """``httptools`` as uvicorn sees it: the real module, with a ``parse_url`` that takes long URLs."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def parse_url(self, url: bytes) -> Any:
        if len(url) <= SHORT_URL or len(url) > MAX_URL:
            return self._real.parse_url(url)
        head, sep, query = url.partition(b"?")
        if len(head) > SHORT_URL:
            return self._real.parse_url(url)  # a long path: refused as before
        u = self._real.parse_url(head)
        return _Url(u.path, query if sep else None)


def install() -> bool:
    """Let uvicorn's httptools protocol take request targets up to :data:`MAX_URL` bytes."""
    current = getattr(httptools_impl, "httptools", None)
    if isinstance(current, _Httptools):
        return True
    if current is not httptools or not callable(getattr(current, "parse_url", None)):
        return False
    httptools_impl.httptools = _Httptools(current)  # type: ignore[attr-defined]
    return True
