"""``eventplatform streams list|show`` over the real CLI: the same default stream config as ``serve`` (no
option needed), and a table that fits an 80-column terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from eventplatform.cli.streams import table
from eventplatform.examples import LINK_HOVER_STREAM, NAVIGATION_TIMING_STREAM, TEST_STREAM

EXE = str(Path(sys.executable).with_name("eventplatform"))


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
    return subprocess.run(
        [EXE, *args],
        cwd=cwd,
        env={**base, "COLUMNS": "80", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_list_and_show_default_to_the_bundled_config_in_80_columns(tmp_path: Path) -> None:
    done = cli("streams", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # every bundled stream has the same service: said once under the table, so it fits 80 columns
    assert lines[0].split() == ["stream", "schema_title"]
    assert lines[-1] == "(service of every stream: eventplatform)"
    assert [line.split()[0] for line in lines[1:-1]] == [
        LINK_HOVER_STREAM,
        TEST_STREAM,
        NAVIGATION_TIMING_STREAM,
        "/^[A-Za-z0-9_.-]+\\.error\\.validation$/",
    ]
    assert max(len(line) for line in lines) <= 80, done.stdout
    done = cli("streams", "show", LINK_HOVER_STREAM, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["streams"][LINK_HOVER_STREAM]["schema_title"] == "analytics/link_hover"


def test_environment_and_option_choose_another_config(tmp_path: Path) -> None:
    path = tmp_path / "streams.yaml"
    path.write_text(
        "defaults:\n  topic_prefixes: [eqiad., codfw.]\nstreams:\n"
        "  mediawiki.page_change.v1:\n    schema_title: mediawiki/page/change\n"
        "    destination_event_service: eventgate-main\n"
        "    sample: {rate: 0.5, unit: session}\n"
    )
    for args, env in (((), {"EVENTPLATFORM_STREAM_CONFIG": str(path)}), (("--stream-config", str(path)), {})):
        done = cli("streams", "list", *args, cwd=tmp_path, **env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "stream                    schema_title           service         sample",
            "mediawiki.page_change.v1  mediawiki/page/change  eventgate-main  0.5/session",
            "  topics: eqiad.mediawiki.page_change.v1, codfw.mediawiki.page_change.v1",
        ]


def test_table_wraps_topics_not_columns() -> None:
    topics = [f"dc{i}.some.rather.long.stream.name" for i in range(4)]
    out = table({"some.rather.long.stream.name": {"schema_title": "a/b", "topics": topics}}, 80)
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert out.splitlines()[1].split() == ["some.rather.long.stream.name", "a/b"]
    assert ", ".join(topics) == " ".join(" ".join(out.splitlines()[2:]).split()).removeprefix("topics: ")
    wide = {
        "s" * 50: {"schema_title": "t" * 20, "destination_event_service": "eventgate-analytics-external"},
        "x": {"schema_title": "t", "destination_event_service": "eventgate-main"},
    }
    assert table(wide, 80).splitlines() == [  # what does not fit goes under each stream
        "stream" + " " * 46 + "schema_title",
        "s" * 50 + "  " + "t" * 20,
        "  service: eventgate-analytics-external",
        "x" + " " * 51 + "t",
        "  service: eventgate-main",
    ]
