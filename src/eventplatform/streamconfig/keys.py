"""Kafka message keys from a stream's ``message_key_fields``.

eventgate-wikimedia keys a message with the JSON of an object built from the stream config's
``message_key_fields`` (key name -> dotted path into the event), so every event about the same entity
(e.g. the same page) lands in the same partition and stays ordered. A path that is missing in the event
is left out, as ``JSON.stringify`` leaves out ``undefined``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

_MISSING = object()


def _get(event: Any, dotted: str) -> Any:
    node = event
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def message_key(event: Mapping[str, Any], message_key_fields: Mapping[str, str] | None) -> bytes | None:
    """The serialized key for ``event``, or None when the stream has no ``message_key_fields``."""
    if not message_key_fields:
        return None
    key: dict[str, Any] = {}
    for name, path in message_key_fields.items():
        value = _get(event, str(path))
        if value is not _MISSING:
            key[str(name)] = value
    return orjson.dumps(key)
