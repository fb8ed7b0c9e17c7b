"""The Spark engine (pyspark, local mode) produces the same rows, quarantine and status as the local engine
on the same log. One Spark session for the module: starting one costs 10-40 s."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eventplatform.lake.query import run
from eventplatform.lake.refine import Options
from eventplatform.settings import Settings
from eventplatform.streamconfig.config import load_stream_config
from tests.lake.helpers import STREAM, event, produce, refine_in_process

TABLE = "mediawiki_interwiki_link_hover"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark")]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip(
            "no Java on the PATH: the Spark engine needs Java 17+ (apt-get install openjdk-17-jre-headless)"
        )
    pytest.importorskip("pyspark", reason="pyspark is the `spark` extra: pip install -e '.[spark]'")
    from eventplatform.lake.spark import session, stop

    threads = threading.active_count()
    spark = session("local[2]")
    yield spark
    stop(spark)
    # a thread left running would make tests/schemas/test_forking.py run in-process in this xdist worker
    assert threading.active_count() == threads, threading.enumerate()




def _spark(url: str, lake: Path, spark: Any) -> list[Any]:
    from eventplatform.lake.spark import run_spark

    settings = Settings()
    settings.log.url = url
    config = load_stream_config(settings.streamconfig.source)
    return run_spark(Options(lake), settings, config, spark=spark)


def _rows(lake: Path) -> list[tuple[Any, ...]]:
    _, rows = run(
        lake,
        f"SELECT * EXCLUDE (normalized_host), to_json(normalized_host) FROM event.{TABLE} "
        "ORDER BY meta.id, meta.dt",
    )
    return rows


def _status(lake: Path) -> list[tuple[Any, ...]]:
    _, rows = run(
        lake,
        "SELECT table_name, datacenter, hour, rows_in, rows_out, canaries, duplicates, "
        "quarantined, schema_uri FROM lake.status ORDER BY ALL",
    )
    return rows


def test_spark_engine_matches_local_engine(spark: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log'}"
    ua = {"request_headers": {"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0"}}
    produce(
        url,
        STREAM,
        [
            event("2026-02-15T00:10:00Z", id="a", http=ua),
            event("2026-02-15T00:20:00Z", id="b", domain="de.m.wikipedia.org"),
            event("2026-02-15T01:05:00Z", id="c", domain=None),
            event("2026-02-15T00:30:00Z", id="k", domain="canary"),
            event("2026-02-15T02:30:00Z", id="k2", domain="canary"),  # an hour of canaries only
            event("2026-02-15T00:00:01Z", id="dup", link_title="first"),
            event("2026-02-15T00:00:03Z", id="dup", link_title="third"),
            b'{"$schema": "/analytics/link_hover/1.0.0", "meta": {"dt": "2026-02-15T00:11:00Z"},'
        b' "link_title": 1}',
        ],
    )
    local, sparked = tmp_path / "local", tmp_path / "spark"
    refine_in_process(url, local)
    reports = _spark(url, sparked, spark)
    assert [(r.read, r.written, r.canaries, r.duplicates, r.quarantined, r.hours) for r in reports] == [
        (8, 4, 2, 1, 1, 3)
    ]
    assert _rows(sparked) == _rows(local) and len(_rows(local)) == 4
    assert _status(sparked) == _status(local)
    _, q = run(sparked, f'SELECT "offset", reason FROM quarantine.{TABLE}')
    assert q == run(local, f'SELECT "offset", reason FROM quarantine.{TABLE}')[1] and q[0][0] == 7
    # incremental: nothing new does nothing; a late event re-refines its hour, in both engines alike
    assert _spark(url, sparked, spark)[0].read == 0
    produce(url, STREAM, [event("2026-02-15T00:50:00Z", id="late"), event("2026-02-15T00:00:05Z", id="dup")])
    refine_in_process(url, local)
    _spark(url, sparked, spark)
    assert _rows(sparked) == _rows(local) and len(_rows(local)) == 5
    assert _status(sparked) == _status(local)
