"""The legacy beacon's logic, without HTTP: one query string in, one event through intake's pipeline.

The HTTP side (``gate/beacon.py``) always answers 204, as the reference's edge did; what happened to the
event is said here instead: a refused beacon is an error event on intake's error stream, a counted refusal
(:attr:`Beacon.counts`) and a log line in the legacy processor's format,
``Unable to validate: <capsule> (<reason>)`` (``Unable to process: …`` for what is not even a capsule).
A query string over the size limit is refused whole, never truncated; in development mode each one is also
printed on the console, as the legacy devserver did.
"""

from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from eventplatform.errors import EventFailure, EventInvalid
from eventplatform.intake.batch import RequestContext
from eventplatform.intake.pipeline import Pipeline
from eventplatform.legacy.capsule import (
    LegacyCodes,
    capsule_text,
    decode_query,
    parse_capsule,
    pin_version,
    stream_name,
    to_event,
)
from eventplatform.settings import LegacySettings

logger = logging.getLogger("eventplatform.legacy")
LOGGED_CAPSULE_MAX = 1000  # characters of a refused capsule in a log line (a 100 kB beacon is not echoed)
RAW_EVENT_MAX = 10_000  # characters of a refused capsule in its error event's raw_event (cut visibly)
# refusals before the pipeline: not a capsule at all ("Unable to process" in the legacy processor)
UNPROCESSABLE = frozenset({LegacyCodes.NOT_UTF8, LegacyCodes.NOT_JSON, LegacyCodes.NOT_OBJECT})


@dataclass(slots=True)
class BeaconOutcome:
    """What became of one beacon: accepted (its event), or refused with a failure."""

    event: dict[str, Any] | None = None
    failure: EventFailure | None = None
    stream: str | None = None

    @property
    def accepted(self) -> bool:
        return self.failure is None


@dataclass
class Beacon:
    """Turns beacons into events of ``eventlogging_<Schema>`` streams, through ``pipeline``."""

    pipeline: Pipeline
    settings: LegacySettings = field(default_factory=LegacySettings)
    counts: Counter[str] = field(default_factory=Counter)  # "accepted", or the code of each refusal

    async def handle(self, query: bytes, ctx: RequestContext) -> BeaconOutcome:
        """Parse, convert, validate and produce one beacon; never raises for a bad beacon."""
        limit = self.settings.max_query_size
        if len(query) > limit:
            failure = EventInvalid(
                LegacyCodes.QUERY_TOO_LONG,
                f"The query string is {len(query)} bytes long; the limit is {limit} bytes "
                "(refused whole, never truncated).",
            )
            if self.settings.dev:
                print(
                    f"eventplatform legacy beacon: WARNING: an event of {len(query)} bytes was refused "
                    f"(over the limit of {limit} bytes): {_loggable(query)}",
                    file=sys.stderr,
                    flush=True,
                )
            return await self._refuse(query, failure, ctx, stream=_stream_guess(query))
        capsule: dict[str, Any] | None = None
        try:
            capsule = parse_capsule(decode_query(query))
            event = to_event(
                capsule,
                self.settings.revisions,
                received_iso=ctx.received_iso,
                user_agent=ctx.user_agent,
            )
        except EventInvalid as failure:
            stream = stream_name(capsule["schema"]) if capsule else _stream_guess(query)
            return await self._refuse(query, failure, ctx, stream=stream)
        await self._pin(event)
        result = await self.pipeline.process([event], ctx)
        stream = event["meta"]["stream"]
        outcome = (result.invalid or result.error or [None])[0]
        if outcome is None:
            self.counts["accepted"] += 1
            return BeaconOutcome(event, None, stream)
        failure = outcome.failure
        assert failure is not None
        self.counts[failure.code] += 1
        verb = "validate" if failure.kind == "invalid" else "process"
        logger.warning("Unable to %s: %s (%s)", verb, _loggable(query), failure.message)
        return BeaconOutcome(event, failure, stream)

    async def _pin(self, event: dict[str, Any]) -> None:
        """Resolve a ``latest`` ``$schema`` to the version it names (left as it is if it cannot load: the
        pipeline then refuses the event with the registry's reason)."""
        uri = event["$schema"]
        if not uri.endswith("/latest"):
            return
        try:
            compiled = await self.pipeline.registry.get(uri)
        except EventFailure:
            return
        pin_version(event, compiled.schema_id)

    async def _refuse(
        self, query: bytes, failure: EventInvalid, ctx: RequestContext, *, stream: str | None
    ) -> BeaconOutcome:
        self.counts[failure.code] += 1
        verb = "process" if failure.code in UNPROCESSABLE else "validate"
        logger.warning("Unable to %s: %s (%s)", verb, _loggable(query), failure.message)
        await self.pipeline.report_invalid(_loggable(query, RAW_EVENT_MAX), failure, ctx, stream=stream)
        return BeaconOutcome(None, failure, stream)


def _loggable(query: bytes, limit: int = LOGGED_CAPSULE_MAX) -> str:
    """The capsule as the legacy processor logged it (``?<decoded JSON>;``), cut to ``limit``."""
    try:
        text = "?" + decode_query(query) + ";"
    except EventInvalid:  # not UTF-8: as it came
        text = "?" + capsule_text(query).decode("latin-1") + ";"
    if len(text) > limit:
        return text[:limit] + f"... ({len(query)} bytes)"
    return text


def _stream_guess(query: bytes) -> str | None:
    """The stream a refused capsule was meant for, when its schema name can still be read."""
    try:
        text = decode_query(query[:4096])
    except EventInvalid:
        return None
    match = re.search(r'"schema"\s*:\s*"([./A-Za-z0-9_-]{1,63})"', text)
    return stream_name(match.group(1)) if match else None
