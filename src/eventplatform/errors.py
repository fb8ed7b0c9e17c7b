"""One vocabulary for the failure of one event, from the library up to the HTTP body.

A failure is a value with a stable ``code``. Two branches: :class:`EventInvalid` (the producer's fault,
never retried) and :class:`EventError` (ours or a dependency's, safe to retry). The HTTP layer, the CLI
and error events only map these fields; they never invent their own wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal


@dataclass(frozen=True, slots=True)
class ValidationDetail:
    """One schema violation, shaped like python-jsonschema's ValidationError (path/validator/schema_path)."""

    instance_path: str  # JSON pointer into the event, "" for the root
    keyword: str  # the schema keyword that failed, e.g. "type", "required"
    schema_path: str  # JSON pointer into the schema, e.g. "/properties/page_namespace/type"
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_path": self.instance_path,
            "keyword": self.keyword,
            "schema_path": self.schema_path,
            "message": self.message,
            "params": self.params,
        }


class EventFailure(Exception):
    """Why one event was not accepted."""

    kind: ClassVar[Literal["invalid", "error"]]

    def __init__(
        self, code: str, message: str, details: tuple[ValidationDetail, ...] = (), *, cause: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.cause = cause  # what happened, for operators and client code (see Causes); None if unknown

    @property
    def retryable(self) -> bool:
        return self.kind == "error"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "code": self.code, "message": self.message}
        if self.details:
            out["details"] = [d.to_dict() for d in self.details]
        if self.cause:
            out["cause"] = self.cause
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class EventInvalid(EventFailure):
    """The producer's fault: retrying the same event gives the same answer."""

    kind = "invalid"


class EventError(EventFailure):
    """A transient failure of ours or of a dependency: safe to retry."""

    kind = "error"


# Stable codes. Add to these, never rename them: clients match on them.
class Codes:
    # invalid
    NOT_AN_OBJECT = "event_not_object"
    SCHEMA_URI_MISSING = "schema_uri_missing"
    SCHEMA_URI_REFUSED = "schema_uri_refused"
    SCHEMA_NOT_FOUND = "schema_not_found"
    SCHEMA_INVALID = "schema_invalid"
    SCHEMA_INSECURE = "schema_insecure"
    STREAM_MISSING = "stream_missing"
    STREAM_NOT_CONFIGURED = "stream_not_configured"
    STREAM_HAS_NO_SETTINGS = "stream_has_no_settings"
    STREAM_HAS_NO_SCHEMA_TITLE = "stream_has_no_schema_title"
    SCHEMA_TITLE_MISMATCH = "schema_title_mismatch"
    VALIDATION_FAILED = "validation_failed"
    EVENT_TOO_LARGE = "event_too_large"
    MESSAGE_KEY_FIELD_MISSING = "message_key_field_missing"
    # error
    SCHEMA_UNAVAILABLE = "schema_unavailable"
    LOG_UNAVAILABLE = "log_unavailable"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERY_TIMEOUT = "delivery_timeout"
    INTERNAL = "internal_error"


# Why the log refused a write (``EventError.cause`` of a ``log_unavailable``). Add, never rename.
class Causes:
    DISK_FULL = "disk_full"  # the filesystem of the log is full; writes resume once space is freed
    PERMISSION_DENIED = "permission_denied"  # the log's directory or files cannot be created or opened
    LOG_MISSING = "log_missing"  # the log's directory or partition file was deleted under the server
    FSYNC_FAILED = "fsync_failed"  # an fsync failed: the partition takes no writes until the log re-opens
    IO_ERROR = "io_error"  # any other error of the filesystem or of SQLite
    CLOSED = "closed"  # the log is closed (the server is stopping)


def short(value: str, limit: int = 80) -> str:
    """``value`` cut to ``limit`` characters for a message: never echo a 10 kB producer string back."""
    return value if len(value) <= limit else value[:limit] + "…"
