"""The one place that turns :class:`~eventplatform.settings.Settings` into a working intake: schema
registry, stream config source, event log and validation pipeline.

``serve`` (one per worker process), ``produce`` and every later part (live streams, lake, legacy) call
:func:`build`, or :func:`open_intake` for an ``async with``::

    async with open_intake(load_settings()) as intake:
        result = await intake.pipeline.process(events, RequestContext.now())
        ...  # intake.log, intake.registry, intake.streams are there too

Components given to :func:`build` (tests pass their own) are used as they are and not closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from eventplatform.intake.pipeline import OutputFile, Pipeline, PipelineSettings
from eventplatform.log import EventLog, open_log
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.settings import Settings
from eventplatform.streamconfig.config import StreamConfig, StreamConfigSource, configured_topics

logger = logging.getLogger("eventplatform.intake")


def pipeline_settings(settings: Settings) -> PipelineSettings:
    """The pipeline's part of the platform's settings."""
    i = settings.intake
    return PipelineSettings(
        service_name=i.service_name,
        datacenter=settings.log.datacenter,
        error_stream=i.error_stream,
        schema_uri_query_param=i.schema_uri_query_param,
        stream_query_param=i.stream_query_param,
    )


def new_registry(settings: Settings) -> SchemaRegistry:
    s = settings.schemas
    return SchemaRegistry(
        s.base_uris, file_extension=s.file_extension, allow_absolute_uris=s.allow_absolute_uris
    )


@dataclass
class Intake:
    """A built intake: what a part needs to validate events and write them to the log."""

    settings: Settings
    registry: SchemaRegistry
    stream_source: StreamConfigSource
    log: EventLog
    pipeline: Pipeline
    output: OutputFile | None = None
    _owned: list[str] = field(default_factory=list)

    @property
    def streams(self) -> StreamConfig:
        """The stream config in force (refreshed in the background when configured so)."""
        return self.stream_source.current

    async def create_topics(self) -> None:
        """Create the topics of the configured streams, so consumers can subscribe before the first event.
        Best effort: a topic that cannot be created now is created with its first event (or that fails)."""
        topics = configured_topics(self.streams, self.settings.log.datacenter)
        try:
            await self.log.ensure_topics(topics)
        except Exception as exc:
            logger.warning("could not create the topics of the configured streams: %s", exc)

    async def close(self) -> None:
        """Stop the stream config refresh; close what :func:`build` opened (not what it was given)."""
        await self.stream_source.stop()
        if "log" in self._owned:
            await self.log.close()
        if "registry" in self._owned:
            await self.registry.close()
        if self.output is not None:
            self.output.close()


async def build(
    settings: Settings,
    *,
    registry: SchemaRegistry | None = None,
    streams: StreamConfig | None = None,
    log: EventLog | None = None,
    claim: bool = True,
) -> Intake:
    """Load the stream config (raises if it cannot), open the log (with SQLite, claiming a partition:
    a failure shows here, not at the first event) and build the pipeline."""
    owned: list[str] = []
    if registry is None:
        registry = new_registry(settings)
        owned.append("registry")
    if streams is not None:
        source = StreamConfigSource.static(streams)
    else:
        source = StreamConfigSource(
            settings.streamconfig.source, refresh_interval=settings.streamconfig.refresh
        )
    try:
        await source.start()
        if log is None:
            log = open_log(settings.log.url)
            owned.append("log")
            if claim:  # fail at startup, not at the first request
                await asyncio.to_thread(log.claim)
    except BaseException:
        await source.stop()
        if "registry" in owned:
            await registry.close()
        if log is not None and "log" in owned:
            await log.close()
        raise
    output = OutputFile(settings.intake.output) if settings.intake.output else None
    # a refreshing source is read per batch; a fixed config is handed over as it is
    config: StreamConfig | Callable[[], StreamConfig] = (
        (lambda: source.current) if source.refresh_interval else source.current
    )
    pipeline = Pipeline(registry, config, log, pipeline_settings(settings), output=output)
    return Intake(settings, registry, source, log, pipeline, output, owned)


@contextlib.asynccontextmanager
async def open_intake(settings: Settings, **components: Any) -> AsyncIterator[Intake]:
    """:func:`build`, closed on the way out."""
    intake = await build(settings, **components)
    try:
        yield intake
    finally:
        await intake.close()
