"""Compatibility rules (reference §3), checked against verdicts recorded from jsonschema-tools 1.3.0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventplatform.schemas.compat import (
    check_compatible,
    classify_change,
    compare,
    next_version,
)
from tests.schemas.data.checks.cases import compat_documents, load_cases

DATA = Path(__file__).parent / "data" / "checks"
CASES = load_cases("compat_cases.yaml")
EXPECTED: dict[str, str] = json.loads((DATA / "expected_compat.json").read_text())


def test_every_case_has_a_reference_verdict() -> None:
    assert sorted(EXPECTED) == sorted(c["name"] for c in CASES)
    assert {"pass", "fail"} == set(EXPECTED.values())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_verdict_matches_reference_and_names_the_pointers(case: dict[str, Any]) -> None:
    old, new = compat_documents(case)
    result = compare(f"compat/{case['name']}", "1.0.0", old, "1.1.0", new)
    assert ("pass" if result.compatible else "fail") == EXPECTED[case["name"]]
    assert [f.pointer for f in result.findings] == case["pointers"]
    assert all(f.bump == "major" for f in result.findings)
    assert result.suggested_bump == ("major" if result.findings else result.suggested_bump)
    if not result.compatible:
        assert result.suggested_bump == "major"


def _props(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def test_messages_say_what_changed() -> None:
    old = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
    }
    new = {"type": "object", "required": ["a", "c"], "properties": {"a": {"type": "integer"}}}
    by_pointer = {f.pointer: f for f in check_compatible(new, old)}
    assert by_pointer["/required"].kind == "required_changed"
    assert "became required: c" in by_pointer["/required"].message
    assert by_pointer["/properties/a/type"].kind == "value_changed"
    assert "'string'" in by_pointer["/properties/a/type"].message
    assert "'integer'" in by_pointer["/properties/a/type"].message
    assert by_pointer["/properties/b"].kind == "removed"
    assert by_pointer["/properties/b"].message == "property 'b' was removed"
    assert by_pointer["/properties/b"].old == {"type": "integer"}


def test_enum_messages_list_the_removed_values() -> None:
    old = _props(e={"type": "string", "enum": ["x", "y", "z"]})
    new = _props(e={"type": "string", "enum": ["x"]})
    [finding] = check_compatible(new, old)
    assert finding.kind == "enum_narrowed"
    assert "'y'" in finding.message and "'z'" in finding.message


def test_pointer_escapes_slash_and_tilde() -> None:
    old = _props(**{"a/b": {"type": "string"}, "c~d": {"type": "string"}})
    new = _props()
    assert [f.pointer for f in check_compatible(new, old)] == ["/properties/a~1b", "/properties/c~0d"]


def test_summary_names_title_versions_pointer_and_bump() -> None:
    result = compare("my/schema", "1.2.0", _props(a={"type": "string"}), "1.3.0", _props())
    text = result.summary()
    assert "my/schema" in text and "1.3.0" in text and "1.2.0" in text
    assert "/properties/a" in text
    assert "2.0.0" in text  # the major bump it suggests
    assert result.to_dict()["findings"][0]["pointer"] == "/properties/a"


def test_js_scalar_semantics() -> None:
    assert check_compatible({"default": 1.0}, {"default": 1}) == []
    assert [f.kind for f in check_compatible({"default": 1}, {"default": True})] == ["type_changed"]
    assert [f.kind for f in check_compatible({"default": "1"}, {"default": 1})] == ["type_changed"]
    assert check_compatible({"default": float("nan")}, {"default": float("nan")})  # NaN !== NaN


def test_null_is_decided_not_crashed() -> None:
    # the reference crashes on a null in the old document; equal nulls are compatible here
    assert check_compatible({"default": None}, {"default": None}) == []
    assert [f.kind for f in check_compatible({"default": {}}, {"default": None})] == ["type_changed"]
    assert [f.kind for f in check_compatible({"default": None}, {"default": {}})] == ["type_changed"]


def test_property_named_like_a_keyword() -> None:
    # `required`/`enum` whose value is a schema (a property of that name) is walked like any key
    old = _props(required={"type": "boolean"}, enum={"type": "string"})
    assert check_compatible(old, old) == []
    new = _props(required={"type": "string"}, enum={"type": "string"})
    assert [f.pointer for f in check_compatible(new, old)] == ["/properties/required/type"]


def test_keys_only_in_new_are_never_checked() -> None:
    old = _props(a={"type": "string"})
    new = {**_props(a={"type": "string", "minLength": 5, "enum": ["x"]}), "required": ["a"]}
    assert check_compatible(new, old) == []


def test_all_findings_are_reported_not_just_the_first() -> None:
    old = _props(a={"type": "string"}, b={"type": "string"}, c={"type": "string"})
    new = _props(a={"type": "integer"}, b={"type": "integer"})
    assert len(check_compatible(new, old)) == 3


@pytest.mark.parametrize(
    ("old", "new", "bump"),
    [
        (_props(a={"type": "string"}), _props(a={"type": "string"}), "none"),
        (_props(a={"type": "string"}), _props(a={"type": "string", "description": "x"}), "patch"),
        ({**_props(a={"type": "string"}), "examples": [{}]}, _props(a={"type": "string"}), "patch"),
        (
            {**_props(a={"type": "string"}, b={"type": "string"}), "required": ["a", "b"]},
            {**_props(a={"type": "string"}, b={"type": "string"}), "required": ["b", "a"]},
            "patch",  # same meaning, different bytes
        ),
        (_props(a={"type": "string"}), _props(a={"type": "string"}, b={"type": "string"}), "minor"),
        (
            _props(a={"type": "string", "enum": ["x"]}),
            _props(a={"type": "string", "enum": ["x", "y"]}),
            "minor",
        ),
        # a quirk of the rules lets a property named `description` go; the bump still counts it
        (_props(a={"type": "string"}, description={"type": "string"}), _props(a={"type": "string"}), "minor"),
        (_props(a={"type": "string"}), _props(a={"type": "integer"}), "major"),
    ],
)
def test_classify_change(old: dict[str, Any], new: dict[str, Any], bump: str) -> None:
    assert classify_change(new, old) == bump


def test_next_version() -> None:
    assert next_version("1.2.3", "major") == "2.0.0"
    assert next_version("1.2.3", "minor") == "1.3.0"
    assert next_version("1.2.3", "patch") == "1.2.4"
    assert next_version("0.0.1", "none") == "0.0.1"
