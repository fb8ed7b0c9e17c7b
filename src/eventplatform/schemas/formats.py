"""AJV 6's "fast" string formats: the one table used by intake (the registry) and by ``schema test``.

The reference validates with ajv 6.12.6 in its default "fast" mode (reference/intake.md §4.5,
reference/schema-repository.md), so a format here accepts exactly what that AJV accepts, no more and no
less: ``date-time`` checks only the shape of the digits (``2021-19-39T29:59:59Z`` passes), ``uri-reference``
accepts almost anything without whitespace, ``url`` refuses private IPv4 hosts and names without a
top-level domain. JavaScript regex semantics apply: ``\\d`` is ASCII, ``\\s`` is JavaScript's whitespace
(not Python's), ``$`` is the end of the string (not "before a final newline") and ``/i`` folds ASCII
letters only. The expressions are written here from those rules; tests/schemas/test_formats.py holds
verdicts recorded from ajv 6.12.6 and checks every entry against them.

:data:`AJV_FORMAT_PATTERNS` are written in the common subset of JavaScript, Python and Rust regex syntax
(explicit classes, ``/i`` spelled as ``[tT]``) so that each is used twice: as the Python callback in
:data:`FORMATS` (the validator that reports errors) and, through :func:`formats_as_patterns`, as a Rust
``pattern`` in the registry's hot-path validator. Formats without such a pattern are callbacks only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

# JavaScript's \s (ECMAScript WhiteSpace + LineTerminator).
_JS_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_TIME = r"(?:[0-2][0-9]:[0-5][0-9]:[0-5][0-9]|23:59:60)(?:\.[0-9]+)?"
_ZONE = r"(?:[zZ]|[+-][0-9]{2}(?::?[0-9]{2})?)"
_URI_SCHEME = r"[a-zA-Z][a-zA-Z0-9+\-.]*"

#: Formats whose AJV check is one regex that Rust, Python and JavaScript read alike.
AJV_FORMAT_PATTERNS: dict[str, str] = {
    "date": r"^[0-9]{4}-[0-1][0-9]-[0-3][0-9]$",
    "time": rf"^{_TIME}{_ZONE}?$",
    "date-time": rf"^[0-9]{{4}}-[0-1][0-9]-[0-3][0-9][tT{_JS_WS}]{_TIME}{_ZONE}$",
    # scheme, then an optional "/" and "/", then anything without whitespace
    "uri": rf"^{_URI_SCHEME}:(?:/?/)?[^{_JS_WS}]*$",
    # optional "scheme:" + "//" or "/", a path that neither starts with a backslash nor holds "#",
    # then at most one fragment without backslashes
    "uri-reference": rf"^(?:(?:{_URI_SCHEME}:)?/?/)?(?:[^\\{_JS_WS}#][^{_JS_WS}#]*)?(?:#[^\\{_JS_WS}]*)?$",
}

_FLAGS = re.ASCII | re.IGNORECASE


def _full(pattern: str, flags: int = _FLAGS) -> Callable[[str], bool]:
    """A full-match checker, compiled on first use (start-up time matters for the CLI)."""
    compiled: list[re.Pattern[str]] = []

    def check(value: str) -> bool:
        if not compiled:
            compiled.append(re.compile(pattern, flags | re.VERBOSE))
        return compiled[0].fullmatch(value) is not None

    return check


def _from_pattern(source: str) -> Callable[[str], bool]:
    # JavaScript's ``$`` (no m flag) is the end of the string; Python's would also match before a final "\n"
    pattern = re.compile(source[:-1] + r"\Z")
    return lambda value: pattern.match(value) is not None


_OCTET = r"(?: 25[0-5] | 2[0-4][0-9] | [01]?[0-9][0-9]? )"

# ``url``: scheme "http"/"https"/"ftp" (ASCII case-insensitive; AJV's transpiled /iu regex also takes a long
# s, U+017F, for the "s"), optional userinfo, a public dotted-quad IPv4 or a host name with a top-level
# domain of 2+ letters, an optional port of 2-5 digits, an optional path; no JavaScript whitespace anywhere.
_URL_CHAR = rf"[^{_JS_WS}]"
_HOST_CHAR = "[0-9a-z\u00a1-\ud7ff\ue000-\uffff]"  # BMP only: AJV refuses astral characters in host names
_TLD_CHAR = "[a-z\u00a1-\ud7ff\ue000-\uffff]"
_LABEL = rf"(?: {_HOST_CHAR}+ - )* {_HOST_CHAR}+"
_PRIVATE_IPV4 = (
    r"(?! 10 (?: \.[0-9]{1,3} ){3} )"
    r"(?! 127 (?: \.[0-9]{1,3} ){3} )"
    r"(?! 169\.254 (?: \.[0-9]{1,3} ){2} )"
    r"(?! 192\.168 (?: \.[0-9]{1,3} ){2} )"
    r"(?! 172\. (?: 1[6-9] | 2[0-9] | 3[01] ) (?: \.[0-9]{1,3} ){2} )"
)
_PUBLIC_IPV4 = (
    rf"{_PRIVATE_IPV4}"
    r"(?: [1-9][0-9]? | 1[0-9][0-9] | 2[01][0-9] | 22[0-3] )"  # 1-223: no 0.x, multicast or reserved
    r"(?: \. (?: 1?[0-9]{1,2} | 2[0-4][0-9] | 25[0-5] ) ){2}"
    r"(?: \. (?: [1-9][0-9]? | 1[0-9][0-9] | 2[0-4][0-9] | 25[0-4] ) )"  # no .0, no .255
)
_URL = (
    "(?: https? | http\u017f | ftp ) ://"
    rf"(?: {_URL_CHAR}+ (?: : {_URL_CHAR}* )? @ )?"
    rf"(?: {_PUBLIC_IPV4} | {_LABEL} (?: \. {_LABEL} )* \. {_TLD_CHAR}{{2,}} )"
    r"(?: : [0-9]{2,5} )?"
    rf"(?: / {_URL_CHAR}* )?"
)

FORMATS: dict[str, Callable[[str], bool]] = {
    **{name: _from_pattern(rx) for name, rx in AJV_FORMAT_PATTERNS.items()},
    "uri-template": _full(
        r"(?: (?: [^\x00-\x20\"'<>%\\^`{|}] | %[0-9a-f]{2} )"
        r"  | \{ [+\#./;?&=,!@|]? (?: [a-z0-9_] | %[0-9a-f]{2} )+ (?: :[1-9][0-9]{0,3} | \* )?"
        r"      (?: , (?: [a-z0-9_] | %[0-9a-f]{2} )+ (?: :[1-9][0-9]{0,3} | \* )? )* \} )*"
    ),
    # not re.ASCII: host names may be non-ASCII (the letters of the URL's own syntax fold as ASCII ones do)
    "url": _full(_URL, re.IGNORECASE),
    "email": _full(
        r"[a-z0-9.!\#$%&'*+/=?^_`{|}~-]+ @ [a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
        r"(?: \. [a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])? )*"
    ),
    "hostname": _full(
        r"(?= .{1,253} \.?\Z ) [a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
        r" (?: \. [a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])? )* \.?"
    ),
    "ipv4": _full(rf"(?: {_OCTET} \. ){{3}} {_OCTET}"),
    "uuid": _full(r"(?: urn:uuid: )? [0-9a-f]{8} - (?: [0-9a-f]{4} - ){3} [0-9a-f]{12}"),
    "json-pointer": _full(r"(?: / (?: [^~/] | ~0 | ~1 )* )*", re.NOFLAG),
    "json-pointer-uri-fragment": _full(
        r"\# (?: / (?: [a-z0-9_\-.!$&'()*+,;:=@] | %[0-9a-f]{2} | ~0 | ~1 )* )*"
    ),
    "relative-json-pointer": _full(
        r"(?: 0 | [1-9][0-9]* ) (?: \# | (?: / (?: [^~/] | ~0 | ~1 )* )* )", re.NOFLAG
    ),
}

_JS_WS_CHARS = (
    "\t\n\v\f\r \u00a0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_LINE_TERMINATOR = re.compile("[\n\r\u2028\u2029]")


def _ipv6(value: str) -> bool:
    """AJV's ipv6: an IPv6 address (IPv4 tail allowed), an optional ``%zone``, JavaScript whitespace around.

    The zone is AJV's ``%.+``: one or more characters up to the first line terminator, after which only
    whitespace may follow."""
    address, percent, zone = value.lstrip(_JS_WS_CHARS).partition("%")
    if percent:
        end = _JS_LINE_TERMINATOR.search(zone)
        if end is not None and (end.start() == 0 or zone[end.start() :].strip(_JS_WS_CHARS)):
            return False
        if not zone:
            return False
    else:
        address = address.rstrip(_JS_WS_CHARS)
    if not address.isascii():
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")


def _regex(value: str) -> bool:
    """Whether the string compiles as a regular expression (JS ``\\Z`` is refused, as AJV does)."""
    if re.search(r"[^\\]\\Z", value):
        return False
    try:
        re.compile(_NAMED_GROUP.sub("(?P<", value))
    except (re.error, RecursionError, OverflowError):
        return False
    return True


FORMATS["ipv6"] = _ipv6
FORMATS["regex"] = _regex

#: Every format name AJV 6 knows; any other ``format`` makes AJV refuse to compile the schema.
KNOWN_FORMATS: frozenset[str] = frozenset(FORMATS)

_NOT_SCHEMAS = frozenset({"examples", "enum", "const", "default"})


def formats_used(schema: Any) -> set[str]:
    """Every ``format`` value in schema positions (AJV refuses unknown formats when compiling)."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _NOT_SCHEMAS:
                    continue
                if key == "format" and isinstance(value, str):
                    found.add(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return found


def unknown_formats_message(schema: Any) -> str | None:
    """AJV's compile error for formats it does not know (jsonschema-rs knows more, e.g. ``duration``)."""
    unknown = sorted(formats_used(schema) - KNOWN_FORMATS)
    if not unknown:
        return None
    return "unknown format " + ", ".join(repr(f) for f in unknown) + " is used in schema"


# keywords whose value is a subschema / a list of subschemas / a map of name -> subschema
_SUB_ONE = (
    "additionalProperties",
    "additionalItems",
    "items",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "not",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_SUB_LIST = ("allOf", "anyOf", "oneOf", "items", "prefixItems")
_SUB_MAP = ("properties", "patternProperties", "definitions", "$defs", "dependencies", "dependentSchemas")


def formats_as_patterns(schema: Any, depth: int = 0) -> Any:
    """A copy of ``schema`` whose pattern-able ``format``s are ``pattern``s (same verdicts, checked in Rust).

    Only schema positions are rewritten (never ``enum``/``const``/``default``/``examples`` values nor a
    property that happens to be named ``format``); a node that already has a ``pattern`` gets the format's
    pattern in ``allOf``. Formats without a pattern (``url``, ``email``…) stay formats."""
    if not isinstance(schema, dict) or depth > 200:
        return schema
    out = dict(schema)
    fmt = out.get("format")
    if isinstance(fmt, str) and fmt in AJV_FORMAT_PATTERNS:
        rx = AJV_FORMAT_PATTERNS[fmt]
        all_of = out.get("allOf")
        if "pattern" not in out:
            del out["format"]
            out["pattern"] = rx
        elif all_of is None or isinstance(all_of, list):
            del out["format"]
            out["allOf"] = [*(all_of or ()), {"pattern": rx}]
    for kw in _SUB_ONE:
        sub = out.get(kw)
        if isinstance(sub, dict):
            out[kw] = formats_as_patterns(sub, depth + 1)
    for kw in _SUB_LIST:
        subs = out.get(kw)
        if isinstance(subs, list):
            out[kw] = [formats_as_patterns(x, depth + 1) for x in subs]
    for kw in _SUB_MAP:
        subs = out.get(kw)
        if isinstance(subs, dict):
            out[kw] = {k: formats_as_patterns(v, depth + 1) for k, v in subs.items()}
    return out
