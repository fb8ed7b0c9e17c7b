"""Runtime schema registry: ``$schema`` URI -> compiled validator (jsonschema-rs).

Interface fixed here so intake can be built against it; the implementation fills in the bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventplatform.errors import ValidationDetail


@dataclass(slots=True)
class CompiledSchema:
    """A loaded, compiled schema. ``validate`` returns () for a valid event."""

    uri: str  # the URI as the event gave it
    schema: dict[str, Any]
    title: str | None
    schema_id: str | None

    def validate(self, event: Any) -> tuple[ValidationDetail, ...]:
        raise NotImplementedError

    def has_field(self, path: Sequence[str]) -> bool:
        """Whether the schema declares the (dotted) field, e.g. ("meta", "dt"); used for default fields."""
        raise NotImplementedError


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
    ) -> None:
        raise NotImplementedError

    async def get(self, uri: Any) -> CompiledSchema:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError
