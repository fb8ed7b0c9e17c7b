"""Bundled example data: a schema repository and a stream config, used by ``eventplatform serve`` with no
configuration at all (and by tests). Paths are resolved from this package's directory."""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent
SCHEMA_BASE_DIR = EXAMPLES_DIR / "schemas" / "jsonschema"
STREAM_CONFIG_PATH = EXAMPLES_DIR / "stream-config.yaml"
LINK_HOVER_SCHEMA_URI = "/analytics/link_hover/1.0.0"
LINK_HOVER_STREAM = "mediawiki.interwiki_link_hover"
TEST_STREAM = "eventplatform.test.event"
NAVIGATION_TIMING_STREAM = "eventlogging_NavigationTiming"  # the bundled legacy EventLogging example
