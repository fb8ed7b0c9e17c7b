"""``eventplatform tail`` as the README uses it, over the real CLI and a real ``serve``: the event just posted
is shown, an unconfigured stream is a usage error, and the error stream (configured by a /regex/) is found
in its datacenter topic."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_STREAM
from eventplatform.settings import DEFAULT_LOG
from tests.gate.conftest import Server, link_hover

EXE = str(Path(sys.executable).with_name("eventplatform"))


def cli(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
    return subprocess.run(
        [EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``eventplatform serve --datacenter eqiad`` on the default log (``./.eventplatform/log`` of its cwd)."""
    server = Server(tmp_path_factory.mktemp("readme"), "--datacenter", "eqiad", log=DEFAULT_LOG)
    try:
        yield server.start()
    finally:
        server.kill()


def test_readme_example_shows_the_event_just_posted(platform: Server) -> None:
    title = "README example"
    r = httpx.post(f"{platform.url}/v1/events", json=link_hover(link_title=title), timeout=30)
    assert r.status_code == 201, r.text
    # the README's command as it is (it follows: -n 1 lets it stop once it printed the event)
    done = cli(platform.workdir, "tail", LINK_HOVER_STREAM, "-n", "1")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["link_title"] == title
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"eventplatform tail {LINK_HOVER_STREAM}     # read it back from the log" in readme


def test_unconfigured_stream_is_a_usage_error(platform: Server) -> None:
    done = cli(platform.workdir, "tail", "nope.stream", "--no-follow")
    assert done.returncode == 2
    assert "stream nope.stream is not in the stream config" in done.stderr
    assert done.stdout == ""


def test_error_stream_of_a_regex_entry_is_read_in_its_datacenter_topic(platform: Server) -> None:
    r = httpx.post(f"{platform.url}/v1/events", json=link_hover(link_href=5), timeout=30)
    assert r.status_code == 400, r.text
    # the bundled config matches <service>.error.validation by /regex/, which eqiad.<...> also matches
    done = cli(platform.workdir, "tail", "eventplatform.error.validation", "--no-follow")
    assert done.returncode == 0, done.stderr
    errors = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert errors, "no error event read from eqiad.eventplatform.error.validation"
    assert errors[-1]["meta"]["stream"] == "eventplatform.error.validation"
    assert "link_href" in errors[-1]["message"]
