"""The browser client's build and its routes on intake: node unit tests, the committed build is the build
of clients/js/src, the size budget, and GET /client/eventlog(.min).js and /v1/schemas/{uri}."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "clients" / "js"
STATIC = ROOT / "src" / "eventplatform" / "gate" / "static"
NODE = shutil.which("node")
ESBUILD = JS / "node_modules" / "esbuild" / "package.json"
MIN_BUDGET = 20_000  # bytes of eventlog.min.js
GZIP_BUDGET = 8_000  # bytes of eventlog.min.js gzipped, as a page downloads it

needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: run scripts/deps/client.sh")


@needs_node
def test_node_unit_tests_pass() -> None:
    proc = subprocess.run([NODE, "--test", "test/"], cwd=JS, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout


@needs_node
def test_the_committed_build_is_the_build_of_the_sources(tmp_path: Path) -> None:
    if not ESBUILD.exists():
        pytest.skip("esbuild is not installed: run scripts/deps/client.sh (npm ci in clients/js)")
    proc = subprocess.run(
        [NODE, "build.mjs", str(tmp_path)], cwd=JS, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("eventlog.js", "eventlog.min.js"):
        fresh = (tmp_path / name).read_bytes()
        assert fresh == (STATIC / name).read_bytes(), f"{name} is stale: run `npm run build` in clients/js"


def test_the_minified_client_fits_its_budget() -> None:
    body = (STATIC / "eventlog.min.js").read_bytes()
    assert len(body) <= MIN_BUDGET, len(body)
    assert len(gzip.compress(body, 9)) <= GZIP_BUDGET


def test_intake_serves_the_client_with_cors_and_caching(intake: Server) -> None:
    for name in ("eventlog.js", "eventlog.min.js"):
        r = httpx.get(f"{intake.url}/client/{name}", headers={"origin": "https://en.wikipedia.org"})
        assert r.status_code == 200
        assert r.content == (STATIC / name).read_bytes()
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers.get_list("access-control-allow-origin") == ["*"]  # once: twice breaks CORS
        assert r.headers["cross-origin-resource-policy"] == "cross-origin"
        assert "max-age=300" in r.headers["cache-control"]
        again = httpx.get(f"{intake.url}/client/{name}", headers={"if-none-match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


def test_intake_serves_schemas_for_the_debug_mode(intake: Server) -> None:
    r = httpx.get(f"{intake.url}/v1/schemas/analytics/link_hover/1.0.0")
    assert r.status_code == 200
    assert r.json()["$id"] == "/analytics/link_hover/1.0.0"
    assert r.headers.get_list("access-control-allow-origin") == ["*"]
    missing = httpx.get(f"{intake.url}/v1/schemas/analytics/nothing/9.9.9")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/schema_not_found")
