"""Runtime schema registry: ``$schema`` URI -> compiled validator (jsonschema-rs).

Why it looks like this:

* **Refuse before any I/O.** A ``$schema`` comes from the producer, so it is checked as untrusted input first:
  it must be a string, at most ``max_uri_length`` characters, without NUL/control characters or backslashes.
  ``file://`` is always refused. Any other ``scheme:`` URI is refused unless ``allow_absolute_uris``; when
  allowed, only ``http``/``https`` are fetched, never with userinfo, and never from a host that is a literal
  link-local, unspecified, multicast or reserved IP address (169.254.169.254, fe80::…, 0.0.0.0, also in the
  legacy ``2852039166`` / ``0xa9fea9fe`` / octal spellings that ``inet_aton`` accepts) or a cloud metadata
  name (``metadata.google.internal``…). Host names are additionally resolved and refused when any address is
  such an IP; a DNS-rebinding attacker racing that check is not covered (don't allow absolute URIs if that
  matters). Relative URIs may only use ``[A-Za-z0-9._~/+-]`` and are normalized lexically; a ``..`` that
  climbs above the base is refused. Redirects are never followed.
* **Resolution like the reference** (EventGate's url-get): for each base URI in order, the optional
  ``file_extension`` is appended when the basename has no (non-numeric) extension, then base and URI are
  joined. Deliberate difference: we join on a ``/`` boundary, so ``analytics/a/1.0.0`` works like
  ``/analytics/a/1.0.0`` (the reference concatenates strings and then misses the file). The first base that
  gives a document wins.
* **invalid vs error.** Not found, refused, unparsable or invalid schema -> :class:`EventInvalid`. A schema
  host that is down, times out or answers 5xx/429 -> :class:`EventError` ``schema_unavailable``
  (retryable), unless another base found the schema.
* **Caching.** Loads are single-flight (concurrent ``get`` of one URI share one load). Compiled schemas are
  cached forever under the normalized URI (and the raw string, for the synchronous :meth:`get_cached` fast
  path). Invalid outcomes are cached for ``negative_ttl`` seconds; transient errors are not cached.
* **Formats** are AJV 6's "fast" formats from :mod:`.formats` (the table ``schema test`` uses), checked as
  AJV checks them; a format AJV does not know is a schema compile error, as in AJV.
* **Meta-schemas.** An event whose ``$schema`` is a json-schema.org meta-schema URL is an absolute URI, so it
  is refused by default; with ``allow_absolute_uris`` it is validated offline against the built-in meta-schema
  (as the reference does), never fetched.

The parts live in their own modules: :mod:`.uris` (checking a ``$schema``), :mod:`.loading` (reading
documents from the bases), :mod:`.compiled` (validators), :mod:`.formats`, :mod:`.ajv` (error
translation), :mod:`.secure`. This module keeps the cache and re-exports the names its users import.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from eventplatform.errors import Codes, EventError, EventFailure, EventInvalid, short
from eventplatform.schemas.compiled import (
    INTERNAL_BASE,
    CompiledSchema,
    MetaValidator,
    check_formats_known,
    compile_schema,
)
from eventplatform.schemas.loading import SchemaLoader, parse_schema_text
from eventplatform.schemas.secure import insecure_reasons
from eventplatform.schemas.uris import MAX_URI_LENGTH, Target, check_uri

__all__ = ["CompiledSchema", "SchemaRegistry", "insecure_reasons", "parse_schema_text"]

log = logging.getLogger(__name__)


class SchemaRegistry:
    """Resolves ``$schema`` URIs against base URIs (local dirs or http(s)), single-flight, cached.

    ``get`` raises :class:`eventplatform.errors.EventInvalid` (refused URI, not found, invalid or insecure
    schema) or :class:`eventplatform.errors.EventError` (schema host unreachable).
    """

    def __init__(
        self,
        base_uris: Sequence[str],
        *,
        file_extension: str | None = None,
        allow_absolute_uris: bool = False,
        allow_insecure_schemas: bool = False,
        negative_ttl: float = 10.0,
        http_timeout: float = 5.0,
        max_uri_length: int = MAX_URI_LENGTH,
        negative_cache_size: int = 10_000,
    ) -> None:
        if isinstance(base_uris, str):
            base_uris = [base_uris]
        if file_extension and not file_extension.startswith("."):
            file_extension = "." + file_extension
        self.loader = SchemaLoader(
            base_uris, file_extension=file_extension or None, http_timeout=http_timeout
        )
        self.allow_absolute_uris = allow_absolute_uris
        self.allow_insecure_schemas = allow_insecure_schemas
        self.negative_ttl = negative_ttl
        self.max_uri_length = max_uri_length
        self._negative_cache_size = negative_cache_size
        self._by_key: dict[str, CompiledSchema] = {}
        self._by_raw: dict[str, CompiledSchema] = {}
        self._negative: OrderedDict[str, tuple[float, EventFailure]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[CompiledSchema]] = {}
        self.loads = 0  # completed document loads (for tests and metrics)

    @property
    def file_extension(self) -> str | None:
        return self.loader.file_extension

    # -- public ------------------------------------------------------------------------------------------

    def get_cached(self, uri: Any) -> CompiledSchema | None:
        """Synchronous hot path: the compiled schema if this exact URI string was loaded before."""
        return self._by_raw.get(uri) if isinstance(uri, str) else None

    async def get(self, uri: Any) -> CompiledSchema:
        hit = self.get_cached(uri)
        if hit is not None:
            return hit
        target = self.check_uri(uri)  # raises EventInvalid before any I/O
        hit = self._by_key.get(target.key)
        if hit is not None:
            self._remember_raw(uri, hit)
            return hit
        neg = self._negative.get(target.key)
        if neg is not None:
            if neg[0] > time.monotonic():
                raise neg[1]
            del self._negative[target.key]
        task = self._inflight.get(target.key)
        if task is None:
            # A task of its own, so a cancelled caller does not cancel the load the others wait for.
            task = asyncio.ensure_future(self._load_and_cache(uri, target))
            self._inflight[target.key] = task
        return await asyncio.shield(task)

    async def close(self) -> None:
        await self.loader.close()

    def check_uri(self, uri: Any) -> Target:
        """Refuse unsafe ``$schema`` values; no I/O happens here."""
        return check_uri(
            uri, max_uri_length=self.max_uri_length, allow_absolute_uris=self.allow_absolute_uris
        )

    # -- loading -----------------------------------------------------------------------------------------

    async def _load_and_cache(self, uri: str, target: Target) -> CompiledSchema:
        try:
            compiled = await self._load(uri, target)
        except EventInvalid as exc:
            if self.negative_ttl > 0:
                self._negative[target.key] = (time.monotonic() + self.negative_ttl, exc)
                while len(self._negative) > self._negative_cache_size:
                    self._negative.popitem(last=False)
            raise
        except EventFailure:
            raise
        except Exception as exc:
            log.exception("unexpected failure loading schema %r", short(uri))
            raise EventError(Codes.SCHEMA_UNAVAILABLE, f"failed loading schema {short(uri)!r}") from exc
        finally:
            self._inflight.pop(target.key, None)
        self._by_key[target.key] = compiled
        self._remember_raw(uri, compiled)
        return compiled

    def _remember_raw(self, uri: str, compiled: CompiledSchema) -> None:
        if len(self._by_raw) >= 100_000:  # many spellings of few schemas: keep the fast path bounded
            self._by_raw.clear()
        self._by_raw[uri] = compiled

    async def _load(self, uri: str, target: Target) -> CompiledSchema:
        if target.meta:
            return CompiledSchema(uri, {"$ref": uri}, None, uri, MetaValidator())
        data = await self.loader.fetch(uri, target)
        self.loads += 1
        return await asyncio.to_thread(self._compile, uri, data)

    def _compile(self, uri: str, data: bytes) -> CompiledSchema:
        try:
            schema = parse_schema_text(data)
        except ValueError as exc:
            raise EventInvalid(Codes.SCHEMA_INVALID, f"schema {short(uri)!r}: {exc}") from None
        if not isinstance(schema, dict):
            raise EventInvalid(Codes.SCHEMA_INVALID, f"schema {short(uri)!r} is not a JSON object")
        if not self.allow_insecure_schemas:
            reasons = insecure_reasons(schema)
            if reasons:
                raise EventInvalid(
                    Codes.SCHEMA_INSECURE, f"schema {short(uri)!r} is insecure: " + "; ".join(reasons[:5])
                )
        return compile_schema(uri, schema, self._retrieve_ref)

    def _retrieve_ref(self, ref: str) -> Any:
        """Synchronous ``$ref`` loader used during compilation (runs in a worker thread)."""
        if ref.startswith(INTERNAL_BASE):
            target = self.check_uri("/" + ref[len(INTERNAL_BASE) :].split("#", 1)[0])
        else:
            target = self.check_uri(ref.split("#", 1)[0])
        document = parse_schema_text(self.loader.fetch_sync(ref, target))
        check_formats_known(ref, document)
        return document
