"""Schema defaults and integral numbers: the one implementation (intake.defaults) the pipeline uses.

Ported from the tests of ``CompiledSchema.apply_defaults``/``normalize_numbers`` (removed from the schema
registry: intake never called them)."""

from __future__ import annotations

import yaml

from eventplatform.intake.defaults import SchemaFill, normalize_integer, set_default

SCHEMA = yaml.safe_load(
    """
type: object
properties:
  "on": {type: string, default: "yes"}   # YAML 1.1 would make this key True; ours stays a string
  tags: {type: array, default: [], items: {type: string}}
  count: {type: integer}
  ratio: {type: number}
  page:
    type: object
    properties:
      id: {type: [integer, "null"]}
      lang: {type: string, default: en}
"""
)


def test_defaults_fill_absent_fields_only() -> None:
    fill = SchemaFill(SCHEMA)
    event = {"page": {}, "count": 1}
    fill.apply(event)
    assert event == {"on": "yes", "tags": [], "count": 1, "page": {"lang": "en"}}
    kept = {"on": "no", "tags": ["a"], "page": {"lang": "de"}}
    fill.apply(kept)
    assert kept == {"on": "no", "tags": ["a"], "page": {"lang": "de"}}


def test_defaults_do_not_create_parents_and_are_copies() -> None:
    fill = SchemaFill(SCHEMA)
    one: dict = {}
    two: dict = {}
    fill.apply(one)
    fill.apply(two)
    assert "page" not in one  # a nested default needs its parent object
    one["tags"].append("x")
    assert two["tags"] == []  # each event gets its own list


def test_integral_floats_of_integer_fields_become_ints() -> None:
    fill = SchemaFill(SCHEMA)
    event = {"count": 2.0, "ratio": 2.0, "page": {"id": -3.0}}
    fill.apply(event)
    assert event["count"] == 2 and type(event["count"]) is int
    assert type(event["page"]["id"]) is int
    assert type(event["ratio"]) is float  # a number field keeps its float
    big = {"count": 1e300, "page": {"id": 2.5}}
    fill.apply(big)
    assert big["count"] == 1e300 and type(big["count"]) is float  # beyond 64 bits: left as it is
    assert big["page"] == {"id": 2.5, "lang": "en"}


def test_path_helpers() -> None:
    event: dict = {"a": 1}
    set_default(event, ("x", "y"), 1, True)
    set_default(event, ("x", "y"), 2, True)
    set_default(event, ("a", "b"), 3, True)  # not an object: left alone
    assert event == {"a": 1, "x": {"y": 1}}
    normalize_integer(event, ("x", "y"))
    normalize_integer(event, ("missing", "y"))
    assert event == {"a": 1, "x": {"y": 1}}
