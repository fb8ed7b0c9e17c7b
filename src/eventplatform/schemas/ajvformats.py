"""String formats that accept what AJV 6 accepts in its default "fast" mode.

The repository tests validate examples (and schemas against the draft-07 meta-schema) the way the
reference does, so a format must be exactly as lenient as AJV's: ``date-time`` checks only the shape of
the digits (``2021-19-39T29:59:59Z`` passes), ``uri-reference`` accepts almost anything without
whitespace. JS regex semantics apply: ``\\d`` is ASCII, ``\\s`` is JS whitespace, ``$`` is the end of the
string (not "before a final newline" as in Python), and ``/i`` folds ASCII letters only.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# JavaScript's \s (ECMAScript WhiteSpace + LineTerminator).
_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_FLAGS = re.ASCII | re.IGNORECASE


def _full(pattern: str, flags: int = _FLAGS) -> Callable[[str], bool]:
    """A full-match checker, compiled on first use (start-up time matters for the CLI)."""
    compiled: list[re.Pattern[str]] = []

    def check(value: str) -> bool:
        if not compiled:
            compiled.append(re.compile(pattern, flags | re.VERBOSE))
        return compiled[0].fullmatch(value) is not None

    return check


_D2 = "[0-9]{2}"
_OCTET = r"(?: 25[0-5] | 2[0-4][0-9] | [01]?[0-9][0-9]? )"
_ZONE = rf"(?: z | [+-]{_D2} (?: :? {_D2})? )"
_CLOCK = r"(?: [0-2][0-9] : [0-5][0-9] : [0-5][0-9] | 23:59:60 ) (?: \.[0-9]+ )?"

FORMATS: dict[str, Callable[[str], bool]] = {
    "date": _full(r"[0-9]{4} - [0-1][0-9] - [0-3][0-9]"),
    "time": _full(rf"{_CLOCK} {_ZONE}?"),
    "date-time": _full(rf"[0-9]{{4}} - [0-1][0-9] - [0-3][0-9] [t{_WS}] {_CLOCK} {_ZONE}"),
    # scheme, then an optional "/" and "/", then anything without whitespace
    "uri": _full(rf"[a-z][a-z0-9+\-.]* : (?: /? / )? [^{_WS}]*"),
    # optional "scheme:" + "//" or "/", a path that neither starts with a backslash nor holds "#",
    # then at most one fragment without backslashes
    "uri-reference": _full(
        rf"(?: (?: [a-z][a-z0-9+\-.]* : )? /? / )? (?: [^\\{_WS}\#] [^{_WS}\#]* )? (?: \# [^\\{_WS}]* )?"
    ),
    "uri-template": _full(rf"(?: [^{_WS}{{}}] | \{{ [^{_WS}{{}}]+ \}} )*"),
    "url": _full(rf"(?: https? | ftp ) :// [^{_WS}/$.?\#] [^{_WS}]*"),
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
    "json-pointer": _full(r"(?: / (?: [^~/] | ~0 | ~1 )* )*", re.ASCII),
    "json-pointer-uri-fragment": _full(
        r"\# (?: / (?: [a-z0-9_\-.!$&'()*+,;:=@] | %[0-9a-f]{2} | ~0 | ~1 )* )*"
    ),
    "relative-json-pointer": _full(
        r"(?: 0 | [1-9][0-9]* ) (?: \# | (?: / (?: [^~/] | ~0 | ~1 )* )* )", re.ASCII
    ),
}


def _ipv6(value: str) -> bool:
    import ipaddress

    if "%" in value or value.strip() != value:
        return False
    try:
        ipaddress.IPv6Address(value)
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
