"""The eight robustness checks (reference §4.2), checked against jsonschema-tools 1.3.0 verdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventplatform.schemas import robustness as rb
from eventplatform.schemas.formats import FORMATS, KNOWN_FORMATS
from tests.schemas.data.checks.cases import DESCRIPTIONS, load_cases, robustness_document

DATA = Path(__file__).parent / "data" / "checks"
CASES = load_cases("robustness_cases.yaml")
EXPECTED: dict[str, dict[str, str]] = json.loads((DATA / "expected_robustness.json").read_text())
BOUNDS = [-9007199254740991, 9007199254740991]


def test_names_and_descriptions_are_the_reference_ones() -> None:
    assert {c.name: c.description for c in rb.CASES} == DESCRIPTIONS
    assert len(rb.CASES) == 8


def _variants() -> list[tuple[str, dict[str, Any], bool]]:
    out = []
    for case in CASES:
        out.append((case["name"], case, False))
        if case.get("current"):
            out.append((f"{case['name']}@current.yaml", case, True))
    return out


VARIANTS = _variants()


def test_every_case_has_reference_verdicts() -> None:
    assert sorted(EXPECTED) == sorted(key for key, _, _ in VARIANTS)
    verdicts = {v for results in EXPECTED.values() for v in results.values()}
    assert verdicts == {"pass", "fail"}
    # each check fails somewhere and passes somewhere
    for name in DESCRIPTIONS:
        seen = {results[name] for results in EXPECTED.values() if name in results}
        assert seen == {"pass", "fail"}, name


@pytest.mark.parametrize(("key", "case", "current"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_declared_cases_and_verdicts_match_reference(key: str, case: dict[str, Any], current: bool) -> None:
    schema = robustness_document(case)
    expected = EXPECTED[key]
    declared = {c.name for c in rb.CASES if c.applies(schema, current, BOUNDS)}
    assert declared == set(expected)
    got = {}
    for check in rb.CASES:
        if check.name in declared:
            got[check.name] = "fail" if rb.run_case(check, schema, BOUNDS) else "pass"
    assert got == expected
    if not current:
        assert sorted(n for n, v in got.items() if v == "fail") == sorted(case["fails"])


def test_numeric_bounds_not_declared_without_bounds() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    case = next(c for c in rb.CASES if c.name == "schema-enforced-numeric-bounds")
    assert not case.applies(schema, False, None)
    assert case.applies(schema, False, BOUNDS)
    assert not case.applies(schema, True, BOUNDS)


def test_messages_point_at_the_problem() -> None:
    schema = {
        "type": "object",
        "properties": {
            "camelCase": {"type": "string", "pattern": "^a"},
            "l": {"type": "array"},
            "n": {"type": "integer", "minimum": 0},
        },
        "required": ["zz"],
    }
    assert rb.check_snake_case(schema) == ["Non snake_case: #/properties/camelCase"]
    assert rb.check_secure(schema) == [
        "/properties/camelCase: 'pattern' without 'maxLength' (slow matching of long strings)"
    ]
    assert rb.check_deterministic_types(schema) == ["array type must specify items.type: #/properties/l"]
    assert rb.check_required_exist(schema) == ["#/properties/zz is required but does not exist"]
    assert rb.check_numeric_bounds(schema, BOUNDS) == ["/properties/n: no valid maximum"]


def test_all_problems_are_reported() -> None:
    schema = {"type": "object", "properties": {"aB": {"type": "string"}, "cD": {"type": "string"}}}
    assert len(rb.check_snake_case(schema)) == 2


def test_examples_report_the_instance_location() -> None:
    schema = {
        "$id": "/x/1.0.0",
        "type": "object",
        "properties": {
            "m": {"type": "object", "properties": {"dt": {"type": "string", "format": "date-time"}}}
        },
        "examples": [{"m": {"dt": "yesterday"}}],
    }
    [problem] = rb.check_examples_valid(schema)
    assert problem.startswith("example 0 did not validate against schema: /m/dt:")


def test_unknown_format_is_a_compile_error() -> None:
    with pytest.raises(ValueError, match="unknown format 'duration'"):
        rb.compile_validator({"type": "string", "format": "duration"})
    # a property *named* format is not a format
    rb.compile_validator({"type": "object", "properties": {"format": {"type": "string"}}})


def test_non_object_documents_fail_without_crashing() -> None:
    for check in rb.CASES:
        assert rb.run_case(check, ["not", "a", "schema"], BOUNDS)


def test_js_truthiness() -> None:
    assert rb.js_truthy({}) and rb.js_truthy([]) and rb.js_truthy("0")
    assert not any(rb.js_truthy(v) for v in (None, False, 0, 0.0, "", float("nan")))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2021-01-01T00:00:00Z", True),
        ("2021-01-01T00:00:00.0Z", True),
        ("2021-01-01t00:00:00z", True),
        ("2021-01-01 00:00:00+01:00", True),
        ("2021-01-01T00:00:00+0100", True),
        ("2021-01-01T23:59:60Z", True),
        ("2021-19-39T29:59:59Z", True),  # AJV's fast mode checks only the digit shapes
        ("2021-01-01T00:00:00", False),
        ("2021-01-01", False),
        ("2021-01-01T00:00:00Z\n", False),
        ("2021-01-01T24:00:00Z", True),
        ("2021-01-01T30:00:00Z", False),
        ("\uff12\uff10\uff12\uff11-01-01T00:00:00Z", False),  # fullwidth digits are not \\d
    ],
)
def test_date_time_format(value: str, ok: bool) -> None:
    assert FORMATS["date-time"](value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("http://example.org", True),
        ("/wiki/A?b=c#d", True),
        ("", True),
        ("a#b#c", True),
        ("x:\\y", True),
        ("a b", False),
        ("\\server", False),
        ("http://x/#a\\b", False),
        ("a\u00a0b", False),
    ],
)
def test_uri_reference_format(value: str, ok: bool) -> None:
    assert FORMATS["uri-reference"](value) is ok


def test_other_formats() -> None:
    assert FORMATS["uri"]("https://json-schema.org/draft-07/schema#")
    assert not FORMATS["uri"]("/relative")
    assert FORMATS["date"]("2020-01-01") and not FORMATS["date"]("2020-1-01")
    assert FORMATS["email"]("a@b.org") and not FORMATS["email"]("a@")
    assert FORMATS["ipv4"]("10.0.0.1") and not FORMATS["ipv4"]("10.0.0.256")
    assert FORMATS["ipv6"]("::1") and not FORMATS["ipv6"]("::g")
    assert FORMATS["uuid"]("123e4567-e89b-12d3-a456-426614174000")
    assert FORMATS["regex"]("^(?<name>a)$") and not FORMATS["regex"]("a(")
    assert FORMATS["json-pointer"]("/a~1b") and not FORMATS["json-pointer"]("a")
    assert {"date-time", "uri-reference", "uri", "regex"} <= KNOWN_FORMATS
    assert "iri" not in KNOWN_FORMATS


def test_numeric_bounds_of_a_schema_that_contains_itself_end() -> None:
    from eventplatform.schemas.robustness import check_numeric_bounds, iter_subschemas
    from eventplatform.schemas.yamlio import load_yaml

    schema = load_yaml("type: object\nproperties: &p\n  a: {type: object, properties: *p}\n")
    with pytest.raises(ValueError, match=r"^schema contains itself at /properties/a/properties/a$"):
        check_numeric_bounds(schema, [-1, 1])
    # a sub-schema shared by two properties (no cycle) is visited at both places
    shared = load_yaml("properties:\n  a: &n {type: integer}\n  b: *n\n")
    assert [path for path, _ in iter_subschemas(shared)] == ["", "/properties/a", "/properties/b"]
