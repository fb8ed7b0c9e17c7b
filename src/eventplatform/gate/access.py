"""What ``serve`` tells its operator on stderr: one line per request with ``--access-log`` (off by default:
it costs a few microseconds per request), and otherwise one line the first time events of a stream arrive in
a worker, so a user who posts an event sees that it got there.

Lines go through the ``eventplatform.access`` logger (level INFO); :func:`configure` gives it a plain
stderr handler in the worker processes (an embedding application configures logging its own way).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from eventplatform.intake.batch import BatchResult

logger = logging.getLogger("eventplatform.access")


@dataclass(slots=True)
class Outcome:
    """What the access line says about a ``POST /v1/events`` beyond its status."""

    request_id: str = ""
    events: int = 0
    accepted: int | None = None  # None: hasty (not known when the answer goes out)
    invalid: int = 0
    errored: int = 0
    streams: tuple[str, ...] = ()


# set by the request's own task (the handler awaits the pipeline in the same task), read once it returns
_outcome: ContextVar[Outcome | None] = ContextVar("eventplatform_access_outcome", default=None)


def configure() -> None:
    """A stderr handler for the access logger, once per process."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _streams_of(events: list[Any]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for e in events:
        meta = e.get("meta") if isinstance(e, dict) else None
        stream = meta.get("stream") if isinstance(meta, dict) else None
        out[stream if isinstance(stream, str) else "-"] = None
    return tuple(out)


class AccessLog:
    """The request lines (when ``enabled``) and the first-arrival notices of one worker."""

    def __init__(self, enabled: bool, worker: int) -> None:
        self.enabled = enabled
        self.worker = worker
        self._seen: set[str] = set()

    def processed(self, result: BatchResult) -> None:
        """Called for every processed batch (hasty ones included)."""
        new = [stream for stream, _ in result.accepted_by if stream not in self._seen]
        for stream in new:
            self._seen.add(stream)
            if not self.enabled:
                logger.info(
                    "eventplatform: events are arriving on stream %s (worker %d; --access-log shows every "
                    "request)",
                    stream,
                    self.worker,
                )

    def note_request(self, request_id: str) -> None:
        if self.enabled:
            _outcome.set(Outcome(request_id))

    def note_batch(self, result: BatchResult) -> None:
        outcome = _outcome.get() if self.enabled else None
        if outcome is not None:
            streams: dict[str, None] = {s: None for s, _ in result.accepted_by}
            for o in (*result.invalid, *result.error):
                streams[o.stream or "-"] = None
            outcome.events = result.total
            outcome.accepted, outcome.invalid, outcome.errored = result.status_counts()
            outcome.streams = tuple(streams)

    def note_hasty(self, events: list[Any]) -> None:
        outcome = _outcome.get() if self.enabled else None
        if outcome is not None:
            outcome.events = len(events)
            outcome.streams = _streams_of(events)

    def request(self, scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
        """One line: client, method, path and query, status, latency, then counts and streams if any."""
        client = scope.get("client")
        query = scope.get("query_string", b"")
        target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        line = (
            f"{client[0] if client else '-'} {scope['method']} {target} {status} {seconds * 1000:.1f}ms "
            f"w{self.worker}"
        )
        outcome = _outcome.get()
        if outcome is not None:
            _outcome.set(None)
            if outcome.streams and outcome.accepted is None:
                line += f" events={outcome.events} hasty"
            elif outcome.streams:
                line += (
                    f" events={outcome.events} accepted={outcome.accepted} invalid={outcome.invalid}"
                    f" errored={outcome.errored}"
                )
            if outcome.streams:
                line += f" stream={','.join(outcome.streams)}"
            line += f" id={outcome.request_id}"
        logger.info("%s", line)
