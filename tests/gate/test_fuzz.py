"""schemathesis against a live ``eventplatform serve``, with gate/openapi.yaml as served at ``/?spec``:
every check, the coverage, fuzzing and stateful (links) phases, a fixed seed and a bounded number of
examples, so a run is repeatable. 0 failures means the spec says exactly what the server does.

schemathesis runs from ``.venv-fuzz`` (``make install``; pinned in requirements-fuzz.lock), never from
the project's venv: it pins jsonschema-rs below the version the platform needs (requirements-fuzz.in).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gate.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = ROOT / ".venv-fuzz" / "bin" / "schemathesis"
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 1
EXAMPLES = 20  # per operation and phase; 100 found nothing more (70 s instead of 40 s)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("fuzz"), workers=1)
    try:
        yield server.start()
    finally:
        server.kill()


@pytest.mark.slow
def test_schemathesis_finds_nothing(live: Server, tmp_path: Path) -> None:
    if not SCHEMATHESIS.exists():
        pytest.skip(f"{SCHEMATHESIS} is missing: `make install` creates it (requirements-fuzz.lock)")
    cmd = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{live.url}/?spec",
        "--checks",
        "all",
        "--phases",
        "coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "20",
        "--exclude-path-regex",
        "^/v2/stream/",  # live streams never end: tests/eventstreams covers them
        "--no-color",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-20000:]
    assert " passed" in out and "failure" not in out.rsplit("SUMMARY", 1)[-1].lower(), out[-5000:]
    assert live.alive(), live.stderr()
