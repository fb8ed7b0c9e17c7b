"""HTTP routes of the legacy EventLogging beacon: ``/beacon/event?<capsule>;`` and ``/event.gif``.

GET (an image beacon) and an empty-body POST (``navigator.sendBeacon``, MediaWiki's deferred POST) are the
same request: only the raw query string matters. The answer is always ``204 No Content``, as the reference's
edge answered, and only after the event is durable or refused (the logic is in
:mod:`eventplatform.legacy.beacon`). In development mode (``serve --dev``) the answer also carries the legacy
devserver's ``Requested-Event-Valid`` and ``Validation-Error-1`` headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventplatform.gate.request import read_head
from eventplatform.legacy.beacon import Beacon

if TYPE_CHECKING:
    from eventplatform.gate.app import GateApp

PATHS = ("/beacon/event", "/beacon/event.gif", "/event.gif")
METHODS = ["GET", "POST", "HEAD"]


class BeaconRoutes:
    """The beacon of one GateApp (built lazily: the pipeline exists only after the app's startup)."""

    def __init__(self, app: GateApp) -> None:
        self.app = app
        self._beacon: Beacon | None = None
        self.counter = Counter(
            "eventplatform_legacy_beacons",
            "Legacy beacons, by outcome: accepted, or the code of the refusal.",
            ("outcome",),
            registry=app.metrics.registry,
        )

    @property
    def beacon(self) -> Beacon:
        if self._beacon is None:
            assert self.app.pipeline is not None, "the app has not started"
            self._beacon = Beacon(self.app.pipeline, self.app.settings.legacy)
        return self._beacon

    def routes(self) -> list[Route]:
        return [Route(path, self.handle, methods=METHODS) for path in PATHS]

    async def handle(self, request: Request) -> Response:
        scope = request.scope
        ctx = read_head(scope, False).context(scope, {})
        outcome = await self.beacon.handle(scope.get("query_string", b""), ctx)
        failure = outcome.failure
        self.counter.labels("accepted" if failure is None else failure.code).inc()
        headers = {}
        if self.app.settings.legacy.dev:
            headers["requested-event-valid"] = "0" if failure else "1"
            if failure is not None:
                headers["validation-error-1"] = failure.message[:400].encode("ascii", "replace").decode()
        return Response(status_code=204, headers=headers)
