"""Small schema repositories materialized by the reference tool (outputs committed under
data/reference/<case>/expected by data/reference/generate.py) must come out identical, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eventplatform.schemas.cli import schema
from tests.schemas.primary_fixture import REFERENCE_CASES, copy_repo, regular_files

CASES = sorted(p.name for p in REFERENCE_CASES.iterdir() if (p / "input").is_dir())


def _expected_links(case: Path) -> dict[str, str]:
    out = {}
    for line in (case / "expected" / "symlinks.txt").read_text().splitlines():
        link, target = line.split(" -> ")
        out[link] = target
    return out


def _links(root: Path) -> dict[str, str]:
    import os

    return {str(p.relative_to(root)): os.readlink(p) for p in root.rglob("*") if p.is_symlink()}


@pytest.mark.parametrize("name", CASES)
def test_materialize_matches_reference(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = REFERENCE_CASES / name
    repo = copy_repo(case / "input", tmp_path / "repo")
    monkeypatch.chdir(repo)
    currents = sorted(str(p.relative_to(repo)) for p in repo.rglob("current.*"))
    result = CliRunner().invoke(schema, ["materialize", *currents], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = regular_files(case / "expected" / "files")
    actual = regular_files(repo)
    assert sorted(actual) == sorted(expected)
    for path, content in expected.items():
        assert actual[path].decode() == content.decode(), path
    assert _links(repo) == _expected_links(case)


@pytest.mark.parametrize("name", [c for c in CASES if (REFERENCE_CASES / c / "dereference.txt").exists()])
def test_dereference_matches_reference(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = REFERENCE_CASES / name
    repo = copy_repo(case / "input", tmp_path / "repo")
    monkeypatch.chdir(repo)
    currents = sorted(str(p.relative_to(repo)) for p in repo.rglob("current.*"))
    assert CliRunner().invoke(schema, ["materialize", *currents]).exit_code == 0
    paths = (case / "dereference.txt").read_text().split()
    result = CliRunner().invoke(schema, ["dereference", *paths], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output == (case / "expected" / "dereference.yaml").read_text()
