"""Enforced numeric bounds through json-schema-traverse's keyword set."""

from __future__ import annotations

from eventplatform.schemas.bounds import enforce_numeric_bounds

B = [-10, 10]


def test_bounds_added_where_missing_never_clamped() -> None:
    schema = {
        "type": "object",
        "properties": {
            "i": {"type": "integer"},
            "kept": {"type": "number", "minimum": -50, "maximum": 50},
            "half": {"type": "integer", "maximum": 3},
            "union": {"type": ["integer", "null"]},
            "arr": {"type": "array", "items": {"type": "integer"}},
            "tuple": {"type": "array", "items": [{"type": "number"}], "additionalItems": {"type": "integer"}},
            "map": {"type": "object", "additionalProperties": {"type": "integer"}},
            "one": {"oneOf": [{"type": "integer"}]},
            "s": {"type": "string"},
        },
        "definitions": {"d": {"type": "number"}},
        "examples": [{"type": "integer"}],
    }
    out = enforce_numeric_bounds(schema, B)
    p = out["properties"]
    assert p["i"] == {"type": "integer", "minimum": -10, "maximum": 10}
    assert p["kept"] == {"type": "number", "minimum": -50, "maximum": 50}
    assert p["half"] == {"type": "integer", "maximum": 3, "minimum": -10}
    assert p["union"] == {"type": ["integer", "null"]}
    assert p["arr"]["items"]["minimum"] == -10
    assert p["tuple"]["items"][0]["maximum"] == 10 and p["tuple"]["additionalItems"]["minimum"] == -10
    assert p["map"]["additionalProperties"]["maximum"] == 10
    assert p["one"]["oneOf"][0]["minimum"] == -10
    assert p["s"] == {"type": "string"}
    assert out["definitions"]["d"]["minimum"] == -10
    assert out["examples"] == [{"type": "integer"}]  # examples are not schemas
    assert "minimum" not in schema["properties"]["i"]  # the input is left alone
    assert enforce_numeric_bounds(schema, None) is schema
