"""Stream configuration: streams by exact name or ``/regex/``, defaults deep-merged, topics computed.

The document is the reference's ``streamconfigs`` API shape: ``{"streams": {name_or_/regex/: settings}}`` plus
an optional top-level ``defaults`` map deep-merged into every entry (an API response, which has no
``defaults``, loads as is). Every setting key is kept and passed through; only ``stream``, ``topics`` and
``topic_prefixes`` are interpreted here (reference: clients-and-streams.md §2).

Decisions where the reference is quirky:

* **Deep merge** (Q9): maps merge recursively, but a **list in an entry replaces the default list** as a whole
  (the reference merges lists by index, so ``topic_prefixes: [eqiad.]`` over a default ``[eqiad., codfw.]``
  kept ``codfw.``). An explicit ``null`` in an entry overrides the default and stays ``null`` in the output
  (``topic_prefixes: null`` disables prefixes).
* **Regex keys** are ``/pattern/`` with Python ``re`` syntax (close to PCRE for the patterns stream configs
  use), matched with ``re.search`` like ``preg_match``; a trailing flag (``/x/i``) or an invalid pattern is
  rejected at load with the entry named, instead of breaking the computed topic regex later (Q10).
* **Constraints** (§2.4): a list constraint is a subset test, maps recurse (depth 10), scalars compare as
  PHP-cast strings (``true`` -> ``"1"``, ``false``/``null`` -> ``""``, ``1.0`` -> ``"1"``). Unlike the
  reference (Q11), a list comparison does not end the check of sibling keys: every constraint key must match.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

MAX_STREAMS_PER_REQUEST = 250
_CONSTRAINT_DEPTH = 10
_PREG_QUOTE = re.compile(r"([.\\+*?\[^\]$(){}=!<>|:\-#/\x00])")


class StreamConfigError(ValueError):
    """The stream config document is malformed (which entry, and why)."""


class StreamQueryError(ValueError):
    """A ``streams``/``constraints`` query is malformed (HTTP 400)."""


def deep_merge(defaults: Any, entry: Any) -> Any:
    """``entry`` over ``defaults``: maps merge recursively; anything else (lists, scalars, null) replaces."""
    if isinstance(defaults, Mapping) and isinstance(entry, Mapping):
        out = {k: copy.deepcopy(v) for k, v in defaults.items()}
        for k, v in entry.items():
            out[k] = deep_merge(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(entry)


def _is_regex(name: str) -> bool:
    return len(name) >= 2 and name.startswith("/")


def _compile_stream_regex(name: str) -> re.Pattern[str]:
    if not name.endswith("/"):
        raise StreamConfigError(f"stream {name!r}: a regex stream must look like /pattern/ (no flags)")
    try:
        return re.compile(name[1:-1])
    except re.error as exc:
        raise StreamConfigError(f"stream {name!r}: invalid regex: {exc}") from None


def preg_quote(text: str) -> str:
    """PHP's ``preg_quote`` with ``/`` as delimiter (the computed topic regex matches the reference's)."""
    return _PREG_QUOTE.sub(r"\\\1", text)


def php_string(value: Any) -> str:
    """How PHP casts a scalar to string for comparison."""
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _matches(constraint: Any, setting: Any, depth: int) -> bool:
    if depth >= _CONSTRAINT_DEPTH:
        return True
    if isinstance(constraint, Mapping):
        if not isinstance(setting, Mapping):
            return False
        for key, want in constraint.items():
            if setting.get(key) is None:
                return False
            if not _matches(want, setting[key], depth + 1):
                return False
        return True
    if isinstance(constraint, list):
        if not isinstance(setting, list):
            return False
        have = {php_string(v) for v in setting if not isinstance(v, (dict, list))}
        return all(not isinstance(c, (dict, list)) and php_string(c) in have for c in constraint)
    if isinstance(setting, (Mapping, list)):
        return False
    return php_string(constraint) == php_string(setting)


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str  # the stream name or the /regex/ pattern, as declared
    settings: dict[str, Any]  # defaults already merged, ``stream`` set
    regex: re.Pattern[str] | None


class StreamConfig:
    """An immutable, resolved stream-config document (the reference's ``streamconfigs`` shape).

    Returned dicts are shared (cached for the intake hot path): treat them as read-only."""

    def __init__(self, entries: Sequence[_Entry], defaults: Mapping[str, Any] | None = None) -> None:
        self._entries = list(entries)
        self._exact = {e.key: e for e in self._entries if e.regex is None}
        self._regexes = [e for e in self._entries if e.regex is not None]
        self.defaults = dict(defaults or {})
        self._resolved: dict[str, dict[str, Any] | None] = {}

    # -- construction --------------------------------------------------------------------------------------

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> StreamConfig:
        """``{"streams": {name_or_/regex/: settings}, "defaults": {...}}``."""
        if not isinstance(doc, Mapping):
            raise StreamConfigError("a stream config document must be a map with a 'streams' key")
        unknown = sorted(map(str, set(doc) - {"streams", "defaults"}))
        if unknown and "streams" not in doc:  # most likely a typo such as "stream:"
            raise StreamConfigError(f"unknown top-level key(s) {unknown}: expected 'streams' and 'defaults'")
        if unknown:  # e.g. an API response's "warnings"/"batchcomplete"
            log.warning("stream config: ignoring top-level key(s) %s", unknown)
        defaults = doc.get("defaults")
        if defaults is None:
            defaults = {}
        if not isinstance(defaults, Mapping):
            raise StreamConfigError("'defaults' must be a map of settings")
        streams = doc.get("streams")
        if streams is None:
            streams = {}
        items: list[tuple[str, Any]]
        if isinstance(streams, Mapping):
            items = [(k, v) for k, v in streams.items()]
        elif isinstance(streams, list):  # legacy list form: each entry carries its own ``stream``
            items = []
            for i, v in enumerate(streams):
                if not isinstance(v, Mapping) or "stream" not in v:
                    raise StreamConfigError(
                        f"streams[{i}]: a list entry must be a map with a 'stream' setting"
                    )
                items.append((v["stream"], v))
        else:
            raise StreamConfigError("'streams' must be a map from stream name (or /regex/) to settings")
        entries: list[_Entry] = []
        seen: set[str] = set()
        for key, settings in items:
            if not isinstance(key, str) or not key:
                raise StreamConfigError(f"stream {key!r}: the stream name must be a non-empty string")
            if key in seen:
                raise StreamConfigError(f"stream {key!r} is declared twice")
            seen.add(key)
            if settings is None:
                settings = {}
            if not isinstance(settings, Mapping):
                raise StreamConfigError(f"stream {key!r}: settings must be a map")
            regex = _compile_stream_regex(key) if _is_regex(key) else None
            merged = deep_merge(defaults, settings)
            for list_key in ("topic_prefixes", "topics"):
                value = merged.get(list_key)
                if value is not None and not (
                    isinstance(value, list) and all(isinstance(x, str) for x in value)
                ):
                    raise StreamConfigError(f"stream {key!r}: {list_key!r} must be a list of strings or null")
            merged["stream"] = key
            entries.append(_Entry(key, merged, regex))
        return cls(entries, defaults)

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "stream config") -> StreamConfig:
        from eventplatform.schemas.registry import parse_schema_text

        try:
            doc = parse_schema_text(data)
        except ValueError as exc:
            raise StreamConfigError(f"{source}: {exc}") from None
        try:
            return cls.from_document(doc)
        except StreamConfigError as exc:
            raise StreamConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> StreamConfig:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise StreamConfigError(f"cannot read stream config {str(p)!r}: {exc.strerror}") from None
        return cls.from_bytes(data, source=str(p))

    # -- queries -------------------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Declared keys (names and /regex/ patterns), in declaration order."""
        return [e.key for e in self._entries]

    def _lookup(self, stream: str) -> _Entry | None:
        entry = self._exact.get(stream)
        if entry is not None:
            return entry
        for e in self._regexes:
            if e.regex is not None and e.regex.search(stream):
                return e
        return None

    def get(self, stream: str) -> dict[str, Any] | None:
        """Settings of a concrete stream (exact name wins, then the first matching regex), with ``stream``
        and ``topics`` filled in, or None when no entry matches."""
        try:
            return self._resolved[stream]
        except KeyError:
            pass
        entry = self._lookup(stream)
        out = None if entry is None else self._to_output(entry, stream)
        if len(self._resolved) > 10_000:  # unknown names from producers must not grow this forever
            self._resolved.clear()
        self._resolved[stream] = out
        return out

    def select(
        self, streams: Sequence[str] | None = None, constraints: Mapping[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The ``streams`` map of the API response: all entries, or the requested names; filtered."""
        out: dict[str, dict[str, Any]] = {}
        if streams is None:
            for e in self._entries:
                if self._entry_matches(e, constraints):
                    out[e.key] = self._to_output(e, None)
            return out
        for name in streams:
            entry = self._lookup(name)
            if entry is None:
                log.debug("Stream %r does not match any `stream` in stream config", name)
                continue
            if self._entry_matches(entry, constraints, requested=name):
                out[name] = copy.deepcopy(self.get(name)) or {}
        return out

    def to_document(self) -> dict[str, Any]:
        """The API response for everything: ``{"streams": {...}}``."""
        return {"streams": self.select()}

    def topics(self, stream: str) -> list[str]:
        """Every topic of a concrete stream (all datacenters), [] when the stream is not configured."""
        settings = self.get(stream)
        return list(settings["topics"]) if settings else []

    # -- internals -----------------------------------------------------------------------------------------

    def _entry_matches(
        self, entry: _Entry, constraints: Mapping[str, Any] | None, requested: str | None = None
    ) -> bool:
        if not constraints:
            return True
        for key, want in constraints.items():
            if key == "stream":
                values = want if isinstance(want, list) else [want]
                for v in values:
                    v = php_string(v)
                    if not (v == entry.key or (entry.regex is not None and entry.regex.search(v))):
                        return False
                continue
            setting = entry.settings.get(key)
            if setting is None or not _matches(want, setting, 1):
                return False
        return True

    def _to_output(self, entry: _Entry, name: str | None) -> dict[str, Any]:
        settings = copy.deepcopy(entry.settings)
        if settings.get("topics") is not None:
            return settings
        prefixes = settings.get("topic_prefixes")
        if name is not None:
            settings["topics"] = [p + name for p in prefixes] if prefixes else [name]
        elif not prefixes:
            settings["topics"] = [entry.key]
        elif entry.regex is None:
            settings["topics"] = [p + entry.key for p in prefixes]
        else:
            pattern = entry.key.strip("/")
            anchor = "^" if pattern.startswith("^") else ""
            rest = pattern[1:] if anchor else pattern
            group = "|".join(preg_quote(p) for p in prefixes)
            settings["topics"] = [f"/{anchor}({group}){rest}/"]
        return settings


def topic_for(stream: str, datacenter: str | None) -> str:
    """The topic an intake of ``datacenter`` produces ``stream`` to: ``<dc>.<stream>``, except legacy
    ``eventlogging_*`` streams and when there is no datacenter."""
    if not datacenter or stream.startswith("eventlogging_"):
        return stream
    return f"{datacenter}.{stream}"


# --- the HTTP query forms -----------------------------------------------------------------------------------


def _split_multi(values: str | Sequence[str] | None) -> list[str]:
    """MediaWiki multi-value: ``a|b`` (or ``\\x1fa\\x1fb``), possibly repeated."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        if v.startswith("\x1f"):
            out.extend(x for x in v[1:].split("\x1f"))
        elif v:
            out.extend(v.split("|"))
    return out


_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def parse_constraint(item: str) -> dict[str, Any]:
    """``a[b][c]=v`` -> ``{"a": {"b": {"c": "v"}}}`` (PHP CGI rules; ``a[]=v`` appends to a list)."""
    key, _, value = item.partition("=")
    base, bracket, rest = key.partition("[")
    if not base:
        raise StreamQueryError(f"constraint {item!r} has no key")
    path = [base]
    if bracket:
        rest = "[" + rest
        pos = 0
        for m in _BRACKETS.finditer(rest):
            if m.start() != pos:
                break
            path.append(m.group(1))
            pos = m.end()
        if pos == 0:  # PHP turns an unmatched "[" into part of the name
            path = [key]
    node: Any = value
    for part in reversed(path[1:]):
        node = [node] if part == "" else {part: node}
    return {path[0]: node}


def _merge_constraints(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for k, v in new.items():
        old = into.get(k)
        if isinstance(old, dict) and isinstance(v, dict):
            _merge_constraints(old, v)
        elif isinstance(old, list) and isinstance(v, list):
            old.extend(v)
        else:
            into[k] = v


def parse_query(
    streams: str | Sequence[str] | None = None, constraints: str | Sequence[str] | None = None
) -> tuple[list[str] | None, dict[str, Any] | None]:
    """HTTP ``streams=a|b`` and ``constraints=a[b]=c|d=e`` -> arguments of :meth:`StreamConfig.select`.

    Raises :class:`StreamQueryError` for more than 250 streams or a constraint without a key."""
    names = _split_multi(streams)
    if len(names) > MAX_STREAMS_PER_REQUEST:
        raise StreamQueryError(
            f"too many values for streams: {len(names)}; the limit is {MAX_STREAMS_PER_REQUEST}"
        )
    merged: dict[str, Any] = {}
    for item in _split_multi(constraints):
        _merge_constraints(merged, parse_constraint(item))
    return (names or None), (merged or None)


def api_response(
    config: StreamConfig,
    streams: str | Sequence[str] | None = None,
    constraints: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``streamconfigs`` API body for the raw query values: ``{"streams": {...}}``."""
    names, cons = parse_query(streams, constraints)
    return {"streams": config.select(names, cons)}


# --- loading and refreshing ---------------------------------------------------------------------------------


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def load_stream_config(location: str, *, timeout: float = 10.0) -> StreamConfig:
    """Synchronous load from a file or http(s) URL (for the CLI and tools)."""
    if _is_url(location):
        try:
            resp = httpx.get(location, timeout=timeout, follow_redirects=True)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise StreamConfigError(f"cannot fetch stream config {location!r}: {exc}") from None
        return StreamConfig.from_bytes(resp.content, source=location)
    return StreamConfig.from_file(location.removeprefix("file://"))


def configured_topics(config: StreamConfig, datacenter: str | None) -> list[str]:
    """The topics an intake of ``datacenter`` writes for the streams named exactly in ``config``
    (``/regex/`` entries name no concrete topic): created at startup so consumers can subscribe at once."""
    return [topic_for(name, datacenter) for name in config.names if not name.startswith("/")]


class StreamConfigSource:
    """Loads a StreamConfig from a file or http(s) URL and refreshes it, keeping the last good one."""

    def __init__(
        self, location: str, *, refresh_interval: float | None = None, timeout: float = 10.0
    ) -> None:
        self.location = location
        self.refresh_interval = refresh_interval
        self.timeout = timeout
        self._current: StreamConfig | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        self.loads = 0  # successful loads

    @classmethod
    def static(cls, config: StreamConfig) -> StreamConfigSource:
        """A source that never refreshes (tests, embedded configs)."""
        src = cls("<static>")
        src._current = config
        return src

    @property
    def current(self) -> StreamConfig:
        if self._current is None:
            raise RuntimeError("StreamConfigSource.start() has not loaded a config yet")
        return self._current

    async def _fetch(self) -> StreamConfig:
        if _is_url(self.location):
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
                try:
                    resp = await client.get(self.location)
                    resp.raise_for_status()
                except httpx.HTTPError as exc:
                    raise StreamConfigError(f"cannot fetch stream config {self.location!r}: {exc}") from None
            return StreamConfig.from_bytes(resp.content, source=self.location)
        return await asyncio.to_thread(StreamConfig.from_file, self.location.removeprefix("file://"))

    async def reload(self) -> bool:
        """Load again; on failure keep the last good config, log, and return False."""
        try:
            config = await self._fetch()
        except StreamConfigError as exc:
            self.last_error = str(exc)
            log.warning("stream config refresh failed, keeping the last good config: %s", exc)
            return False
        self._current = config
        self.last_error = None
        self.loads += 1
        return True

    async def start(self) -> None:
        """First load (raises on failure) and start the refresh task, if any."""
        if self._current is None or self.location != "<static>":
            self._current = await self._fetch()
            self.loads += 1
        if self.refresh_interval and self._task is None:
            self._task = asyncio.create_task(self._refresh_loop(), name="stream-config-refresh")

    async def _refresh_loop(self) -> None:
        assert self.refresh_interval
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self.reload()
            except Exception:  # never let the refresher die
                log.exception("stream config refresh crashed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
