"""The readable schema diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eventplatform.schemas.diff import diff_schemas, render, unified_diff


def _schema(version: str, **props: Any) -> dict[str, Any]:
    return {
        "title": "t",
        "$id": f"/t/{version}",
        "type": "object",
        "required": ["a"],
        "properties": props,
    }


def test_additions_changes_and_removals_by_pointer() -> None:
    old = _schema("1.0.0", a={"type": "string"}, b={"type": "integer"})
    new = _schema("1.1.0", a={"type": "string", "description": "now documented"}, c={"type": "boolean"})
    d = diff_schemas(old, new, "t 1.0.0", "t 1.1.0", old_version="1.0.0")
    ops = {(c.op, c.pointer) for c in d.changes}
    assert ops == {
        ("changed", "/$id"),
        ("added", "/properties/a/description"),
        ("removed", "/properties/b"),
        ("added", "/properties/c"),
    }
    breaking = [c.pointer for c in d.changes if c.breaking]
    assert breaking == ["/properties/b"]
    assert not d.compatible and d.bump == "major"
    text = d.text()
    assert text.splitlines()[:2] == ["--- t 1.0.0", "+++ t 1.1.0"]
    assert '- /properties/b: {"type":"integer"}  [breaking]' in text
    assert '+ /properties/c: {"type":"boolean"}' in text
    assert '~ /$id: "/t/1.0.0" -> "/t/1.1.0"' in text
    assert "NOT compatible (1 breaking change)" in text and "2.0.0" in text


def test_required_and_enum_diff_as_sets() -> None:
    old = _schema("1.0.0", a={"type": "string", "enum": ["x", "y"]}, b={"type": "string"})
    new = {**_schema("1.1.0", a={"type": "string", "enum": ["y", "x", "z"]}, b={"type": "string"})}
    new["required"] = ["b", "a"]
    d = diff_schemas(old, new, old_version="1.0.0")
    assert [(c.op, c.pointer, c.new, c.breaking) for c in d.changes] == [
        ("changed", "/$id", "/t/1.1.0", False),
        ("added", "/required/-", "b", True),
        ("added", "/properties/a/enum/-", "z", False),
    ]
    assert "became required: b" in d.text()


def test_compatible_diff_suggests_minor() -> None:
    old = _schema("1.0.0", a={"type": "string"})
    new = _schema("1.1.0", a={"type": "string"}, b={"type": "string"})
    d = diff_schemas(old, new, old_version="1.0.0")
    assert d.compatible and d.bump == "minor"
    assert d.text().endswith("compatible; a minor bump is enough (1.1.0)")
    assert d.to_dict()["changes"][-1] == {
        "op": "added",
        "pointer": "/properties/b",
        "old": None,
        "new": {"type": "string"},
        "breaking": False,
    }


def test_identical_documents() -> None:
    s = _schema("1.0.0", a={"type": "string"})
    d = diff_schemas(s, s)
    assert d.changes == [] and d.text().endswith("no differences")


def test_examples_of_different_length_are_one_change() -> None:
    old = {**_schema("1.0.0", a={"type": "string"}), "examples": [{"a": "x"}]}
    new = {**_schema("1.0.1", a={"type": "string"}), "examples": [{"a": "x"}, {"a": "y"}]}
    d = diff_schemas(old, new)
    assert [(c.op, c.pointer) for c in d.changes] == [("changed", "/$id"), ("changed", "/examples")]
    assert d.bump == "patch"


def test_list_items_added_and_removed() -> None:
    d = diff_schemas({"type": ["string", "null"]}, {"type": ["string"]})
    assert [(c.op, c.pointer, c.breaking) for c in d.changes] == [("removed", "/type/1", True)]


def test_render_truncates() -> None:
    assert render({"a": "x" * 500}).endswith("…")
    assert len(render(list(range(1000)), limit=50)) == 50


def test_unified_diff() -> None:
    text = unified_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "1.0.0.yaml", "1.1.0.yaml")
    assert "--- 1.0.0.yaml" in text and "-b: 2" in text and "+b: 3" in text


def test_diff_json_of_a_schema_with_an_alias_cycle_is_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from eventplatform.schemas.cli import schema

    (tmp_path / "old.yaml").write_text("title: t\n$id: /t/1.0.0\nx: &a [*a]\n")
    (tmp_path / "new.yaml").write_text("title: t\n$id: /t/1.0.1\n")
    old, new = str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")
    result = CliRunner().invoke(schema, ["diff", "--format", "json", old, new])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"error: {old} {new}: /: cannot write as JSON: Recursion limit reached\n"
