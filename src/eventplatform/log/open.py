"""Opening a log by URL: a small registry from URL scheme to backend, imported lazily, so that
:mod:`eventplatform.log.base` imports no backend and a backend's dependencies load only when used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventplatform.log.base import EventLog

# scheme -> (module, class with a ``from_url(url, **options)`` constructor)
DRIVERS: dict[str, tuple[str, str]] = {
    "sqlite": ("eventplatform.log.sqlite", "SQLiteLog"),
    "kafka": ("eventplatform.log.kafka", "KafkaLog"),
}


def open_log(url: str, **options: Any) -> EventLog:
    """Open a log from its URL: ``sqlite:///PATH`` (a directory) or ``kafka://HOST:PORT[,HOST:PORT]``."""
    scheme, sep, _ = url.partition("://")
    driver = DRIVERS.get(scheme) if sep else None
    if driver is None:
        raise ValueError(f"unsupported log URL {url!r}: expected sqlite:///PATH or kafka://HOST:PORT")
    module, name = driver
    cls = getattr(importlib.import_module(module), name)
    return cls.from_url(url, **options)  # type: ignore[no-any-return]
