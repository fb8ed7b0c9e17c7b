"""Maps a :class:`BatchResult` (and request-level failures) to status, reason sentence and JSON body.

The reason sentences are EventGate's, word for word; ASGI servers cannot send a custom HTTP reason
phrase, so each body carries the same sentence in ``message``. Entry shape: EventGate's
``{status, event, context}`` plus ``index``, ``code``, ``kind``, ``message`` and ``details``.
"""

from __future__ import annotations

from typing import Any

import orjson

from eventplatform.errors import EventFailure
from eventplatform.intake.batch import BatchResult, EventOutcome
from eventplatform.schemas.ajv import ajv_errors

EMPTY_BODY_REASON = "Request body was empty. Must provide JSON encoded events."
PROBLEM_BASE = "https://eventplatform.invalid/problem/"  # problem ``type`` URIs (RFC 9457); not fetched


def _ajv(failure: EventFailure) -> tuple[list[dict[str, Any]], str]:
    if not failure.details:
        return [], failure.message
    return ajv_errors(failure.details)


def entry(outcome: EventOutcome) -> dict[str, Any]:
    """One failed event, as EventGate's EventStatus JSON plus our machine-readable fields."""
    failure = outcome.failure
    assert failure is not None
    if failure.kind == "invalid":
        errors, text = _ajv(failure)
        context: dict[str, Any] = {"errors": errors, "errorsText": text}
    else:
        context = {"message": failure.message}
    out: dict[str, Any] = {
        "status": failure.kind,
        "index": outcome.index,
        "kind": failure.kind,
        "code": failure.code,
        "message": failure.message,
        "details": [d.to_dict() for d in failure.details],
        "event": outcome.event,
        "context": context,
    }
    if failure.cause:
        out["cause"] = failure.cause
    return out


def batch_response(result: BatchResult) -> tuple[int, str, dict[str, Any]]:
    """(status, reason sentence, body) for a processed (non-hasty) batch."""
    n = result.total
    s, i, e = result.status_counts()
    f = i + e
    counts = {"counts": {"total": n, "accepted": s, "invalid": i, "errored": e}}
    if f == 0:
        reason = f"All {s} out of {n} events were accepted."
        return 201, reason, {"message": reason, **counts}
    invalid = [entry(o) for o in result.invalid]
    if i == n:
        reason = f"{i} out of {n} events were invalid and not accepted."
        return 400, reason, {"message": reason, **counts, "invalid": invalid}
    error = [entry(o) for o in result.error]
    if f < n:
        reason = f"{s} out of {n} events were accepted, but {f} failed ({i} invalid and {e} errored)."
        return 207, reason, {"message": reason, **counts, "invalid": invalid, "error": error}
    reason = f"{f} out of {n} events had failures and were not accepted. ({i} invalid and {e} errored)."
    return 500, reason, {"message": reason, **counts, "invalid": invalid, "error": error}


def hasty_response(n: int) -> tuple[int, str, dict[str, Any]]:
    reason = f"{n} events hastily received."
    return 202, reason, {"message": reason, "counts": {"total": n}}


def empty_response(detail: str | None = None) -> tuple[int, str, dict[str, Any]]:
    body: dict[str, Any] = {"message": EMPTY_BODY_REASON, "counts": {"total": 0}}
    if detail:
        body["detail"] = detail
    return 400, EMPTY_BODY_REASON, body


def problem(status: int, kind: str, title: str, detail: str, method: str, uri: str) -> dict[str, Any]:
    """EventGate's problem body ``{status, type, title, detail, method, uri}`` (RFC 9457) + ``message``."""
    return {
        "status": status,
        "type": PROBLEM_BASE + kind,
        "title": title,
        "detail": detail,
        "method": method,
        "uri": uri,
        "message": f"{title}: {detail}",
    }


def dumps(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
