"""``allOf`` merging with json-schema-merge-allof 0.6.0 semantics, as jsonschema-tools configures it
(``ignoreAdditionalProperties: true``, ``examples`` resolved as "first").

Per keyword the values of all schemas are deduplicated with json-schema-compare's structural equality; a
single distinct value is copied unchanged (except for schema-valued keywords and groups, which recurse),
otherwise the keyword's resolver runs. Keywords without a resolver (``format``, ``const``, unknown ones) that
disagree are an error, as are incompatible ``type``/``enum`` values.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

from eventplatform.schemas.dereference import clone, join_pointer


class MergeError(Exception):
    """Raised with the JSON pointer (list of tokens) of the keyword that cannot be merged."""

    def __init__(self, path: list[str], message: str) -> None:
        self.path = path
        self.pointer = join_pointer(path)
        super().__init__(message)


_UNDEF: Any = object()

PROPERTY_KEYS = ("properties", "patternProperties", "additionalProperties")
ITEM_KEYS = ("items", "additionalItems")
SCHEMA_GROUP_PROPS = ("properties", "patternProperties", "definitions", "dependencies")
SCHEMA_ARRAYS = ("anyOf", "oneOf")
SCHEMA_PROPS = ("additionalProperties", "additionalItems", "contains", "propertyNames", "not", "items")
FIRST_KEYS = frozenset(("title", "description", "$id", "$schema", "$ref", "default", "examples"))
MIN_KEYS = frozenset(("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum"))
MAX_KEYS = frozenset(("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum"))
_DEFAULT_ZERO = frozenset(("minLength", "minItems", "minProperties"))


# ------------------------------------------------------------------------------- equality (compare)


def deep_equal(a: Any, b: Any) -> bool:
    """lodash isEqual on JSON data (booleans are not numbers)."""
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        if not isinstance(b, dict) or len(a) != len(b):
            return False
        return all(not (k not in b or not deep_equal(v, b[k])) for k, v in a.items())
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(b, (dict, list)):
        return False
    return bool(a == b)


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(deep_equal(v, o) for o in out):
            out.append(v)
    return out


def _set_equal(a: list[Any], b: list[Any]) -> bool:
    """json-schema-compare's unordered list equality: deep-equal after uniq + lodash sortBy."""
    ua, ub = _unique(a), _unique(b)
    if len(ua) != len(ub):
        return False
    return deep_equal(_sort_by(ua), _sort_by(ub))


def _norm_schema(s: Any) -> Any:
    if s is _UNDEF or s is True:
        return {}
    return s


def schema_equal(a: Any, b: Any) -> bool:
    """json-schema-compare: structural equality of two schemas."""
    if a is b:
        return True
    if a is _UNDEF or b is _UNDEF:  # a missing schema only equals an empty one (true or {})
        other = b if a is _UNDEF else a
        return other is True or other == {}
    a, b = _norm_schema(a), _norm_schema(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return all(keyword_equal(k, a.get(k, _UNDEF), b.get(k, _UNDEF)) for k in set(a) | set(b))
    return deep_equal(a, b)


def _list_schema_set_equal(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    return all(any(schema_equal(x, y) for y in b) for x in a) and all(
        any(schema_equal(y, x) for x in a) for y in b
    )


def _group_equal(a: Any, b: Any) -> bool | None:
    """properties/patternProperties/dependencies: undefined = {}, same names, values compared as schemas."""
    a = {} if a is _UNDEF else a
    b = {} if b is _UNDEF else b
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return None
    if a.keys() != b.keys():
        return False
    for k, va in a.items():
        vb = b[k]
        if isinstance(va, list) or isinstance(vb, list):
            if not (isinstance(va, list) and isinstance(vb, list) and _set_equal(va, vb)):
                return False
        elif not schema_equal(va, vb):
            return False
    return True


_SCHEMA_VALUED = frozenset(
    ("additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if", "then", "else")
)


def keyword_equal(key: str, a: Any, b: Any) -> bool:
    """Equality of one keyword's values as json-schema-compare sees them."""
    if a is b:
        return True
    if key in ("required", "enum"):
        if key == "required":
            a = [] if a is _UNDEF else a
            b = [] if b is _UNDEF else b
        if isinstance(a, list) and isinstance(b, list):
            return _set_equal(a, b)
    elif key == "type":
        if a is not _UNDEF and b is not _UNDEF:
            la = a if isinstance(a, list) else [a]
            lb = b if isinstance(b, list) else [b]
            return _set_equal(la, lb)
    elif key in _DEFAULT_ZERO:
        a = 0 if a is _UNDEF else a
        b = 0 if b is _UNDEF else b
    elif key == "uniqueItems":
        a = False if a is _UNDEF else a
        b = False if b is _UNDEF else b
    elif key in _SCHEMA_VALUED:
        return schema_equal(a, b)  # undefined = true = {}
    elif key == "items":
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(schema_equal(x, y) for x, y in zip(a, b, strict=True))
    elif key in ("properties", "patternProperties", "dependencies"):
        result = _group_equal(a, b)
        if result is not None:
            return result
    elif key in ("allOf", "anyOf", "oneOf") and isinstance(a, list) and isinstance(b, list):
        return _list_schema_set_equal(a, b)
    if a is _UNDEF or b is _UNDEF:
        return a is b
    return deep_equal(a, b)


def _uniq_with(values: list[Any], eq: Callable[[Any, Any], bool]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(eq(o, v) for o in out):
            out.append(v)
    return out


# ------------------------------------------------------------------------------------- sorting


_JS_NUMERIC_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_JS_RADIX_RE = re.compile(r"^0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$")


def _js_number(v: Any) -> float:
    """JavaScript ToNumber for JSON values (objects and unparsable strings are NaN)."""
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        text = v.strip()
        if not text:
            return 0.0
        if _JS_NUMERIC_RE.match(text):
            return float(text)
        if text in ("Infinity", "+Infinity", "-Infinity"):
            return -math.inf if text[0] == "-" else math.inf
        if _JS_RADIX_RE.match(text):
            return float(int(text, 0))
        return math.nan
    return math.nan


def _js_less(a: Any, b: Any) -> bool:
    """JavaScript ``a < b`` for JSON values."""
    if isinstance(a, str) and isinstance(b, str):
        return a.encode("utf-16-be") < b.encode("utf-16-be")
    return _js_number(a) < _js_number(b)


def _js_strict_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def _compare_ascending(a: Any, b: Any) -> int:
    """lodash compareAscending (null sorts last, mixed types that JavaScript cannot order compare equal)."""
    if _js_strict_equal(a, b):
        return 0
    a_null, b_null = a is None, b is None
    a_nan = isinstance(a, float) and math.isnan(a)
    b_nan = isinstance(b, float) and math.isnan(b)
    if (not b_null and _js_less(b, a)) or (a_null and not b_nan) or a_nan:
        return 1
    if (not a_null and _js_less(a, b)) or (b_null and not a_nan) or b_nan:
        return -1
    return 0


def _sort_by(values: list[Any]) -> list[Any]:
    """lodash ``sortBy(values)``: compareAscending, ties by original index (JS and Python both TimSort)."""
    if all(isinstance(v, str) for v in values):
        return sorted(values, key=lambda v: v.encode("utf-16-be"))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sorted(values)
    indexed = list(enumerate(values))

    def cmp(x: tuple[int, Any], y: tuple[int, Any]) -> int:
        return _compare_ascending(x[1], y[1]) or (x[0] - y[0])

    return [v for _, v in sorted(indexed, key=functools.cmp_to_key(cmp))]


# ------------------------------------------------------------------------------------- merging


def _union_keys(mappings: list[dict[str, Any]]) -> list[str]:
    """Every key of ``mappings``, each once, in first-seen order (``update`` keeps a key where it was)."""
    keys: dict[str, Any] = {}
    for m in mappings:
        keys.update(m)
    return list(keys)


def _lcm(values: list[Any], path: list[str]) -> Any:
    if not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() and v > 0
        for v in values
    ):
        raise MergeError(
            path, "Could not resolve values for path: multipleOf values must be positive integers"
        )
    result = 1
    for v in values:
        iv = int(v)
        result = result * iv // math.gcd(result, iv)
    return result


class _Merger:
    def __init__(self) -> None:
        pass

    # one call of mergeSchemas(schemas, base)
    def merge(self, schemas: list[Any], path: list[str], base: dict[str, Any] | None = None) -> Any:
        """mergeSchemas(schemas, base): with a base object, its keys that no resolver assigns stay as they are
        (e.g. an empty ``properties``), as when json-schema-merge-allof writes into the base."""
        schemas = [s for s in schemas if s is not _UNDEF]
        if not schemas:
            return _UNDEF
        if any(s is False for s in schemas):
            return False
        if all(s is True for s in schemas):
            return True
        schemas = [s for s in schemas if isinstance(s, dict)]
        if not schemas:
            return True
        all_keys = _union_keys(schemas)
        if "allOf" in all_keys:
            # mergeAllOf({allOf: schemas}): the wrapper's own (empty) copy comes first in the flattened list
            flat: list[Any] = [{}]
            for s in schemas:
                flat.extend(flatten_all_of(s))
            return self.merge(flat, path)

        memo: dict[int, Any] = {}
        merged: dict[str, Any] = {}
        unresolved: list[Any] = []
        property_keys = [k for k in all_keys if k in PROPERTY_KEYS]
        item_keys = [k for k in all_keys if k in ITEM_KEYS]
        for key in all_keys:
            if key in PROPERTY_KEYS or key in ITEM_KEYS:
                continue
            values = [s[key] for s in schemas if key in s]
            if len(values) > 1:
                compacted = _uniq_with(values, lambda a, b, key=key: keyword_equal(key, a, b))
            else:
                compacted = values
            kpath = [*path, key]
            if len(compacted) == 1 and key in SCHEMA_ARRAYS:
                value = compacted[0]
                if isinstance(value, list):
                    merged[key] = [self._merge_one(v, [*kpath, str(i)]) for i, v in enumerate(value)]
                else:
                    merged[key] = clone(value, memo)
            elif len(compacted) == 1 and key not in SCHEMA_GROUP_PROPS and key not in SCHEMA_PROPS:
                merged[key] = (
                    clone(compacted[0], memo) if isinstance(compacted[0], (dict, list)) else compacted[0]
                )
            else:
                result = self.resolve(key, compacted, kpath, memo, unresolved)
                if result is not _UNDEF:
                    merged[key] = result
        if property_keys:
            merged.update(self.merge_properties(schemas, path))
        if item_keys:
            merged.update(self.merge_items(schemas, path))
        if base is not None:
            removed = {"allOf"}
            if unresolved:
                removed.add("pattern")
            out = {k: merged.get(k, v) for k, v in base.items() if k not in removed or k in merged}
            for k, v in merged.items():
                if k not in out:
                    out[k] = v
            merged = out
        if unresolved:
            merged["allOf"] = [*merged.get("allOf", []), *unresolved]
        return merged

    def _merge_one(self, schema: Any, path: list[str]) -> Any:
        result = self.merge([schema], path, schema if isinstance(schema, dict) else None)
        return {} if result is _UNDEF else result

    def resolve(
        self, key: str, compacted: list[Any], path: list[str], memo: dict[int, Any], unresolved: list[Any]
    ) -> Any:
        if key in FIRST_KEYS:
            v = compacted[0]
            return clone(v, memo) if isinstance(v, (dict, list)) else v
        if key == "required":
            out: list[Any] = []
            for lst in compacted:
                if not isinstance(lst, list):
                    raise MergeError(path, "required must be a list")
                for v in lst:
                    if v not in out:
                        out.append(v)
            return _sort_by(out)
        if key == "enum":
            if not all(isinstance(v, list) for v in compacted):
                raise MergeError(path, "enum must be a list")
            common = [
                v
                for v in _unique(compacted[0])
                if all(any(deep_equal(v, w) for w in o) for o in compacted[1:])
            ]
            if not common:
                raise MergeError(
                    path,
                    f"Could not resolve values for path: {join_pointer(path)}: "
                    f"conflicting enums {compacted!r} have no common value",
                )
            return _sort_by([clone(v, memo) for v in common])
        if key == "type":
            if any(isinstance(v, list) for v in compacted):
                lists = [v if isinstance(v, list) else [v] for v in compacted]
                common = [t for t in _unique(lists[0]) if all(t in other for other in lists[1:])]
                if len(common) == 1:
                    return common[0]
                if len(common) > 1:
                    return common
            raise MergeError(
                path,
                f"Could not resolve values for path: {join_pointer(path)}: conflicting types {compacted!r}",
            )
        if key in MIN_KEYS:
            return max(compacted)
        if key in MAX_KEYS:
            return min(compacted)
        if key == "multipleOf":
            return _lcm(compacted, path)
        if key == "uniqueItems":
            return any(v is True for v in compacted)
        if key == "pattern":
            unresolved.extend({"pattern": v} for v in compacted)
            return _UNDEF
        if key == "not":
            return {"anyOf": [clone(v, memo) for v in compacted]}
        if key in ("contains", "propertyNames"):
            return self.merge(compacted, path)
        if key == "definitions":
            return self.merge_group(compacted, path)
        if key == "dependencies":
            return self.merge_dependencies(compacted, path)
        if key in SCHEMA_ARRAYS:
            return self.merge_combinations(compacted, path)
        raise MergeError(
            path,
            f"No resolver found for key {key}: conflicting values {', '.join(_short(v) for v in compacted)}",
        )

    def merge_group(self, groups: list[Any], path: list[str]) -> dict[str, Any]:
        groups = [g for g in groups if isinstance(g, dict)]
        out: dict[str, Any] = {}
        for k in _union_keys(groups):
            values = _uniq_with([g[k] for g in groups if k in g], schema_equal)
            result = self.merge(values, [*path, k])
            if result is not _UNDEF:
                out[k] = result
        return out

    def merge_dependencies(self, compacted: list[Any], path: list[str]) -> Any:
        out: dict[str, Any] = {}
        keys: list[str] = []
        for g in compacted:
            for k in g:
                if k not in keys:
                    keys.append(k)
        for k in keys:
            values = [g[k] for g in compacted if k in g]
            arrays = [v for v in values if isinstance(v, list)]
            schemas = [v for v in values if not isinstance(v, list)]
            if arrays and not schemas:
                union: list[Any] = []
                for a in arrays:
                    for v in a:
                        if v not in union:
                            union.append(v)
                out[k] = union
            else:
                if arrays:
                    schemas.append({"required": sorted({x for a in arrays for x in a})})
                out[k] = self.merge(_uniq_with(schemas, schema_equal), [*path, k])
        return out

    def merge_combinations(self, compacted: list[Any], path: list[str]) -> Any:
        # getAnyOfCombinations: each later list's item goes in front of the combination built so far
        combos: list[list[Any]] = [[]]
        for options in compacted:
            if not isinstance(options, list):
                raise MergeError(path, "anyOf/oneOf must be a list")
            combos = [[o, *c] for c in combos for o in options]
        results = []
        for combo in combos:  # tryMergeSchemaGroups: combinations that cannot be merged are left out
            try:
                results.append(self.merge(combo, path))
            except MergeError:
                continue
        results = [r for r in results if r is not _UNDEF]
        results = _uniq_with(results, schema_equal)
        if not results:
            raise MergeError(path, f"Could not resolve values for path: {join_pointer(path)}")
        return results

    def merge_properties(self, schemas: list[dict[str, Any]], path: list[str]) -> dict[str, Any]:
        values = [{k: s[k] for k in PROPERTY_KEYS if k in s} for s in schemas]
        values = _uniq_with(values, schema_equal)
        result: dict[str, Any] = {}
        add = self.merge(
            [v.get("additionalProperties", _UNDEF) for v in values], [*path, "additionalProperties"]
        )
        pattern = self.merge_group(
            [v["patternProperties"] for v in values if "patternProperties" in v], [*path, "patternProperties"]
        )
        props = self.merge_group(
            [v["properties"] for v in values if "properties" in v], [*path, "properties"]
        )
        if add is False:
            props = {k: v for k, v in props.items() if v is not False}
        if add is not _UNDEF and add != {}:  # an empty schema is dropped
            result["additionalProperties"] = add
        if pattern:
            result["patternProperties"] = pattern
        if props:
            result["properties"] = props
        return result

    def merge_items(self, schemas: list[dict[str, Any]], path: list[str]) -> dict[str, Any]:
        values = [{k: s[k] for k in ITEM_KEYS if k in s} for s in schemas]
        values = _uniq_with(values, schema_equal)
        items = [v["items"] for v in values if "items" in v]
        result: dict[str, Any] = {}
        if all(not isinstance(i, list) for i in items):
            merged_items = self.merge(items, [*path, "items"])
            if merged_items is not _UNDEF and merged_items != {}:  # an empty schema is dropped
                result["items"] = merged_items
            extra = [v["additionalItems"] for v in values if "additionalItems" in v]
            if extra:
                merged_extra = self.merge(extra, [*path, "additionalItems"])
                if merged_extra is not _UNDEF and merged_extra != {}:
                    result["additionalItems"] = merged_extra
            return result
        # tuple form: merge position by position; a schema-form items applies to every position
        length = max(len(i) for i in items if isinstance(i, list))
        tuples: list[Any] = []
        for pos in range(length):
            at_pos = []
            for v in values:
                it = v.get("items", _UNDEF)
                if isinstance(it, list):
                    at_pos.append(it[pos] if pos < len(it) else v.get("additionalItems", _UNDEF))
                else:
                    at_pos.append(it)
            merged_pos = self.merge(at_pos, [*path, "items", str(pos)])
            tuples.append({} if merged_pos is _UNDEF else merged_pos)
        result["items"] = tuples
        rest = [
            v.get("additionalItems", _UNDEF) if isinstance(v.get("items"), list) else v.get("items", _UNDEF)
            for v in values
        ]
        merged_rest = self.merge(rest, [*path, "additionalItems"])
        if merged_rest is not _UNDEF:
            result["additionalItems"] = merged_rest
        return result


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def flatten_all_of(schema: Any) -> list[Any]:
    """[schema without allOf, *each allOf member flattened], depth-first pre-order."""
    if not isinstance(schema, dict):
        return [schema]
    members = schema.get("allOf")
    copy = {k: v for k, v in schema.items() if k != "allOf"}
    out = [copy]
    if isinstance(members, list):
        for m in members:
            out.extend(flatten_all_of(m))
    return out


def merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """Merge the root's ``allOf`` (recursively, at every level) into the root object itself.

    Root keys keep their position; keys that only members have are appended. Raises :class:`MergeError`.
    """
    merged = _Merger().merge(flatten_all_of(schema), [], schema)
    if not isinstance(merged, dict):
        merged = {}
    for key in list(schema):
        if key not in merged:
            del schema[key]
    for key, value in merged.items():
        schema[key] = value
    return schema
