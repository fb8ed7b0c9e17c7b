"""Acceptance: materializing every current.yaml of Wikimedia's primary repository reproduces the committed
latest versions (bytes and data) and the same symlinks, like the reference tool does (53 of 53)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from eventplatform.schemas.yamlio import load_yaml
from tests.schemas.primary_fixture import copy_repo, fixture_path, regular_files, symlinks


def _currents(repo: Path) -> list[str]:
    return sorted(str(p.relative_to(repo)) for p in (repo / "jsonschema").rglob("current.yaml"))


def test_materialize_rebuilds_all_53_latest_versions(tmp_path: Path) -> None:
    repo = copy_repo(fixture_path(), tmp_path / "primary")
    files_before = regular_files(repo)
    links_before = symlinks(repo)
    currents = _currents(repo)
    assert len(currents) == 53
    # Remove every latest version and its symlinks, so the run must rebuild them -- fragments included,
    # which the schemas that $ref them read in the same run (dependency order).
    removed = []
    for cur in currents:
        d = (repo / cur).parent
        target = os.readlink(d / "latest.yaml")
        version = target[: -len(".yaml")]
        for name in (target, version, "latest", "latest.yaml"):
            (d / name).unlink()
        removed.append(str((d / target).relative_to(repo)))

    proc = subprocess.run(
        [sys.executable, "-m", "eventplatform", "schema", "materialize", *currents],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr

    files_after = regular_files(repo)
    byte_identical = [p for p in removed if files_after.get(p) == files_before[p]]
    same_data = [
        p
        for p in removed
        if p in files_after and load_yaml(files_after[p].decode()) == load_yaml(files_before[p].decode())
    ]
    assert len(same_data) == 53, f"data differs for {sorted(set(removed) - set(same_data))}"
    assert len(byte_identical) == 53, f"bytes differ for {sorted(set(removed) - set(byte_identical))}"
    assert files_after == files_before  # nothing else written or changed
    assert symlinks(repo) == links_before  # X.Y.Z, latest, latest.yaml for all 53 titles


def test_materialize_all_in_place_changes_nothing(tmp_path: Path) -> None:
    repo = copy_repo(fixture_path(), tmp_path / "primary")
    files_before = regular_files(repo)
    links_before = symlinks(repo)
    proc = subprocess.run(
        [sys.executable, "-m", "eventplatform", "schema", "materialize-all"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert regular_files(repo) == files_before
    assert symlinks(repo) == links_before
    assert not [p for p in regular_files(repo) if p.endswith(".tmp")]


def _variant(repo: Path) -> None:
    """Remove the root examples of every current.yaml (so all get generated) and add JSON output."""
    import re

    for cur in (repo / "jsonschema").rglob("current.yaml"):
        out, skip = [], False
        for line in cur.read_text().splitlines(keepends=True):
            if re.match(r"^examples:", line):
                skip = True
                continue
            if skip and re.match(r"^\S", line) and not line.startswith("#"):
                skip = False
            if not skip:
                out.append(line)
        cur.write_text("".join(out))
    cfg = repo / ".jsonschema-tools.yaml"
    cfg.write_text(cfg.read_text().replace("contentTypes: [yaml]", "contentTypes: [yaml, json]"))


def test_generated_examples_and_json_for_52_real_schemas(tmp_path: Path) -> None:
    """current.yaml files with examples removed: generated examples and JSON equal the reference's."""
    import hashlib
    import json

    from eventplatform.schemas.config import load_options
    from eventplatform.schemas.materialize import materialize_paths

    expected = json.loads((Path(__file__).parent / "data" / "primary_variant_expected.json").read_text())[
        "files"
    ]
    repo = copy_repo(fixture_path(), tmp_path / "primary")
    _variant(repo)
    currents = [c for c in _currents(repo) if "mediawiki/client/error/" not in c]
    assert len(currents) == 52
    options = load_options({"logLevel": "warn"}, repo)
    materialize_paths(currents, options)
    actual = {
        rel: hashlib.sha256((repo / rel).read_bytes()).hexdigest()
        for rel in expected
        if (repo / rel).is_file()
    }
    assert len(expected) == 104
    assert [rel for rel in expected if actual.get(rel) != expected[rel]] == []
