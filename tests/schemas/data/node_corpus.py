"""Shared by the corpus generators: run a reference library in Node on a list of documents."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def run_node(script: str, docs: list[Any], cwd: str) -> str:
    """``node -e script`` in ``cwd`` (where node_modules is), ``docs`` as JSON on stdin; returns stdout."""
    return subprocess.run(
        ["node", "-e", script], cwd=cwd, input=json.dumps(docs), capture_output=True, text=True, check=True
    ).stdout
