"""One table of AJV formats (``schemas.formats``) for intake and ``schema test``: its Python callbacks (error
reports, ``schema test``) and its Rust ``pattern``s (the registry's hot path) agree with each other and with
AJV on tricky values (verdicts recorded from ajv 6.12.6, the reference's version: ``new Ajv()`` default
"fast" formats, one ``{type: string, format: F}`` schema per format, run under Node 20)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest

from eventplatform.errors import Codes, EventInvalid
from eventplatform.schemas.formats import AJV_FORMAT_PATTERNS, FORMATS, KNOWN_FORMATS, formats_as_patterns
from eventplatform.schemas.registry import SchemaRegistry
from eventplatform.schemas.robustness import compile_validator

AJV_VERDICTS: dict[str, list[tuple[str, bool]]] = {
    "date-time": [
        ("2021-01-01T00:00:00Z", True),
        ("2021-01-01t00:00:00z", True),
        ("2021-01-01 00:00:00Z", True),
        ("2021-13-39T00:00:00Z", True),
        ("2020-02-30T00:00:00Z", True),
        ("2021-01-01T23:59:60Z", True),
        ("2021-01-01T15:59:60-08:00", False),
        ("2021-01-01T12:59:60Z", False),
        ("2016-12-31T23:59:60Z", True),
        ("2021-01-01T23:59:60+01:00", True),
        ("2021-01-01T00:00:00+0100", True),
        ("2021-01-01T00:00:00+01", True),
        ("2021-01-01T24:00:00Z", True),
        ("2021-01-01T00:00:00.123456789Z", True),
        ("2021-01-01T00:00:00", False),
        ("2021-01-01T00:00:00.Z", False),
        ("\uff12\uff10\uff12\uff11-01-01T00:00:00Z", False),
        ("2021-01-01T00:00:00+24:00", True),
        ("2021-01-01T00:00:00+23:59", True),
        ("2021-01-01T00:00:00-00:00", True),
        ("2021-01-01T00:00:00+00:60", True),
        ("0000-01-01T00:00:00Z", True),
        ("9999-12-31T23:59:59Z", True),
        ("2021-01-01T00:00:00Z\n", False),
        ("2021-01-01T00:00:00ZZ", False),
        ("2021-01-01T00:00:00+01:00:00", False),
        ("2021-1-01T00:00:00Z", False),
        ("2021-01-01T00:00:00.0000000000000000001Z", True),
        ("2021-02-29T00:00:00Z", True),
        ("2020-02-29T00:00:00Z", True),
        ("1900-02-29T00:00:00Z", True),
        ("2021-04-31T00:00:00Z", True),
        ("2021-01-01\xa000:00:00Z", True),
        ("2021-01-01\t00:00:00Z", True),
        ("2021-06-30T23:59:60Z", True),
        ("2021-01-01T00:60:00Z", False),
        ("2021-01-01T00:00:61Z", False),
        ("2021-01-01\x1c00:00:00Z", False),
        ("2021-01-01\x8500:00:00Z", False),
        ("2021-01-01\ufeff00:00:00Z", True),
        ("2021-01-01\u200a00:00:00Z", True),
        ("*021-01-01T00:00:00Z", False),
        ("2021-01-01T0*:00:00Z", False),
        ("2021-01-01T00:00:00²Z", False),
    ],
    "date": [
        ("2021-01-01", True),
        ("2021-13-39", True),
        ("2020-02-30", True),
        ("2021-02-29", True),
        ("2021-1-1", False),
        ("2021-01-01Z", False),
        ("2021-01-01\n", False),
        ("0000-00-00", True),
        ("*021-01-01", False),
        ("+021-01-01", False),
        ("2021-0+-01", False),
    ],
    "time": [
        ("00:00:00Z", True),
        ("00:00:00", True),
        ("23:59:60Z", True),
        ("15:59:60-08:00", False),
        ("12:59:60Z", False),
        ("00:00:00+0100", True),
        ("24:00:00Z", True),
        ("00:00:00.5z", True),
        ("00:00:00+01", True),
        ("12:00:00-00:00", True),
        ("12:00:00Z\n", False),
        ("0*:00:00Z", False),
        ("0+:00:00Z", False),
        ("00:00:00\n", False),
    ],
    "uri": [
        ("http://a", True),
        ("a:b", True),
        ("a:", True),
        ("HTTP://x", True),
        ("http://a b", False),
        ("http://ä", True),
        ("mailto:x@y", True),
        ("http://[::1]", True),
        ("http://a/%zz", True),
        ("http://a/\\b", True),
        ("urn:x#y#z", True),
        ("a:b\n", False),
        ("x", False),
        ("1a:b", False),
        ("http://a:99999", True),
        ("http://a/%", True),
        ("a+b.c-d:x", True),
        ("http://a/b?c#d", True),
        ("http://a/<>", True),
        ("http://a/{x}", True),
        ("http://a/|", True),
        ("http://a/\x1cb", True),
        ("http://a/\x85b", True),
        ("http://a/\ufeffb", False),
        ("http://a/\u3000b", False),
        ("\u017f:x", False),
        ("K:x", True),
    ],
    "uri-reference": [
        ("", True),
        ("/a/b", True),
        ("a b", False),
        ("#x", True),
        ("##", True),
        ("#x#y", True),
        ("\\a", False),
        ("a\\b", True),
        ("//a", True),
        ("http://a", True),
        ("a:b", True),
        ("../a", True),
        ("?q", True),
        ("http://ä", True),
        ("%zz", True),
        ("a/%", True),
        ("/<>", True),
        ("{x}", True),
        ("|", True),
        ("http://[::1]/", True),
        ("a#b\\c", False),
        ("a\n", False),
        ("http://a b", False),
        ("//a/b?c#d", True),
        ("mw:Extension:EventLogging", True),
        ("https://en.wikipedia.org/wiki/Special:Random/1", True),
        ("http://a:b@c:80/d", True),
        ("http://[v1.x]/", True),
        ("http://[::1", True),
        ("http://a:x/", True),
        ("/a b", False),
        ("\x00", True),
        ("a^b", True),
        ("`", True),
        ('"', True),
        ("http://a/é", True),
        ("a\x1cb", True),
        ("a\x85b", True),
        ("a\ufeffb", False),
        ("#a\\b", False),
        ("\\", False),
        ("a:\\b", True),
        ("\u017f:#", True),
        ("http://a/\u2028", False),
    ],
    # intake and ``schema test`` used to disagree on the first two (issue 9)
    "url": [
        ("http://.example.org/x", False),
        ("http://$x", False),
        ("http://example.org", True),
        ("https://example.org/x?y#z", True),
        ("ftp://ftp.example.org/", True),
        ("HTTP://EXAMPLE.ORG", True),
        ("http://localhost/", False),
        ("http://localhost:8080/", False),
        ("http://127.0.0.1/", False),
        ("http://10.0.0.1/", False),
        ("http://192.168.1.1/", False),
        ("http://172.16.0.1/", False),
        ("http://172.32.0.1/", True),
        ("http://8.8.8.8/", True),
        ("http://8.8.8.255/", False),
        ("http://224.0.0.1/", False),
        ("http://user:pass@example.org/", True),
        ("http://@example.org/", False),
        ("http://example.org:1/", False),
        ("http://example.org:80/", True),
        ("http://example.org:123456/", False),
        ("http://bücher.de/", True),
        ("http://例子.测试/", True),
        ("http://a-.example.org/", False),
        ("http://-a.example.org/", False),
        ("http://a--b.example.org/", False),
        ("http://example.o/", False),
        ("http://example.org/a b", False),
        ("http://example.org/\xa0", False),
        ("http://example.org/\x1c", True),
        ("http://example.org/x\n", False),
        ("http://example.org\u2028", True),
        ("http\u017f://example.org/", True),
        ("https\u017f://example.org/", False),
        ("mailto:a@example.org", False),
        ("//example.org/", False),
        ("http://example.org?x", False),
        ("http://example.org#x", False),
        ("http://[::1]/", False),
        ("http://example.123/", False),
        ("http://ex_ample.org/", False),
        ("http://example.org./", False),
        ("http://\U0001f600.org/", False),
        ("http://example.org/\U0001f600", True),
    ],
    "ipv6": [
        ("::1", True),
        (" ::1 ", True),
        ("::1%eth0", True),
        ("::1%", False),
        ("::1%\n", False),
        ("::1% ", True),
        ("::1%a\n", True),
        ("::1%a\nb", False),
        ("fe80::1%25en0", True),
        ("::ffff:1.2.3.4", True),
        ("::ffff:01.2.3.4", False),
        ("1:2:3:4:5:6:7:8", True),
        ("1:2:3:4:5:6:7:8:9", False),
        ("1::2::3", False),
        (":::", False),
        ("::", True),
        ("1::", True),
        ("\u3000::1\ufeff", True),
        ("::1 %x", False),
    ],
    "email": [
        ("a@b", True),
        ("a@b.c", True),
        ("a.b+c@d-e.org", True),
        ("@b.c", False),
        ("a@-b.c", False),
        ("a@b..c", False),
        ("Ä@b.c", False),
    ],
    "hostname": [
        ("example.org", True),
        ("example.org.", True),
        ("-a.org", False),
        ("a" * 64 + ".org", False),
        ("a_b.org", False),
        ("", False),
    ],
}

SEEDS = {
    "date-time": ["2021-01-01T00:00:00Z", "2016-12-31T23:59:60.5+00:00", "1999-12-31t23:59:59.999z"],
    "time": ["00:00:00Z", "23:59:60+00:00", "12:34:56.7-01:30"],
    "date": ["2021-01-01", "2020-02-29"],
    "uri": ["http://a.b/c?d=e#f", "urn:isbn:123", "http://[::1]:80/x%20y"],
    "uri-reference": ["//a/b?c#d", "../x/y", "#frag", "http://u:p@h:1/p?q#f", "mw:Extension:X"],
}
ALPHABET = "0123456789:-+.TtZz /#?%@[]\\!$&'()*,;=~_abcxyzA\u00e9\u00a0\t\n\x1c\x85\ufeff\u2028{}|^`\"<>"


def mutations(seed: str, rng: random.Random) -> str:
    s = list(seed)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(s) + 1)
        op = rng.random()
        if op < 0.4 and s:
            s[min(i, len(s) - 1)] = rng.choice(ALPHABET)
        elif op < 0.7:
            s.insert(i, rng.choice(ALPHABET))
        elif s:
            del s[min(i, len(s) - 1)]
    return "".join(s)


def pattern_validator(fmt: str) -> jsonschema_rs.Validator:
    schema = formats_as_patterns({"type": "string", "format": fmt, "maxLength": 100})
    assert "format" not in schema and schema["pattern"] == AJV_FORMAT_PATTERNS[fmt]
    return jsonschema_rs.validator_for(schema)


@pytest.mark.parametrize("fmt", sorted(AJV_VERDICTS))
def test_callbacks_and_patterns_give_ajvs_verdicts(fmt: str) -> None:
    rust = pattern_validator(fmt) if fmt in AJV_FORMAT_PATTERNS else None
    for value, ajv in AJV_VERDICTS[fmt]:
        assert FORMATS[fmt](value) is ajv, (fmt, value)
        assert rust is None or rust.is_valid(value) is ajv, (fmt, value)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_callbacks_and_patterns_agree_on_fuzzed_values(fmt: str) -> None:
    rng = random.Random(fmt)
    rust = pattern_validator(fmt)
    accepted = 0
    for _ in range(4000):
        value = mutations(rng.choice(SEEDS[fmt]), rng)
        verdict = FORMATS[fmt](value)
        accepted += verdict
        assert rust.is_valid(value) is verdict, (fmt, value)
    assert 0 < accepted < 4000  # the fuzz reaches both sides of the boundary


def _registry_schema(tmp_path: Path, properties: dict[str, object]) -> Any:
    """A schema with ``properties`` compiled by the intake registry (both validators)."""
    (tmp_path / "t").mkdir(exist_ok=True)
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "properties": properties}
    (tmp_path / "t" / "1.0.0.json").write_bytes(orjson.dumps(schema))
    return asyncio.run(SchemaRegistry([str(tmp_path)]).get("/t/1.0.0.json"))


@pytest.mark.parametrize("fmt", sorted(AJV_VERDICTS))
def test_intake_and_schema_test_give_ajvs_verdicts(tmp_path: Path, fmt: str) -> None:
    """Both paths of issue 9 (the registry's two validators, and ``schema test``'s example validator) take
    their formats from the one table, so they give AJV's verdict on the values they used to disagree on."""
    compiled = _registry_schema(tmp_path, {"v": {"type": "string", "format": fmt, "maxLength": 1000}})
    repo_test = compile_validator(
        {"type": "object", "properties": {"v": {"type": "string", "format": fmt, "maxLength": 1000}}}
    )
    for value, ajv in AJV_VERDICTS[fmt]:
        event = {"v": value}
        assert compiled.is_valid(event) is ajv, (fmt, value)  # hot path
        assert compiled.validator.is_valid(event) is ajv, (fmt, value)  # the one that reports errors
        assert (compiled.validate(event) == ()) is ajv, (fmt, value)
        assert repo_test.is_valid(event) is ajv, (fmt, value)
        if not ajv:
            assert [d.keyword for d in compiled.validate(event)] == ["format"]


def test_registry_formats_do_not_depend_on_jsonschema_rs(tmp_path: Path) -> None:
    """jsonschema-rs's native checks differ from AJV and change between its releases (0.61 refuses
    ``*021-…``, older ones accepted it); ours replace them for every format AJV knows, so the registry's
    verdicts stay AJV's whatever jsonschema-rs version is installed."""
    compiled = _registry_schema(
        tmp_path,
        {
            "dt": {"type": "string", "format": "date-time", "maxLength": 100},
            "day": {"type": "string", "format": "date", "maxLength": 100},
            "mail": {"type": "string", "format": "email", "maxLength": 100},
            "host": {"type": "string", "format": "hostname", "maxLength": 300},
        },
    )
    cases = [
        ({"dt": "*021-01-01T00:00:00Z"}, False),
        ({"dt": "2021-01-01T15:59:60-08:00"}, False),  # leap second at an offset: AJV refuses
        ({"dt": "2021-13-39 25:00:00+0100"}, True),  # AJV's fast mode checks the shape of the digits only
        ({"dt": "2021-01-01T30:00:00Z"}, False),
        ({"day": "2021-02-30"}, True),
        ({"mail": "a@b"}, True),
        ({"host": "a" * 64 + ".org"}, False),
    ]
    for event, ajv in cases:
        assert compiled.is_valid(event) is ajv and compiled.validator.is_valid(event) is ajv, event


def test_a_format_ajv_does_not_know_is_a_compile_error_in_both_paths(tmp_path: Path) -> None:
    """jsonschema-rs knows ``duration``; AJV 6 refuses to compile a schema that uses it, and so do we."""
    assert "duration" not in KNOWN_FORMATS
    with pytest.raises(EventInvalid) as info:
        _registry_schema(tmp_path, {"d": {"type": "string", "format": "duration", "maxLength": 100}})
    assert info.value.code == Codes.SCHEMA_INVALID
    assert "unknown format 'duration' is used in schema" in info.value.message
    with pytest.raises(ValueError, match="unknown format 'duration' is used in schema"):
        compile_validator({"properties": {"d": {"type": "string", "format": "duration"}}})


def test_rewrite_touches_schema_positions_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "format": {"type": "string", "enum": ["date-time"]},  # a property named "format"
            "when": {"type": "string", "format": "date-time", "pattern": "^2", "default": "x"},
            "list": {"type": "array", "items": {"type": "string", "format": "uri"}},
            "any": {"anyOf": [{"format": "date"}, {"format": "url"}]},
        },
        "definitions": {"t": {"format": "time", "allOf": [{"minLength": 1}], "pattern": "0"}},
        "examples": [{"format": "date"}],
        "const": {"format": "date"},
    }
    out = formats_as_patterns(schema)
    assert out["properties"]["format"] == schema["properties"]["format"]
    assert out["properties"]["when"] == {
        "type": "string",
        "pattern": "^2",
        "default": "x",
        "allOf": [{"pattern": AJV_FORMAT_PATTERNS["date-time"]}],
    }
    assert out["properties"]["list"]["items"] == {"type": "string", "pattern": AJV_FORMAT_PATTERNS["uri"]}
    assert out["properties"]["any"]["anyOf"] == [{"pattern": AJV_FORMAT_PATTERNS["date"]}, {"format": "url"}]
    assert out["definitions"]["t"]["allOf"] == [{"minLength": 1}, {"pattern": AJV_FORMAT_PATTERNS["time"]}]
    assert out["examples"] == schema["examples"] and out["const"] == schema["const"]
    assert schema["properties"]["when"]["format"] == "date-time"  # the original is not modified


SCHEMA = """
title: test/formats
$id: /test/formats/1.0.0
$schema: https://json-schema.org/draft-07/schema#
type: object
properties:
  dt: {type: string, format: date-time, maxLength: 128}
  uri: {type: string, format: uri-reference, maxLength: 8192}
  day: {$ref: '#/definitions/day'}
definitions:
  day: {type: string, format: date, pattern: '^2', maxLength: 10}
"""


def test_compiled_schema_hot_path_and_error_report(tmp_path: Path) -> None:
    (tmp_path / "test/formats").mkdir(parents=True)
    (tmp_path / "test/formats/1.0.0").write_text(SCHEMA)
    compiled = asyncio.run(SchemaRegistry([str(tmp_path)]).get("/test/formats/1.0.0"))
    assert compiled.fast is not None
    good = {"dt": "2021-13-39 25:00:00+0100", "uri": "/wiki/Ünïcode_title?", "day": "2021-02-30"}
    assert compiled.is_valid(good) and compiled.validate(good) == ()
    assert compiled.validator.is_valid(good)
    for bad, path in [
        ({"dt": "2021-01-01T15:59:60-08:00"}, "/dt"),
        ({"dt": "2021-01-01T00:00:00Z\n"}, "/dt"),
        ({"uri": "a b"}, "/uri"),
        ({"day": "1999-01-01"}, "/day"),
    ]:
        assert not compiled.is_valid(bad) and not compiled.validator.is_valid(bad)
        details = compiled.validate(bad)
        assert [d.instance_path for d in details] == [path]
        assert details[0].keyword == ("pattern" if path == "/day" else "format")
