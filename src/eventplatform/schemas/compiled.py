"""A schema compiled for intake: two jsonschema-rs validators with AJV 6's behaviour.

* **Formats** come from :mod:`.formats`, the table ``schema test`` uses too. They replace jsonschema-rs's
  own (native) checks, which differ from AJV in both directions and from one jsonschema-rs release to the
  next; a format AJV does not know is a compile error, as in AJV, even when jsonschema-rs knows it.
* **Two validators, same verdicts.** ``fast`` has the pattern-able formats rewritten as ``pattern``s
  (:func:`.formats.formats_as_patterns`), so a valid event is checked without a call back into Python;
  ``validator`` keeps them as format callbacks and only runs to describe an invalid event, so that a
  failure is a ``format`` error exactly as AJV reports it.
* **Numbers.** Intake turns integral floats into ints before validating (JSON and AJV have one number
  type); :meth:`CompiledSchema.validate` takes the event as given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs

from eventplatform.errors import Codes, EventError, EventFailure, EventInvalid, ValidationDetail, short
from eventplatform.schemas.ajv import details_from_error
from eventplatform.schemas.formats import FORMATS, formats_as_patterns, unknown_formats_message

log = logging.getLogger(__name__)

INTERNAL_BASE = "evp-schema:///"  # base URI of the compiled document, so that relative $refs go to the loader


class MetaValidator:
    """Validates an event *as a schema* against its built-in meta-schema (offline)."""

    def is_valid(self, instance: Any) -> bool:
        try:
            return bool(jsonschema_rs.meta.is_valid(instance))
        except Exception:
            return False

    def iter_errors(self, instance: Any) -> Any:
        try:
            jsonschema_rs.meta.validate(instance)
        except jsonschema_rs.ValidationError as exc:
            yield exc
        except Exception as exc:  # unknown meta-schema and the like
            raise ValueError(str(exc).splitlines()[0]) from exc


@dataclass(slots=True)
class CompiledSchema:
    """A loaded, compiled schema. ``validate`` returns () for a valid event."""

    uri: str  # the URI as the event gave it
    schema: dict[str, Any]
    title: str | None
    schema_id: str | None
    validator: Any = field(default=None, repr=False)
    # Same verdicts as ``validator``, with the AJV formats as Rust patterns: the hot path.
    fast: Any = field(default=None, repr=False)

    def is_valid(self, event: Any) -> bool:
        return bool((self.fast or self.validator).is_valid(event))

    def validate(self, event: Any) -> tuple[ValidationDetail, ...]:
        """Violations of ``event`` as given (intake turns integral floats into ints first)."""
        if (self.fast or self.validator).is_valid(event):
            return ()
        return self.describe(event)

    def describe(self, event: Any) -> tuple[ValidationDetail, ...]:
        """The violations of an event that :meth:`is_valid` refused, as AJV reports them."""
        out: list[ValidationDetail] = []
        try:
            for err in self.validator.iter_errors(event):
                out.extend(details_from_error(err, event, self.schema))
        except ValueError as exc:
            out.append(ValidationDetail("", "$schema", "", str(exc), {}))
        return tuple(out)

    def has_field(self, path: Sequence[str]) -> bool:
        """Whether the schema declares the (dotted) field, e.g. ("meta", "dt"); used for default fields."""
        if isinstance(path, str):
            path = path.split(".")
        return _has_field(self.schema, list(path), 0)


def _has_field(schema: Any, path: list[str], depth: int) -> bool:
    if not path:
        return True
    if not isinstance(schema, dict) or depth > 32:
        return False
    props = schema.get("properties")
    if isinstance(props, dict) and path[0] in props and _has_field(props[path[0]], path[1:], depth + 1):
        return True
    for key in ("allOf", "anyOf", "oneOf"):
        subs = schema.get(key)
        if isinstance(subs, list) and any(_has_field(s, path, depth + 1) for s in subs):
            return True
    return False


def check_formats_known(uri: str, schema: Any) -> None:
    """AJV's compile error for a ``format`` it does not know, as :class:`EventInvalid`."""
    message = unknown_formats_message(schema)
    if message is not None:
        raise EventInvalid(Codes.SCHEMA_INVALID, f"schema {short(uri)!r} does not compile: {message}")


def compile_schema(uri: str, schema: dict[str, Any], retrieve: Callable[[str], Any]) -> CompiledSchema:
    """Both validators of ``schema``; ``retrieve(ref)`` returns a ``$ref``'d document or raises.

    A retriever's :class:`EventError` (schema host down) is raised as such; anything else that stops the
    compilation is an :class:`EventInvalid` ``schema_invalid``."""
    check_formats_known(uri, schema)
    ref_errors: list[EventFailure] = []

    def retrieve_recording(ref: str) -> Any:
        try:
            return retrieve(ref)
        except EventFailure as exc:
            ref_errors.append(exc)
            raise

    try:
        validator = jsonschema_rs.validator_for(
            schema,
            validate_formats=True,
            ignore_unknown_formats=False,
            formats=FORMATS,
            retriever=retrieve_recording,
            base_uri=INTERNAL_BASE,
        )
    except Exception as exc:
        for failure in ref_errors:
            if isinstance(failure, EventError):
                raise failure from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EventInvalid(
            Codes.SCHEMA_INVALID, f"schema {short(uri)!r} does not compile: {short(first, 300)}"
        ) from None
    try:
        fast = jsonschema_rs.validator_for(
            formats_as_patterns(schema),
            validate_formats=True,
            ignore_unknown_formats=False,
            formats=FORMATS,  # formats without a pattern (url, email…), and in documents not rewritten
            retriever=lambda ref: formats_as_patterns(retrieve(ref)),
            base_uri=INTERNAL_BASE,
        )
    except Exception:  # pragma: no cover - the same schema compiled above; keep the exact validator
        log.warning("schema %r: no pattern-based validator, using format callbacks", short(uri))
        fast = None
    title = schema.get("title") if isinstance(schema.get("title"), str) else None
    schema_id = schema.get("$id") if isinstance(schema.get("$id"), str) else None
    return CompiledSchema(
        uri=uri, schema=schema, title=title, schema_id=schema_id, validator=validator, fast=fast
    )
