"""Deterministic example generation, reproducing json-schema-faker 0.5.0-rcv.34 as jsonschema-tools runs it
(random function fixed at 0.15, optional properties always faked, defaults used, custom ``date-time`` and
``uri-reference`` formats), including a small randexp for ``pattern``.
"""

from __future__ import annotations

import math
from typing import Any

R = 0.15
MAX_SAFE = 2**53 - 1
DEFAULT_RANGE = (32, 126)  # randexp's default range: printable ASCII
RANDEXP_MAX = 10  # json-schema-faker caps * and + at min + 10
DATE_TIME = "2021-01-01T00:00:00.0Z"
URI_REFERENCE = "http://example.org"


class ExampleError(Exception):
    """A sub-schema the generator cannot produce a value for."""


def rand_int(lo: float, hi: float) -> float:
    return lo + math.floor(R * (hi - lo + 1))


def _as_number(x: float) -> int | float:
    """JS number semantics: integral values within the safe range print as integers."""
    if isinstance(x, float) and x.is_integer() and abs(x) <= MAX_SAFE:
        return int(x)
    return x


# ---------------------------------------------------------------------------------------- randexp


class _Ranges:
    """drange's DRange: ranges kept in insertion order, merged only when they touch."""

    def __init__(self, ranges: list[tuple[int, int]] | None = None) -> None:
        self.ranges: list[tuple[int, int]] = []
        for lo, hi in ranges or []:
            self.add(lo, hi)

    def add(self, lo: int, hi: int) -> None:
        i = 0
        rs = self.ranges
        while i < len(rs) and not (hi >= rs[i][0] - 1 and lo <= rs[i][1] + 1):
            i += 1
        new = rs[:i]
        while i < len(rs) and (hi >= rs[i][0] - 1 and lo <= rs[i][1] + 1):
            lo, hi = min(lo, rs[i][0]), max(hi, rs[i][1])
            i += 1
        new.append((lo, hi))
        self.ranges = new + rs[i:]

    def subtract_from_default(self) -> _Ranges:
        out: list[tuple[int, int]] = []
        cur = [DEFAULT_RANGE]
        for lo, hi in self.ranges:
            nxt = []
            for a, b in cur:
                if hi < a or lo > b:
                    nxt.append((a, b))
                    continue
                if a < lo:
                    nxt.append((a, lo - 1))
                if hi < b:
                    nxt.append((hi + 1, b))
            cur = nxt
        out = sorted(cur)
        r = _Ranges()
        r.ranges = out
        return r

    def intersect_default(self) -> _Ranges:
        r = _Ranges()
        r.ranges = [
            (max(lo, DEFAULT_RANGE[0]), min(hi, DEFAULT_RANGE[1]))
            for lo, hi in self.ranges
            if hi >= DEFAULT_RANGE[0] and lo <= DEFAULT_RANGE[1]
        ]
        return r

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def index(self, i: int) -> int:
        for lo, hi in self.ranges:
            size = hi - lo + 1
            if i < size:
                return lo + i
            i -= size
        raise ExampleError("empty character class")


_DIGITS = [(48, 57)]
_WORDS = [(95, 95), (97, 122), (65, 90), (48, 57)]
_WHITESPACE = [
    (9, 13),
    (32, 32),
    (160, 160),
    (5760, 5760),
    (8192, 8202),
    (8232, 8233),
    (8239, 8239),
    (8287, 8287),
    (12288, 12288),
    (65279, 65279),
]
# \d \D \w \W \s \S: (ranges, negated)
_CLASS_ESCAPES: dict[str, tuple[list[tuple[int, int]], bool]] = {
    "d": (_DIGITS, False),
    "D": (_DIGITS, True),
    "w": (_WORDS, False),
    "W": (_WORDS, True),
    "s": (_WHITESPACE, False),
    "S": (_WHITESPACE, True),
}


class _Regex:
    """Parser for the JS regex subset used in schemas, producing randexp tokens."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.groups = 0

    def parse(self) -> Any:
        node = self._alternation()
        if self.i < len(self.p):
            raise ExampleError(f"unbalanced ')' in pattern {self.p!r}")
        return node

    def _alternation(self) -> Any:
        options = [self._sequence()]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            options.append(self._sequence())
        return ("alt", options)

    def _sequence(self) -> list[Any]:
        seq: list[Any] = []
        p = self.p
        while self.i < len(p) and p[self.i] not in "|)":
            atom = self._atom()
            if atom is None:
                continue
            seq.append(self._quantifier(atom))
        return seq

    def _quantifier(self, atom: Any) -> Any:
        p = self.p
        if self.i >= len(p):
            return atom
        c = p[self.i]
        lo: int
        hi: float
        if c == "*":
            lo, hi = 0, math.inf
            self.i += 1
        elif c == "+":
            lo, hi = 1, math.inf
            self.i += 1
        elif c == "?":
            lo, hi = 0, 1
            self.i += 1
        elif c == "{":
            end = p.find("}", self.i)
            body = p[self.i + 1 : end] if end != -1 else ""
            parts = body.split(",")
            if (
                end == -1
                or not parts[0].isdigit()
                or len(parts) > 2
                or (len(parts) == 2 and parts[1] and not parts[1].isdigit())
            ):
                return atom  # a literal "{"
            lo = int(parts[0])
            hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else math.inf)
            self.i = end + 1
        else:
            return atom
        if self.i < len(p) and p[self.i] == "?":
            self.i += 1  # lazy: same values in randexp
        return ("repeat", atom, lo, hi)

    def _escape_class(self, c: str) -> tuple[list[tuple[int, int]], bool] | None:
        return _CLASS_ESCAPES.get(c)

    def _escape_char(self) -> int:
        p = self.p
        c = p[self.i]
        self.i += 1
        simple = {"n": 10, "r": 13, "t": 9, "v": 11, "f": 12, "0": 0}
        if c in simple:
            return simple[c]
        if c == "x" and self.i + 2 <= len(p):
            code = int(p[self.i : self.i + 2], 16)
            self.i += 2
            return code
        if c == "u" and self.i + 4 <= len(p):
            code = int(p[self.i : self.i + 4], 16)
            self.i += 4
            return code
        if c == "c" and self.i < len(p):
            code = ord(p[self.i]) % 32
            self.i += 1
            return code
        return ord(c)

    def _atom(self) -> Any:
        p = self.p
        c = p[self.i]
        if c == "(":
            self.i += 1
            remember = True
            lookahead = False
            if p.startswith("?:", self.i):
                remember = False
                self.i += 2
            elif p.startswith("?=", self.i) or p.startswith("?!", self.i):
                lookahead = True
                remember = False
                self.i += 2
            index = 0
            if remember:
                self.groups += 1
                index = self.groups
            node = self._alternation()
            if self.i >= len(p) or p[self.i] != ")":
                raise ExampleError(f"unterminated group in pattern {p!r}")
            self.i += 1
            if lookahead:
                return ("empty",)
            return ("group", node, index)
        if c == "[":
            return self._class()
        if c == ".":
            self.i += 1
            return ("set", [(10, 10)], True)
        if c in "^$":
            self.i += 1
            return ("empty",)
        if c == "\\":
            self.i += 1
            if self.i >= len(p):
                raise ExampleError(f"trailing backslash in pattern {p!r}")
            e = p[self.i]
            cls = self._escape_class(e)
            if cls is not None:
                self.i += 1
                return ("set", cls[0], cls[1])
            if e in "bB":
                self.i += 1
                return ("empty",)
            if e.isdigit() and e != "0":
                j = self.i
                while j < len(p) and p[j].isdigit():
                    j += 1
                ref = int(p[self.i : j])
                self.i = j
                return ("ref", ref)
            return ("char", self._escape_char())
        self.i += 1
        return ("char", ord(c))

    def _class(self) -> Any:
        p = self.p
        self.i += 1
        negated = False
        if self.i < len(p) and p[self.i] == "^":
            negated = True
            self.i += 1
        ranges = _Ranges()
        first = True
        while self.i < len(p) and (p[self.i] != "]" or False):
            c = p[self.i]
            if c == "]" and not first:
                break
            first = False
            if c == "\\":
                self.i += 1
                e = p[self.i]
                cls = self._escape_class(e)
                if cls is not None:
                    self.i += 1
                    sub = _Ranges(cls[0])
                    if cls[1]:
                        sub = sub.subtract_from_default()
                    for lo, hi in sub.ranges:
                        ranges.add(lo, hi)
                    continue
                if e == "b":
                    self.i += 1
                    lo_code = 8
                else:
                    lo_code = self._escape_char()
            else:
                lo_code = ord(c)
                self.i += 1
            if self.i + 1 < len(p) and p[self.i] == "-" and p[self.i + 1] != "]":
                self.i += 1
                c2 = p[self.i]
                if c2 == "\\":
                    self.i += 1
                    hi_code = self._escape_char()
                else:
                    hi_code = ord(c2)
                    self.i += 1
                if hi_code < lo_code:
                    raise ExampleError(f"range out of order in character class of pattern {p!r}")
                ranges.add(lo_code, hi_code)
            else:
                ranges.add(lo_code, lo_code)
        if self.i >= len(p):
            raise ExampleError(f"unterminated character class in pattern {p!r}")
        self.i += 1
        return ("set", ranges.ranges, negated)


def randexp(pattern: str) -> str:
    """The string randexp generates for ``pattern`` with the random function fixed at 0.15."""
    tree = _Regex(pattern).parse()
    groups: dict[int, str] = {}
    return _gen_regex(tree, groups)


def _gen_regex(node: Any, groups: dict[int, str]) -> str:
    kind = node[0]
    if kind == "alt":
        options = node[1]
        seq = options[math.floor(R * len(options))]
        return "".join(_gen_regex(t, groups) for t in seq)
    if kind == "group":
        text = _gen_regex(node[1], groups)
        if node[2]:
            groups[node[2]] = text
        return text
    if kind == "char":
        return chr(node[1])
    if kind == "set":
        ranges = _Ranges(node[1])
        ranges = ranges.subtract_from_default() if node[2] else ranges.intersect_default()
        size = len(ranges)
        if size == 0:
            return ""
        return chr(ranges.index(math.floor(R * size)))
    if kind == "repeat":
        lo, hi = node[2], node[3]
        if hi == math.inf:
            hi = lo + RANDEXP_MAX
        n = int(rand_int(lo, hi))
        return "".join(_gen_regex(node[1], groups) for _ in range(n))
    if kind == "ref":
        return groups.get(node[1], "")
    return ""


# --------------------------------------------------------------------------------------- faker


def _pick(values: list[Any]) -> Any:
    return values[math.floor(R * len(values))]


def _gen_string(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return DATE_TIME
    if fmt == "uri-reference":
        return URI_REFERENCE
    if fmt is not None and fmt in _OTHER_FORMATS:
        return _OTHER_FORMATS[fmt]
    if isinstance(schema.get("pattern"), str):
        return randexp(schema["pattern"])
    min_len = schema.get("minLength") or 0
    max_len = schema.get("maxLength")
    upper = rand_int(min_len, max_len if isinstance(max_len, (int, float)) else MAX_SAFE)
    text = "dolor"
    while len(text) < min_len:
        text += "dolor"
    return text[: int(upper)] if upper < len(text) else text


# Formats json-schema-faker generates itself (not used by schemas without examples in Wikimedia's
# repositories); fixed values keep the output deterministic.
# (values observed from json-schema-faker with random fixed at 0.15; ``date`` depends on the clock there)
_OTHER_FORMATS = {
    "date": "2021-01-01",
    "email": "jjjj@hhhhh.dd",
    "hostname": "hhhhh.dd",
    "ipv4": "38.38.38.38",
    "uri": "http://hhhhh.ddhjhj",
    "uuid": "22222222-2222-2222-2222-222222222222",
}


def _gen_number(schema: dict[str, Any], integer: bool) -> int | float:
    lo = schema.get("minimum")
    hi = schema.get("maximum")
    lo = -100000000.0 if not isinstance(lo, (int, float)) or isinstance(lo, bool) else float(lo)
    hi = 100000000.0 if not isinstance(hi, (int, float)) or isinstance(hi, bool) else float(hi)
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
        return _as_number(rand_int(math.ceil(lo / step), math.floor(hi / step)) * step)
    if integer:
        return _as_number(float(math.floor(R * (hi - lo + 1)) + lo))
    return _as_number(R * (hi - lo) + lo)


def _infer_type(schema: dict[str, Any]) -> Any:
    if "type" in schema:
        return schema["type"]
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if "pattern" in schema or "format" in schema or "minLength" in schema or "maxLength" in schema:
        return "string"
    if "minimum" in schema or "maximum" in schema:
        return "number"
    return None


def generate(schema: Any, depth: int = 0) -> Any:
    """One example value for ``schema``."""
    if depth > 64:
        raise ExampleError("schema nests too deeply to generate an example")
    if schema is True or schema is None:
        return None
    if not isinstance(schema, dict):
        raise ExampleError("not a schema")
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("pattern"), str):
        return randexp(schema["pattern"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _pick(schema["enum"])
    for combiner in ("oneOf", "anyOf"):
        if isinstance(schema.get(combiner), list) and schema[combiner] and "type" not in schema:
            return generate(_pick(schema[combiner]), depth + 1)
    t = _infer_type(schema)
    if isinstance(t, list):
        if not t:
            return None
        t = _pick(t)
    if t == "boolean":
        return R > 0.5
    if t == "null":
        return None
    if t == "integer":
        return _gen_number(schema, True)
    if t == "number":
        return _gen_number(schema, False)
    if t == "string":
        return _gen_string(schema)
    if t == "array":
        return _gen_array(schema, depth)
    if t == "object" or t is None:
        return _gen_object(schema, depth)
    return None


def _gen_array(schema: dict[str, Any], depth: int) -> list[Any]:
    items = schema.get("items")
    if items is None:
        return []
    min_items = schema.get("minItems")
    max_items = schema.get("maxItems")
    length = rand_int(min_items or 1, max_items or 5)
    length = max(max_items or length, min_items or 0)
    out: list[Any] = []
    for i in range(int(length)):
        item_schema = items[i] if isinstance(items, list) and i < len(items) else items
        if isinstance(item_schema, list):
            break
        value = generate(item_schema, depth + 1)
        if schema.get("uniqueItems") and value in out:
            continue
        out.append(value)
    return out


def _gen_object(schema: dict[str, Any], depth: int) -> dict[str, Any]:
    props = schema.get("properties")
    out: dict[str, Any] = {}
    if isinstance(props, dict) and props:
        required = [r for r in schema.get("required") or [] if r in props]
        for name in required + [p for p in props if p not in required]:
            out[name] = generate(props[name], depth + 1)
        return out
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        out["dolorb"] = generate(extra, depth + 1)
    return out


def generate_example(schema: dict[str, Any]) -> Any:
    """The example jsonschema-tools adds: ``$schema`` (when generated) set to the schema's ``$id``."""
    example = generate(schema)
    if isinstance(example, dict) and "$schema" in example:
        example["$schema"] = schema.get("$id")
    return example
