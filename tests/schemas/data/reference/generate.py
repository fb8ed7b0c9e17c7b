"""Produce the expected outputs of each case by running the reference tool (jsonschema-tools 1.3.0).

Usage: python generate.py /path/to/node_modules/.bin/jsonschema-tools [case ...]

For every ``<case>/input`` (a small schema repository) the input is copied to a temporary directory, every
``current.*`` file is materialized with the reference, one at a time, fragments first (the reference's
concurrent mode has a race), and the resulting tree is stored as ``<case>/expected/files/...`` plus
``<case>/expected/symlinks.txt``. When ``<case>/dereference.txt`` lists paths, the output of the reference's
``dereference`` command for them is stored as ``<case>/expected/dereference.yaml``. The tool's code is never
copied; only its outputs are committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent


def current_files(root: Path) -> list[str]:
    found = [str(p.relative_to(root)) for p in root.rglob("current.*") if p.is_file()]
    return sorted(found, key=lambda p: (0 if "fragment" in p else 1, p))


def snapshot(root: Path, out: Path) -> None:
    files = out / "files"
    links: list[str] = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_symlink():
            links.append(f"{rel} -> {os.readlink(p)}")
        elif p.is_file():
            dest = files / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dest)
    (out / "symlinks.txt").write_text("".join(f"{line}\n" for line in links))


def run_case(tool: str, case: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(case / "input", work, symlinks=True)
        for rel in current_files(work):
            subprocess.run([tool, "materialize", rel], cwd=work, check=True)
        expected = case / "expected"
        shutil.rmtree(expected, ignore_errors=True)
        expected.mkdir()
        snapshot(work, expected)
        deref = case / "dereference.txt"
        if deref.exists():
            paths = deref.read_text().split()
            out = subprocess.run([tool, "dereference", *paths], cwd=work, check=True, capture_output=True)
            (expected / "dereference.yaml").write_bytes(out.stdout)


def main() -> None:
    tool = sys.argv[1]
    names = sys.argv[2:] or sorted(p.name for p in HERE.iterdir() if (p / "input").is_dir())
    for name in names:
        run_case(tool, HERE / name)
        print(f"generated {name}")


if __name__ == "__main__":
    main()
