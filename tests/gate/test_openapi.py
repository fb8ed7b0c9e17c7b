"""gate/openapi.yaml is exact: every route of a worker's app is in it with the same methods, and every
path and method in it is a route (HEAD comes with GET in Starlette, and RFC 9110 makes it GET without a
body, so the spec leaves it implied). A part that adds routes (extra_routes in gate.server.worker_app)
adds them to the spec in the same change, or this fails."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import yaml
from starlette.routing import BaseRoute, Mount, Route

from eventplatform.gate.app import SPEC_PATH, GateApp
from eventplatform.gate.server import worker_app
from eventplatform.settings import Settings

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _template(path: str) -> str:
    """Starlette's ``{name:converter}`` as OpenAPI's ``{name}``."""
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)


def _walk(routes: list[BaseRoute], prefix: str = "") -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Route):
            methods = {m.lower() for m in (route.methods or {"GET"})}
            out.setdefault(_template(prefix + route.path), set()).update(methods)
        elif isinstance(route, Mount):
            sub = route.routes
            if sub:
                for path, methods in _walk(list(sub), prefix + route.path).items():
                    out.setdefault(path, set()).update(methods)
            else:  # an app mounted whole (static files): GET and HEAD below the mount point
                out.setdefault(_template(prefix + route.path + "/{path}"), set()).update({"get", "head"})
        else:
            raise AssertionError(f"a route of a kind this test cannot read: {route!r}; teach it")
    return out


def app_routes(app: GateApp) -> dict[str, set[str]]:
    routes = _walk(list(app.starlette.routes))
    raw = [app.RAW_ROUTES]
    for part in app.parts:  # parts dispatch by prefix themselves; each declares its routes
        assert hasattr(part, "ROUTES"), f"{type(part).__name__} declares no ROUTES (path -> methods)"
        raw.append(part.ROUTES)
    for table in raw:
        for path, methods in table.items():
            routes.setdefault(_template(path), set()).update(m.lower() for m in methods)
    for methods in routes.values():
        if "get" in methods:
            methods.discard("head")
    return routes


def spec_routes(spec: dict[str, Any]) -> dict[str, set[str]]:
    return {path: {m for m in item if m in HTTP_METHODS} for path, item in spec["paths"].items()}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


def test_every_route_is_in_the_spec_and_every_spec_path_is_a_route(spec: dict[str, Any]) -> None:
    served = app_routes(worker_app(Settings()))
    declared = spec_routes(spec)
    assert sorted(set(served) - set(declared)) == [], "routes missing from gate/openapi.yaml"
    assert sorted(set(declared) - set(served)) == [], "paths in gate/openapi.yaml that no route serves"
    wrong = {p: (sorted(served[p]), sorted(declared[p])) for p in served if served[p] != declared[p]}
    assert wrong == {}, "methods differ (served, declared)"


def test_every_operation_says_what_each_status_sends(spec: dict[str, Any]) -> None:
    """Every response but 204 and 304 has a content type and a schema, so that schemathesis checks bodies."""
    missing = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, response in op["responses"].items():
                if status in ("204", "304"):  # no body, by HTTP
                    assert not response.get("content"), f"{method.upper()} {path} {status} with a body"
                    continue
                content = response.get("content") or {}
                if not content or not all("schema" in c for c in content.values()):
                    missing.append(f"{method.upper()} {path} {status}")
    assert missing == []


def test_undeclared_method_is_405_with_allow(client: httpx.Client) -> None:
    """Where the spec has no such method, the server says so (schemathesis' unsupported_method check)."""
    cases = {
        ("TRACE", "/_info"): "GET, HEAD",
        ("POST", "/_info/version"): "GET, HEAD",
        ("DELETE", "/v1/events"): "POST, OPTIONS",
        ("GET", "/v1/events/"): "POST, OPTIONS",
        ("POST", "/v1/_test/events"): "GET, HEAD",
        ("PUT", "/healthz/ready"): "GET, HEAD",
        ("TRACE", "/_info/home"): None,
        ("POST", "/v2/ui"): "GET, HEAD, OPTIONS",  # a part's route (eventstreams)
        ("DELETE", "/v2/stream/foo"): "GET, HEAD, OPTIONS",
    }
    for (method, path), allow in cases.items():
        r = client.request(method, path)
        assert r.status_code == 405, (method, path)
        assert r.text.strip() == f"<pre>Cannot {method} {path}</pre>"
        methods = {m.strip() for m in r.headers["allow"].split(",")}
        if allow is not None:
            assert methods == set(allow.split(", ")), (method, path)
        assert method not in methods
    assert client.request("TRACE", "/nope").status_code == 404  # an unknown path stays EventGate's 404


def test_served_spec_is_the_file(client: httpx.Client, spec: dict[str, Any]) -> None:
    served = client.get("/?spec").json()
    extra = set(served["paths"]) - set(spec["paths"])
    # eventstreams adds one documentation path per configured stream (same handler as {streams})
    assert {p for p in extra if not p.startswith("/v2/stream/")} == set()
    assert set(spec["paths"]) <= set(served["paths"])
    assert served["paths"]["/v1/events/"] == served["paths"]["/v1/events"]
