"""The lake tests' SQLite log and lake directory, one pair per test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log'}"


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"
