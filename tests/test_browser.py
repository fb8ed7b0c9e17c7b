"""The browser fixture itself: Debian's Chromium runs a page's script over a real socket."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from tests.browser import CHROMIUM, browser, open_chromium, page  # noqa: F401

HTML = (
    b"<!doctype html><title>t</title>"
    b"<script>document.title = String(6 * 7); console.error('seen');</script>"
)


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(HTML)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/deps/chromium.sh)")
def test_the_browser_leaves_no_thread_behind() -> None:
    # Playwright runs a waitpid thread while a browser is open: a thread left running would make
    # tests/schemas/test_forking.py run in-process in this xdist worker (this test runs before the fixture's)
    before = threading.active_count()
    with open_chromium():
        assert threading.active_count() > before
    assert threading.active_count() == before, threading.enumerate()


def test_chromium_runs_a_pages_script_and_reports_its_console_errors(page, site) -> None:  # noqa: F811
    page.goto(site)
    assert page.title() == "42"
    assert page.console_errors == ["seen"]
