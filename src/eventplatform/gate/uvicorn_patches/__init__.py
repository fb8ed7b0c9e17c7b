"""Every change this project makes to uvicorn's behaviour, in one place, pinned to :data:`SUPPORTED`.

- :mod:`.reason`: EventGate's reason sentences in the HTTP status line, and the constant header block of
  the intake hot path written with it (uvicorn's httptools ``STATUS_LINE`` table);
- :mod:`.longurl`: request targets over 64 KiB reach the app (the legacy beacon refuses them itself);
- :mod:`.limits`: request-head and body timeouts, a connection limit and drain on SIGTERM (a subclass of
  uvicorn's httptools protocol, and wrappers of the server's signal handler and tick);
- :mod:`.balance`: workers that share one listening socket accept connections in turn
  (a ``uvicorn.Server`` subclass driving its own accept loop).

tests/gate/test_uvicorn_patches.py fails when the installed uvicorn is outside :data:`SUPPORTED` or a
patch no longer applies: check the patches against the new uvicorn, then widen the range.
"""

from __future__ import annotations

SUPPORTED = ((0, 30), (0, 56))  # uvicorn versions: minimum included, maximum excluded


def version_supported(version: str) -> bool:
    parts = tuple(int(p) for p in version.split(".")[:2])
    return SUPPORTED[0] <= parts < SUPPORTED[1]


def install() -> dict[str, bool]:
    """Apply the patches that are applied at start (the status-line table); says which took effect.
    The balanced accept loop is a server class (:class:`.balance.BalancedServer`), used when workers > 1."""
    from eventplatform.gate.uvicorn_patches import longurl, reason

    return {"reason": reason.install(), "longurl": longurl.install()}
