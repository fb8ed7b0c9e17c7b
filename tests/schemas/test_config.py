"""Options: the reference's camelCase keys, defaults and precedence (explicit > later file > defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventplatform.schemas.config import load_options
from eventplatform.schemas.tool_errors import SchemaToolError


def test_defaults(tmp_path: Path) -> None:
    o = load_options({}, tmp_path)
    assert o.content_types == ["yaml", "json"]
    assert o.current_file_name == "current.yaml"
    assert o.schema_base_path == str(tmp_path.resolve())
    assert o.schema_base_uris == [str(tmp_path.resolve())]
    assert o.enforced_numeric_bounds == [-9007199254740991, 9007199254740991]
    assert (o.should_symlink_latest, o.should_symlink_extensionless, o.should_dereference) == (
        True,
        True,
        True,
    )
    assert (o.should_generate_example, o.dry_run, o.git_staged, o.should_git_add) == (
        False,
        False,
        False,
        True,
    )
    assert o.schema_version_field == "$id" and o.schema_title_field == "title" and o.log_level == "warn"


def test_precedence(tmp_path: Path) -> None:
    (tmp_path / ".jsonschema-tools.yaml").write_text(
        "schemaBasePath: ./jsonschema/\ncontentTypes: [json]\nshouldGenerateExample: true\nlogLevel: info\n"
    )
    (tmp_path / "second.yaml").write_text("contentTypes: [yaml]\nenforcedNumericBounds: false\n")
    o = load_options({"configPaths": "./.jsonschema-tools.yaml,./second.yaml", "logLevel": "debug"}, tmp_path)
    assert o.content_types == ["yaml"]  # later file wins
    assert o.enforced_numeric_bounds is None  # falsy disables
    assert o.should_generate_example is True
    assert o.log_level == "debug"  # explicit wins
    assert o.schema_base_path == str((tmp_path / "jsonschema").resolve())
    assert o.schema_base_uris == ["./jsonschema/"]  # defaults to schemaBasePath as written


def test_explicit_null_and_missing_config(tmp_path: Path) -> None:
    (tmp_path / ".jsonschema-tools.yaml").write_text("schemaBaseUris: [./a/]\ncurrentName: cur.yaml\n")
    o = load_options(
        {"schemaBaseUris": None, "configPaths": ["./.jsonschema-tools.yaml", "./missing.yaml"]}, tmp_path
    )
    assert o.schema_base_uris == [str(tmp_path.resolve())]  # null falls back to [schemaBasePath]
    assert o.current_file_name == "cur.yaml"
    o = load_options({"schemaBaseUris": ["./x/,http://h/"], "schema_title_field": "name"}, tmp_path)
    assert o.schema_base_uris == ["./x/", "http://h/"] and o.schema_title_field == "name"
    assert o.get("schemaTitleField") == "name"


@pytest.mark.parametrize(
    ("config", "pointer", "message"),
    [
        ("enforcedNumericBounds: 5", "/enforcedNumericBounds", "must be [min, max] (two numbers)"),
        ("enforcedNumericBounds: [1, x]", "/enforcedNumericBounds", "must be [min, max] (two numbers)"),
        ("skipSchemaTestCases: [a]", "/skipSchemaTestCases", "must be a mapping of $id regex"),
        ("skipSchemaTestCases: {a/b: {x: 1}}", "/skipSchemaTestCases/a~1b", "must be a test case name"),
        ("outputDir: [1]", "/outputDir", "must be a string, not a list"),
        ("schemaBasePath: {a: 1}", "/schemaBasePath", "must be a string, not a mapping"),
        ("currentName: [a]", "/currentName", "must be a string, not a list"),
        ("ignoreSchemas: ['^/a/', '(']", "/ignoreSchemas/1", "invalid regex '('"),
    ],
)
def test_misshapen_config_values_are_one_line_errors(
    tmp_path: Path, config: str, pointer: str, message: str
) -> None:
    (tmp_path / ".jsonschema-tools.yaml").write_text(config + "\n")
    with pytest.raises(SchemaToolError) as err:
        load_options({}, tmp_path)
    assert (err.value.file, err.value.pointer) == ("<options>", pointer)
    assert err.value.message.startswith(message)


def test_one_skipped_case_name_need_not_be_a_list(tmp_path: Path) -> None:
    from eventplatform.schemas.repotest import Skipper

    (tmp_path / ".jsonschema-tools.yaml").write_text("skipSchemaTestCases: {'^/a/': 5, '^/b/': x}\n")
    skipper = Skipper(load_options({}, tmp_path).skip_schema_test_cases)
    assert skipper.skips("5", {"$id": "/a/1.0.0"}) and skipper.skips("x", {"$id": "/b/1.0.0"})
