"""allOf merging rules of json-schema-merge-allof 0.6.0 as jsonschema-tools uses them."""

from __future__ import annotations

from typing import Any

import pytest

from eventplatform.schemas.merge import MergeError, merge_all_of, schema_equal


def merged(schema: dict[str, Any]) -> dict[str, Any]:
    return merge_all_of(schema)


def test_first_wins_and_root_keeps_position() -> None:
    out = merged({"title": "root", "allOf": [{"title": "frag", "description": "d"}, {"description": "e"}]})
    assert out == {"title": "root", "description": "d"}
    assert list(out) == ["title", "description"]


def test_required_union_sorted_by_code_unit_single_list_unchanged() -> None:
    out = merged({"required": ["b", "aa"], "allOf": [{"required": ["Alpha", "b"]}]})
    assert out["required"] == ["Alpha", "aa", "b"]
    assert merged({"required": ["z", "a"]})["required"] == ["z", "a"]
    # equal as sets -> one value -> copied unchanged (first one)
    assert merged({"required": ["z", "a"], "allOf": [{"required": ["a", "z"]}]})["required"] == ["z", "a"]


def test_enum_intersection_sorted_and_empty_is_error() -> None:
    assert merged({"enum": ["c", "b", "a"], "allOf": [{"enum": ["a", "c", "x"]}]})["enum"] == ["a", "c"]
    with pytest.raises(MergeError):
        merged({"enum": ["a"], "allOf": [{"enum": ["b"]}]})


def test_type_rules() -> None:
    assert merged({"type": "string", "allOf": [{"type": ["string"]}]})["type"] == "string"
    assert merged({"type": ["string", "null"], "allOf": [{"type": ["null", "string", "integer"]}]})[
        "type"
    ] == [
        "string",
        "null",
    ]
    assert merged({"type": ["string", "null"], "allOf": [{"type": "string"}]})["type"] == "string"
    with pytest.raises(MergeError) as err:
        merged(
            {"properties": {"x": {"type": "string"}}, "allOf": [{"properties": {"x": {"type": "integer"}}}]}
        )
    assert err.value.pointer == "/properties/x/type"


def test_numeric_and_misc_resolvers() -> None:
    out = merged(
        {
            "minimum": 1,
            "maximum": 10,
            "minLength": 2,
            "maxItems": 4,
            "multipleOf": 4,
            "uniqueItems": False,
            "allOf": [
                {
                    "minimum": 3,
                    "maximum": 20,
                    "minLength": 1,
                    "maxItems": 3,
                    "multipleOf": 6,
                    "uniqueItems": True,
                }
            ],
        }
    )
    assert (out["minimum"], out["maximum"], out["minLength"], out["maxItems"]) == (3, 10, 2, 3)
    assert out["multipleOf"] == 12 and out["uniqueItems"] is True


def test_pattern_kept_in_allof_and_not_becomes_anyof() -> None:
    out = merged({"pattern": "^a", "allOf": [{"pattern": "^b"}, {"not": {"type": "string"}}]})
    assert out["allOf"] == [{"pattern": "^a"}, {"pattern": "^b"}]
    assert "pattern" not in out
    assert out["not"] == {"anyOf": [{"type": "string"}]}


@pytest.mark.parametrize("key", ["format", "const", "contentMediaType", "typoKeyword"])
def test_no_resolver_is_an_error_only_when_values_differ(key: str) -> None:
    assert merged({key: "a", "allOf": [{key: "a"}]})[key] == "a"
    with pytest.raises(MergeError) as err:
        merged({key: "a", "allOf": [{key: "b"}]})
    assert f"No resolver found for key {key}" in str(err.value)


def test_properties_group() -> None:
    out = merged(
        {
            "properties": {"a": {"type": "string"}},
            "allOf": [
                {"additionalProperties": False, "properties": {"a": {"maxLength": 3}, "b": {}}},
                {"properties": {}, "additionalProperties": True},
            ],
        }
    )
    assert out["additionalProperties"] is False
    assert out["properties"] == {"a": {"type": "string", "maxLength": 3}, "b": {}}
    assert "properties" not in merged({"allOf": [{"properties": {}}]})  # an empty group is dropped...
    assert merged({"properties": {}, "allOf": [{}]}) == {"properties": {}}  # ...but root keys are kept
    maps = merged(
        {"additionalProperties": {"type": "string"}, "allOf": [{"additionalProperties": {"maxLength": 2}}]}
    )
    assert maps["additionalProperties"] == {"type": "string", "maxLength": 2}


def test_nested_allof_and_items() -> None:
    out = merged(
        {
            "properties": {"x": {"allOf": [{"type": "string"}, {"allOf": [{"minLength": 1}]}]}},
            "items": {"type": "integer"},
            "allOf": [{"items": {"maximum": 3}}],
        }
    )
    assert out["properties"]["x"] == {"type": "string", "minLength": 1}
    assert out["items"] == {"type": "integer", "maximum": 3}


def test_compare_semantics() -> None:
    assert schema_equal({"required": ["a", "b"]}, {"required": ["b", "a"]})
    assert schema_equal({"type": "x"}, {"type": ["x"]})
    assert schema_equal({"minLength": 0}, {})
    assert schema_equal({"uniqueItems": False}, {})
    assert not schema_equal({"description": "a"}, {"description": "b"})
    assert not schema_equal({"const": True}, {"const": 1})


def test_matches_json_schema_merge_allof_corpus() -> None:
    """700 random schemas merged by json-schema-merge-allof 0.6.0 itself (data/generate_merge_corpus.py)."""
    import copy
    import json
    from pathlib import Path

    from eventplatform.schemas.merge import deep_equal

    corpus = json.loads((Path(__file__).parent / "data" / "merge_corpus.json").read_text())
    mismatches = []
    for case in corpus:
        try:
            mine: Any = merge_all_of(copy.deepcopy(case["input"]))
        except MergeError:
            mine = "error"
        expected = case["output"].get("ok", "error")
        if not deep_equal(mine, expected):
            mismatches.append(case["input"])
    assert len(corpus) == 700
    assert mismatches == []
