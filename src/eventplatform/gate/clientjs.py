"""HTTP routes for the browser client: the client itself and the schemas its debug mode validates with.

``GET /client/eventlog.js`` and ``/client/eventlog.min.js`` serve the ES module built from ``clients/js``
(committed under ``gate/static``, so the package needs no node), with CORS (any page may load it from the
intake), a strong ETag (304 on ``If-None-Match``) and a short cache lifetime: a new release reaches pages
within minutes. ``GET /v1/schemas/{uri}`` answers the schema an event's ``$schema`` names, as intake
validates with it.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventplatform.errors import EventFailure, EventInvalid

if TYPE_CHECKING:
    from eventplatform.gate.app import GateApp

STATIC = Path(__file__).with_name("static")
FILES = ("eventlog.js", "eventlog.min.js")
CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=86400"
CORP = {"cross-origin-resource-policy": "cross-origin"}


@cache
def _file(name: str) -> tuple[bytes, str]:
    body = (STATIC / name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class ClientRoutes:
    def __init__(self, app: GateApp) -> None:
        self.app = app
        # the app adds access-control-allow-origin to every answer unless CORS is off; these two routes
        # are for pages of other origins, so they carry it anyway (once: a doubled header breaks CORS)
        self.cors = CORP if app.settings.server.cors else {**CORP, "access-control-allow-origin": "*"}

    def routes(self) -> list[Route]:
        return [
            *(Route(f"/client/{name}", self.script, methods=["GET", "HEAD"]) for name in FILES),
            Route("/v1/schemas/{uri:path}", self.schema, methods=["GET"]),
        ]

    async def script(self, request: Request) -> Response:
        body, etag = _file(request.url.path.rsplit("/", 1)[1])
        headers = {**self.cors, "etag": etag, "cache-control": CACHE_CONTROL, "vary": "accept-encoding"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    async def schema(self, request: Request) -> Response:
        uri = "/" + request.path_params["uri"].lstrip("/")
        assert self.app.intake is not None
        try:
            compiled = await self.app.intake.registry.get(uri)
        except EventInvalid as exc:
            return _problem(404, "schema_not_found", f"no schema {uri}: {exc.message}", request)
        except EventFailure as exc:
            return _problem(
                503, "schema_unavailable", f"schema {uri} not available now: {exc.message}", request
            )
        return Response(
            orjson.dumps(compiled.schema),
            media_type="application/json",
            headers={**self.cors, "cache-control": CACHE_CONTROL},
        )


def _problem(status: int, kind: str, detail: str, request: Request) -> Response:
    from eventplatform.gate import responses as R

    title = "Not Found" if status == 404 else "Service Unavailable"
    body = R.problem(status, kind, title, detail, request.method, request.url.path)
    return Response(R.dumps(body), status_code=status, media_type="application/problem+json")
