"""materialize/materialize-all/dereference commands: bad input, all-or-nothing runs, dependency order,
symlinks and options."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from eventplatform.schemas.cli import schema
from eventplatform.schemas.config import load_options
from eventplatform.schemas.materialize import materialize_schema
from eventplatform.schemas.yamlio import load_yaml
from tests.schemas.primary_fixture import regular_files, symlinks

CONFIG = "schemaBasePath: ./s/\ncontentTypes: [yaml]\n"


def _repo(tmp_path: Path, files: dict[str, str], config: str = CONFIG) -> Path:
    repo = tmp_path / "repo"
    (repo / "s").mkdir(parents=True)
    (repo / ".jsonschema-tools.yaml").write_text(config)
    for rel, text in files.items():
        p = repo / "s" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return repo


def _run(repo: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(schema, list(args))
    return result.exit_code, result.stdout, result.stderr


FRAG = """title: frag
$id: /frag/1.0.0
type: object
properties:
  f: {type: string}
"""
FRAG2 = """title: frag
$id: /frag/2.0.0
type: object
properties:
  f: {type: string}
  g: {type: integer}
"""
USER = """title: user
$id: /user/1.0.0
type: object
allOf:
  - $ref: /frag/2.0.0
properties:
  u: {type: boolean}
"""

BAD_INPUTS = {
    "unparsable": ("title: a\n$id: /a/1.0.0\nproperties: [x\n", "", "unparsable YAML"),
    "no_id": ("title: a\ntype: object\n", "/$id", "missing $id"),
    "versionless_id": ("title: a\n$id: /a/latest\n", "/$id", "contains no version"),
    "ref_nowhere": (
        "title: a\n$id: /a/1.0.0\nproperties:\n  x: {$ref: /nope/1.0.0}\n",
        "/properties/x",
        "resolves nowhere",
    ),
    "pointer_nowhere": (
        "title: a\n$id: /a/1.0.0\nproperties:\n  x: {$ref: '#/definitions/x'}\n",
        "/properties/x",
        "resolves nowhere",
    ),
    "ref_cycle": (
        "title: a\n$id: /a/1.0.0\nproperties:\n"
        "  x: {$ref: '#/properties/y'}\n  y: {$ref: '#/properties/x'}\n",
        "/properties/x",
        "cycle",
    ),
    "self_cycle": (
        "title: a\n$id: /a/1.0.0\nproperties:\n  x:\n    properties: {me: {$ref: '#/properties/x'}}\n",
        "/properties/x/properties/me",
        "cycle",
    ),
    "conflicting_types": (
        "title: a\n$id: /a/1.0.0\nallOf:\n"
        " - properties: {x: {type: string}}\n - properties: {x: {type: integer}}\n",
        "/properties/x/type",
        "conflicting types",
    ),
    "conflicting_formats": (
        "title: a\n$id: /a/1.0.0\nallOf:\n"
        " - properties: {x: {format: date-time}}\n - properties: {x: {format: uri}}\n",
        "/properties/x/format",
        "No resolver found for key format",
    ),
    "disjoint_enums": (
        "title: a\n$id: /a/1.0.0\nallOf:\n - properties: {x: {enum: [a]}}\n - properties: {x: {enum: [b]}}\n",
        "/properties/x/enum",
        "no common value",
    ),
    "not_a_mapping": ("- just\n- a list\n", "", "not a mapping"),
    "duplicate_key": ("title: a\n$id: /a/1.0.0\ntitle: b\n", "", "duplicated mapping key"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_error_and_writes_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, pointer, message = BAD_INPUTS[case]
    repo = _repo(tmp_path, {"frag/current.yaml": FRAG, "a/current.yaml": text})
    before = regular_files(repo)
    code, _out, err = _run(repo, monkeypatch, "materialize", "s/frag/current.yaml", "s/a/current.yaml")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {repo / 's' / 'a' / 'current.yaml'}: {pointer or '/'}: "), lines[0]
    assert message in lines[0]
    # the good schema of the same run was not written either
    assert regular_files(repo) == before
    assert symlinks(repo) == {}


def test_empty_ref_target_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, {"a/current.yaml": "title: a\n$id: /a/1.0.0\nallOf: [{$ref: /frag/1.0.0}]\n"})
    (repo / "s" / "frag").mkdir()
    (repo / "s" / "frag" / "1.0.0").write_text("")
    code, _, err = _run(repo, monkeypatch, "materialize", "s/a/current.yaml")
    assert code == 1
    assert "/allOf/0: $ref '/frag/1.0.0'" in err and "empty document" in err


def test_dependency_order_within_one_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # user refs the *new* fragment version built in the same run, and is listed (and sorts) first
    repo = _repo(
        tmp_path, {"frag/current.yaml": FRAG2, "a_user/current.yaml": USER.replace("user", "a_user")}
    )
    code, _, err = _run(repo, monkeypatch, "materialize", "s/a_user/current.yaml", "s/frag/current.yaml")
    assert code == 0, err
    user = load_yaml((repo / "s" / "a_user" / "1.0.0.yaml").read_text())
    assert set(user["properties"]) == {"f", "g", "u"}
    assert os.readlink(repo / "s" / "frag" / "2.0.0") == "2.0.0.yaml"


def test_cycle_between_schemas_of_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = "title: a\n$id: /a/1.0.0\nallOf: [{$ref: /b/1.0.0}]\n"
    b = "title: b\n$id: /b/1.0.0\nallOf: [{$ref: /a/1.0.0}]\n"
    repo = _repo(tmp_path, {"a/current.yaml": a, "b/current.yaml": b})
    code, _, err = _run(repo, monkeypatch, "materialize", "s/a/current.yaml", "s/b/current.yaml")
    assert code == 1 and "cycle" in err
    assert not (repo / "s" / "a" / "1.0.0.yaml").exists()


def test_latest_only_moves_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, {"frag/current.yaml": FRAG2})
    assert _run(repo, monkeypatch, "materialize", "s/frag/current.yaml")[0] == 0
    (repo / "s" / "frag" / "current.yaml").write_text(FRAG)  # an older version
    assert _run(repo, monkeypatch, "materialize", "s/frag/current.yaml")[0] == 0
    d = repo / "s" / "frag"
    assert os.readlink(d / "latest") == "2.0.0.yaml"
    assert os.readlink(d / "latest.yaml") == "2.0.0.yaml"
    assert os.readlink(d / "1.0.0") == "1.0.0.yaml"
    # re-materializing the same version refreshes latest (equal counts as newer)
    (repo / "s" / "frag" / "current.yaml").write_text(FRAG2)
    (d / "latest.yaml").unlink()
    os.symlink("1.0.0.yaml", d / "latest.yaml")
    assert _run(repo, monkeypatch, "materialize", "s/frag/current.yaml")[0] == 0
    assert os.readlink(d / "latest.yaml") == "2.0.0.yaml"


def test_options_dry_run_stdout_no_symlinks_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, {"frag/current.yaml": FRAG})
    before = regular_files(repo)
    code, out, _ = _run(repo, monkeypatch, "materialize", "--dry-run", "s/frag/current.yaml")
    assert code == 0 and regular_files(repo) == before and symlinks(repo) == {}
    code, out, _ = _run(repo, monkeypatch, "materialize", "--stdout", "s/frag/current.yaml")
    assert code == 0 and regular_files(repo) == before
    assert load_yaml(out)["properties"]["f"] == {"type": "string"}
    code, _, err = _run(
        repo,
        monkeypatch,
        "materialize",
        "--no-symlink-latest",
        "--no-symlink-extensionless",
        "-c",
        "json",
        "-c",
        "yaml",
        "s/frag/current.yaml",
    )
    assert code == 0, err
    d = repo / "s" / "frag"
    assert symlinks(repo) == {}
    data = json.loads((d / "1.0.0.json").read_text())
    assert data == load_yaml((d / "1.0.0.yaml").read_text())
    assert not (d / "1.0.0.json").read_text().endswith("\n")  # json-stable-stringify: no trailing newline


def test_output_dir_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, {})
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(schema, ["materialize", "-o", "out"], input=FRAG)
    assert result.exit_code == 0, result.output
    assert load_yaml((repo / "out" / "1.0.0.yaml").read_text())["$id"] == "/frag/1.0.0"
    assert os.readlink(repo / "out" / "latest") == "1.0.0.yaml"
    result = CliRunner().invoke(schema, ["materialize"], input=FRAG)
    assert result.exit_code == 1 and "--output-dir is required" in result.stderr


def test_no_dereference_keeps_refs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, {"frag/current.yaml": FRAG2, "user/current.yaml": USER})
    code, _, err = _run(repo, monkeypatch, "materialize", "--no-dereference", "s/user/current.yaml")
    assert code == 0, err
    data = load_yaml((repo / "s" / "user" / "1.0.0.yaml").read_text())
    assert data["allOf"] == [{"$ref": "/frag/2.0.0"}]


def test_materialize_all_respects_ignore_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = CONFIG + "ignoreSchemas: ['^/user/']\n"
    repo = _repo(tmp_path, {"frag/current.yaml": FRAG2, "user/current.yaml": USER}, config)
    code, _, err = _run(repo, monkeypatch, "materialize-all")
    assert code == 0, err
    assert (repo / "s" / "frag" / "2.0.0.yaml").exists()
    assert not (repo / "s" / "user" / "1.0.0.yaml").exists()


def test_dereference_command_lists_several(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, {"frag/current.yaml": FRAG2, "user/current.yaml": USER})
    assert _run(repo, monkeypatch, "materialize", "s/frag/current.yaml")[0] == 0
    code, out, err = _run(repo, monkeypatch, "dereference", "s/user/current.yaml", "s/frag/current.yaml")
    assert code == 0, err
    docs = load_yaml(out)
    assert isinstance(docs, list) and len(docs) == 2
    # the fragment's materialized version (via $ref) has bounds; the dereferenced current file gets none
    assert docs[0]["properties"]["g"]["minimum"] == -9007199254740991
    assert docs[1]["properties"]["g"] == {"type": "integer"}


def test_dereference_command_refuses_an_unknown_content_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path, {"frag/current.yaml": FRAG})
    code, out, err = _run(repo, monkeypatch, "dereference", "-c", "xml", "s/frag/current.yaml")
    assert code == 2 and out == ""
    assert "'xml' is not one of 'yaml', 'json'" in err
    code, out, err = _run(repo, monkeypatch, "dereference", "-c", "json", "s/frag/current.yaml")
    assert code == 0, err
    assert json.loads(out)["properties"] == {"f": {"type": "string"}}


def test_materialize_schema_library_call_leaves_input_alone(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {})
    options = load_options({"shouldGenerateExample": True}, repo)
    src = load_yaml("title: t\n$id: /t/1.0.0\ntype: object\nproperties:\n  n: {type: integer}\n")
    copy = json.loads(json.dumps(src))
    out = materialize_schema(src, options)
    assert src == copy
    assert out["properties"]["n"]["maximum"] == 9007199254740991
    assert out["examples"] == [{"n": -6305039478318694}]


@pytest.mark.parametrize(
    "bad_index", [0, 1]
)  # 0: in the parent's half of the level, 1: in the forked worker's
def test_parallel_run_error_in_either_half(tmp_path: Path, bad_index: int) -> None:
    import subprocess
    import sys

    files = {
        f"s{i:02d}/current.yaml": f"title: s{i:02d}\n$id: /s{i:02d}/1.0.0\ntype: object\n" for i in range(20)
    }
    files[f"s{bad_index:02d}/current.yaml"] = (
        f"title: bad\n$id: /s{bad_index:02d}/1.0.0\nallOf: [{{$ref: /x}}]\n"
    )
    repo = _repo(tmp_path, files)
    before = regular_files(repo)
    paths = sorted(f"s/{k}" for k in files)

    def materialize() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "eventplatform", "schema", "materialize", *paths],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "EVENTPLATFORM_SCHEMA_JOBS": "2"},  # fork even on a busy machine
        )

    proc = materialize()
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and f"s{bad_index:02d}/current.yaml: /allOf/0:" in proc.stderr
    assert regular_files(repo) == before
    files[f"s{bad_index:02d}/current.yaml"] = files["s05/current.yaml"].replace("s05", f"s{bad_index:02d}")
    (repo / "s" / f"s{bad_index:02d}" / "current.yaml").write_text(files[f"s{bad_index:02d}/current.yaml"])
    proc = materialize()
    assert proc.returncode == 0, proc.stderr
    assert len(symlinks(repo)) == 60
    assert all((repo / "s" / f"s{i:02d}" / "1.0.0.yaml").exists() for i in range(20))


def test_dereference_command_too_deep_to_write_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nested: list[object] = []
    for _ in range(500):
        nested = [nested]
    repo = _repo(tmp_path, {})
    (repo / "s" / "deep.json").write_text(json.dumps({"title": "deep", "$id": "/deep/1.0.0", "x": nested}))
    code, out, err = _run(repo, monkeypatch, "dereference", "s/deep.json")
    assert code == 1 and out == ""
    where = repo / "s" / "deep.json"
    assert err == f"error: {where}: /: cannot serialize as yaml: maximum recursion depth exceeded\n"


def test_materialize_all_needs_an_existing_base_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path, {}, "schemaBasePath: ./missing/\n")
    code, _, err = _run(repo, monkeypatch, "materialize-all")
    assert code == 1
    assert err == f"error: {repo / 'missing'}: /: schema base path is not a directory\n"
