"""Real headless Chromium for the tests of web pages and of the browser client.

Playwright drives Debian's ``chromium`` (``scripts/deps/chromium.sh`` installs it; ``playwright install``
cannot download browsers here). Use the fixtures from a conftest::

    from tests.browser import browser, page  # noqa: F401

``page.console_errors`` collects the page's console errors and uncaught exceptions, so that a test can assert
that a page ran cleanly.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def open_chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, closed (with Playwright's waitpid thread) on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
    # asyncio's child watcher thread ends only once the Playwright driver process has exited, a moment after
    # the context manager returns: wait for it, so that no thread outlives the browser
    for thread in threading.enumerate():
        if thread.name.startswith("asyncio-waitpid"):
            thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser per test module: it must not outlive the module (see tests/test_browser.py)."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed: run `make system-deps` (scripts/deps/chromium.sh)")
    with open_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.console_errors = errors
    try:
        yield opened
    finally:
        context.close()
