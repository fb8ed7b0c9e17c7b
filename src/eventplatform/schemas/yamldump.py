"""YAML/JSON writing exactly like jsonschema-tools (js-yaml 3.14 ``dump``, json-stable-stringify 1.0.1).

Writing: a re-implementation of js-yaml 3.14 ``dump`` with its defaults (indent 2, lineWidth 80, block
style, ``&ref_N`` anchors for shared nodes, compat quoting) and jsonschema-tools' key order: fixed schema keys
first, then ICU root collation (``localeCompare``). Python cannot call ICU without a compiled extension, so
collation is implemented here: exact for ASCII (primary letter/digit/punctuation order, then
lowercase-before-uppercase), and for other characters an approximation (NFD base character by code point,
then accents, then case) -- documented in docs.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from eventplatform.schemas.yamlio import (
    DATE_RE,
    JS_FLOAT_RE,
    MAX_SAFE_INTEGER,
    TIMESTAMP_RE,
    is_yaml_int,
    js_number_to_string,
)

# ---------------------------------------------------------------------------------- number formatting

_SCI_NO_DOT = re.compile(r"^[-+]?[0-9]+e")


def _yaml_number(x: float | int) -> str:
    if isinstance(x, int):
        return js_number_to_string(x)
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".inf" if x > 0 else "-.inf"
    if x == 0 and math.copysign(1.0, x) < 0:
        return "-0.0"
    res = js_number_to_string(x)
    if x % 1 != 0 and _SCI_NO_DOT.match(res):
        res = res.replace("e", ".e", 1)
    return res


# --------------------------------------------------------------------------------------- key order

FIXED_KEYS = (
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
)
_FIXED_INDEX = {k: i for i, k in enumerate(FIXED_KEYS)}
_PUNCT_ORDER = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_PRIMARY: dict[str, int] = {}
for _i, _c in enumerate(_PUNCT_ORDER):
    _PRIMARY[_c] = _i
for _i, _c in enumerate("0123456789"):
    _PRIMARY[_c] = 100 + _i
for _i, _c in enumerate("abcdefghijklmnopqrstuvwxyz"):
    _PRIMARY[_c] = 200 + _i
    _PRIMARY[_c.upper()] = 200 + _i
_key_cache: dict[str, tuple[Any, ...]] = {}


def collation_key(s: str) -> tuple[Any, ...]:
    """Sort key approximating ICU root collation (``String.prototype.localeCompare``)."""
    cached = _key_cache.get(s)
    if cached is not None:
        return cached
    if s.isascii():
        primary = tuple(_PRIMARY.get(c, 150) for c in s)
        tertiary = tuple(1 if "A" <= c <= "Z" else 0 for c in s)
        key: tuple[Any, ...] = (primary, (), tertiary)
    else:
        prim: list[int] = []
        sec: list[int] = []
        ter: list[int] = []
        for c in unicodedata.normalize("NFD", s):
            if unicodedata.combining(c):
                sec.append(ord(c))
                continue
            low = c.lower()
            prim.append(_PRIMARY.get(low, 1000 + ord(low) if low.isalpha() or low.isdigit() else 50 + ord(c)))
            sec.append(0)
            ter.append(1 if c != low else 0)
        key = (tuple(prim), tuple(sec), tuple(ter))
    if len(_key_cache) < 100000:
        _key_cache[s] = key
    return key


def schema_key_sort_key(key: str) -> tuple[int, tuple[Any, ...]]:
    """jsonschema-tools' schemaKeyCompare as a Python sort key."""
    idx = _FIXED_INDEX.get(key)
    if idx is not None:
        return (idx, ())
    return (len(FIXED_KEYS), collation_key(key))


# ------------------------------------------------------------------------------------ js-yaml dumper

_DEPRECATED_BOOLEANS = frozenset(
    ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"]
)
_NON_PRINTABLE = re.compile("[^\x20-\x7e\xa1-\ud7ff\ue000-\ufffd]|[\u2028\u2029\ufeff]")
_NON_PRINTABLE_ML = re.compile("[^\n\x20-\x7e\xa1-\ud7ff\ue000-\ufffd]|[\u2028\u2029\ufeff]")
_NOT_PLAIN = re.compile(r"[,\[\]{}:]|[^\x21-\x7e\xa1-\ud7ff\ue000-\ufffd\u0085]#|[\u2028\u2029\ufeff]")
_NOT_PLAIN_FIRST = frozenset("-?:,[]{}#&*!|=>'\"%@` \t")
_NULLS = frozenset(("~", "null", "Null", "NULL"))
_BOOLS = frozenset(("true", "True", "TRUE", "false", "False", "FALSE"))


def _is_ambiguous(s: str) -> bool:
    """Whether js-yaml's implicit resolvers would read ``s`` as something other than a string."""
    if s in _NULLS or s in _BOOLS or s == "<<":
        return True
    c = s[0]
    if c in "-+.0123456789":
        if is_yaml_int(s):
            return True
        if JS_FLOAT_RE.match(s) and not s.endswith("_"):
            return True
        if DATE_RE.match(s) or TIMESTAMP_RE.match(s):
            return True
    return False


_ESCAPES = {
    0x00: "\\0",
    0x07: "\\a",
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0B: "\\v",
    0x0C: "\\f",
    0x0D: "\\r",
    0x1B: "\\e",
    0x22: '\\"',
    0x5C: "\\\\",
    0x85: "\\N",
    0xA0: "\\_",
    0x2028: "\\L",
    0x2029: "\\P",
}


def _is_printable(c: int) -> bool:
    return (
        (0x20 <= c <= 0x7E)
        or (0xA1 <= c <= 0xD7FF and c not in (0x2028, 0x2029))
        or (0xE000 <= c <= 0xFFFD and c != 0xFEFF)
        or (0x10000 <= c <= 0x10FFFF)
    )


def _encode_hex(c: int) -> str:
    if c <= 0xFF:
        return f"\\x{c:02X}"
    if c <= 0xFFFF:
        return f"\\u{c:04X}"
    return f"\\U{c:08X}"


def _escape_string(s: str) -> str:
    out = []
    for ch in s:
        c = ord(ch)
        esc = _ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif c > 0xFFFF:
            out.append(_encode_hex(c))  # JS sees a surrogate pair and escapes the combined code point
        elif _is_printable(c):
            out.append(ch)
        else:
            out.append(_encode_hex(c))
    return "".join(out)


def _fold_line(line: str, width: int) -> str:
    if line == "" or line[0] == " ":
        return line
    start = 0
    curr = 0
    result = ""
    for m in re.finditer(r" [^ ]", line):
        nxt = m.start()
        if nxt - start > width:
            end = curr if curr > start else nxt
            result += "\n" + line[start:end]
            start = end + 1
        curr = nxt
    result += "\n"
    if len(line) - start > width and curr > start:
        result += line[start:curr] + "\n" + line[curr + 1 :]
    else:
        result += line[start:]
    return result[1:]


_LINE_RE = re.compile(r"(\n+)([^\n]*)")


def _fold_string(s: str, width: int) -> str:
    first_lf = s.find("\n")
    if first_lf == -1:
        first_lf = len(s)
    result = _fold_line(s[:first_lf], width)
    prev_more_indented = s[:1] in ("\n", " ")
    for m in _LINE_RE.finditer(s, first_lf):
        prefix, line = m.group(1), m.group(2)
        more_indented = line[:1] == " "
        result += prefix + ("\n" if not prev_more_indented and not more_indented and line != "" else "")
        result += _fold_line(line, width)
        prev_more_indented = more_indented
    return result


def _block_header(s: str) -> str:
    indicator = "2" if re.match(r"^\n* ", s) else ""
    clip = s.endswith("\n")
    keep = clip and (s[-2:-1] == "\n" or s == "\n")
    chomp = "+" if keep else ("" if clip else "-")
    return indicator + chomp + "\n"


def _indent_string(s: str, spaces: int) -> str:
    ind = " " * spaces
    out = []
    for line in s.splitlines(keepends=True) if "\r" not in s else _split_lf(s):
        if line and line != "\n":
            out.append(ind)
        out.append(line)
    return "".join(out)


def _split_lf(s: str) -> list[str]:
    parts = s.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _drop_ending_newline(s: str) -> str:
    return s[:-1] if s.endswith("\n") else s


_scalar_cache: dict[tuple[str, int, bool], str] = {}


def _write_scalar(s: str, level: int, iskey: bool) -> str:
    indent = 2 * max(1, level)
    cache_key = (s, indent, iskey)
    cached = _scalar_cache.get(cache_key)
    if cached is not None:
        return cached
    out = _choose_and_write(s, indent, iskey)
    if len(_scalar_cache) < 200000:
        _scalar_cache[cache_key] = out
    return out


def _choose_and_write(s: str, indent: int, iskey: bool) -> str:
    if not s:
        return "''"
    if s in _DEPRECATED_BOOLEANS:
        return "'" + s + "'"
    line_width = max(40, 80 - indent)
    plain = s[0] not in _NOT_PLAIN_FIRST and s[-1] not in " \t"
    if iskey or "\n" not in s:
        if _NON_PRINTABLE.search(s):
            return '"' + _escape_string(s) + '"'
        if iskey or len(s) <= line_width or s[0] == " ":
            plain = plain and not _NOT_PLAIN.search(s)
            if plain and not _is_ambiguous(s):
                return s
            return "'" + s.replace("'", "''") + "'"
        has_foldable = True
    else:
        if _NON_PRINTABLE_ML.search(s):
            return '"' + _escape_string(s) + '"'
        has_foldable = False
        for line in s.split("\n"):
            if len(line) > line_width and line[:1] != " ":
                has_foldable = True
                break
    if has_foldable:
        return (
            ">" + _block_header(s) + _drop_ending_newline(_indent_string(_fold_string(s, line_width), indent))
        )
    return "|" + _block_header(s) + _drop_ending_newline(_indent_string(s, indent))


def _iso_date(value: _dt.date) -> str:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
    else:
        value = _dt.datetime(value.year, value.month, value.day)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class _YamlWriter:
    __slots__ = ("duplicates", "used")

    def __init__(self, root: Any) -> None:
        self.duplicates: dict[int, int] = {}
        self.used: set[int] = set()
        self._find_duplicates(root)

    def _find_duplicates(self, root: Any) -> None:
        seen: set[int] = set()
        dups: list[int] = []
        dup_set: set[int] = set()
        stack = [root]
        # iterative pre-order walk in insertion order (same order as js-yaml's recursive inspectNode)
        while stack:
            obj = stack.pop()
            t = type(obj)
            if t is dict:
                children: Any = obj.values()
            elif t is list:
                children = obj
            elif isinstance(obj, dict):
                children = obj.values()
            elif isinstance(obj, list):
                children = obj
            else:
                continue
            oid = id(obj)
            if oid in seen:
                if oid not in dup_set:
                    dup_set.add(oid)
                    dups.append(oid)
                continue
            seen.add(oid)
            stack.extend(reversed([c for c in children if isinstance(c, (dict, list))]))
        self.duplicates = {oid: i for i, oid in enumerate(dups)}

    def node(self, level: int, obj: Any, compact: bool) -> str:
        t = type(obj)
        if t is str:
            return _write_scalar(obj, level, False)
        if t is dict or (t is not list and isinstance(obj, dict)):
            if self.duplicates and id(obj) in self.duplicates:
                return self.anchored(level, obj, self.mapping, "{}")
            return self.mapping(level, obj, compact) if obj else "{}"
        if t is list or isinstance(obj, list):
            if self.duplicates and id(obj) in self.duplicates:
                return self.anchored(level, obj, self.sequence, "[]")
            return self.sequence(level, obj, compact) if obj else "[]"
        if t is int:
            if -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
                return str(obj)
            return _yaml_number(obj)
        if obj is True:
            return "true"
        if obj is False:
            return "false"
        if obj is None:
            return "null"
        if isinstance(obj, str):
            return _write_scalar(str(obj), level, False)
        if isinstance(obj, (int, float)):
            return _yaml_number(obj)
        if isinstance(obj, _dt.date):
            return _iso_date(obj)
        raise TypeError(f"cannot serialize {type(obj).__name__} to YAML")

    def anchored(self, level: int, obj: Any, block: Callable[[int, Any, bool], str], empty: str) -> str:
        """A container met more than once: an anchor the first time, an alias after (as js-yaml writes)."""
        dup = self.duplicates[id(obj)]
        if dup in self.used:
            return f"*ref_{dup}"
        self.used.add(dup)
        return f"&ref_{dup}" + block(level, obj, False) if obj else f"&ref_{dup} {empty}"

    def mapping(self, level: int, obj: dict[Any, Any], compact: bool) -> str:
        parts = []
        nl = "\n" + "  " * level
        first = True
        cache = _sort_key_cache
        for key in obj:
            if key not in cache:
                cache[key] = schema_key_sort_key(key if isinstance(key, str) else js_number_to_string(key))
        node = self.node
        for key in sorted(obj, key=cache.__getitem__):
            kd = _write_scalar(key if isinstance(key, str) else js_number_to_string(key), level + 1, True)
            if len(kd) > 1024:
                buf = ("" if (compact and first) else nl) + ("?" if kd.startswith("\n") else "? ") + kd + nl
                vd = node(level + 1, obj[key], True)
            else:
                buf = kd if (compact and first) else nl + kd
                vd = node(level + 1, obj[key], False)
            first = False
            parts.append(buf + (":" if vd[:1] == "\n" else ": ") + vd)
        return "".join(parts)

    def sequence(self, level: int, obj: list[Any], compact: bool) -> str:
        parts = []
        nl = "\n" + "  " * level
        node = self.node
        for i, item in enumerate(obj):
            d = node(level + 1, item, True)
            buf = "" if (compact and i == 0) else nl
            parts.append(buf + ("-" if d[:1] == "\n" else "- ") + d)
        return "".join(parts)


_sort_key_cache: dict[Any, tuple[int, tuple[Any, ...]]] = {}


def dump_yaml(data: Any) -> str:
    """js-yaml 3.14 ``dump(data, {sortKeys: schemaKeyCompare})`` (ends with a newline)."""
    return _YamlWriter(data).node(0, data, True) + "\n"


# ------------------------------------------------------------------------------------ JSON writer


def _json_string(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def _json_value(node: Any, level: int) -> str | None:
    indent = "\n" + "  " * level
    if isinstance(node, str):
        return _json_string(node)
    if node is True:
        return "true"
    if node is False:
        return "false"
    if node is None:
        return "null"
    if isinstance(node, (int, float)):
        if isinstance(node, float) and (math.isnan(node) or math.isinf(node)):
            return "null"
        return js_number_to_string(node)
    if isinstance(node, _dt.date):
        return _json_string(_iso_date(node))
    if isinstance(node, list):
        items = [indent + "  " + (_json_value(v, level + 1) or "null") for v in node]
        return "[" + ",".join(items) + indent + "]"
    if isinstance(node, dict):
        out = []
        for key in sorted(node, key=schema_key_sort_key):
            value = _json_value(node[key], level + 1)
            if not value:
                continue
            out.append(indent + "  " + _json_string(str(key)) + ": " + value)
        return "{" + ",".join(out) + indent + "}"
    raise TypeError(f"cannot serialize {type(node).__name__} to JSON")


def dump_json(data: Any) -> str:
    """json-stable-stringify 1.0.1 with schemaKeyCompare and 2-space indent (no trailing newline)."""
    return _json_value(data, 0) or ""


def serialize(data: Any, content_type: str) -> str:
    if content_type == "json":
        return dump_json(data)
    return dump_yaml(data)
