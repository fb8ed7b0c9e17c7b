"""SchemaRegistry: resolution, refusals before I/O, caching, http bases over real sockets, AJV errors."""

from __future__ import annotations

import asyncio
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventplatform.errors import Codes, EventError, EventInvalid
from eventplatform.schemas.ajv import ajv_errors, data_path
from eventplatform.schemas.loading import SchemaLoader
from eventplatform.schemas.registry import SchemaRegistry, insecure_reasons
from tests.schemas.primary_fixture import fixture_path

SCHEMA = """
title: test/simple
$id: /test/simple/1.0.0
$schema: https://json-schema.org/draft-07/schema#
type: object
required: [meta]
additionalProperties: false
properties:
  $schema: {type: string}
  page_namespace: {type: integer}
  on: {type: string, default: "yes"}
  meta:
    type: object
    required: [dt, stream]
    properties:
      dt: {type: string, format: date-time, maxLength: 128}
      stream: {type: string, minLength: 1}
      uri: {type: string, format: uri-reference, maxLength: 8192}
"""


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "test" / "simple").mkdir(parents=True)
    (tmp_path / "test" / "simple" / "1.0.0.yaml").write_text(SCHEMA)
    (tmp_path / "test" / "draft4").mkdir(parents=True)
    (tmp_path / "test" / "draft4" / "1.0.0.json").write_text(
        '{"$schema": "http://json-schema.org/draft-04/schema#", "title": "test/draft4",'
        ' "type": "object", "properties": {"n": {"type": "integer"}}}'
    )
    (tmp_path / "test" / "insecure").mkdir(parents=True)
    (tmp_path / "test" / "insecure" / "1.0.0.yaml").write_text(
        "type: object\nproperties:\n  id: {type: string, pattern: '^a+$'}\n"
    )
    (tmp_path / "test" / "broken").mkdir(parents=True)
    (tmp_path / "test" / "broken" / "1.0.0.yaml").write_text("type: [object\n")
    (tmp_path / "test" / "badtype").mkdir(parents=True)
    (tmp_path / "test" / "badtype" / "1.0.0.yaml").write_text("type: objekt\n")
    (tmp_path / "secret.yaml").write_text("type: object\n")
    base = tmp_path / "base"
    base.mkdir()
    (base / "test").symlink_to(tmp_path / "test")
    return base


def good_event(**extra: Any) -> dict[str, Any]:
    return {"$schema": "/test/simple/1.0.0", "meta": {"dt": "2024-01-01T00:00:00Z", "stream": "s"}, **extra}


def test_fixture_repository_and_validation() -> None:
    fixtures = fixture_path() / "jsonschema"

    async def main() -> None:
        reg = SchemaRegistry([str(fixtures)], file_extension=".yaml")
        s = await reg.get("/test/event/1.0.0")
        assert s.title == "test/event" and s.schema_id == "/test/event/1.0.0"
        ok = {"$schema": "/test/event/1.0.0", "meta": {"dt": "2019-01-01T00:00:00Z", "stream": "x"}}
        assert s.validate(ok) == ()
        assert s.has_field(("meta", "dt")) and not s.has_field(("meta", "nope"))
        bad = {"$schema": "/test/event/1.0.0", "meta": {"dt": "yesterday", "stream": "x", "uri": "a b"}}
        details = s.validate(bad)
        assert {(d.instance_path, d.keyword) for d in details} == {
            ("/meta/dt", "format"),
            ("/meta/uri", "format"),
        }
        assert reg.get_cached("/test/event/1.0.0") is s
        assert (await reg.get("/test/event/0.0.3")).title == "test/event"
        # the fixture's "latest" is a symlink checked out as a file naming its target
        assert (await reg.get("/test/event/latest")).schema_id == "/test/event/1.0.0"
        await reg.close()

    run(main())


def test_validation_details_and_ajv_shape(repo: Path) -> None:
    async def main() -> None:
        reg = SchemaRegistry([str(repo)], file_extension="yaml")
        s = await reg.get("/test/simple/1.0.0")
        ev = good_event(page_namespace="x", extra=1)
        ev["meta"].pop("stream")
        details = s.validate(ev)
        by_kw = {d.keyword: d for d in details}
        assert by_kw["type"].instance_path == "/page_namespace"
        assert by_kw["type"].schema_path == "/properties/page_namespace/type"
        assert by_kw["required"].instance_path == "/meta"
        assert by_kw["additionalProperties"].params == {"additionalProperty": "extra"}
        errors, text = ajv_errors(details)
        type_err = next(e for e in errors if e["keyword"] == "type")
        assert type_err == {
            "keyword": "type",
            "dataPath": ".page_namespace",
            "schemaPath": "#/properties/page_namespace/type",
            "params": {"type": "integer"},
            "message": "should be integer",
        }
        assert "'.meta' should have required property 'stream'" in text
        assert "'' should NOT have additional properties" in text
        assert "'.page_namespace' should be integer" in text
        orjson.dumps(errors)  # serializable
        # YAML 1.2 as jsonschema-tools reads it: the key "on" stays a string key
        assert s.schema["properties"]["on"]["default"] == "yes"

    run(main())


@pytest.mark.parametrize(
    ("dt", "uri", "ok"),
    [
        ("2024-01-01T00:00:00Z", "/wiki/Main_Page", True),
        ("2024-01-01 00:00:00+0000", "https://de.wikipedia.org/wiki/Ünïcode", True),  # AJV fast mode
        ("2024-02-30t00:00:00.5z", "//x/y#frag", True),
        ("2024-01-01T00:00:00", "/ok", False),  # no time zone
        ("yesterday", "/ok", False),
        ("2024-01-01T00:00:00Z", "/a b", False),
        ("2024-01-01T00:00:00Z", "\\evil", False),
    ],
)
def test_formats_like_ajv_fast_mode(repo: Path, dt: str, uri: str, ok: bool) -> None:
    async def main() -> None:
        s = await SchemaRegistry([str(repo)], file_extension=".yaml").get("/test/simple/1.0.0")
        ev = good_event()
        ev["meta"].update(dt=dt, uri=uri)
        assert (s.validate(ev) == ()) is ok, s.validate(ev)

    run(main())


def test_data_path_forms() -> None:
    assert data_path("") == ""
    assert data_path("/meta/dt") == ".meta.dt"
    assert data_path("/a-b/0/c~1d") == "['a-b'][0]['c/d']"


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("../../etc/passwd", "escapes the schema base"),
        ("/test/../../secret", "escapes the schema base"),
        ("file:///etc/passwd", "file:// URIs are never allowed"),
        ("http://169.254.169.254/", "absolute URI"),
        (42, "must be a string, got integer"),
        (None, "must be a string, got null"),
        ({"a": 1}, "must be a string, got object"),
        ("/x" * 5000, "10000 characters long; the limit is 1024"),
        ("/test/simple/1.0.0\x00", "control character"),
        ("/test/%2e%2e/x", "characters outside"),
        ("", "empty string"),
        ("C:\\windows", "control character or backslash"),
    ],
)
def test_refused_before_io(repo: Path, uri: Any, fragment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = SchemaRegistry([str(repo)], file_extension=".yaml")

    def no_io(*a: Any, **k: Any) -> Any:
        raise AssertionError("I/O attempted")

    monkeypatch.setattr(SchemaLoader, "read_file", staticmethod(no_io))
    monkeypatch.setattr(SchemaLoader, "fetch_http", no_io)
    with pytest.raises(EventInvalid) as info:
        run(reg.get(uri))
    assert info.value.code == Codes.SCHEMA_URI_REFUSED
    assert fragment in info.value.message
    assert len(info.value.message) < 300  # a 10 kB $schema is not echoed back


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://[fe80::1]/x",
        "http://[::ffff:169.254.169.254]/x",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0.0.0.0/x",
        "http://user:pw@example.org/x",
        "ftp://example.org/x",
        "file:///etc/passwd",
    ],
)
def test_absolute_allowed_still_refuses_metadata(uri: str) -> None:
    reg = SchemaRegistry([], allow_absolute_uris=True)
    with pytest.raises(EventInvalid) as info:
        reg.check_uri(uri)
    assert info.value.code == Codes.SCHEMA_URI_REFUSED


def test_not_found_invalid_insecure(repo: Path) -> None:
    async def main() -> None:
        reg = SchemaRegistry([str(repo)], file_extension=".yaml")
        cases = {
            "/test/missing/1.0.0": Codes.SCHEMA_NOT_FOUND,
            "/test/insecure/1.0.0": Codes.SCHEMA_INSECURE,
            "/test/broken/1.0.0": Codes.SCHEMA_INVALID,
            "/test/badtype/1.0.0": Codes.SCHEMA_INVALID,
            "/test": Codes.SCHEMA_NOT_FOUND,  # a directory
        }
        for uri, code in cases.items():
            with pytest.raises(EventInvalid) as info:
                await reg.get(uri)
            assert info.value.code == code, (uri, info.value)
        lenient = SchemaRegistry([str(repo)], file_extension=".yaml", allow_insecure_schemas=True)
        assert (await lenient.get("/test/insecure/1.0.0")).validate({"id": "b"})[0].keyword == "pattern"

    run(main())
    assert insecure_reasons({"properties": {"a": {"type": "string", "format": "date-time"}}}) == [
        "/properties/a: 'format' without 'maxLength'"
    ]
    assert insecure_reasons({"patternProperties": {"^a": {}}})
    assert not insecure_reasons({"type": "array", "uniqueItems": True, "items": {"type": "string"}})


def test_meta_schema_uri() -> None:
    async def main() -> None:
        strict = SchemaRegistry([])
        with pytest.raises(EventInvalid):
            await strict.get("https://json-schema.org/draft-07/schema#")
        reg = SchemaRegistry([], allow_absolute_uris=True)
        s = await reg.get("https://json-schema.org/draft-07/schema#")  # offline, built in
        assert s.validate({"$schema": "https://json-schema.org/draft-07/schema#", "type": "object"}) == ()
        assert s.validate({"$schema": "https://json-schema.org/draft-07/schema#", "type": "objekt"})

    run(main())


def test_single_flight_and_caches(repo: Path) -> None:
    async def main() -> None:
        reg = SchemaRegistry([str(repo)], file_extension=".yaml", negative_ttl=0.3)
        reads = 0
        orig = SchemaLoader.read_file

        def counting(path: Path) -> bytes:
            nonlocal reads
            reads += 1
            return orig(path)

        reg.loader.read_file = counting  # type: ignore[method-assign]
        results = await asyncio.gather(*(reg.get("/test/simple/1.0.0") for _ in range(30)))
        assert reads == 1 and reg.loads == 1
        assert all(r is results[0] for r in results)
        # other spellings of the same schema share the cache entry
        assert await reg.get("/test/./simple//1.0.0") is results[0]
        assert reads == 1
        # negative cache: a missing schema is looked up once per TTL
        for _ in range(5):
            with pytest.raises(EventInvalid):
                await reg.get("/test/missing/1.0.0")
        assert reads == 2
        await asyncio.sleep(0.35)
        with pytest.raises(EventInvalid):
            await reg.get("/test/missing/1.0.0")
        assert reads == 3

    run(main())


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path.startswith("/boom"):
            self.send_response(503)
            self.end_headers()
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    _Handler.files = {"/schemas/test/simple/1.0.0.yaml": SCHEMA.encode()}
    _Handler.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_base(http_base: str) -> None:
    async def main() -> None:
        reg = SchemaRegistry([http_base + "/schemas/"], file_extension=".yaml")
        s = await reg.get("/test/simple/1.0.0")
        assert s.validate(good_event()) == ()
        with pytest.raises(EventInvalid) as info:
            await reg.get("/test/missing/1.0.0")
        assert info.value.code == Codes.SCHEMA_NOT_FOUND
        with pytest.raises(EventError) as err:  # 5xx = the host's fault: retryable
            await SchemaRegistry([http_base + "/boom"]).get("/x/1.0.0")
        assert err.value.code == Codes.SCHEMA_UNAVAILABLE and err.value.retryable
        assert _Handler.hits[0] == "/schemas/test/simple/1.0.0.yaml"
        # an absolute URI, when allowed, is fetched (loopback is not link-local)
        absreg = SchemaRegistry([], allow_absolute_uris=True)
        assert (await absreg.get(http_base + "/schemas/test/simple/1.0.0.yaml")).title == "test/simple"
        await reg.close()
        await absreg.close()

    run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_down_host_is_error_then_second_base_wins(repo: Path) -> None:
    async def main() -> None:
        down = f"http://127.0.0.1:{free_port()}/schemas"
        reg = SchemaRegistry([down], file_extension=".yaml", http_timeout=2.0)
        with pytest.raises(EventError) as info:
            await reg.get("/test/simple/1.0.0")
        assert info.value.code == Codes.SCHEMA_UNAVAILABLE
        with pytest.raises(EventError):  # errors are not cached negatively: it is tried again
            await reg.get("/test/simple/1.0.0")
        both = SchemaRegistry([down, str(repo)], file_extension=".yaml")
        assert (await both.get("/test/simple/1.0.0")).title == "test/simple"
        await reg.close()
        await both.close()

    run(main())


def test_external_ref(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "1.0.0.yaml").write_text("type: integer\n")
    (tmp_path / "uses").mkdir()
    (tmp_path / "uses" / "1.0.0.yaml").write_text("type: object\nproperties:\n  n: {$ref: /common/1.0.0}\n")

    async def main() -> None:
        reg = SchemaRegistry([str(tmp_path)], file_extension=".yaml")
        s = await reg.get("/uses/1.0.0")
        assert s.validate({"n": 1}) == ()
        assert s.validate({"n": "x"})[0].keyword == "type"

    run(main())


def test_every_fixture_version_loads_and_its_examples_validate() -> None:
    """The 83 materialized versions of the primary repository pass the secure-schema check and compile."""
    fixtures = fixture_path() / "jsonschema"
    versions = sorted(p for p in fixtures.rglob("*.yaml") if re.fullmatch(r"\d+\.\d+\.\d+\.yaml", p.name))
    assert len(versions) >= 80

    async def main() -> None:
        reg = SchemaRegistry([str(fixtures)], file_extension=".yaml")
        for path in versions:
            uri = "/" + str(path.relative_to(fixtures))[: -len(".yaml")]
            s = await reg.get(uri)
            assert s.schema_id and uri.endswith(s.schema_id), uri  # development/webrequest: $id /webrequest/…
            for example in s.schema.get("examples", []):
                assert s.validate(example) == (), (uri, example)

    run(main())


def test_ajv_messages_for_other_keywords(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "1.0.0.json").write_text(
        orjson.dumps(
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {
                    "t": {"type": ["string", "null"]},
                    "u": {"type": "array", "uniqueItems": True, "maxItems": 10},
                    "dep": {"dependencies": {"a": ["b", "c"]}},
                    "e": {"enum": [1, "x"]},
                    "m": {"maximum": 5},
                    "s": {"type": "string", "maxLength": 3},
                },
            }
        ).decode()
    )

    async def main() -> None:
        s = await SchemaRegistry([str(tmp_path)]).get("/k/1.0.0.json")
        event = {"t": 1, "u": [1, 2, 1], "dep": {"a": 1, "c": 1}, "e": 2, "m": 6, "s": "x" * 10_000}
        errors, text = ajv_errors(s.validate(event))
        assert text == (
            "'.t' should be string,null, "
            "'.u' should NOT have duplicate items (items ## 0 and 2 are identical), "
            "'.dep' should have property b when property a is present, "
            "'.e' should be equal to one of the allowed values, '.m' should be <= 5, "
            "'.s' should NOT be longer than 3 characters"
        )
        dep = next(e for e in errors if e["keyword"] == "dependencies")
        assert dep["params"] == {"property": "a", "missingProperty": "b", "depsCount": 2, "deps": "b, c"}
        assert all(len(d.message) < 400 for d in s.validate(event))  # no echo of the 10 kB value

    run(main())


@pytest.mark.parametrize(
    "draft",
    [
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    ],
)
def test_every_draft_offline(tmp_path: Path, draft: str, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "1.0.0.json").write_text(
        orjson.dumps({"$schema": draft, "type": "object", "properties": {"n": {"type": "integer"}}}).decode()
    )
    monkeypatch.setattr(SchemaLoader, "fetch_http", None)  # any network use would fail loudly

    async def main() -> None:
        s = await SchemaRegistry([str(tmp_path)]).get("/d/1.0.0.json")
        assert s.validate({"n": 2}) == ()
        assert s.validate({"n": "x"})[0].keyword == "type"

    run(main())
