"""The web console in real headless Chromium (Debian's, through Playwright) against a real ``serve``: the
catalog lists the streams with their plots drawn, the live page shows an event posted during the test and
its JSON (and YAML tab) on a click, the error stream shows a refused event with its reason. Screenshots are
written to ``$EVENTPLATFORM_TEST_ARTIFACTS/eventstreams`` (default ``test-artifacts/`` of the checkout)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser import browser, page  # noqa: F401
from tests.eventstreams.conftest import Server, event, post

ARTIFACTS = Path(os.environ.get("EVENTPLATFORM_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
STREAMS = """\
streams:
  console.clicks:
    schema_title: analytics/link_hover
    description: Clicks on interwiki links, for the console test.
    owner: Web team
    status: active
    retention: 90 days
    sample: {unit: session, rate: 0.5}
    canary_events_enabled: true
  console.hovers:
    schema_title: analytics/link_hover
  /^[A-Za-z0-9_.-]+\\.error\\.validation$/:
    schema_title: error
"""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("console")
    (workdir / "streams.yaml").write_text(STREAMS)
    server = Server(workdir, "--stream-config", str(workdir / "streams.yaml")).start()
    try:
        yield server
    finally:
        server.kill()


def shot(tab: Any, name: str) -> Path:
    """A screenshot of this module's own (never another test's file)."""
    target = ARTIFACTS / "eventstreams" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(target), full_page=True)
    return target


def test_catalog_lists_streams_with_plots(console: Server, page: Any) -> None:  # noqa: F811
    post(console, [event("console.clicks", f"c{i}") for i in range(5)] + [event("console.hovers", "h")])
    post(console, [{**event("console.clicks", "bad"), "link_href": 42}])  # refused: an error event
    page.goto(console.url + "/v2/catalog")
    page.wait_for_selector("#stream-console\\.clicks[data-plotted='1'] canvas", timeout=20_000)
    page.wait_for_selector("#stream-console\\.clicks ul.errors li", timeout=20_000)
    names = page.eval_on_selector_all("section.card", "cards => cards.map(c => c.dataset.stream)")
    assert {"console.clicks", "console.hovers", "eventplatform.error.validation"} <= set(names)
    card = page.inner_text("#stream-console\\.clicks")
    for words in ("analytics/link_hover", "1.0.0", "Web team", "active", "90 days", "enabled", "session"):
        assert words in card
    assert "link_href" in page.inner_text("#stream-console\\.clicks ul.errors")  # the reason of the refusal
    assert page.eval_on_selector("#stream-console\\.clicks canvas", "c => c.width > 0")
    assert shot(page, "catalog").stat().st_size > 10_000
    page.click("#stream-console\\.clicks a:text('schema')")
    page.wait_for_selector("#schema .k", timeout=10_000)
    assert "link_title" in page.inner_text("#schema")
    assert not page.console_errors


def test_live_page_shows_posted_event_and_its_json(console: Server, page: Any) -> None:  # noqa: F811
    page.goto(console.url + "/v2/ui?streams=console.clicks")
    page.wait_for_selector("#status.on", timeout=10_000)
    assert "console.clicks" in page.url
    page.wait_for_timeout(300)  # the EventSource is open once streaming shows; post after it connected
    post(console, [event("console.clicks", "seen in chromium")])
    row = page.wait_for_selector("#events tr:has-text('seen in chromium')", timeout=20_000)
    assert page.inner_text("#stats").startswith("1 evts")
    row.click()
    page.wait_for_selector("#event-dialog[open]")
    text = page.inner_text("#event-json")
    assert '"link_title": "seen in chromium"' in text and '"topic": "console.clicks"' in text
    shot(page, "live")
    page.click("#tab-yaml")  # the same event as YAML (js-yaml's dump), coloured
    page.wait_for_selector("#event-yaml .k", state="visible")
    assert page.is_hidden("#event-json")
    assert page.get_attribute("#tab-yaml", "aria-selected") == "true"
    as_yaml = page.inner_text("#event-yaml")
    assert "link_title: seen in chromium" in as_yaml and "topic: console.clicks" in as_yaml
    assert yaml.safe_load(as_yaml) == json.loads(text)
    assert "link_title" in page.eval_on_selector_all("#event-yaml span.k", "s => s.map(e => e.textContent)")
    shot(page, "live-yaml")
    page.click("#tab-json")
    assert page.is_visible("#event-json") and page.is_hidden("#event-yaml")
    page.click("#close-event")
    page.click("#toggle")
    assert page.inner_text("#status") == "Stopped"
    assert not page.console_errors


def test_error_stream_shows_refused_event_with_reason(console: Server, page: Any) -> None:  # noqa: F811
    page.goto(console.url + "/v2/ui?streams=eventplatform.error.validation")
    page.wait_for_selector("#status.on", timeout=10_000)
    page.wait_for_timeout(300)
    post(console, [{**event("console.hovers", "refused"), "link_title": 7}])
    row = page.wait_for_selector("#events td.error", timeout=20_000)
    text = row.inner_text()
    assert text.startswith("console.hovers:") and "link_title" in text
    shot(page, "error-stream")
    assert not page.console_errors
