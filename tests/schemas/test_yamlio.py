"""YAML 1.2-like loading and js-yaml 3.14-compatible dumping (outputs checked against js-yaml behaviour)."""

from __future__ import annotations

import pytest

from eventplatform.schemas.tool_errors import SchemaToolError
from eventplatform.schemas.yamldump import collation_key, dump_json, dump_yaml, schema_key_sort_key
from eventplatform.schemas.yamlio import js_number_to_string, load_yaml


def test_only_true_false_are_booleans() -> None:
    data = load_yaml("a: yes\nb: no\nc: on\nd: off\ne: y\nf: true\ng: False\nyes: 1\n'on': 2\nh: TRUE\n")
    assert data == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": "off",
        "e": "y",
        "f": True,
        "g": False,
        "yes": 1,
        "on": 2,
        "h": True,
    }
    assert type(data["yes"]) is int


def test_numbers_like_javascript() -> None:
    data = load_yaml(
        "big: 18446744073709551615\nsafe: 9007199254740991\nf: 1.5\ne: 1e3\nhex: 0x1F\noct: 010\n"
        "n: ~\nu: 1_000\n"
    )
    assert data["big"] == 1.8446744073709552e19 and isinstance(data["big"], float)
    assert data["safe"] == 9007199254740991 and isinstance(data["safe"], int)
    assert data["f"] == 1.5 and data["e"] == 1000.0 and data["hex"] == 31 and data["oct"] == 8
    assert data["n"] is None and data["u"] == 1000
    assert dump_yaml({"big": data["big"]}) == "big: 18446744073709552000\n"


def test_anchors_and_merge_keys_load() -> None:
    data = load_yaml("a: &x {k: 1}\nb: *x\nc:\n  <<: *x\n  z: 2\n")
    assert data["a"] is data["b"]
    assert data["c"] == {"k": 1, "z": 2}


@pytest.mark.parametrize("text", ["a: [1\n", "a: 1\na: 2\n", "a: *nope\n", "---\na: 1\n---\nb: 2\n"])
def test_bad_yaml_is_one_line_error(text: str) -> None:
    with pytest.raises(SchemaToolError) as err:
        load_yaml(text, "x.yaml")
    assert err.value.file == "x.yaml"
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, "1"),
        (1.0, "1"),
        (0.1, "0.1"),
        (1e-7, "1e-7"),
        (1e21, "1e+21"),
        (1e16, "10000000000000000"),
        (123456789012.5, "123456789012.5"),
        (-0.7, "-0.7"),
        (1 / 3, "0.3333333333333333"),
        (2767011611056432640.0, "2767011611056432600"),
        (0.000001, "0.000001"),
    ],
)
def test_js_number_to_string(value: float, expected: str) -> None:
    assert js_number_to_string(value) == expected


def test_yaml_number_quirks() -> None:
    assert (
        dump_yaml([1e-7, -0.0, 1e21, 5e-324, float("inf")]) == "- 1.e-7\n- -0.0\n- 1e+21\n- 5.e-324\n- .inf\n"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "''"),
        ("yes", "'yes'"),
        ("Off", "'Off'"),
        ("null", "'null'"),
        ("~", "'~'"),
        ("1", "'1'"),
        ("0x1F", "'0x1F'"),
        ("1e5", "'1e5'"),
        ("1:20", "'1:20'"),
        ("2020-06-11", "'2020-06-11'"),
        ("2020-06-11T19:20:00.649Z", "'2020-06-11T19:20:00.649Z'"),
        ("<<", "'<<'"),
        ("UTC event datetime, in ISO-8601 format", "'UTC event datetime, in ISO-8601 format'"),
        ("https://json-schema.org/draft-07/schema#", "'https://json-schema.org/draft-07/schema#'"),
        ("a #b", "'a #b'"),
        ("a#b", "a#b"),
        ("a=b", "a=b"),
        ("a@b", "a@b"),
        ("=a", "'=a'"),
        ("it's: x", "'it''s: x'"),
        (" x", "' x'"),
        ("x ", "'x '"),
        ("-x", "'-x'"),
        ("a\tb", '"a\\tb"'),
        ("smile \U0001f600", '"smile \\U0001F600"'),
        ("caf\u00e9", "caf\u00e9"),
        ("bell\u0007", '"bell\\a"'),
        ("x\u007f", '"x\\x7F"'),
    ],
)
def test_scalar_styles(value: str, expected: str) -> None:
    assert dump_yaml({"k": value}) == f"k: {expected}\n"


def test_block_scalars() -> None:
    assert dump_yaml({"k": "a\nb"}) == "k: |-\n  a\n  b\n"
    assert dump_yaml({"k": "a\nb\n"}) == "k: |\n  a\n  b\n"
    assert dump_yaml({"k": "a\n\n"}) == "k: |+\n  a\n\n"
    assert dump_yaml({"k": "  x\ny"}) == "k: |2-\n    x\n  y\n"
    long = "word " * 20 + "end"
    assert dump_yaml({"k": long}) == (
        "k: >-\n  word word word word word word word word word word word word word word word\n"
        "  word word word word word end\n"
    )
    nested = dump_yaml({"a": {"b": {"c": long}}})
    assert nested.splitlines()[2] == "    c: >-"
    assert max(len(line) for line in nested.splitlines()) <= 80


def test_key_order_fixed_keys_then_icu_collation() -> None:
    keys = [
        "zeta",
        "examples",
        "properties",
        "type",
        "title",
        "$id",
        "$schema",
        "description",
        "required",
        "allOf",
        "additionalProperties",
        "aa",
        "Alpha",
        "banner_count",
        "bannerCanceledReason",
        "a_b",
        "a-b",
        "a1",
        "10",
        "9",
        "$a",
        "a b",
        "B",
        "b",
    ]
    ordered = sorted(keys, key=schema_key_sort_key)
    assert ordered[:10] == [
        "title",
        "description",
        "$id",
        "$schema",
        "type",
        "additionalProperties",
        "required",
        "properties",
        "allOf",
        "examples",
    ]
    rest = ordered[10:]
    assert rest.index("aa") < rest.index("Alpha")
    assert rest.index("banner_count") < rest.index("bannerCanceledReason")
    assert rest.index("a b") < rest.index("a_b") < rest.index("a-b") < rest.index("a1")
    assert rest.index("$a") < rest.index("10") < rest.index("9") < rest.index("a b")
    assert rest.index("b") < rest.index("B") < rest.index("zeta")
    assert collation_key("\u00e9t\u00e9") > collation_key("ete")


def test_anchors_for_shared_objects() -> None:
    shared = {"id": "x"}
    doc = {"examples": [{"a": shared, "b": shared, "c": [shared]}]}
    assert dump_yaml(doc) == "examples:\n  - a: &ref_0\n      id: x\n    b: *ref_0\n    c:\n      - *ref_0\n"


def test_empty_containers_and_nesting() -> None:
    assert dump_yaml({"a": {}, "b": [], "c": [[1, [2]], {"x": None}]}) == (
        "a: {}\nb: []\nc:\n  - - 1\n    - - 2\n  - x: null\n"
    )


def test_json_like_json_stable_stringify() -> None:
    assert dump_json({"b": 1, "title": "t", "a": [1, {}], "c": []}) == (
        '{\n  "title": "t",\n  "a": [\n    1,\n    {\n    }\n  ],\n  "b": 1,\n  "c": [\n  ]\n}'
    )


def test_dumper_matches_js_yaml_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """~850 random documents dumped by js-yaml 3.14 itself (data/generate_yaml_corpus.py, sortKeys: true)."""
    import json
    from pathlib import Path

    import eventplatform.schemas.yamldump as yio

    corpus = json.loads((Path(__file__).parent / "data" / "yaml_corpus.json").read_text())
    monkeypatch.setattr(yio, "schema_key_sort_key", lambda k: (0, k.encode("utf-16-be")))
    monkeypatch.setattr(yio, "_sort_key_cache", {})
    mismatches = [c["output"] for c in corpus if yio.dump_yaml(c["input"]) != c["output"]]
    assert len(corpus) > 800
    assert mismatches == []


@pytest.mark.parametrize("prefix", ["", "!!map "])  # the fast loader and the PyYAML fallback
def test_mapping_keys_become_strings_like_js_yaml(prefix: str) -> None:
    doc = "{1: a, true: b, ~: c, 1.5: d, 0x1A: e, 1e3: f, 2001-01-01: g}"
    assert load_yaml(prefix + doc) == {
        "1": "a",
        "true": "b",
        "null": "c",
        "1.5": "d",
        "26": "e",
        "1000": "f",
        "Mon Jan 01 2001 00:00:00 GMT+0000 (Coordinated Universal Time)": "g",
    }
    # 1 and true were one Python key; as strings they differ, and "1" / 1.0 are one key again
    with pytest.raises(SchemaToolError, match="duplicated mapping key '1'"):
        load_yaml(prefix + "{1: a, 1.0: b}")
    assert dump_yaml(load_yaml("properties:\n  1: {type: string}\n")) == (
        "properties:\n  '1':\n    type: string\n"
    )
