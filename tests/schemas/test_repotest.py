"""The repository tests on the primary fixture (against the reference's verdicts) and on small repos."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from eventplatform.schemas.config import load_options
from eventplatform.schemas.repotest import Skipper, TestRun, run_tests
from tests.schemas.data.checks.fixture import INCOMPATIBLE_FILE, copy_fixture, make_incompatible

DATA = Path(__file__).parent / "data" / "checks"
REFERENCE: dict[str, Any] = json.loads(
    gzip.decompress((DATA / "reference_fixture_results.json.gz").read_bytes())
)


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_fixture(tmp_path_factory.mktemp("primary") / "repo")


@pytest.fixture(scope="module")
def incompatible(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_fixture(tmp_path_factory.mktemp("incompatible") / "repo")
    make_incompatible(repo)
    return repo


def _run(repo: Path, **kwargs: Any) -> TestRun:
    return run_tests(load_options(cwd=repo), **kwargs)


def _verdicts(run: TestRun) -> dict[str, str]:
    out = {r.full_title: r.status for r in run.results}
    assert len(out) == len(run.results), "full titles must be unique"
    return {t: {"pass": "pass", "fail": "fail", "skip": "skip"}[s] for t, s in out.items()}


@pytest.mark.parametrize("workers", [1, 2])
def test_primary_fixture_matches_reference(primary: Path, workers: int) -> None:
    run = _run(primary, workers=workers)
    assert (len(run.results), run.passed, run.skipped, run.failed) == (1626, 1614, 12, 0)
    assert _verdicts(run) == dict(REFERENCE["primary"]["tests"])
    skipped = {(r.suite, r.name) for r in run.results if r.status == "skip"}
    assert skipped == {
        ("robustness", "schema-deterministic-types"),
        ("robustness", "schema-enforced-numeric-bounds"),
        ("compatibility", "schema-version-compatibility"),
    }


def test_incompatible_change_is_reported_like_the_reference(incompatible: Path) -> None:
    run = _run(incompatible)
    assert _verdicts(run) == dict(REFERENCE["incompatible"]["tests"])
    assert (run.passed, run.failed, run.skipped) == (1611, 3, 12)
    compat = [r for r in run.failures() if r.suite == "compatibility"]
    assert [(r.title, r.old_version, r.new_version, r.name) for r in compat] == [
        ("mediawiki/revision/create", "1.0.0", "1.1.0", "schema-version-compatibility"),
        ("mediawiki/revision/create", "1.1.0", "1.2.0", "schema-version-compatibility"),
    ]
    first = compat[0]
    assert [f.pointer for f in first.findings] == ["/properties/rev_minor_edit/type"]
    assert first.findings[0].old == "boolean" and first.findings[0].new == "string"
    text = "\n".join(first.messages)
    assert "mediawiki/revision/create 1.1.0" in text and "1.0.0" in text
    assert "/properties/rev_minor_edit/type" in text and "'boolean' to 'string'" in text
    assert "2.0.0" in text  # suggests a new major
    assert first.path is not None and first.path.endswith(INCOMPATIBLE_FILE)


def test_cli_test_passes_on_fixture(primary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventplatform.cli.main import cli

    monkeypatch.chdir(primary)
    result = CliRunner().invoke(cli, ["schema", "test"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("1614 passed, 0 failed, 12 skipped (1626 tests, 53 titles)")


def test_cli_test_fails_naming_the_case(incompatible: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventplatform.cli.main import cli

    monkeypatch.chdir(incompatible)
    result = CliRunner().invoke(cli, ["schema", "test"])
    assert result.exit_code == 1
    out = result.output
    assert "✗ mediawiki/revision/create" in out
    assert "1.1.0 must be compatible with 1.0.0  (schema-version-compatibility)" in out
    assert "/properties/rev_minor_edit/type" in out
    assert "1.1.0.yaml: examples must validate against schema" in out
    assert "1611 passed, 3 failed, 12 skipped" in out

    result = CliRunner().invoke(cli, ["schema", "test", "--format", "json"])
    assert result.exit_code == 1
    document = orjson.loads(result.output)
    assert document["summary"]["failed"] == 3 and document["summary"]["tests"] == 1626
    failed = [r for r in document["results"] if r["status"] == "fail" and r["suite"] == "compatibility"]
    assert failed[0]["findings"][0]["pointer"] == "/properties/rev_minor_edit/type"
    assert failed[0]["suggested_bump"] == "major"


def test_cli_check(incompatible: Path, primary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventplatform.cli.main import cli

    monkeypatch.chdir(primary)
    result = CliRunner().invoke(cli, ["schema", "check"])
    assert result.exit_code == 0, result.output
    assert "11 compatible, 0 incompatible, 4 skipped (15 pairs)" in result.output
    assert (
        "fragment/http: 1.2.0 must be compatible with 1.1.0  skipped by skipSchemaTestCases" in result.output
    )

    monkeypatch.chdir(incompatible)
    result = CliRunner().invoke(cli, ["schema", "check"])
    assert result.exit_code == 1
    assert "✗ mediawiki/revision/create: 1.1.0 must be compatible with 1.0.0" in result.output
    assert "/properties/rev_minor_edit/type: 'type' changed from 'boolean' to 'string'" in result.output


def test_cli_diff(primary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventplatform.cli.main import cli

    monkeypatch.chdir(primary)
    result = CliRunner().invoke(cli, ["schema", "diff", "fragment/common@1.0.0", "1.1.0"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "--- fragment/common 1.0.0.yaml"
    assert "+ /additionalProperties: false" in result.output
    assert "a minor bump is enough (1.1.0)" in result.output

    result = CliRunner().invoke(cli, ["schema", "diff", "fragment/http@1.1.0", "1.2.0"])
    assert result.exit_code == 1  # the removal that the fixture's config skips
    assert "[breaking]" in result.output

    result = CliRunner().invoke(
        cli, ["schema", "diff", "fragment/common@latest", "current", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output)["changes"] == []

    result = CliRunner().invoke(cli, ["schema", "diff", "jsonschema/test/event/0.0.2.yaml", "0.0.3", "-u"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("--- test/event 0.0.2.yaml\n+++ test/event 0.0.3.yaml\n")

    result = CliRunner().invoke(cli, ["schema", "diff", "nope@1.0.0", "1.0.1"])
    assert result.exit_code == 2 and "no file" in result.output


# ------------------------------------------------------------------------------------------ small repos

SCHEMA_URL = "https://json-schema.org/draft-07/schema#"


def _doc(title: str, version: str, **props: Any) -> dict[str, Any]:
    properties = {"$schema": {"type": "string"}, **{k: {"type": v} for k, v in props.items()}}
    return {
        "title": title,
        "$id": f"/{title}/{version}",
        "$schema": SCHEMA_URL,
        "type": "object",
        "additionalProperties": False,
        "required": ["$schema"],
        "properties": properties,
        "examples": [{"$schema": f"/{title}/{version}"}],
    }


def _write(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)


def _add_title(base: Path, title: str, versions: list[dict[str, Any]]) -> Path:
    """A title whose current.yaml needs no materializing (no refs, no numbers, has examples)."""
    directory = base / title
    for document in versions:
        version = document["$id"].rsplit("/", 1)[1]
        _write(directory / f"{version}.yaml", document)
        (directory / version).symlink_to(f"{version}.yaml")
    _write(directory / "current.yaml", versions[-1])
    latest = versions[-1]["$id"].rsplit("/", 1)[1]
    (directory / "latest").symlink_to(f"{latest}.yaml")
    (directory / "latest.yaml").symlink_to(f"{latest}.yaml")
    return directory


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    (tmp_path / ".jsonschema-tools.yaml").write_text("schemaBasePath: ./jsonschema/\ncontentTypes: [yaml]\n")
    base = tmp_path / "jsonschema"
    _add_title(
        base, "a/one", [_doc("a/one", "1.0.0", x="string"), _doc("a/one", "1.1.0", x="string", y="boolean")]
    )
    _add_title(base, "b/two", [_doc("b/two", "1.0.0", x="string")])
    return tmp_path


def _failed(run: TestRun) -> list[tuple[str, str, str]]:
    return [(r.title, r.name, r.description) for r in run.failures()]


def test_small_repo_passes_with_expected_counts(small_repo: Path) -> None:
    run = _run(small_repo)
    assert run.failed == 0, [(r.full_title, r.messages) for r in run.failures()]
    structure = 7 * 2 + 6 * 3
    robustness = 3 * 8 + 2 * 2  # 3 versions x 8 declared cases + 2 current files x 2 cases
    assert len(run.results) == structure + robustness + 1


def test_misplaced_schema_fails_without_hiding_the_rest(small_repo: Path) -> None:
    path = small_repo / "jsonschema/b/two/1.0.0.yaml"
    path.write_text(path.read_text().replace('"title": "b/two"', '"title": "b/elsewhere"'))
    run = _run(small_repo)
    assert (
        "b/elsewhere",
        "structure-title-matches-directory",
        "all materialized files should be in directory that matches schema title",
    ) in _failed(run)
    # the reference's it.only would hide these; here the other titles are still tested
    assert sum(1 for r in run.results if r.title == "a/one" and r.status == "pass") > 20
    misplaced = next(r for r in run.failures() if r.name == "structure-title-matches-directory")
    assert "does not match title 'b/elsewhere'" in misplaced.messages[0]


def test_current_changed_without_bump(small_repo: Path) -> None:
    _write(small_repo / "jsonschema/b/two/current.yaml", _doc("b/two", "1.0.0", x="string", z="integer"))
    run = _run(small_repo)
    [failure] = [r for r in run.failures() if r.name == "structure-current-equals-latest"]
    assert failure.title == "b/two"
    assert "does not equal" in failure.messages[0]
    assert any("/properties/z" in m for m in failure.messages)


def test_current_version_not_materialized(small_repo: Path) -> None:
    _write(small_repo / "jsonschema/b/two/current.yaml", _doc("b/two", "1.1.0", x="string", z="boolean"))
    run = _run(small_repo)
    names = {r.name for r in run.failures()}
    assert {"structure-latest-file", "structure-current-equals-latest"} <= names
    failure = next(r for r in run.failures() if r.name == "structure-current-equals-latest")
    assert "does not match latest version 1.0.0" in failure.messages[0]


def test_missing_current_and_missing_versions(small_repo: Path) -> None:
    (small_repo / "jsonschema/b/two/current.yaml").unlink()
    run = _run(small_repo)
    assert ("b/two", "structure-current-exists", "must have a current.yaml file") in _failed(run)
    assert ("b/two", "structure-current-exists", "must contain current.yaml schema file") in _failed(run)

    _write(small_repo / "jsonschema/c/three/current.yaml", _doc("c/three", "1.0.0", x="string"))
    run = _run(small_repo)
    assert (
        "c/three",
        "structure-latest-file",
        "Must be able to find the latest schema version file",
    ) in _failed(run)


def test_symlink_problems(small_repo: Path) -> None:
    directory = small_repo / "jsonschema/a/one"
    (directory / "latest.yaml").unlink()
    (directory / "latest.yaml").symlink_to("1.0.0.yaml")
    (directory / "1.0.0").unlink()
    (directory / "1.0.0").write_text("1.0.0.yaml")
    (directory / "current").symlink_to("current.yaml")
    run = _run(small_repo)
    by_name = {r.name: r for r in run.failures()}
    assert set(by_name) == {
        "structure-latest-symlink",
        "structure-version-symlink",
        "structure-no-extensionless-current",
    }
    assert "points to '1.0.0.yaml', not '1.1.0.yaml'" in by_name["structure-latest-symlink"].messages[0]
    assert "is not a symlink" in by_name["structure-version-symlink"].messages[0]


def test_id_must_match_directory(small_repo: Path) -> None:
    path = small_repo / "jsonschema/b/two/1.0.0.yaml"
    document = _doc("b/two", "1.0.0", x="string")
    document["$id"] = "/other/two/1.0.0"
    document["examples"] = [{"$schema": "/other/two/1.0.0"}]
    _write(path, document)
    _write(small_repo / "jsonschema/b/two/current.yaml", document)
    run = _run(small_repo)
    assert ("b/two", "structure-id-matches-directory", "$id must match directory") in _failed(run)


def test_unreadable_file_is_a_failure_not_a_crash(small_repo: Path) -> None:
    _write(small_repo / "jsonschema/b/two/1.0.1.yaml", "a: [unclosed\n")
    _write(small_repo / "jsonschema/b/two/1.0.2.yaml", '{"type": "object"}')
    run = _run(small_repo)
    readable = [r for r in run.failures() if r.name == "structure-file-readable"]
    assert [os.path.basename(r.path or "") for r in readable] == ["1.0.1.yaml", "1.0.2.yaml"]
    assert run.passed > 40


def test_compatibility_failure_and_skip(small_repo: Path) -> None:
    base = small_repo / "jsonschema"
    _add_title(base, "c/three", [_doc("c/three", "1.0.0", x="string"), _doc("c/three", "1.1.0", x="boolean")])
    run = _run(small_repo, suites=("compatibility",))
    [failure] = run.failures()
    assert (failure.title, failure.old_version, failure.new_version) == ("c/three", "1.0.0", "1.1.0")
    assert failure.full_title == (
        "Schema Compatibility in Repository ./jsonschema/ c/three Major Version 1 "
        "1.1.0 must be compatible with 1.0.0"
    )

    config = small_repo / ".jsonschema-tools.yaml"
    config.write_text(
        config.read_text() + "skipSchemaTestCases:\n  'c/three/1\\.1':\n    - schema-version-compatibility\n"
    )
    run = _run(small_repo, suites=("compatibility",))
    assert run.failed == 0 and run.skipped == 1


def test_new_major_is_not_compared(small_repo: Path) -> None:
    base = small_repo / "jsonschema"
    _add_title(base, "c/three", [_doc("c/three", "1.0.0", x="string"), _doc("c/three", "2.0.0", x="boolean")])
    run = _run(small_repo, suites=("compatibility",))
    assert [r.subject for r in run.results if r.title == "c/three"] == []


def test_pending_current_check(small_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventplatform.cli.main import cli

    # the author edited current.yaml and bumped the minor version, but removed a property
    _write(small_repo / "jsonschema/a/one/current.yaml", _doc("a/one", "1.2.0", y="boolean"))
    monkeypatch.chdir(small_repo)
    result = CliRunner().invoke(cli, ["schema", "check"])
    assert result.exit_code == 1
    assert "a/one: current 1.2.0 must be compatible with 1.1.0" in result.output
    assert "/properties/x: property 'x' was removed" in result.output
    assert "2.0.0" in result.output

    _write(
        small_repo / "jsonschema/a/one/current.yaml",
        _doc("a/one", "1.1.1", x="string", y="boolean", z="string"),
    )
    result = CliRunner().invoke(cli, ["schema", "check"])
    assert result.exit_code == 0, result.output
    assert "note: the changes call for 1.2.0 (minor bump)" in result.output


def test_bad_skip_regex_is_a_usage_error(small_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventplatform.cli.main import cli

    with pytest.raises(ValueError, match="invalid regex"):
        Skipper({"(": ["schema-is-valid"]})
    config = small_repo / ".jsonschema-tools.yaml"
    config.write_text(config.read_text() + "skipSchemaTestCases:\n  '(':\n    - schema-is-valid\n")
    monkeypatch.chdir(small_repo)
    result = CliRunner().invoke(cli, ["schema", "test"])
    assert result.exit_code == 2 and "invalid regex" in result.output


def test_skipper_matches_unanchored_on_own_id() -> None:
    skipper = Skipper({"/webrequest/1.0.0": ["a", "b"], "page/.*": ["c"]})
    assert skipper.names_for({"$id": "/development/webrequest/1.0.0"}) == {"a", "b"}
    assert skipper.skips("c", {"$id": "/mediawiki/page/change/1.0.0"})
    assert not skipper.skips("c", {"$id": "/x/1.0.0"}) and not skipper.skips("c", {})


def test_cli_suite_selection_and_verbose(small_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventplatform.cli.main import cli

    monkeypatch.chdir(small_repo)
    result = CliRunner().invoke(cli, ["schema", "test", "--suite", "compatibility", "-v"])
    assert result.exit_code == 0, result.output
    assert (
        "✓ [compatibility] 1.1.0 must be compatible with 1.0.0  (schema-version-compatibility)"
        in result.output
    )
    assert (
        result.output.strip().splitlines()[-1].startswith("1 passed, 0 failed, 0 skipped (1 tests, 1 titles)")
    )

    result = CliRunner().invoke(cli, ["schema", "test", "--suite", "robustness", "--format", "json"])
    assert result.exit_code == 0
    document = orjson.loads(result.output)
    assert {r["suite"] for r in document["results"]} == {"robustness"}
    assert document["summary"]["tests"] == 28

    result = CliRunner().invoke(cli, ["schema", "check", "--format", "json", "--no-pending"])
    assert result.exit_code == 0
    [pair] = orjson.loads(result.output)["results"]
    assert (pair["old_version"], pair["new_version"], pair["suggested_bump"]) == ("1.0.0", "1.1.0", "minor")


def test_cli_missing_base_path_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventplatform.cli.main import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["schema", "test", "nowhere"])
    assert result.exit_code == 2


def test_cli_junit_report(incompatible: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import xml.etree.ElementTree as ET

    from eventplatform.cli.main import cli

    monkeypatch.chdir(incompatible)
    result = CliRunner().invoke(cli, ["schema", "test", "--format", "junit"])
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout_bytes)
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("1626", "3", "12")
    failures = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert {c.get("classname") for c in failures} == {"mediawiki/revision/create"}
    texts = "\n".join(c.find("failure").text or "" for c in failures)  # type: ignore[union-attr]
    assert "/properties/rev_minor_edit/type" in texts


def test_yaml_and_json_content_types_match_reference(tmp_path: Path) -> None:
    """A repository materialized by the reference with contentTypes [yaml, json], one JSON file edited."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(DATA / "multi_content_types", repo, symlinks=True)
    expected = json.loads((DATA / "multi_content_types.expected.json").read_text())
    run = _run(repo)
    assert (len(run.results), run.failed) == (91, 1)
    assert {r.full_title: r.status for r in run.results} == expected
    [failure] = run.failures()
    assert failure.name == "structure-content-types-equal"
    assert failure.messages == ["a/one 1.0.0.yaml does not equal 1.0.0.json"]


def test_no_fork_while_other_threads_run() -> None:
    import threading

    from eventplatform.schemas import forking

    pid = os.getpid()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert forking.fork_map(lambda c: (os.getpid(), c), [1, 2]) == [(pid, 1), (pid, 2)]
    finally:
        stop.set()
        thread.join()
    results = forking.fork_map(lambda c: (os.getpid(), c), [1, 2])
    assert results[0][0] != pid and results[1] == (pid, 2)
