"""The pre-commit hook that materializes staged ``current`` schemas (``install-git-hook``).

Unlike the reference's ``$(npm bin)/...`` hook (broken since npm 9, blocking every commit), the script starts
with a real ``#!/bin/sh`` line and calls this toolkit by the absolute path it had at install time, falling
back to ``eventplatform`` on PATH and then to ``python -m eventplatform``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from eventplatform.schemas.tool_errors import SchemaToolError

MARKER = "# eventplatform schema pre-commit hook"


def run_git(args: list[str], cwd: str) -> str:
    """``git ARGS`` in ``cwd``; its stripped output, or a one-line SchemaToolError."""
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise SchemaToolError(cwd, "", f"cannot run git: {exc}") from exc
    if proc.returncode != 0:
        raise SchemaToolError(cwd, "", f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def hook_script(repo_subdir: str, command: str | None, python: str) -> str:
    """Text of the hook. ``repo_subdir`` is the schema repository root relative to the git root."""
    cd = '"$(git rev-parse --show-toplevel)"'
    if repo_subdir and repo_subdir != ".":
        cd = f'"$(git rev-parse --show-toplevel)"/{shlex.quote(repo_subdir)}'
    cmd_check = (
        f"if [ -x {shlex.quote(command)} ]; then\n    set -- {shlex.quote(command)}\nel" if command else ""
    )
    return (
        "#!/bin/sh\n"
        f"{MARKER}: materializes staged current schemas and adds the generated files to the commit,\n"
        "# then refuses it when a title became incompatible or a committed version changed.\n"
        "unset GIT_DIR\n"
        f"cd {cd} || exit 1\n"
        f"{cmd_check}if command -v eventplatform >/dev/null 2>&1; then\n"
        "    set -- eventplatform\n"
        "else\n"
        f"    set -- {shlex.quote(python)} -m eventplatform\n"
        "fi\n"
        'exec "$@" schema pre-commit\n'
    )


def installed_command() -> str | None:
    """Absolute path of the ``eventplatform`` console script next to this interpreter (or on PATH)."""
    candidate = Path(sys.executable).parent / "eventplatform"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate.absolute())
    found = shutil.which("eventplatform")
    return os.path.abspath(found) if found else None


def install_git_hook(repo_root: str) -> str:
    """Write the pre-commit hook of the git repository containing ``repo_root``; returns its path."""
    repo_root = os.path.abspath(repo_root)
    top = run_git(["rev-parse", "--show-toplevel"], repo_root)
    hooks_dir = run_git(["rev-parse", "--git-path", "hooks"], repo_root)
    hooks_path = Path(hooks_dir if os.path.isabs(hooks_dir) else os.path.join(repo_root, hooks_dir))
    hooks_path.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(repo_root, top)
    hook = hooks_path / "pre-commit"
    try:
        existing = hook.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        existing = None
    if existing is not None and MARKER not in existing:
        raise SchemaToolError(
            str(hook), "", "another pre-commit hook is installed; not replacing it (remove it first)"
        )
    hook.write_text(hook_script(rel, installed_command(), sys.executable), encoding="utf-8")
    mode = hook.stat().st_mode
    hook.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return str(hook)
