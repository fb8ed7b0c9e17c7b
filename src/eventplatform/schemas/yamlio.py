"""YAML/JSON reading exactly like jsonschema-tools (js-yaml 3.14); writing is in :mod:`.yamldump`.

Reading: PyYAML's C parser with YAML 1.2-like resolvers (only true/false are booleans, js-yaml's float
syntax) and integers beyond 2^53 turned into doubles, as JavaScript numbers are.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

import yaml

from eventplatform.schemas.tool_errors import SchemaToolError

MAX_SAFE_INTEGER = 9007199254740991

# -------------------------------------------------------- YAML 1.1 scalars js-yaml resolves (and quotes)

DATE_RE = re.compile(r"^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$")
TIMESTAMP_RE = re.compile(
    r"^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9]"
    r"(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?$"
)
_BASE60_RE = re.compile(r"^(?::[0-5]?[0-9])+$")


def is_yaml_int(data: str) -> bool:
    """js-yaml 3 resolveYamlInteger."""
    n = len(data)
    if not n:
        return False
    i = 0
    ch = data[0]
    if ch in "-+":
        i += 1
        ch = data[i] if i < n else ""
    if ch == "0":
        if i + 1 == n:
            return True
        i += 1
        ch = data[i]
        if ch == "b":
            allowed = "01"
            i += 1
        elif ch == "x":
            allowed = "0123456789abcdefABCDEF"
            i += 1
        else:
            allowed = "01234567"
        has = False
        for ch in data[i:]:
            if ch == "_":
                continue
            if ch not in allowed:
                return False
            has = True
        return has and ch != "_"
    if ch == "_":
        return False
    has = False
    while i < n:
        ch = data[i]
        if ch == "_":
            i += 1
            continue
        if ch == ":":
            break
        if not ("0" <= ch <= "9"):
            return False
        has = True
        i += 1
    if not has or ch == "_":
        return False
    if ch != ":":
        return True
    return bool(_BASE60_RE.match(data[i:]))


# --------------------------------------------------------------------------------------------- loading

_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
JS_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:0|[1-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*"
    r"|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN))$"
)
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader with js-yaml 3 resolvers: YAML 1.2 booleans, js-yaml float syntax."""


def _build_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in entries if tag not in (_BOOL_TAG, _FLOAT_TAG)]
        if kept:
            resolvers[first] = kept
    bool_rx = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    for ch in "tTfF":
        resolvers.setdefault(ch, []).append((_BOOL_TAG, bool_rx))
    for ch in "-+0123456789.":
        # floats go after ints so that "1" stays an int
        resolvers.setdefault(ch, []).append((_FLOAT_TAG, JS_FLOAT_RE))
    return resolvers


_Loader.yaml_implicit_resolvers = _build_resolvers()


def _construct_int(loader: Any, node: Any) -> int | float:
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    if value > MAX_SAFE_INTEGER or value < -MAX_SAFE_INTEGER:
        return float(value)
    return value


def _construct_float(loader: Any, node: Any) -> float:
    text = str(loader.construct_scalar(node))
    if text.endswith("_"):
        return text  # type: ignore[return-value]  # js-yaml: not a float
    return float(yaml.SafeLoader.construct_yaml_float(loader, node))


def _js_key(key: Any) -> Any:
    """A mapping key as js-yaml stores it, ``String(key)``: ``1`` -> "1", ``true`` -> "true", ``~`` -> "null".

    Containers are left as they are (PyYAML reports them as unhashable keys). A date key is written the
    way Node prints a Date in UTC.
    """
    if isinstance(key, (str, dict, list)):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)):
        return js_number_to_string(key)
    if isinstance(key, _dt.date):
        if not isinstance(key, _dt.datetime):
            key = _dt.datetime(key.year, key.month, key.day, tzinfo=_dt.UTC)
        elif key.tzinfo is not None:
            key = key.astimezone(_dt.UTC)
        return key.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")
    return str(key)


def _construct_mapping(loader: Any, node: Any) -> Any:
    data: dict[Any, Any] = {}
    yield data
    if any(k.tag == "tag:yaml.org,2002:merge" for k, _ in node.value):
        # merge keys: PyYAML flattens them (own keys win over merged ones), then keys become strings
        for key, value in loader.construct_mapping(node).items():
            data[_js_key(key)] = value
        return
    for key_node, value_node in node.value:
        key = _js_key(loader.construct_object(key_node))
        if isinstance(key, (dict, list)):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found unhashable key", key_node.start_mark
            )
        if key in data:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicated mapping key {key!r}", key_node.start_mark
            )
        data[key] = loader.construct_object(value_node)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor(_FLOAT_TAG, _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _yaml_error_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"unparsable YAML: {problem}{where}"


class _Fallback(Exception):
    """The fast loader met a construct it leaves to the full PyYAML loader (tags, merge keys...)."""


_INT_RE = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_SPECIAL_FIRST = frozenset("-+.0123456789tTfFnN~<")


def _plain_scalar(value: str) -> Any:
    """Resolve a plain scalar like js-yaml's default safe schema (fast path; rare forms fall back)."""
    if not value:
        return None
    c = value[0]
    if c not in _SPECIAL_FIRST:
        return value
    if c in "tTfF":
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        return value
    if c in "nN~":
        return None if value in ("~", "null", "Null", "NULL") else value
    if c == "<":
        if value == "<<":
            raise _Fallback
        return value
    if _INT_RE.match(value):
        n = int(value)
        return float(n) if n > MAX_SAFE_INTEGER or n < -MAX_SAFE_INTEGER else n
    if JS_FLOAT_RE.match(value) and not value.endswith("_"):
        if ":" in value:
            raise _Fallback  # sexagesimal
        text = value.replace("_", "").lower()
        if text.endswith((".inf", ".nan")):
            raise _Fallback
        return float(text)
    if is_yaml_int(value) or DATE_RE.match(value) or TIMESTAMP_RE.match(value):
        raise _Fallback
    return value


def _fast_load(text: str) -> Any:
    """Build the document straight from libyaml's events (PyYAML's composer+constructor are the slow part)."""
    from yaml._yaml import CParser

    parser = CParser(text)
    get = parser.get_event
    anchors: dict[str, Any] = {}
    scalar_ev = yaml.ScalarEvent
    map_start = yaml.MappingStartEvent
    map_end = yaml.MappingEndEvent
    seq_start = yaml.SequenceStartEvent
    seq_end = yaml.SequenceEndEvent
    alias_ev = yaml.AliasEvent

    def build(ev: Any) -> Any:
        cls = type(ev)
        if cls is scalar_ev:
            if ev.tag is not None and ev.tag != "!":
                raise _Fallback
            value = _plain_scalar(ev.value) if not ev.style else ev.value
            if ev.anchor is not None:
                anchors[ev.anchor] = value
            return value
        if cls is map_start:
            if ev.tag is not None and ev.tag != "!":
                raise _Fallback
            d: dict[Any, Any] = {}
            if ev.anchor is not None:
                anchors[ev.anchor] = d
            while True:
                kev = get()
                if type(kev) is map_end:
                    return d
                key = build(kev)
                if type(key) is not str:
                    if isinstance(key, (dict, list)):
                        raise _Fallback
                    key = _js_key(key)
                if key in d:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicated mapping key {key!r}", kev.start_mark
                    )
                d[key] = build(get())
        if cls is seq_start:
            if ev.tag is not None and ev.tag != "!":
                raise _Fallback
            lst: list[Any] = []
            if ev.anchor is not None:
                anchors[ev.anchor] = lst
            while True:
                iev = get()
                if type(iev) is seq_end:
                    return lst
                lst.append(build(iev))
        if cls is alias_ev:
            if ev.anchor not in anchors:
                raise yaml.composer.ComposerError(
                    None, None, f"found undefined alias {ev.anchor!r}", ev.start_mark
                )
            return anchors[ev.anchor]
        raise _Fallback

    try:
        get()  # stream start
        ev = get()
        if type(ev) is yaml.StreamEndEvent:
            return None
        value = build(get())
        get()  # document end
        ev = get()
        if type(ev) is not yaml.StreamEndEvent:
            raise yaml.composer.ComposerError(
                "expected a single document in the stream", None, "but found another document", ev.start_mark
            )
        return value
    finally:
        parser.dispose()


def load_yaml(text: str, source: str = "<string>") -> Any:
    """Parse one YAML document like js-yaml ``safeLoad``; errors become a one-line SchemaToolError."""
    try:
        try:
            return _fast_load(text)
        except _Fallback:
            pass
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise SchemaToolError(source, "", _yaml_error_message(exc)) from exc
    except (ValueError, RecursionError) as exc:
        raise SchemaToolError(source, "", f"unparsable YAML: {exc}") from exc


def load_yaml_file(path: str | Any) -> Any:
    """Read and parse a YAML (or JSON) file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaToolError(str(path), "", f"cannot read file: {exc}") from exc
    return load_yaml(text, str(path))


# ---------------------------------------------------------------------------------- number formatting


def js_number_to_string(x: float | int) -> str:
    """``Number.prototype.toString()`` of a JavaScript number."""
    if isinstance(x, int):
        if -(10**21) < x < 10**21 and -MAX_SAFE_INTEGER <= x <= MAX_SAFE_INTEGER:
            return str(x)
        x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    s = repr(abs(x))
    if "e" in s:
        mant, exp_s = s.split("e")
        exp = int(exp_s)
    else:
        mant, exp = s, 0
    ip, _, fp = mant.partition(".")
    all_digits = ip + fp
    stripped = all_digits.lstrip("0")
    lead = len(all_digits) - len(stripped)
    n = len(ip) + exp - lead
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        res = digits + "0" * (n - k)
    elif 0 < n <= 21:
        res = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        res = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        res = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + res
