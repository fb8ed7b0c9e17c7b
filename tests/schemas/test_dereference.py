"""$ref resolution against base URIs: local paths and http(s) servers (real sockets), fallbacks, errors."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from eventplatform.schemas.config import load_options
from eventplatform.schemas.dereference import Fetcher, dereference
from eventplatform.schemas.materialize import materialize_schema
from eventplatform.schemas.tool_errors import SchemaToolError

FRAGMENT = "title: frag\n$id: /frag/1.0.0\ntype: object\nproperties:\n  f: {type: string}\n"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/moved/"):
            self.send_response(302)
            self.send_header("Location", self.path.replace("/moved/", "/schemas/", 1))
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "served"
    (root / "schemas" / "frag").mkdir(parents=True)
    (root / "schemas" / "frag" / "1.0.0").write_text(FRAGMENT)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_base_uri_after_missing_local(tmp_path: Path, server: str) -> None:
    (tmp_path / "local").mkdir()
    options = load_options({"schemaBaseUris": ["./local/", f"{server}/schemas"]}, tmp_path)
    schema = {"title": "t", "$id": "/t/1.0.0", "allOf": [{"$ref": "/frag/1.0.0#"}]}
    out = materialize_schema(schema, options, fetcher=Fetcher(options.schema_base_uris, options.cwd))
    assert out["properties"] == {"f": {"type": "string"}}
    assert out["title"] == "t"


def test_http_redirect_and_absolute_url_ref(tmp_path: Path, server: str) -> None:
    options = load_options({"schemaBaseUris": [f"{server}/moved"]}, tmp_path)
    fetcher = Fetcher(options.schema_base_uris, options.cwd)
    out = dereference(
        {"a": {"$ref": "/frag/1.0.0#/properties/f"}, "b": {"$ref": f"{server}/schemas/frag/1.0.0"}},
        fetcher,
        cwd=options.cwd,
    )
    assert out["a"] == {"type": "string"}
    assert out["b"]["$id"] == "/frag/1.0.0"


def test_http_not_found_is_resolves_nowhere(tmp_path: Path, server: str) -> None:
    fetcher = Fetcher([f"{server}/schemas"], str(tmp_path))
    with pytest.raises(SchemaToolError) as err:
        dereference({"x": {"$ref": "/nope/1.0.0"}}, fetcher, source="s.yaml", cwd=str(tmp_path))
    assert (
        err.value.pointer == "/x" and "resolves nowhere" in err.value.message and "404" in err.value.message
    )


def test_base_uri_down(tmp_path: Path) -> None:
    fetcher = Fetcher([f"http://127.0.0.1:{_free_port()}/"], str(tmp_path))
    with pytest.raises(SchemaToolError) as err:
        dereference({"p": {"q": {"$ref": "/frag/1.0.0"}}}, fetcher, source="s.yaml", cwd=str(tmp_path))
    assert err.value.file == "s.yaml" and err.value.pointer == "/p/q"
    assert "base URI is down" in err.value.message


def test_base_uris_tried_in_order_with_string_concatenation(tmp_path: Path) -> None:
    (tmp_path / "a" / "x").mkdir(parents=True)
    (tmp_path / "b" / "x").mkdir(parents=True)
    (tmp_path / "b" / "x" / "1.0.0").write_text('{"from": "b"}')
    (tmp_path / "a" / "x" / "2.0.0.yaml").write_text("from: a\n")
    fetcher = Fetcher(["./a/", "./b/"], str(tmp_path))
    out = dereference(
        {"one": {"$ref": "/x/1.0.0"}, "two": {"$ref": "/x/2.0.0.yaml"}}, fetcher, cwd=str(tmp_path)
    )
    assert out == {"one": {"from": "b"}, "two": {"from": "a"}}


def test_internal_refs_see_root_as_written_and_share_identity(tmp_path: Path) -> None:
    root = {
        "$id": "/r/1.0.0",
        "definitions": {"n": {"type": "string"}},
        "properties": {
            "a": {"$ref": "#/definitions/n"},
            "b": {"$ref": "./#/definitions/n"},
            "c": {"$ref": "#/definitions/n", "description": "ext"},
        },
        "examples": [{"$schema": {"$ref": "#/$id"}, "m": {"k": 1}, "n": {"$ref": "#/examples/0/m"}}],
    }
    out = dereference(root, Fetcher([], str(tmp_path)), cwd=str(tmp_path))
    assert out["properties"]["a"] is out["properties"]["b"] is out["definitions"]["n"]
    assert out["properties"]["c"] == {"description": "ext", "type": "string"}
    assert out["examples"][0]["$schema"] == "/r/1.0.0"
    assert out["examples"][0]["n"] is out["examples"][0]["m"]


@pytest.mark.parametrize("doc", ["x: &a {y: *a}\n", "x: &a [*a]\n", "x: &a [1, {z: *a}]\n"])
def test_a_structure_containing_itself_is_an_error(tmp_path: Path, doc: str) -> None:
    from eventplatform.schemas.yamlio import load_yaml

    with pytest.raises(SchemaToolError) as err:
        dereference(load_yaml(doc), Fetcher([], str(tmp_path)), source="s.yaml", cwd=str(tmp_path))
    assert err.value.file == "s.yaml" and err.value.pointer.startswith("/x/")
    assert err.value.message == "circular structure"
