"""AJV 6-style errors, so intake bodies are a drop-in replacement for EventGate's.

Two steps: :func:`details_from_error` turns one jsonschema-rs error into ValidationDetail objects with
AJV's keyword and params (AJV lists types in schema order, names each additional property, ...), and
:func:`ajv_errors` writes details as AJV 6 error objects.

EventGate returns AJV's ``errors`` (``keyword``, ``dataPath`` in JavaScript property-access form such as
``.meta.dt`` or ``['a-b'][0]``, ``schemaPath`` such as ``#/properties/meta/properties/dt/format``, ``params``,
``message`` such as ``should be integer``) and ``errorsText`` (``'<dataPath>' <message>`` joined by ``, ``;
AJV prefixes ``data`` to the dataPath there). The messages below are AJV 6's English messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from eventplatform.errors import ValidationDetail, short

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def data_path(instance_pointer: str) -> str:
    """JSON pointer -> AJV 6 dataPath (``/meta/dt`` -> ``.meta.dt``, ``/a-b/0`` -> ``['a-b'][0]``)."""
    if not instance_pointer:
        return ""
    out = []
    for raw in instance_pointer.split("/")[1:]:
        token = _unescape(raw)
        if token.isdigit():
            out.append(f"[{token}]")
        elif _IDENT.match(token):
            out.append("." + token)
        else:
            out.append("['" + token.replace("\\", "\\\\").replace("'", "\\'") + "']")
    return "".join(out)


def _js(value: Any) -> str:
    """How AJV interpolates a value into a message (JSON for strings in pattern/format)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _message(keyword: str, params: dict[str, Any], fallback: str) -> str:
    p = params
    if keyword == "type":
        return f"should be {p.get('type')}"
    if keyword == "required":
        return f"should have required property '{p.get('missingProperty')}'"
    if keyword == "dependencies":
        missing, trigger = p.get("missingProperty"), p.get("property", "")
        return f"should have property {missing} when property {trigger} is present"
    if keyword == "additionalProperties":
        return "should NOT have additional properties"
    if keyword == "enum":
        return "should be equal to one of the allowed values"
    if keyword == "const":
        return "should be equal to constant"
    if keyword == "maxLength":
        return f"should NOT be longer than {_js(p.get('limit'))} characters"
    if keyword == "minLength":
        return f"should NOT be shorter than {_js(p.get('limit'))} characters"
    if keyword in ("maxItems", "additionalItems"):
        return f"should NOT have more than {_js(p.get('limit'))} items"
    if keyword == "minItems":
        return f"should NOT have fewer than {_js(p.get('limit'))} items"
    if keyword == "maxProperties":
        return f"should NOT have more than {_js(p.get('limit'))} properties"
    if keyword == "minProperties":
        return f"should NOT have fewer than {_js(p.get('limit'))} properties"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"should be {p.get('comparison')} {_js(p.get('limit'))}"
    if keyword == "multipleOf":
        return f"should be multiple of {_js(p.get('multipleOf'))}"
    if keyword == "pattern":
        return f'should match pattern "{p.get("pattern")}"'
    if keyword == "format":
        return f'should match format "{p.get("format")}"'
    if keyword == "uniqueItems":
        if "i" in p and "j" in p:
            return f"should NOT have duplicate items (items ## {p['j']} and {p['i']} are identical)"
        return "should NOT have duplicate items"
    if keyword == "anyOf":
        return "should match some schema in anyOf"
    if keyword == "oneOf":
        return "should match exactly one schema in oneOf"
    if keyword == "not":
        return "should NOT be valid"
    if keyword == "false schema":
        return "boolean schema is false"
    if keyword == "contains":
        return "should contain a valid item"
    if keyword == "propertyNames":
        if p.get("propertyName") is not None:
            return f"property name '{p['propertyName']}' is invalid"
        return "property name is invalid"
    if keyword == "if":
        return "should match schema"
    return fallback


def ajv_error(detail: ValidationDetail) -> dict[str, Any]:
    """One ValidationDetail as an AJV 6 error object."""
    params = dict(detail.params)
    return {
        "keyword": detail.keyword,
        "dataPath": data_path(detail.instance_path),
        "schemaPath": "#" + detail.schema_path,
        "params": params,
        "message": _message(detail.keyword, params, detail.message),
    }


def ajv_errors(details: Iterable[ValidationDetail]) -> tuple[list[dict[str, Any]], str]:
    """``(errors, errorsText)`` as EventGate reports them (errorsText entries: ``'<dataPath>' <message>``)."""
    errors = [ajv_error(d) for d in details]
    text = ", ".join(f"'{e['dataPath']}' {e['message']}" for e in errors)
    return errors, text


# --- jsonschema-rs errors -> ValidationDetail with AJV's keyword and params ----------------------------


def _pointer(parts: Sequence[str | int]) -> str:
    if not parts:
        return ""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve_pointer(doc: Any, parts: Sequence[str | int]) -> Any:
    for p in parts:
        if isinstance(doc, dict):
            doc = doc.get(str(p))
        elif isinstance(doc, list) and isinstance(p, int) and 0 <= p < len(doc):
            doc = doc[p]
        else:
            return None
    return doc


def _json_safe(value: Any, limit: int = 200) -> Any:
    """Keep params small and JSON-serializable (no echo of a 10 kB producer string)."""
    if isinstance(value, str):
        return short(value, limit)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, limit) for v in value[:50]]
    if isinstance(value, dict):
        return {str(k): _json_safe(v, limit) for k, v in list(value.items())[:50]}
    return short(str(value), limit)


def details_from_error(err: Any, event: Any, schema: Any) -> list[ValidationDetail]:
    """Map one jsonschema-rs error to ValidationDetail(s) with AJV-style keyword and params."""
    ipath = list(err.instance_path)
    spath = list(err.schema_path)
    kind = err.kind
    name = kind.name
    raw = kind.as_dict()
    message = short(err.message, 300)
    keyword = name
    params: dict[str, Any]
    if name == "falseSchema" and spath and spath[-1] == "additionalProperties":
        # Draft 6+ compiles additionalProperties:false to a false schema; recover the property names.
        obj = _resolve_pointer(event, ipath)
        parent = _resolve_pointer(schema, spath[:-1]) or {}
        declared = parent.get("properties") or {} if isinstance(parent, dict) else {}
        patterns = [re.compile(p) for p in (parent.get("patternProperties") or {})] if parent else []
        extra = (
            [k for k in (obj or {}) if k not in declared and not any(p.search(k) for p in patterns)]
            if isinstance(obj, dict)
            else []
        )
        name, raw = "additionalProperties", {"unexpected": extra}
        keyword = name
        message = (
            "Additional properties are not allowed (" + ", ".join(repr(x) for x in extra) + " unexpected)"
        )
    if name == "additionalProperties":
        return [
            ValidationDetail(
                _pointer(ipath), "additionalProperties", _pointer(spath), message, {"additionalProperty": p}
            )
            for p in raw.get("unexpected") or [""]
        ]
    if name == "type":
        declared_types = _resolve_pointer(schema, spath)  # AJV lists the types in schema order
        if isinstance(declared_types, str):
            declared_types = [declared_types]
        types = declared_types if isinstance(declared_types, list) else list(raw.get("types") or [])
        params = {"type": ",".join(map(str, types))}
    elif name == "required":
        params = {"missingProperty": raw.get("property")}
        if spath and spath[-1] == "dependencies":
            keyword = "dependencies"
            params = _dependency_params(_resolve_pointer(schema, spath), _resolve_pointer(event, ipath), raw)
    elif name == "enum":
        params = {"allowedValues": _json_safe(raw.get("options"))}
    elif name == "const":
        params = {"allowedValue": _json_safe(raw.get("expected_value"))}
    elif name in ("maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties"):
        params = {"limit": raw.get("limit")}
    elif name in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        limit = raw.get("limit")
        comparison = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[
            name
        ]
        params = {"comparison": comparison, "limit": limit, "exclusive": name.startswith("exclusive")}
    elif name == "multipleOf":
        params = {"multipleOf": raw.get("multiple_of")}
    elif name == "pattern":
        params = {"pattern": raw.get("pattern")}
    elif name == "format":
        params = {"format": raw.get("format")}
    elif name == "oneOf":
        params = {"passingSchemas": None}
    elif name in ("not", "anyOf"):
        params = {}
    elif name == "uniqueItems":
        params = _duplicate_items(_resolve_pointer(event, ipath))
    elif name == "falseSchema":
        keyword, params = "false schema", {}
    elif name == "propertyNames":
        obj = _resolve_pointer(event, ipath)
        inner = raw.get("error")
        bad = getattr(inner, "instance", None)
        params = {"propertyName": _json_safe(bad) if bad is not None else None}
        if isinstance(obj, dict) and bad is None:
            params = {}
    elif name == "additionalItems":
        params = {"limit": raw.get("limit")}
    else:
        params = {k: _json_safe(v) for k, v in raw.items() if k != "context"}
    return [ValidationDetail(_pointer(ipath), keyword, _pointer(spath), message, params)]


def _dependency_params(deps: Any, obj: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """AJV's params for a property dependency: which present property needs which missing one."""
    missing = raw.get("property")
    if isinstance(deps, dict) and isinstance(obj, dict):
        for trigger, needed in deps.items():
            if trigger in obj and isinstance(needed, list) and missing in needed:
                return {
                    "property": trigger,
                    "missingProperty": missing,
                    "depsCount": len(needed),
                    "deps": ", ".join(map(str, needed)),
                }
    return {"missingProperty": missing}


def _duplicate_items(items: Any) -> dict[str, Any]:
    """AJV's ``{i, j}`` for uniqueItems: the last item that repeats an earlier one, and that earlier one."""
    if not isinstance(items, list):
        return {}
    keys = [orjson.dumps(x, option=orjson.OPT_SORT_KEYS) for x in items[:10_000]]
    for i in range(len(keys) - 1, 0, -1):
        for j in range(i - 1, -1, -1):
            if keys[i] == keys[j]:
                return {"i": i, "j": j}
    return {}
