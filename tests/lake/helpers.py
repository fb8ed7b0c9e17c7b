"""Events in a real log (SQLite, or Kafka), and refine/query run as the command line runs them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

from eventplatform.cli.main import cli
from eventplatform.lake.refine import Options, Refiner
from eventplatform.log import Batch, open_log
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.settings import Settings
from eventplatform.streamconfig.config import load_stream_config

STREAM = "mediawiki.interwiki_link_hover"
SCHEMA = "/analytics/link_hover/1.0.0"


def event(dt: str, *, id: str | None = None, domain: str | None = "en.wikipedia.org", **extra: Any) -> dict:
    meta: dict[str, Any] = {"stream": STREAM, "dt": dt, "id": id or str(uuid.uuid4())}
    if domain is not None:
        meta["domain"] = domain
    out = {"$schema": SCHEMA, "meta": meta, "dt": dt, "link_href": "mw:x", "link_title": "x"}
    out.update(extra)
    return out


def produce(url: str, topic: str, events: Sequence[dict | bytes]) -> None:
    async def go() -> None:
        log = open_log(url)
        try:
            values = [e if isinstance(e, bytes) else orjson.dumps(e) for e in events]
            outcomes = await log.produce(Batch.to(topic, values))
            assert all(o is None for o in outcomes), outcomes
        finally:
            await log.close()

    asyncio.run(go())


def refine(url: str, lake: Path, *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, ["refine", "--log", url, "--lake", str(lake), *args])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def query(lake: Path, sql: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["query", sql, "--lake", str(lake), "--format", "json"])
    assert result.exit_code == 0, (result.output, result.exception)
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def refine_in_process(url: str, lake: Path) -> list[Any]:
    """refine of every stream through the Refiner itself (its reports), with serve's default settings."""
    settings = Settings()
    config = load_stream_config(settings.streamconfig.source)

    async def go() -> list[Any]:
        log = open_log(url)
        registry = SchemaRegistry(settings.schemas.base_uris)
        try:
            return await Refiner(Options(lake), log, config, registry).run_all()
        finally:
            await registry.close()
            await log.close()

    return asyncio.run(go())
