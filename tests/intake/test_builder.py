"""One builder for every part: settings in, registry + stream config + log + pipeline out.

:class:`EventCounter` is the worked example of docs/architecture.md: a new part wired from settings with
the builder in a few lines (a stub consumer that counts the events of a stream)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from eventplatform.examples import LINK_HOVER_SCHEMA_URI, LINK_HOVER_STREAM
from eventplatform.intake.batch import RequestContext
from eventplatform.intake.builder import Intake, build, open_intake, pipeline_settings
from eventplatform.log import Start
from eventplatform.settings import Settings, load_settings
from eventplatform.streamconfig.config import StreamConfigError, topic_for
from tests.gate.conftest import link_hover


class EventCounter:
    """A stub consumer part: counts the events of some streams, as a live-streams or lake part would read
    them, from the log the settings name."""

    def __init__(self, intake: Intake) -> None:
        self.log = intake.log
        self.datacenter = intake.settings.log.datacenter

    async def count(self, *streams: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        topics = [topic_for(s, self.datacenter) for s in streams]
        async for record in self.log.consume(topics, Start.beginning()):
            counts[record.topic] += 1
        return counts


def settings_for(tmp_path: Path, **cli: Any) -> Settings:
    return load_settings(None, {"log": f"sqlite://{tmp_path}/log", **cli}, environ={})


def test_a_new_part_wired_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    async def main() -> Counter[str]:
        settings = settings_for(tmp_path, datacenter="eqiad")
        async with open_intake(settings) as intake:  # what serve and produce do
            result = await intake.pipeline.process([link_hover(), link_hover(), {}], RequestContext.now())
            assert result.status_counts() == (2, 1, 0)
        async with open_intake(settings) as intake:  # the new part: three lines
            return await EventCounter(intake).count(LINK_HOVER_STREAM, "eventplatform.error.validation")

    counts = asyncio.run(main())
    assert counts == {f"eqiad.{LINK_HOVER_STREAM}": 2, "eqiad.eventplatform.error.validation": 1}


def test_build_uses_each_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = settings_for(tmp_path, service_name="svc", datacenter="codfw", output=str(tmp_path / "out"))
    p = pipeline_settings(settings)
    assert (p.service_name, p.datacenter, p.resolved_error_stream) == ("svc", "codfw", "svc.error.validation")

    async def main() -> None:
        intake = await build(settings)
        try:
            assert (await intake.registry.get(LINK_HOVER_SCHEMA_URI)).title == "analytics/link_hover"
            assert intake.streams.get(LINK_HOVER_STREAM) is not None
            assert intake.output is not None and intake.pipeline.output is intake.output
            await intake.create_topics()
            assert f"codfw.{LINK_HOVER_STREAM}" in await intake.log.list_topics()
        finally:
            await intake.close()

    asyncio.run(main())


def test_a_stream_config_that_cannot_load_fails_the_build(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, stream_config=str(tmp_path / "missing.yaml"))
    with pytest.raises((StreamConfigError, OSError), match=r"missing\.yaml"):
        asyncio.run(build(settings))
    assert not (tmp_path / "log").exists() or not any((tmp_path / "log").iterdir())
