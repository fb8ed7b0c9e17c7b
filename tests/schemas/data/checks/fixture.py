"""A writable copy of the primary schema repository fixture, with its symlinks restored.

The shared fixture stores each symlink (``latest``, ``latest.yaml``, ``1.0.0``) as a small text file holding
the link target (a checkout with ``core.symlinks=false``); the repository tests need real symlinks.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[5] / "shared" / "fixtures" / "schemas-primary"
_LINK_NAME = re.compile(r"latest(\.\w+)?|\d+\.\d+\.\d+")


def restore_symlinks(root: Path) -> int:
    """Turn placeholder files into symlinks; returns how many were restored."""
    restored = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            if path.is_symlink() or not _LINK_NAME.fullmatch(name) or path.stat().st_size > 255:
                continue
            target = path.read_text().strip()
            if target and "/" not in target and (path.parent / target).is_file():
                path.unlink()
                path.symlink_to(target)
                restored += 1
    return restored


def copy_fixture(dest: Path) -> Path:
    """Copy the fixture to ``dest`` (created), writable, symlinks restored."""
    shutil.copytree(FIXTURE, dest, symlinks=True)
    for dirpath, _dirnames, filenames in os.walk(dest):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
    restore_symlinks(dest)
    return dest


INCOMPATIBLE_FILE = "jsonschema/mediawiki/revision/create/1.1.0.yaml"


def make_incompatible(root: Path) -> Path:
    """Change a property type in a middle version (1.1.0 of mediawiki/revision/create): boolean -> string."""
    path = root / INCOMPATIBLE_FILE
    text = path.read_text()
    old = "    description: Flag identifying if the revision is minor.\n    type: boolean\n"
    assert text.count(old) == 1, "fixture changed; update make_incompatible"
    path.write_text(text.replace(old, old.replace("boolean", "string")))
    return path
