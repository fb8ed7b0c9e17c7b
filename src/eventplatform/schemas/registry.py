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
* **Numbers.** JSON has one number type: :func:`normalize_numbers` turns every integral float into an int
  (all of them, not only where the schema says integer — that is what Node/AJV write back, and it makes
  draft-04 accept ``2.0`` for an integer like AJV does). Intake calls it before
  :meth:`CompiledSchema.validate`; :meth:`CompiledSchema.check` does both.
* **Formats** are checked (AJV 6 checks them too); an unknown format is a schema compile error, as in AJV.
  AJV's extra ``url`` format is provided.
* **Meta-schemas.** An event whose ``$schema`` is a json-schema.org meta-schema URL is an absolute URI, so it
  is refused by default; with ``allow_absolute_uris`` it is validated offline against the built-in meta-schema
  (as the reference does), never fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import ipaddress
import logging
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema_rs
import orjson
import yaml

from eventplatform.errors import Codes, EventError, EventFailure, EventInvalid, ValidationDetail

log = logging.getLogger(__name__)

MAX_URI_LENGTH = 1024
MAX_SCHEMA_BYTES = 5 * 1024 * 1024
_RELATIVE_OK = re.compile(r"[A-Za-z0-9._~/+\-]*")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_META_SCHEMA = re.compile(r"^https?://json-schema\.org/(draft-0[467]/schema|draft/20(19-09|20-12)/schema)#?$")
_INTERNAL_BASE = "evp-schema:///"


def _short(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader whose booleans are YAML 1.2's (only true/false): ``on``/``yes``/``no`` stay strings."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _yaml12_load(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)  # a SafeLoader subclass


@functools.cache
def _yaml_loader() -> Callable[[str], Any]:
    """The repository's YAML 1.2 loader (``eventplatform.schemas.yamlio``) when present, else our own.

    A candidate is used only if it loads text and keeps ``on`` a string (its exact name is not fixed)."""
    try:
        from eventplatform.schemas import yamlio  # type: ignore[attr-defined]
    except ImportError:
        return _yaml12_load
    for name in ("loads", "load_str", "load_string", "safe_load", "load_yaml", "load"):
        fn = getattr(yamlio, name, None)
        if callable(fn):
            try:
                if fn("a: on\n") == {"a": "on"}:
                    return fn  # type: ignore[no-any-return]
            except Exception:
                continue
    return _yaml12_load


def parse_schema_text(data: bytes) -> Any:
    """JSON (fast path) or YAML; raises ValueError with a short reason."""
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # YAML flow style can look like JSON
    try:
        return _yaml_loader()(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError("schema is not UTF-8") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"not valid YAML/JSON{where}") from exc
    except Exception as exc:  # the repository loader's own error type
        raise ValueError(f"not valid YAML/JSON: {_short(str(exc), 200)}") from exc


def normalize_numbers(value: Any) -> Any:
    """Integral floats -> int, recursively (``2.0`` -> ``2``), as JSON/JavaScript has one number type.

    Returns the same object when nothing changes (dicts and lists are updated in place)."""
    if isinstance(value, float):
        if value.is_integer() and -(2**63) <= value < 2**63:
            return int(value)
        return value
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (float, dict, list)):
                nv = normalize_numbers(v)
                if nv is not v:
                    value[k] = nv
        return value
    if isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (float, dict, list)):
                nv = normalize_numbers(v)
                if nv is not v:
                    value[i] = nv
        return value
    return value


def _pointer(parts: Sequence[str | int]) -> str:
    if not parts:
        return ""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve_pointer(doc: Any, parts: Sequence[str | int]) -> Any:
    for p in parts:
        if isinstance(doc, dict):
            doc = doc.get(str(p))
        elif isinstance(doc, list) and isinstance(p, int) and 0 <= p < len(doc):
            doc = doc[p]
        else:
            return None
    return doc


def _json_safe(value: Any, limit: int = 200) -> Any:
    """Keep params small and JSON-serializable (no echo of a 10 kB producer string)."""
    if isinstance(value, str):
        return _short(value, limit)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, limit) for v in value[:50]]
    if isinstance(value, dict):
        return {str(k): _json_safe(v, limit) for k, v in list(value.items())[:50]}
    return _short(str(value), limit)


_AJV_TYPES = {"number", "integer", "string", "boolean", "array", "object", "null"}


def _detail_from_error(err: Any, event: Any, schema: Any) -> list[ValidationDetail]:
    """Map one jsonschema-rs error to ValidationDetail(s) with AJV-style keyword and params."""
    ipath = list(err.instance_path)
    spath = list(err.schema_path)
    kind = err.kind
    name = kind.name
    raw = kind.as_dict()
    message = _short(err.message, 300)
    keyword = name
    params: dict[str, Any]
    if name == "falseSchema" and spath and spath[-1] == "additionalProperties":
        # Draft 6+ compiles additionalProperties:false to a false schema; recover the property names.
        obj = _resolve_pointer(event, ipath)
        parent = _resolve_pointer(schema, spath[:-1]) or {}
        declared = parent.get("properties") or {} if isinstance(parent, dict) else {}
        patterns = [re.compile(p) for p in (parent.get("patternProperties") or {})] if parent else []
        extra = (
            [k for k in (obj or {}) if k not in declared and not any(p.search(k) for p in patterns)]
            if isinstance(obj, dict)
            else []
        )
        name, raw = "additionalProperties", {"unexpected": extra}
        keyword = name
        message = (
            "Additional properties are not allowed (" + ", ".join(repr(x) for x in extra) + " unexpected)"
        )
    if name == "additionalProperties":
        return [
            ValidationDetail(
                _pointer(ipath), "additionalProperties", _pointer(spath), message, {"additionalProperty": p}
            )
            for p in raw.get("unexpected") or [""]
        ]
    if name == "type":
        declared_types = _resolve_pointer(schema, spath)  # AJV lists the types in schema order
        if isinstance(declared_types, str):
            declared_types = [declared_types]
        types = declared_types if isinstance(declared_types, list) else list(raw.get("types") or [])
        params = {"type": ",".join(map(str, types))}
    elif name == "required":
        params = {"missingProperty": raw.get("property")}
        if spath and spath[-1] == "dependencies":
            keyword = "dependencies"
            params = _dependency_params(_resolve_pointer(schema, spath), _resolve_pointer(event, ipath), raw)
    elif name == "enum":
        params = {"allowedValues": _json_safe(raw.get("options"))}
    elif name == "const":
        params = {"allowedValue": _json_safe(raw.get("expected_value"))}
    elif name in ("maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties"):
        params = {"limit": raw.get("limit")}
    elif name in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        limit = raw.get("limit")
        comparison = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[
            name
        ]
        params = {"comparison": comparison, "limit": limit, "exclusive": name.startswith("exclusive")}
    elif name == "multipleOf":
        params = {"multipleOf": raw.get("multiple_of")}
    elif name == "pattern":
        params = {"pattern": raw.get("pattern")}
    elif name == "format":
        params = {"format": raw.get("format")}
    elif name == "oneOf":
        params = {"passingSchemas": None}
    elif name in ("not", "anyOf"):
        params = {}
    elif name == "uniqueItems":
        params = _duplicate_items(_resolve_pointer(event, ipath))
    elif name == "falseSchema":
        keyword, params = "false schema", {}
    elif name == "propertyNames":
        obj = _resolve_pointer(event, ipath)
        inner = raw.get("error")
        bad = getattr(inner, "instance", None)
        params = {"propertyName": _json_safe(bad) if bad is not None else None}
        if isinstance(obj, dict) and bad is None:
            params = {}
    elif name == "additionalItems":
        params = {"limit": raw.get("limit")}
    else:
        params = {k: _json_safe(v) for k, v in raw.items() if k != "context"}
    return [ValidationDetail(_pointer(ipath), keyword, _pointer(spath), message, params)]


def _dependency_params(deps: Any, obj: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """AJV's params for a property dependency: which present property needs which missing one."""
    missing = raw.get("property")
    if isinstance(deps, dict) and isinstance(obj, dict):
        for trigger, needed in deps.items():
            if trigger in obj and isinstance(needed, list) and missing in needed:
                return {
                    "property": trigger,
                    "missingProperty": missing,
                    "depsCount": len(needed),
                    "deps": ", ".join(map(str, needed)),
                }
    return {"missingProperty": missing}


def _duplicate_items(items: Any) -> dict[str, Any]:
    """AJV's ``{i, j}`` for uniqueItems: the last item that repeats an earlier one, and that earlier one."""
    if not isinstance(items, list):
        return {}
    keys = [orjson.dumps(x, option=orjson.OPT_SORT_KEYS) for x in items[:10_000]]
    for i in range(len(keys) - 1, 0, -1):
        for j in range(i - 1, -1, -1):
            if keys[i] == keys[j]:
                return {"i": i, "j": j}
    return {}


class _MetaValidator:
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
    # Same verdicts as ``validator``, with the AJV formats as Rust patterns (see ``formats_as_patterns``):
    # the hot path. ``validator`` (Python format callbacks) only runs to describe an invalid event.
    fast: Any = field(default=None, repr=False)

    def is_valid(self, event: Any) -> bool:
        return bool((self.fast or self.validator).is_valid(event))

    def validate(self, event: Any) -> tuple[ValidationDetail, ...]:
        """Violations of ``event`` (as given: call :func:`normalize_numbers` first for ``2.0`` integers)."""
        if (self.fast or self.validator).is_valid(event):
            return ()
        return self.describe(event)

    def describe(self, event: Any) -> tuple[ValidationDetail, ...]:
        """The violations of an event that :meth:`is_valid` refused, as AJV reports them."""
        out: list[ValidationDetail] = []
        try:
            for err in self.validator.iter_errors(event):
                out.extend(_detail_from_error(err, event, self.schema))
        except ValueError as exc:
            out.append(ValidationDetail("", "$schema", "", str(exc), {}))
        return tuple(out)

    def check(self, event: Any) -> tuple[Any, tuple[ValidationDetail, ...]]:
        """Normalize integral floats, then validate: ``(event, details)``."""
        event = normalize_numbers(event)
        return event, self.validate(event)

    def apply_defaults(self, event: Any) -> Any:
        """Fill in missing properties that have a schema ``default`` (AJV ``useDefaults``), in place.

        Like AJV, defaults are appended at the end of the receiving object and applied whether or not the
        event then validates."""
        _apply_defaults(self.schema, event, 0)
        return event

    def has_field(self, path: Sequence[str]) -> bool:
        """Whether the schema declares the (dotted) field, e.g. ("meta", "dt"); used for default fields."""
        if isinstance(path, str):
            path = path.split(".")
        return _has_field(self.schema, list(path), 0)


def _apply_defaults(schema: Any, value: Any, depth: int) -> None:
    if not isinstance(schema, dict) or depth > 32:
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, sub in props.items():
                if not isinstance(sub, dict):
                    continue
                if name not in value:
                    if "default" in sub:
                        value[name] = copy.deepcopy(sub["default"])
                else:
                    _apply_defaults(sub, value[name], depth + 1)
        for key in ("allOf",):
            for sub in schema.get(key) or ():
                _apply_defaults(sub, value, depth + 1)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                _apply_defaults(items, item, depth + 1)


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


# --- the "secure schema" check (AJV's json-schema-secure, described in intake.md §4.6) -----------------

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")
_SUBSCHEMA_ONE = (
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "items",
)
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")


def insecure_reasons(schema: Any) -> list[str]:
    """Why a schema would let a producer make validation expensive; [] when secure.

    A string with ``pattern`` or ``format`` needs ``maxLength``; ``patternProperties`` needs
    ``propertyNames.maxLength``; ``uniqueItems: true`` over object/array items needs ``maxItems``."""
    out: list[str] = []

    def walk(s: Any, ptr: str, depth: int) -> None:
        if not isinstance(s, dict) or depth > 64 or len(out) >= 20:
            return
        for kw in ("pattern", "format"):
            if kw in s and "maxLength" not in s:
                out.append(f"{ptr or '/'}: '{kw}' without 'maxLength'")
        if "patternProperties" in s:
            pn = s.get("propertyNames")
            if not (isinstance(pn, dict) and "maxLength" in pn):
                out.append(f"{ptr or '/'}: 'patternProperties' without 'propertyNames.maxLength'")
        if s.get("uniqueItems") is True and "maxItems" not in s:
            items = s.get("items")
            item_types = items.get("type") if isinstance(items, dict) else None
            simple = {"string", "number", "integer", "boolean", "null"}
            if not (
                (isinstance(item_types, str) and item_types in simple)
                or (isinstance(item_types, list) and set(item_types) <= simple)
            ):
                out.append(f"{ptr or '/'}: 'uniqueItems' over non-scalar items without 'maxItems'")
        for kw in _SUBSCHEMA_MAPS:
            m = s.get(kw)
            if isinstance(m, dict):
                for k, sub in m.items():
                    walk(sub, f"{ptr}/{kw}/{k}", depth + 1)
        deps = s.get("dependencies")
        if isinstance(deps, dict):
            for k, sub in deps.items():
                walk(sub, f"{ptr}/dependencies/{k}", depth + 1)
        for kw in _SUBSCHEMA_ONE:
            if isinstance(s.get(kw), dict):
                walk(s[kw], f"{ptr}/{kw}", depth + 1)
        for kw in _SUBSCHEMA_LISTS:
            if isinstance(s.get(kw), list):
                for i, sub in enumerate(s[kw]):
                    walk(sub, f"{ptr}/{kw}/{i}", depth + 1)

    walk(schema, "", 0)
    return out


# --- URI checks -----------------------------------------------------------------------------------------


def _refused(message: str) -> EventInvalid:
    return EventInvalid(Codes.SCHEMA_URI_REFUSED, message)


def _bad_ip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_link_local or addr.is_unspecified or addr.is_multicast or addr.is_reserved


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", host):  # legacy forms: 2852039166, 0xa9fea9fe, 0251.0376.0251.0376
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _split_relative(uri: str) -> list[str]:
    """Lexically normalized path segments; refuses a ``..`` that climbs above the base."""
    segments: list[str] = []
    for seg in uri.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not segments:
                raise _refused(f"schema URI {_short(uri)!r} escapes the schema base with '..'")
            segments.pop()
            continue
        segments.append(seg)
    if not segments:
        raise _refused(f"schema URI {_short(uri)!r} names no schema")
    return segments


def _with_extension(segments: list[str], ext: str | None) -> list[str]:
    if not ext:
        return segments
    last = segments[-1]
    head, dot, tail = last.rpartition(".")
    if dot and head and tail and not tail.isdigit():
        return segments
    return [*segments[:-1], last + ext]


@dataclass(frozen=True, slots=True)
class _Target:
    """A checked URI: either relative path segments (resolved against bases) or an absolute http(s) URL."""

    key: str
    segments: tuple[str, ...] = ()
    absolute: str | None = None
    meta: bool = False


class _NotFound(Exception):
    pass


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
        self._bases: list[tuple[str, str]] = []  # ("dir", path) | ("http", url-without-trailing-slash)
        for base in base_uris:
            if base.startswith(("http://", "https://")):
                self._bases.append(("http", base.rstrip("/")))
            else:
                path = base[len("file://") :] if base.startswith("file://") else base
                self._bases.append(("dir", str(Path(path).resolve())))
        if file_extension and not file_extension.startswith("."):
            file_extension = "." + file_extension
        self.file_extension = file_extension or None
        self.allow_absolute_uris = allow_absolute_uris
        self.allow_insecure_schemas = allow_insecure_schemas
        self.negative_ttl = negative_ttl
        self.http_timeout = http_timeout
        self.max_uri_length = max_uri_length
        self._negative_cache_size = negative_cache_size
        self._by_key: dict[str, CompiledSchema] = {}
        self._by_raw: dict[str, CompiledSchema] = {}
        self._negative: OrderedDict[str, tuple[float, EventFailure]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[CompiledSchema]] = {}
        self._client: httpx.AsyncClient | None = None
        self._sync_client: httpx.Client | None = None
        self._sync_lock = threading.Lock()
        self.loads = 0  # completed document loads (for tests and metrics)

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

    async def _load_and_cache(self, uri: str, target: _Target) -> CompiledSchema:
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
            log.exception("unexpected failure loading schema %r", _short(uri))
            raise EventError(Codes.SCHEMA_UNAVAILABLE, f"failed loading schema {_short(uri)!r}") from exc
        finally:
            self._inflight.pop(target.key, None)
        self._by_key[target.key] = compiled
        self._remember_raw(uri, compiled)
        return compiled

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    def check_uri(self, uri: Any) -> _Target:
        """Refuse unsafe ``$schema`` values; no I/O happens here (except none at all)."""
        if not isinstance(uri, str):
            kind = "null" if uri is None else type(uri).__name__
            kind = {
                "int": "integer",
                "float": "number",
                "bool": "boolean",
                "dict": "object",
                "list": "array",
            }.get(kind, kind)
            raise _refused(f"$schema must be a string, got {kind}")
        if not uri:
            raise _refused("$schema is an empty string")
        if len(uri) > self.max_uri_length:
            raise _refused(f"$schema is {len(uri)} characters long; the limit is {self.max_uri_length}")
        if _CONTROL.search(uri):
            raise _refused(f"$schema {_short(uri)!r} contains a control character or backslash")
        m = _SCHEME.match(uri)
        if m:
            scheme = m.group(1).lower()
            if scheme == "file":
                raise _refused(f"$schema {_short(uri)!r}: file:// URIs are never allowed")
            if not self.allow_absolute_uris:
                raise _refused(
                    f"$schema {_short(uri)!r} is an absolute URI; use a relative URI such as /title/1.0.0"
                )
            if scheme not in ("http", "https"):
                raise _refused(f"$schema {_short(uri)!r}: only http and https URIs are allowed")
            if _META_SCHEMA.match(uri):
                return _Target(key="meta:" + uri.rstrip("#").replace("https://", "http://"), meta=True)
            parts = urlsplit(uri)
            host = (parts.hostname or "").rstrip(".").lower()
            if not host:
                raise _refused(f"$schema {_short(uri)!r} has no host")
            if parts.username is not None or parts.password is not None:
                raise _refused(f"$schema {_short(uri)!r} carries credentials")
            ip = _literal_ip(host)
            if (ip is not None and _bad_ip(ip)) or host in _METADATA_HOSTS:
                raise _refused(f"$schema {_short(uri)!r} points at a link-local or metadata address")
            return _Target(key=uri, absolute=uri)
        if not _RELATIVE_OK.fullmatch(uri):
            raise _refused(
                f"$schema {_short(uri)!r} has characters outside [A-Za-z0-9._~/+-] (relative URIs only)"
            )
        segments = _split_relative(uri)
        return _Target(key="/" + "/".join(segments), segments=tuple(segments))

    # -- loading -----------------------------------------------------------------------------------------

    def _remember_raw(self, uri: str, compiled: CompiledSchema) -> None:
        if len(self._by_raw) >= 100_000:  # many spellings of few schemas: keep the fast path bounded
            self._by_raw.clear()
        self._by_raw[uri] = compiled

    async def _load(self, uri: str, target: _Target) -> CompiledSchema:
        if target.meta:
            return CompiledSchema(uri, {"$ref": uri}, None, uri, _MetaValidator())
        data, where = await self._fetch(uri, target)
        self.loads += 1
        return await asyncio.to_thread(self._compile, uri, data, where)

    async def _fetch(self, uri: str, target: _Target) -> tuple[bytes, str]:
        if target.absolute is not None:
            await self._check_resolved_host(target.absolute)
            try:
                return await self._fetch_http(target.absolute), target.absolute
            except _NotFound as exc:
                raise EventInvalid(
                    Codes.SCHEMA_NOT_FOUND, f"schema {_short(uri)!r} not found: {exc}"
                ) from None
        if not self._bases:
            raise EventInvalid(
                Codes.SCHEMA_NOT_FOUND, f"schema {_short(uri)!r} not found: no schema base URIs"
            )
        segments = _with_extension(list(target.segments), self.file_extension)
        last_error: EventError | None = None
        for kind, base in self._bases:
            try:
                if kind == "dir":
                    path = Path(base, *segments)
                    return await asyncio.to_thread(self._read_file, path), str(path)
                url = base + "/" + "/".join(segments)
                return await self._fetch_http(url), url
            except _NotFound:
                continue
            except EventError as exc:
                last_error = exc
        if last_error is not None:
            raise last_error
        raise EventInvalid(Codes.SCHEMA_NOT_FOUND, f"schema {_short(uri)!r} not found")

    @staticmethod
    def _read_file(path: Path) -> bytes:
        data = _read_one(path)
        # A repository checked out without symlink support holds ``latest`` as a file whose content is the
        # target's name (git's core.symlinks=false). Follow such a file once, to a sibling only.
        if len(data) <= 255:
            target = data.decode("utf-8", "replace").strip()
            if _SIBLING.fullmatch(target) and target not in (".", "..") and "\n" not in target:
                with contextlib.suppress(_NotFound):
                    return _read_one(path.with_name(target))
        return data

    async def _check_resolved_host(self, url: str) -> None:
        host = urlsplit(url).hostname or ""
        if _literal_ip(host) is not None:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError as exc:
            raise EventError(Codes.SCHEMA_UNAVAILABLE, f"cannot resolve schema host {host!r}: {exc}") from exc
        for info in infos:
            addr = ipaddress.ip_address(info[4][0].split("%")[0])
            if _bad_ip(addr):
                raise _refused(f"$schema host {host!r} resolves to a link-local or metadata address")

    async def _fetch_http(self, url: str) -> bytes:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.http_timeout, follow_redirects=False)
        try:
            async with self._client.stream("GET", url, headers={"accept": "application/json, */*"}) as resp:
                return await self._read_response(url, resp.status_code, resp.aiter_bytes())
        except httpx.HTTPError as exc:
            raise EventError(
                Codes.SCHEMA_UNAVAILABLE, f"schema host unavailable for {_short(url)}: {type(exc).__name__}"
            ) from exc

    @staticmethod
    async def _read_response(url: str, status: int, chunks: Any) -> bytes:
        if status in (404, 410):
            raise _NotFound(f"{status} from {_short(url)}")
        if status >= 500 or status == 429:
            raise EventError(Codes.SCHEMA_UNAVAILABLE, f"schema host answered {status} for {_short(url)}")
        if not 200 <= status < 300:
            raise EventInvalid(Codes.SCHEMA_NOT_FOUND, f"schema host answered {status} for {_short(url)}")
        buf = bytearray()
        async for chunk in chunks:
            buf += chunk
            if len(buf) > MAX_SCHEMA_BYTES:
                raise EventInvalid(Codes.SCHEMA_INVALID, f"schema at {_short(url)} is too large")
        return bytes(buf)

    def _compile(self, uri: str, data: bytes, where: str) -> CompiledSchema:
        try:
            schema = parse_schema_text(data)
        except ValueError as exc:
            raise EventInvalid(Codes.SCHEMA_INVALID, f"schema {_short(uri)!r}: {exc}") from None
        if not isinstance(schema, dict):
            raise EventInvalid(Codes.SCHEMA_INVALID, f"schema {_short(uri)!r} is not a JSON object")
        if not self.allow_insecure_schemas:
            reasons = insecure_reasons(schema)
            if reasons:
                raise EventInvalid(
                    Codes.SCHEMA_INSECURE, f"schema {_short(uri)!r} is insecure: " + "; ".join(reasons[:5])
                )
        ref_errors: list[EventFailure] = []
        schema_id = schema.get("$id") if isinstance(schema.get("$id"), str) else None
        base = _INTERNAL_BASE
        try:
            validator = jsonschema_rs.validator_for(
                schema,
                validate_formats=True,
                ignore_unknown_formats=False,
                formats=FORMAT_CHECKS,
                retriever=lambda ref: self._retrieve_ref(ref, ref_errors),
                base_uri=base,
            )
        except Exception as exc:
            for failure in ref_errors:
                if isinstance(failure, EventError):
                    raise failure from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EventInvalid(
                Codes.SCHEMA_INVALID, f"schema {_short(uri)!r} does not compile: {_short(first, 300)}"
            ) from None
        try:
            fast = jsonschema_rs.validator_for(
                formats_as_patterns(schema),
                validate_formats=True,
                ignore_unknown_formats=False,
                formats=FORMAT_CHECKS,  # formats without a pattern (url), and in documents not rewritten
                retriever=lambda ref: formats_as_patterns(self._retrieve_ref(ref, [])),
                base_uri=base,
            )
        except Exception:  # pragma: no cover - the same schema compiled above; keep the exact validator
            log.warning("schema %r: no pattern-based validator, using format callbacks", _short(uri))
            fast = None
        title = schema.get("title") if isinstance(schema.get("title"), str) else None
        return CompiledSchema(
            uri=uri, schema=schema, title=title, schema_id=schema_id, validator=validator, fast=fast
        )

    def _retrieve_ref(self, ref: str, errors: list[EventFailure]) -> Any:
        """Synchronous ``$ref`` loader used during compilation (runs in a worker thread)."""
        try:
            if ref.startswith(_INTERNAL_BASE):
                rel = "/" + ref[len(_INTERNAL_BASE) :].split("#", 1)[0]
                target = self.check_uri(rel)
            else:
                target = self.check_uri(ref.split("#", 1)[0])
            if target.absolute is not None:
                data = self._fetch_http_sync(target.absolute)
            else:
                segments = _with_extension(list(target.segments), self.file_extension)
                data = None
                for kind, base in self._bases:
                    try:
                        if kind == "dir":
                            data = self._read_file(Path(base, *segments))
                        else:
                            data = self._fetch_http_sync(base + "/" + "/".join(segments))
                        break
                    except _NotFound:
                        continue
                if data is None:
                    raise EventInvalid(Codes.SCHEMA_NOT_FOUND, f"$ref {_short(ref)!r} not found")
            return parse_schema_text(data)
        except EventFailure as exc:
            errors.append(exc)
            raise

    def _fetch_http_sync(self, url: str) -> bytes:
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(timeout=self.http_timeout, follow_redirects=False)
        try:
            resp = self._sync_client.get(url)
        except httpx.HTTPError as exc:
            raise EventError(Codes.SCHEMA_UNAVAILABLE, f"schema host unavailable for {_short(url)}") from exc
        if resp.status_code in (404, 410):
            raise _NotFound(url)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise EventError(Codes.SCHEMA_UNAVAILABLE, f"schema host answered {resp.status_code}")
        if not 200 <= resp.status_code < 300:
            raise EventInvalid(Codes.SCHEMA_NOT_FOUND, f"schema host answered {resp.status_code}")
        return resp.content


_SIBLING = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def _read_one(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SCHEMA_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise _NotFound(str(path)) from exc
    except OSError as exc:
        raise EventError(Codes.SCHEMA_UNAVAILABLE, f"cannot read schema file: {exc.strerror}") from exc
    if len(data) > MAX_SCHEMA_BYTES:
        raise EventInvalid(Codes.SCHEMA_INVALID, f"schema file is larger than {MAX_SCHEMA_BYTES} bytes")
    return data


_URL = re.compile(r"^(?:https?|ftp)://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def _is_url(value: str) -> bool:
    """AJV 6's ``url`` format (WHATWG-ish URL with http/https/ftp)."""
    return bool(_URL.match(value))


# AJV 6 "fast" format checks (what EventGate applies), written as regexes of our own. They are laxer than
# RFC 3339 / RFC 3986, and the difference matters to producers: a ``meta.uri`` with a non-ASCII page title,
# a date-time with a space or a ``+0000`` offset, or 30 February are all accepted by EventGate.
#
# Each is written ONCE, in the common subset of JavaScript, Python and Rust regex syntax (explicit classes,
# JavaScript's ``\s`` spelled out, ``/i`` spelled as ``[tT]``), and used twice:
# * as a Python callback (``FORMAT_CHECKS``) in the validator that reports errors, so that a failure is a
#   ``format`` error exactly as AJV reports it;
# * as a ``pattern`` that replaces the ``format`` in the validator of the hot path, so that a valid event is
#   checked without a single call back into Python (2.9 -> 0.8 µs for a link-hover event).
# jsonschema-rs's own (native) checks cannot be used instead: they are stricter in most places, but its
# date/time parsers accept non-digits (``*021-01-01``) and leap seconds at any UTC offset, which AJV refuses.
# tests/schemas/test_registry_formats.py checks that the Python callbacks, the Rust patterns and AJV 6.15
# (recorded verdicts) agree on tricky values and on fuzzed ones.
_JS_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_TIME = r"(?:[0-2][0-9]:[0-5][0-9]:[0-5][0-9]|23:59:60)(?:\.[0-9]+)?"
_ZONE = r"(?:[zZ]|[+-][0-9]{2}(?::?[0-9]{2})?)"
_URI_SCHEME = r"[a-zA-Z][a-zA-Z0-9+\-.]*"
AJV_FORMAT_PATTERNS: dict[str, str] = {
    "date": r"^[0-9]{4}-[0-1][0-9]-[0-3][0-9]$",
    "time": rf"^{_TIME}{_ZONE}?$",
    "date-time": rf"^[0-9]{{4}}-[0-1][0-9]-[0-3][0-9][tT{_JS_WS}]{_TIME}{_ZONE}$",
    "uri": rf"^{_URI_SCHEME}:(?:/?/)?[^{_JS_WS}]*$",
    "uri-reference": (rf"^(?:(?:{_URI_SCHEME}:)?/?/)?(?:[^\\{_JS_WS}#][^{_JS_WS}#]*)?(?:#[^\\{_JS_WS}]*)?$"),
}


def _fast(source: str) -> Callable[[str], bool]:
    # JavaScript's ``$`` (no m flag) is the end of the string; Python's would also match before a final "\n"
    pattern = re.compile(source[:-1] + r"\Z")
    return lambda value: pattern.match(value) is not None


FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "url": _is_url,
    **{name: _fast(rx) for name, rx in AJV_FORMAT_PATTERNS.items()},
}

# keywords whose value is a subschema / a list of subschemas / a map of name -> subschema
_SUB_ONE = (
    "additionalProperties",
    "additionalItems",
    "items",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "not",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_SUB_LIST = ("allOf", "anyOf", "oneOf", "items", "prefixItems")
_SUB_MAP = ("properties", "patternProperties", "definitions", "$defs", "dependencies", "dependentSchemas")


def formats_as_patterns(schema: Any, depth: int = 0) -> Any:
    """A copy of ``schema`` whose AJV-fast ``format``s are ``pattern``s (same verdicts, checked in Rust).

    Only schema positions are rewritten (never ``enum``/``const``/``default``/``examples`` values nor a
    property that happens to be named ``format``); a node that already has a ``pattern`` gets the format's
    pattern in ``allOf``. Formats without a pattern (``url``) stay formats."""
    if not isinstance(schema, dict) or depth > 200:
        return schema
    out = dict(schema)
    fmt = out.get("format")
    if isinstance(fmt, str) and fmt in AJV_FORMAT_PATTERNS:
        rx = AJV_FORMAT_PATTERNS[fmt]
        all_of = out.get("allOf")
        if "pattern" not in out:
            del out["format"]
            out["pattern"] = rx
        elif all_of is None or isinstance(all_of, list):
            del out["format"]
            out["allOf"] = [*(all_of or ()), {"pattern": rx}]
    for kw in _SUB_ONE:
        sub = out.get(kw)
        if isinstance(sub, dict):
            out[kw] = formats_as_patterns(sub, depth + 1)
    for kw in _SUB_LIST:
        subs = out.get(kw)
        if isinstance(subs, list):
            out[kw] = [formats_as_patterns(x, depth + 1) for x in subs]
    for kw in _SUB_MAP:
        subs = out.get(kw)
        if isinstance(subs, dict):
            out[kw] = {k: formats_as_patterns(v, depth + 1) for k, v in subs.items()}
    return out
