"""The eight robustness checks of the repository tests (reference §4.2), one function each.

Names and descriptions are the reference's, so ``skipSchemaTestCases`` entries written for
jsonschema-tools keep working. Each check returns a list of problems (empty = pass) and reports *all* of
them, where the reference stops at the first. The checks follow the reference's JavaScript semantics
(truthiness, strict equality, which keywords a walk descends into) rather than the JSON Schema spec, so a
repository gets the same verdicts from both tools.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eventplatform.schemas.compat import js_strict_equal, js_type

Problems = list[str]


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: every object and array is truthy, ``0``, ``""``, ``null`` and NaN are not."""
    if value is None or value is False:
        return False
    if isinstance(value, dict | list):
        return True
    if isinstance(value, int | float):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True


def _esc(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# --- schema-is-valid


@lru_cache(maxsize=1)
def _meta_validator() -> Any:
    import jsonschema_rs

    from eventplatform.schemas.formats import FORMATS

    return jsonschema_rs.Draft7Validator(
        {"$ref": "http://json-schema.org/draft-07/schema#"},
        formats=FORMATS,
        validate_formats=True,
        offline=True,
    )


def _error_location(error: Any) -> str:
    return "".join("/" + _esc(str(t)) for t in error.instance_path) or "/"


def check_valid(schema: Any) -> Problems:
    """Valid against the draft-07 meta-schema (unknown keywords and typos pass, as in AJV)."""
    validator = _meta_validator()
    if validator.is_valid(schema):
        return []
    return [f"{_error_location(e)}: {e.message}" for e in validator.iter_errors(schema)]


# --- schema-is-secure

_SCHEMA_MAP_KEYWORDS = ("definitions", "patternProperties", "properties")
_SCHEMA_KEYWORDS = (
    "additionalItems",
    "additionalProperties",
    "if",
    "then",
    "else",
    "not",
    "contains",
    "propertyNames",
)
_SCHEMA_ARRAY_KEYWORDS = ("allOf", "anyOf", "oneOf")
_OBJECT_OR_ARRAY = ("object", "array")


def _walk(walker: Callable[[Any, str, Problems], None], schema: Any) -> Problems:
    """Run a recursive check from the root and return what it found."""
    out: Problems = []
    walker(schema, "", out)
    return out


def _items_type_is_structured(items: Any) -> bool:
    """The `if` of AJV's uniqueItems rule: true unless items is an object whose `type` is a scalar type."""
    if not isinstance(items, dict) or "type" not in items:
        return True
    item_type = items["type"]
    if isinstance(item_type, list):
        return any(isinstance(t, str) and t in _OBJECT_OR_ARRAY for t in item_type)
    return isinstance(item_type, str) and item_type in _OBJECT_OR_ARRAY


def _secure(node: Any, path: str, out: Problems) -> None:
    if not isinstance(node, dict):
        return  # boolean schemas and non-objects pass the meta-schema
    for keyword in ("pattern", "format"):
        if keyword in node and "maxLength" not in node:
            out.append(f"{path or '/'}: '{keyword}' without 'maxLength' (slow matching of long strings)")
    if "patternProperties" in node:
        names = node.get("propertyNames")
        if "propertyNames" not in node:
            out.append(f"{path or '/'}: 'patternProperties' without 'propertyNames' with 'maxLength'")
        elif isinstance(names, dict) and "maxLength" not in names:
            out.append(f"{path}/propertyNames: needs 'maxLength' because of 'patternProperties'")
    if (
        "uniqueItems" in node
        and node["uniqueItems"] is True
        and _items_type_is_structured(node.get("items"))
        and "maxItems" not in node
    ):
        out.append(f"{path or '/'}: 'uniqueItems' over objects or arrays without 'maxItems'")
    for keyword in _SCHEMA_KEYWORDS:
        if keyword in node:
            _secure(node[keyword], f"{path}/{keyword}", out)
    items = node.get("items")
    if isinstance(items, dict):
        _secure(items, f"{path}/items", out)
    # An array of item schemas passes AJV's `anyOf: [{$ref: '#'}, schemaArray]` through its first branch,
    # which does nothing on an array: tuple members are never checked, here neither.
    for keyword in _SCHEMA_MAP_KEYWORDS:
        members = node.get(keyword)
        if isinstance(members, dict):
            for name, sub in members.items():
                _secure(sub, f"{path}/{keyword}/{_esc(name)}", out)
    dependencies = node.get("dependencies")
    if isinstance(dependencies, dict):
        for name, sub in dependencies.items():
            if isinstance(sub, dict):
                _secure(sub, f"{path}/dependencies/{_esc(name)}", out)
    for keyword in _SCHEMA_ARRAY_KEYWORDS:
        if keyword not in node:
            continue
        members = node[keyword]
        if not isinstance(members, list) or not members:
            out.append(f"{path}/{keyword}: must be a non-empty array of schemas")
            continue
        for index, sub in enumerate(members):
            _secure(sub, f"{path}/{keyword}/{index}", out)


def check_secure(schema: Any) -> Problems:
    """AJV's security meta-schema: bounded pattern/format strings, property names and unique items."""
    return _walk(_secure, schema)


# --- schema-snake-case-properties

_SNAKE = re.compile(r"[$a-z]+[a-z0-9_]*\Z")


def _snake(node: Any, path: str, out: Problems) -> None:
    if node is None:
        out.append(f"#{path}: null where a schema was expected")
        return
    if not isinstance(node, dict):
        return
    all_of = node.get("allOf")
    if js_truthy(all_of) and isinstance(all_of, list):
        for sub in all_of:
            _snake(sub, path, out)
    properties = node.get("properties")
    if js_truthy(properties) and isinstance(properties, dict):
        for name, sub in properties.items():
            sub_path = f"{path}/properties/{name}"
            if not _SNAKE.match(name):
                out.append(f"Non snake_case: #{sub_path}")
            _snake(sub, sub_path, out)


def check_snake_case(schema: Any) -> Problems:
    """Property names match ``^[$a-z]+[a-z0-9_]*$``; only ``properties`` and ``allOf`` are descended."""
    return _walk(_snake, schema)


# --- schema-deterministic-types


def _deterministic(node: Any, path: str, out: Problems) -> None:
    if node is None:
        out.append(f"#{path}: null where a schema was expected")
        return
    if not isinstance(node, dict):
        return  # `true` (e.g. additionalProperties: true) has nothing to check
    node_type = node.get("type")
    if isinstance(node_type, list):
        out.append(f"Polymorphic type property at #{path}")
    if node_type == "array":
        items = node.get("items")
        if not js_truthy(items) or not isinstance(items, dict) or not js_truthy(items.get("type")):
            out.append(f"array type must specify items.type: #{path}")
        else:
            _deterministic(items, f"{path}/items", out)
    if node_type == "object":
        additional = node.get("additionalProperties")
        has_schema = any(js_truthy(node.get(k)) for k in ("properties", "oneOf", "allOf"))
        if not has_schema and not js_truthy(additional):
            out.append(f"object type must specify properties or additionalProperties: #{path}")
        if js_truthy(additional):
            _deterministic(additional, f"{path}/additionalProperties", out)
    enum = node.get("enum")
    if isinstance(enum, list) and any(v is None for v in enum):
        out.append(f"enum type must not have a null enum: #{path}")
    properties = node.get("properties")
    if js_truthy(properties) and isinstance(properties, dict):
        for name, sub in properties.items():
            sub_path = f"{path}/properties/{name}"
            if not isinstance(sub, dict) or not js_truthy(sub.get("type")):
                out.append(f"Missing type at #{sub_path}")
                continue
            _deterministic(sub, sub_path, out)
    all_of = node.get("allOf")
    if js_truthy(all_of) and isinstance(all_of, list):
        for sub in all_of:
            _deterministic(sub, path, out)
    one_of = node.get("oneOf")
    if isinstance(one_of, list) and one_of:
        _one_of(one_of, path, out)


def _one_of(branches: list[Any], path: str, out: Problems) -> None:
    def type_of(branch: Any) -> Any:
        return branch.get("type") if isinstance(branch, dict) else None

    first = type_of(branches[0])
    same = all(
        b is branches[0]
        or (js_type(first) != "object" and js_strict_equal(type_of(b), first))
        or (first is None and type_of(b) is None)
        for b in branches
    )
    if not same:
        out.append(f"oneOf contains schemas with different types at #{path}")
        return
    if first == "object":
        shape = branches[0].get("required") or []
        for branch in branches:
            required = branch.get("required")
            if not isinstance(required, list):
                out.append(f"oneOf object branch without a required list at #{path}")
                return
            if set(map(str, shape)) != set(map(str, required)):
                out.append(f"oneOf contains schemas with different types at #{path}")
                return
    for branch in branches:
        _deterministic(branch, path, out)


def check_deterministic_types(schema: Any) -> Problems:
    """No unions, typed properties and array items, objects with a shape, no null in enums."""
    return _walk(_deterministic, schema)


# --- schema-required-properties-exist


def _required(node: Any, path: str, out: Problems) -> None:
    if not isinstance(node, dict):
        if node is None:
            out.append(f"#{path}: null where a schema was expected")
        return
    required = node.get("required")
    properties = node.get("properties")
    if js_truthy(required):
        if not js_truthy(properties):
            out.append(f"#{path}/properties must exist")
        elif not isinstance(required, list):
            out.append(f"#{path}/required must be a list")
        else:
            for name in required:
                if not isinstance(properties, dict) or not js_truthy(properties.get(str(name))):
                    out.append(f"#{path}/properties/{name} is required but does not exist")
    if js_truthy(properties) and isinstance(properties, dict):
        for name, sub in properties.items():
            _required(sub, f"{path}/properties/{name}", out)


def check_required_exist(schema: Any) -> Problems:
    """Every name in a ``required`` list is declared in the same object's ``properties``."""
    return _walk(_required, schema)


# --- examples


def _examples(schema: dict[str, Any]) -> list[Any] | None:
    examples = schema.get("examples")
    return examples if isinstance(examples, list) else None


def check_examples_schema_id(schema: Any) -> Problems:
    """Each example's ``$schema`` is exactly the schema's ``$id``."""
    examples = _examples(schema)
    if examples is None:
        return ["examples must be a list"]
    schema_id = schema.get("$id")
    out: Problems = []
    for index, example in enumerate(examples):
        value = example.get("$schema") if isinstance(example, dict) else None
        if value is None or not js_strict_equal(value, schema_id):
            out.append(
                f"example {index} $schema value {value!r} does not match the schema's $id {schema_id!r}"
            )
    return out


def compile_validator(schema: dict[str, Any]) -> Any:
    """A draft-07 validator with AJV-6 "fast" formats; raises ValueError like AJV's compile errors."""
    import jsonschema_rs

    from eventplatform.schemas.formats import FORMATS, unknown_formats_message

    unknown = unknown_formats_message(schema)
    if unknown:
        raise ValueError(unknown)
    try:
        return jsonschema_rs.Draft7Validator(
            schema, formats=FORMATS, validate_formats=True, ignore_unknown_formats=False, offline=True
        )
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        raise ValueError(f"schema does not compile: {exc}") from exc


def check_examples_valid(schema: Any) -> Problems:
    """Each example validates against the schema (AJV 6 semantics: draft-07, fast formats)."""
    examples = _examples(schema)
    if examples is None:
        return ["examples must be a list"]
    if not examples:
        return []
    try:
        validator = compile_validator(schema)
    except ValueError as exc:
        return [str(exc)]
    out: Problems = []
    for index, example in enumerate(examples):
        for error in validator.iter_errors(example):
            where = "".join("/" + _esc(str(t)) for t in error.instance_path) or "/"
            out.append(f"example {index} did not validate against schema: {where}: {error.message}")
    return out


# --- schema-enforced-numeric-bounds

_TRAVERSE_SCHEMA = ("additionalItems", "contains", "additionalProperties", "propertyNames", "not")
_TRAVERSE_ARRAYS = ("items", "allOf", "anyOf", "oneOf")
_TRAVERSE_MAPS = ("definitions", "properties", "patternProperties", "dependencies")


def iter_subschemas(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """The nodes json-schema-traverse 0.4.1 visits (root first; ``examples`` are not schemas)."""
    out: list[tuple[str, dict[str, Any]]] = []
    # each entry carries the ids of its ancestors: a schema that contains itself (a YAML alias cycle) would
    # otherwise be walked until memory runs out
    stack: list[tuple[str, Any, frozenset[int]]] = [(path, node, frozenset())]
    while stack:
        where, current, ancestors = stack.pop()
        if not isinstance(current, dict):
            continue
        if id(current) in ancestors:
            raise ValueError(f"schema contains itself at {where}")
        out.append((where, current))
        ancestors = ancestors | {id(current)}
        children: list[tuple[str, Any]] = []
        for key in _TRAVERSE_SCHEMA:
            if key in current:
                children.append((f"{where}/{key}", current[key]))
        for key in _TRAVERSE_ARRAYS:
            value = current.get(key)
            if isinstance(value, list):
                children.extend((f"{where}/{key}/{i}", sub) for i, sub in enumerate(value))
            elif key == "items" and value is not None:
                children.append((f"{where}/items", value))
        for key in _TRAVERSE_MAPS:
            value = current.get(key)
            if isinstance(value, dict):
                children.extend((f"{where}/{key}/{_esc(name)}", sub) for name, sub in value.items())
        stack.extend((w, sub, ancestors) for w, sub in reversed(children))
    return out


def _is_number(value: Any) -> bool:
    return js_type(value) == "number"


def check_numeric_bounds(schema: Any, bounds: Sequence[float]) -> Problems:
    """Every integer/number node has a numeric minimum >= bounds[0] and maximum <= bounds[1]."""
    low, high = bounds[0], bounds[1]
    out: Problems = []
    for path, node in iter_subschemas(schema):
        if node.get("type") not in ("integer", "number"):
            continue
        where = path or "/"
        minimum, maximum = node.get("minimum"), node.get("maximum")
        if not _is_number(minimum):
            out.append(f"{where}: no valid minimum")
        elif not minimum >= low:
            out.append(f"{where}: minimum {minimum} is lower than the enforced bound {low}")
        if not _is_number(maximum):
            out.append(f"{where}: no valid maximum")
        elif not maximum <= high:
            out.append(f"{where}: maximum {_js_number(maximum)} is higher than the enforced bound {high}")
    return out


def _js_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


# --- the registry


@dataclass(frozen=True, slots=True)
class RobustnessCase:
    """A named check. ``applies`` decides whether the case is declared at all (reference conditions)."""

    name: str
    description: str
    applies: Callable[[dict[str, Any], bool, Sequence[float] | None], bool]
    run: Callable[[dict[str, Any], Sequence[float] | None], Problems]


def _not_current(schema: dict[str, Any], current: bool, bounds: Sequence[float] | None) -> bool:
    return not current


def _always(schema: dict[str, Any], current: bool, bounds: Sequence[float] | None) -> bool:
    return True


def _has_examples_and_schema_property(
    schema: dict[str, Any], current: bool, bounds: Sequence[float] | None
) -> bool:
    properties = schema.get("properties")
    return not current and "examples" in schema and isinstance(properties, dict) and "$schema" in properties


def _has_examples(schema: dict[str, Any], current: bool, bounds: Sequence[float] | None) -> bool:
    return not current and "examples" in schema


def _bounds_configured(schema: dict[str, Any], current: bool, bounds: Sequence[float] | None) -> bool:
    return not current and js_truthy(bounds)


CASES: tuple[RobustnessCase, ...] = (
    RobustnessCase(
        "schema-is-valid", "must be a valid JSONSchema", _not_current, lambda s, b: check_valid(s)
    ),
    RobustnessCase("schema-is-secure", "must be a secure JSONSchema", _always, lambda s, b: check_secure(s)),
    RobustnessCase(
        "schema-snake-case-properties",
        "properties must be snake_case",
        _always,
        lambda s, b: check_snake_case(s),
    ),
    RobustnessCase(
        "schema-deterministic-types",
        "has deterministic types (no unions, missing array value types, etc.)",
        _not_current,
        lambda s, b: check_deterministic_types(s),
    ),
    RobustnessCase(
        "schema-required-properties-exist",
        "all required properties must exist",
        _not_current,
        lambda s, b: check_required_exist(s),
    ),
    RobustnessCase(
        "schema-examples-$schema-matches-schema-$id",
        "examples must have $schema == schema's $id",
        _has_examples_and_schema_property,
        lambda s, b: check_examples_schema_id(s),
    ),
    RobustnessCase(
        "schema-examples-are-valid",
        "examples must validate against schema",
        _has_examples,
        lambda s, b: check_examples_valid(s),
    ),
    RobustnessCase(
        "schema-enforced-numeric-bounds",
        "should have minimum and maximum values inside the configured bounds for all numeric fields",
        _bounds_configured,
        lambda s, b: check_numeric_bounds(s, b or ()),
    ),
)


def run_case(case: RobustnessCase, schema: Any, bounds: Sequence[float] | None = None) -> Problems:
    """Run one case; a schema that is not an object is a failure, not a crash."""
    if not isinstance(schema, dict):
        return [f"the document is a {js_type(schema)}, not a schema object"]
    try:
        return case.run(schema, bounds)
    except RecursionError:
        return ["the schema nests too deeply to check"]
