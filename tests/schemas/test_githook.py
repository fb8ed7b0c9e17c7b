"""install-git-hook and materialize-modified against a real git repository and real commits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventplatform.schemas.cli import schema

FRAG = "title: frag\n$id: /frag/{v}\ntype: object\nproperties:\n  f: {{type: string}}\n"
USER = "title: a_user\n$id: /a_user/1.0.0\ntype: object\nallOf:\n  - $ref: /frag/{v}\n"


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "jsonschema" / "frag").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / ".jsonschema-tools.yaml").write_text("schemaBasePath: ./jsonschema/\ncontentTypes: [yaml]\n")
    (repo / "jsonschema" / "frag" / "current.yaml").write_text(FRAG.format(v="1.0.0"))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    return repo


def test_hook_materializes_staged_schemas_into_the_commit(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(schema, ["install-git-hook"])
    assert result.exit_code == 0, result.output
    hook = repo / ".git" / "hooks" / "pre-commit"
    text = hook.read_text()
    assert text.startswith("#!/bin/sh\n") and "schema pre-commit" in text and "npm" not in text
    assert os.access(hook, os.X_OK)

    # a new fragment version and a new schema that $refs it, committed together
    (repo / "jsonschema" / "frag" / "current.yaml").write_text(FRAG.format(v="2.0.0"))
    (repo / "jsonschema" / "a_user").mkdir()
    (repo / "jsonschema" / "a_user" / "current.yaml").write_text(USER.format(v="2.0.0"))
    _git(repo, "add", "jsonschema")
    _git(repo, "commit", "-q", "-m", "bump")
    committed = set(_git(repo, "show", "--name-only", "--format=", "HEAD").split())
    assert {
        "jsonschema/frag/2.0.0.yaml",
        "jsonschema/frag/2.0.0",
        "jsonschema/frag/latest",
        "jsonschema/frag/latest.yaml",
        "jsonschema/a_user/1.0.0.yaml",
        "jsonschema/a_user/1.0.0",
        "jsonschema/a_user/latest",
        "jsonschema/a_user/latest.yaml",
        "jsonschema/frag/current.yaml",
        "jsonschema/a_user/current.yaml",
    } <= committed
    assert _git(repo, "status", "--porcelain") == ""
    assert os.readlink(repo / "jsonschema" / "frag" / "latest") == "2.0.0.yaml"


def test_hook_blocks_a_commit_with_a_broken_schema(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    assert CliRunner().invoke(schema, ["install-git-hook"]).exit_code == 0
    (repo / "jsonschema" / "frag" / "current.yaml").write_text(
        "title: frag\n$id: /frag/3.0.0\nallOf: [{$ref: /x}]\n"
    )
    _git(repo, "add", "jsonschema")
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", "bad"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@e",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@e",
        },
    )
    assert proc.returncode != 0
    assert "resolves nowhere" in proc.stderr
    assert not (repo / "jsonschema" / "frag" / "3.0.0.yaml").exists()


def test_materialize_modified_unstaged_without_git_add(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    (repo / "jsonschema" / "frag" / "current.yaml").write_text(FRAG.format(v="1.1.0"))
    result = CliRunner().invoke(schema, ["materialize-modified", "--staged"])
    assert result.exit_code == 0 and not (repo / "jsonschema" / "frag" / "1.1.0.yaml").exists()  # not staged
    result = CliRunner().invoke(schema, ["materialize-modified", "--no-git-add"])
    assert result.exit_code == 0, result.output
    assert (repo / "jsonschema" / "frag" / "1.1.0.yaml").exists()
    status = _git(repo, "status", "--porcelain")
    assert "?? jsonschema/frag/1.1.0.yaml" in status or "?? jsonschema/frag/" in status
    result = CliRunner().invoke(schema, ["materialize-modified"])
    assert result.exit_code == 0
    status = _git(repo, "status", "--porcelain")
    assert "A  jsonschema/frag/1.1.0.yaml" in status and "A  jsonschema/frag/latest" in status
    assert " M jsonschema/frag/current.yaml" in status  # current itself is not added


def test_install_leaves_a_foreign_hook_alone(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text("#!/bin/sh\nrun-my-linter\n")
    result = CliRunner().invoke(schema, ["install-git-hook"])
    assert result.exit_code == 1
    message = "another pre-commit hook is installed; not replacing it (remove it first)"
    assert result.stderr == f"error: {hook}: /: {message}\n"
    assert hook.read_text() == "#!/bin/sh\nrun-my-linter\n"
    hook.unlink()
    assert CliRunner().invoke(schema, ["install-git-hook"]).exit_code == 0
    assert CliRunner().invoke(schema, ["install-git-hook"]).exit_code == 0  # ours is replaced
