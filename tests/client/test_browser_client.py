"""The browser client in real headless Chromium against a real intake: pages of another origin load it from
the intake (``/client/eventlog.js``) and their events arrive in the log."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.client.conftest import SAMPLED, Flaky, Server

STREAM = "mediawiki.interwiki_link_hover"
SCHEMA = "/analytics/link_hover/1.0.0"


class Site:
    """A web site of its own origin: serves the HTML the test puts in ``pages``."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {"/other.html": "<!doctype html><title>other</title>"}
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/favicon.ico":
                    self.send_response(204)
                    self.end_headers()
                    return
                body = site.pages.get(self.path.split("?")[0], "").encode()
                self.send_response(200 if body else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="site")
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    s = Site()
    try:
        yield s
    finally:
        s.close()


def client_page(intake: Server, options: dict[str, Any], body: str = "", script: str = "") -> str:
    """A page that imports the client from intake and makes ``window.el``; ``window.ready`` when done."""
    return f"""<!doctype html><meta charset="utf-8"><title>client</title><body>{body}
<script type="module">
import {{ EventLog, installMw }} from '{intake.url}/client/eventlog.js';
window.el = new EventLog({json.dumps(options)});
{script}
window.ready = true;
</script>"""


def open_page(page: Any, site: Site, path: str, html: str) -> None:
    site.pages[path] = html
    page.goto(site.url + path)
    page.wait_for_function("window.ready === true")


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def marked(intake: Server, stream: str, mark: str) -> list[dict[str, Any]]:
    """The events of ``stream`` with this ``link_title``. Read in a thread of its own: Playwright's sync API
    keeps an event loop running in this one, where ``asyncio.run`` (of the log reader) cannot run."""
    out: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: out.append(intake.records(stream)))
    reader.start()
    reader.join()
    return [r for r in out[0] if r.get("link_title") == mark]


def event(mark: str, **more: Any) -> dict[str, Any]:
    return {"$schema": SCHEMA, "link_href": "https://fr.wikipedia.org/wiki/Chat", "link_title": mark, **more}


def test_a_page_loads_the_client_from_intake_and_its_events_arrive(
    page: Any, site: Site, intake: Server
) -> None:
    options = {"url": intake.url + "/v1/events", "streamConfigs": intake.url + "/v1/stream-configs"}
    open_page(page, site, "/basic.html", client_page(intake, options))
    mark = "basic"
    page.evaluate(
        """async ([stream, e]) => {
            await window.el.configLoaded;
            const data = { ...e };
            window.el.submit(stream, data);
            data.link_title = 'changed after submit';  // copied at submit time: not sent
            window.el.submit(stream, e);
            await window.el.flush();
        }""",
        [STREAM, event(mark)],
    )
    stats = page.evaluate("window.el.stats")
    assert stats["delivered"] == 2 and stats["queued"] == 2
    rows = marked(intake, STREAM, mark)
    assert len(rows) == 2
    assert {r["meta"]["domain"] for r in rows} == {"127.0.0.1"}
    assert len({r["meta"]["id"] for r in rows}) == 2
    assert all(r["dt"].endswith("Z") for r in rows)
    assert page.console_errors == []


def test_sampling_by_session_and_device_in_the_browser(page: Any, site: Site, intake: Server) -> None:
    results = {}
    for name, ids in {"in": {"session": "00000000aa", "device": "00000000bb"},
                      "out": {"session": "ffffffffaa", "device": "ffffffffbb"}}.items():  # fmt: skip
        options = {"url": intake.url + "/v1/events", "streamConfigs": intake.url + "/v1/stream-configs",
                   "ids": ids}  # fmt: skip
        open_page(page, site, f"/sampling-{name}.html", client_page(intake, options))
        results[name] = page.evaluate(
            """async ([sampled, e]) => {
                await window.el.configLoaded;
                const verdicts = [window.el.submit(sampled, e), window.el.submit('client.by_device', e)];
                await window.el.flush();
                return { verdicts, stats: window.el.stats };
            }""",
            [SAMPLED, event(f"sampled-{name}")],
        )
    assert results["in"]["verdicts"] == [True, True]
    assert results["out"]["verdicts"] == [False, False]
    assert results["out"]["stats"]["outOfSample"] == 2
    assert len(marked(intake, SAMPLED, "sampled-in")) == 1 and not marked(intake, SAMPLED, "sampled-out")
    assert len(marked(intake, "client.by_device", "sampled-in")) == 1


def test_pagehide_sends_the_queue_by_beacon(page: Any, site: Site, intake: Server) -> None:
    options = {"url": intake.url + "/v1/events", "lingerMs": 600000}
    open_page(page, site, "/hide.html", client_page(intake, options))
    page.evaluate(
        "([s, e]) => { window.el.submit(s, e); window.el.submit(s, e); }", [STREAM, event("pagehide")]
    )
    assert page.evaluate("window.el.stats.delivered") == 0  # waiting for the (long) linger
    page.goto(site.url + "/other.html")  # pagehide: sendBeacon
    wait_for(lambda: len(marked(intake, STREAM, "pagehide")) == 2)


def test_a_503_is_retried_until_intake_takes_the_events(page: Any, site: Site, intake: Server) -> None:
    with Flaky(intake.url, failures=2, status=503) as flaky:
        options = {"url": flaky.url + "/v1/events", "retryBaseMs": 50, "retryMaxMs": 200, "lingerMs": 10}
        open_page(page, site, "/retry.html", client_page(intake, options))
        page.evaluate("([s, e]) => window.el.submit(s, e)", [STREAM, event("retried")])
        page.wait_for_function("window.el.stats.delivered === 1", timeout=20000)
        stats = page.evaluate("window.el.stats")
        assert stats["retries"] >= 2
        assert flaky.seen >= 3
    rows = marked(intake, STREAM, "retried")
    assert len(rows) == 1


def test_the_queue_survives_a_reload(page: Any, site: Site, intake: Server) -> None:
    with Flaky(intake.url, failures=10**6, status=503) as flaky:
        options = {"url": flaky.url + "/v1/events", "retryBaseMs": 60000, "lingerMs": 10}
        open_page(page, site, "/reload.html", client_page(intake, options))
        page.evaluate(
            "async ([s, e]) => { window.el.submit(s, e); window.el.submit(s, e); await window.el.flush(); }",
            [STREAM, event("reloaded")],
        )
        assert page.evaluate("window.el.stats.retries") >= 1  # intake (behind the front) answered 503
        flaky.failures = 0  # intake is back
        page.reload()
        page.wait_for_function("window.ready === true")
        page.wait_for_function("window.el.stats.delivered === 2", timeout=20000)
        assert page.evaluate("window.el.stats.restored") == 2
    assert len(marked(intake, STREAM, "reloaded")) == 2


def test_debug_mode_validates_in_the_browser_and_shows_what_was_sent(
    page: Any, site: Site, intake: Server
) -> None:
    messages: list[str] = []
    page.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    options = {"url": intake.url + "/v1/events", "debug": True, "lingerMs": 10}
    open_page(page, site, "/debug.html", client_page(intake, options))
    page.evaluate(
        """async ([s, bad, good]) => {
            window.el.submit(s, bad);
            await window.el.debugChecks;
            window.el.submit(s, good);
            await window.el.debugChecks;
            window.el.submit(s, { link_href: 'no schema' });
            await window.el.flush();
        }""",
        [STREAM, event("debug-bad", link_href=12), event("debug-good")],
    )
    # the console message of intake's verdict can reach Python after flush() resolved; Playwright delivers
    # it while the page is waited on (time.sleep would not), so wait on the page for it
    for _ in range(100):
        if any("as invalid" in m for m in messages if m.startswith("error:")):
            break
        page.wait_for_timeout(50)
    errors = [m for m in messages if m.startswith("error:")]
    assert any(
        f"the event of {STREAM}" in m
        and f"does not match {SCHEMA}: /link_href must be string, not integer" in m
        for m in errors
    ), errors
    assert any("as invalid" in m for m in errors)  # and intake's own verdict
    assert any('missing required field "$schema"' in m for m in messages if m.startswith("warning:"))
    panel = page.inner_text("#eventlog-debug")
    assert "is valid against /analytics/link_hover/1.0.0" in panel
    assert "intake answered 207" in panel or "intake answered 400" in panel


def test_localstorage_full_or_disabled_is_reported_and_events_still_go(
    page: Any, site: Site, intake: Server
) -> None:
    messages: list[str] = []
    page.on("console", lambda msg: messages.append(msg.text))
    options = {"url": intake.url + "/v1/events", "lingerMs": 10}
    full = """
        const full = { length: 0, key: () => null, getItem: () => null, removeItem: () => {},
            setItem: () => { throw new DOMException('quota', 'QuotaExceededError'); } };
        window.el.dispose();
        window.el = new EventLog({ ...window.el.options, storage: full });
    """
    open_page(page, site, "/full.html", client_page(intake, options, script=full))
    page.evaluate(
        "async ([s, e]) => { window.el.submit(s, e); await window.el.flush(); }", [STREAM, event("full")]
    )
    stats = page.evaluate("window.el.stats")
    assert stats["storageErrors"] >= 1 and stats["delivered"] == 1
    assert any("cannot write localStorage (QuotaExceededError)" in m for m in messages), messages
    assert len(marked(intake, STREAM, "full")) == 1


LINK_HOVER_PAGE = """
<div id="content"><p>See
<a class="extiw" href="https://fr.wikipedia.org/wiki/Chat" title="fr:Chat">Chat</a>.</p></div>
<script>
// the smallest jQuery the snippet needs: $( selector ).on( event, childSelector, handler )
window.$ = (sel) => ({ on: (type, child, fn) => document.querySelector(sel).addEventListener(type, (e) => {
    const el = e.target.closest(child); if (el) { fn.call(el, e); } }) });
</script>
<script>
// The founding documents' link-hover instrumentation (Event Platform instrumentation how-to), unchanged
// but for its two syntax slips (`var link =;` and the object's missing `};`)
$( '#content' ).on( 'mouseover', 'a.extiw', function ( jqEvent ) {
	var link = this;
	var linkHoverEvent = {
		// $schema is required and must be set to the exact value of $id that you set in your schema.
		$schema: '/analytics/link_hover/1.0.0',
		link_href: link.href,
		link_title: link.title,
	};
	var streamName = 'mediawiki.interwiki_link_hover';
	mw.eventLog.submit( streamName, linkHoverEvent );
} );
</script>
"""


def test_the_link_hover_snippet_runs_unchanged_on_mw_eventlog(page: Any, site: Site, intake: Server) -> None:
    options = {"url": intake.url + "/v1/events", "streamConfigs": intake.url + "/v1/stream-configs"}
    html = client_page(intake, options, body=LINK_HOVER_PAGE, script="installMw(window.el);")
    open_page(page, site, "/link-hover.html", html)
    page.evaluate("window.el.configLoaded")
    page.hover("a.extiw")
    page.evaluate("mw.eventLog.flush()")
    rows = wait_for(lambda: marked(intake, STREAM, "fr:Chat"))
    assert rows[0]["link_href"] == "https://fr.wikipedia.org/wiki/Chat"
    assert rows[0]["meta"]["stream"] == STREAM
    assert page.console_errors == []
