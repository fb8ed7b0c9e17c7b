"""AJV 6-style error entries, so intake bodies are a drop-in replacement for EventGate's.

EventGate returns AJV's ``errors`` (``keyword``, ``dataPath`` in JavaScript property-access form such as
``.meta.dt`` or ``['a-b'][0]``, ``schemaPath`` such as ``#/properties/meta/properties/dt/format``, ``params``,
``message`` such as ``should be integer``) and ``errorsText`` (``'<dataPath>' <message>`` joined by ``, ``;
AJV prefixes ``data`` to the dataPath there). The messages below are AJV 6's English messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from eventplatform.errors import ValidationDetail

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


def ajv_errors_json(details: Iterable[ValidationDetail]) -> bytes:
    """The errors list serialized (convenience for error events)."""
    return orjson.dumps(ajv_errors(details)[0])
