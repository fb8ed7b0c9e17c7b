"""A writable copy of the primary schema repository fixture, with its symlinks restored.

The shared fixture stores each symlink (``latest``, ``latest.yaml``, ``1.0.0``) as a small text file holding
the link target (a checkout with ``core.symlinks=false``); the repository tests need real symlinks.
"""

from __future__ import annotations

from pathlib import Path

from tests.schemas.primary_fixture import copy_repo, fixture_path


def copy_fixture(dest: Path) -> Path:
    """Copy the fixture to ``dest`` (created), writable, symlinks restored."""
    return copy_repo(fixture_path(), dest)


INCOMPATIBLE_FILE = "jsonschema/mediawiki/revision/create/1.1.0.yaml"


def make_incompatible(root: Path) -> Path:
    """Change a property type in a middle version (1.1.0 of mediawiki/revision/create): boolean -> string."""
    path = root / INCOMPATIBLE_FILE
    text = path.read_text()
    old = "    description: Flag identifying if the revision is minor.\n    type: boolean\n"
    assert text.count(old) == 1, "fixture changed; update make_incompatible"
    path.write_text(text.replace(old, old.replace("boolean", "string")))
    return path
