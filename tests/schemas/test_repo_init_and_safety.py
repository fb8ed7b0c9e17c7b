"""A schema repository as a newcomer gets one: ``schema init`` (passes its own ``schema test``), the bundled
example repository as shipped, and the git hook's safety beyond the reference (incompatible versions and
edits of committed versions refused), all through the real CLI and real ``git commit``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventplatform.examples import SCHEMA_BASE_DIR

EXE = str(Path(sys.executable).with_name("eventplatform"))
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}
LINK_HOVER = Path("jsonschema/analytics/link_hover")


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
    return subprocess.run(
        list(args), cwd=cwd, env={**base, **GIT_ENV, **env}, capture_output=True, text=True, timeout=120
    )


def git(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run(cwd, "git", *args, **env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """``git init`` then ``eventplatform schema init``, committed."""
    root = tmp_path / "schemas"
    root.mkdir()
    assert git(root, "init", "-q", "-b", "main").returncode == 0
    done = run(root, EXE, "schema", "init")
    assert done.returncode == 0, done.stderr
    assert "installed the pre-commit hook" in done.stderr
    assert git(root, "add", ".").returncode == 0
    done = git(root, "commit", "-q", "-m", "init")
    assert done.returncode == 0, done.stderr
    return root


def test_init_creates_a_repository_that_passes_its_own_tests(repo: Path) -> None:
    assert (repo / ".jsonschema-tools.yaml").read_text().startswith("# jsonschema-tools configuration")
    assert (repo / "README.md").exists()
    assert os.readlink(repo / LINK_HOVER / "latest") == "1.0.0.yaml"
    assert (repo / "jsonschema/fragment/analytics/common/1.0.0.yaml").exists()
    done = run(repo, EXE, "schema", "test")
    assert done.returncode == 0, done.stdout
    assert "0 failed" in done.stdout and "2 titles" in done.stdout
    assert "schema pre-commit" in (repo / ".git/hooks/pre-commit").read_text()
    again = run(repo, EXE, "schema", "init")
    assert again.returncode == 1 and "this is a schema repository already" in again.stderr


def test_init_outside_git_says_how_to_get_the_hook(tmp_path: Path) -> None:
    done = run(tmp_path, EXE, "schema", "init", "new")
    assert done.returncode == 0, done.stderr
    assert "not in a git repository" in done.stderr
    assert run(tmp_path / "new", EXE, "schema", "test").returncode == 0


def test_the_bundled_example_repository_passes_schema_test() -> None:
    done = run(SCHEMA_BASE_DIR.parent, EXE, "schema", "test")
    assert done.returncode == 0, done.stdout
    assert " 0 failed" in done.stdout


def test_hook_refuses_an_incompatible_version_and_leaves_nothing_behind(repo: Path) -> None:
    current = repo / LINK_HOVER / "current.yaml"
    text = current.read_text()
    assert "link_title:\n        type: string" in text
    current.write_text(
        text.replace("/analytics/link_hover/1.0.0", "/analytics/link_hover/1.1.0").replace(
            "link_title:\n        type: string", "link_title:\n        type: integer"
        )
    )
    done = git(repo, "commit", "-q", "-am", "incompatible 1.1.0")
    assert done.returncode != 0
    expected = "/properties/link_title/type: 'type' changed from 'string' to 'integer'"
    assert expected in done.stderr
    assert "schema-version-compatibility" in done.stderr
    assert not (repo / LINK_HOVER / "1.1.0.yaml").exists()
    assert os.readlink(repo / LINK_HOVER / "latest") == "1.0.0.yaml"
    assert git(repo, "log", "--format=%s").stdout.split("\n")[0] == "init"
    # `schema test` says the same once the version exists (the message the hook repeats)
    assert run(repo, EXE, "schema", "materialize", str(LINK_HOVER / "current.yaml")).returncode == 0
    done = run(repo, EXE, "schema", "test")
    assert done.returncode == 1 and expected in done.stdout


def test_committed_versions_are_immutable_unless_allowed(repo: Path) -> None:
    published = repo / LINK_HOVER / "1.0.0.yaml"
    published.write_text(published.read_text().replace("maxLength: 2048", "maxLength: 100", 1))
    message = "version 1.0.0 of analytics/link_hover is already committed and was modified"
    done = run(repo, EXE, "schema", "test")
    assert done.returncode == 1 and message in done.stdout and "schema-version-immutable" in done.stdout
    done = git(repo, "commit", "-q", "-am", "edit in place")
    assert done.returncode != 0 and message in done.stderr
    assert "EVENTPLATFORM_ALLOW_VERSION_CHANGES=1" in done.stderr
    # an edit of current.yaml without a version bump rewrites 1.0.0.yaml: refused the same way, and the
    # rewritten file is restored (the author's edit of current.yaml is kept)
    assert git(repo, "checkout", "--", ".").returncode == 0
    current = repo / LINK_HOVER / "current.yaml"
    current.write_text(current.read_text().replace("mouseover", "mouse-over"))
    done = git(repo, "commit", "-q", "-am", "no bump")
    assert done.returncode != 0 and message in done.stderr
    assert "mouse-over" in current.read_text() and "mouse-over" not in published.read_text()
    # the escape hatches, for a deliberate fix (same edit of current.yaml, version kept)
    assert run(repo, EXE, "schema", "materialize", str(LINK_HOVER / "current.yaml")).returncode == 0
    assert "mouse-over" in published.read_text()
    assert run(repo, EXE, "schema", "test").returncode == 1
    assert run(repo, EXE, "schema", "test", "--allow-version-changes").returncode == 0
    done = git(repo, "commit", "-q", "-am", "deliberate fix", EVENTPLATFORM_ALLOW_VERSION_CHANGES="1")
    assert done.returncode == 0, done.stderr
    assert "mouse-over" in git(repo, "show", f"HEAD:{LINK_HOVER}/1.0.0.yaml").stdout
    assert run(repo, EXE, "schema", "test").returncode == 0  # committed now: nothing differs from HEAD
