"""Python client of the intake: ``EventClient`` (threaded) and ``AsyncEventClient`` (asyncio).

Importable without the server's dependencies: it needs httpx and tenacity (orjson when present).
``submit`` never raises and never loses an event silently: every event ends up delivered or counted in
``stats()``, logged on ``eventplatform.client`` and given to ``on_problem``.
"""

from eventplatform.client.aio import AsyncEventClient
from eventplatform.client.engine import Problem
from eventplatform.client.events import Identity, in_sample, normalize_id, valid_sample
from eventplatform.client.sync import EventClient

__all__ = [
    "AsyncEventClient",
    "EventClient",
    "Identity",
    "Problem",
    "in_sample",
    "normalize_id",
    "valid_sample",
]
