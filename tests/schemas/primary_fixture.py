"""Helpers for tests that work on a copy of Wikimedia's primary schema repository fixture."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_COMMIT = "43aeb4abccaa542eb56491489eb830d6459453a6"  # the last commit with content
REFERENCE_CASES = Path(__file__).resolve().parent / "data" / "reference"


def fixtures_root() -> Path:
    """``$EVENTPLATFORM_TEST_FIXTURES``, else ``../shared/fixtures`` beside the repository (as in CI)."""
    configured = os.environ.get("EVENTPLATFORM_TEST_FIXTURES")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "fixtures"


def fixture_path() -> Path:
    """Wikimedia's primary schema repository (too large to carry in tests/); skip when it is absent."""
    fixture = fixtures_root() / "schemas-primary"
    if not (fixture / "jsonschema").is_dir():
        pytest.skip(
            f"Wikimedia's primary schema repository is not at {fixture}: `git clone "
            f"https://github.com/wikimedia/schemas-event-primary {fixture}` and check out {FIXTURE_COMMIT}, "
            "or set EVENTPLATFORM_TEST_FIXTURES to a directory holding it as schemas-primary/"
        )
    return fixture


def _placeholder_target(path: Path) -> str | None:
    """Git stores a symlink as a small file holding its target when checked out without symlink support."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size > 200:
        return None
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not text or "\n" in text or "/" in text:
        return None
    return text if (path.parent / text).is_file() else None


def copy_repo(src: Path, dest: Path) -> Path:
    """Copy a schema repository, writable, turning git symlink placeholders back into symlinks."""
    shutil.copytree(src, dest, symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(dest):
        os.chmod(dirpath, os.stat(dirpath).st_mode | stat.S_IWUSR)
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                os.chmod(p, p.stat().st_mode | stat.S_IWUSR)
            if name == "latest" or name.startswith("latest.") or "." not in name.replace(".", "", 2):
                target = _placeholder_target(p)
                if target is not None:
                    p.unlink()
                    os.symlink(target, p)
    return dest


def _files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            yield Path(dirpath) / name


def symlinks(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): os.readlink(p) for p in _files(root) if p.is_symlink()}


def regular_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in _files(root) if not p.is_symlink()}
