"""Loading the hand-written check cases (shared by the tests and generate_expected.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
SCHEMA_URL = "https://json-schema.org/draft-07/schema#"

# reference test-case name -> the reference's test description
DESCRIPTIONS: dict[str, str] = {
    "schema-is-valid": "must be a valid JSONSchema",
    "schema-is-secure": "must be a secure JSONSchema",
    "schema-snake-case-properties": "properties must be snake_case",
    "schema-deterministic-types": "has deterministic types (no unions, missing array value types, etc.)",
    "schema-required-properties-exist": "all required properties must exist",
    "schema-examples-$schema-matches-schema-$id": "examples must have $schema == schema's $id",
    "schema-examples-are-valid": "examples must validate against schema",
    "schema-enforced-numeric-bounds": (
        "should have minimum and maximum values inside the configured bounds for all numeric fields"
    ),
}


def _js_numbers(value: Any) -> Any:
    """Integers beyond 2^53 become doubles, as in js-yaml."""
    if isinstance(value, dict):
        return {k: _js_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_js_numbers(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return float(value)
    return value


def load_cases(name: str) -> list[dict[str, Any]]:
    return _js_numbers(yaml.safe_load((HERE / name).read_text()))


def _replace_id(value: Any, schema_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace_id(v, schema_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_id(v, schema_id) for v in value]
    return schema_id if value == "@ID" else value


def _document(body: dict[str, Any], title: str, version: str) -> dict[str, Any]:
    schema_id = f"/{title}/{version}"
    document = {"title": title, "$id": schema_id, "$schema": SCHEMA_URL}
    document.update(copy.deepcopy(body))
    return _replace_id(document, schema_id)


def compat_documents(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    title = f"compat/{case['name']}"
    return _document(case["old"], title, "1.0.0"), _document(case["new"], title, "1.1.0")


def robustness_document(case: dict[str, Any]) -> dict[str, Any]:
    return _document(case["schema"], f"rob/{case['name']}", "1.0.0")
