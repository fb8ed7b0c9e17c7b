"""Reads the schema document of a checked URI from the base URIs (directories or http(s) servers).

For each base in order, the optional ``file_extension`` is appended when the basename has no (non-numeric)
extension, then base and URI are joined on a ``/`` boundary; the first base that gives a document wins.
Not found everywhere -> :class:`EventInvalid`; a host that is down, times out or answers 5xx/429 ->
:class:`EventError` ``schema_unavailable`` (retryable), unless another base found the schema. Redirects are
never followed and documents are capped at :data:`MAX_SCHEMA_BYTES`. The asynchronous path serves
``$schema`` loads; the synchronous one serves ``$ref``s, which jsonschema-rs resolves while compiling in a
worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from eventplatform.errors import Codes, EventError, EventInvalid, short
from eventplatform.schemas.tool_errors import SchemaToolError
from eventplatform.schemas.uris import Target, bad_ip, literal_ip, refused, with_extension
from eventplatform.schemas.yamlio import load_yaml

MAX_SCHEMA_BYTES = 5 * 1024 * 1024
_SIBLING = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def parse_schema_text(data: bytes) -> Any:
    """JSON (fast path) or YAML 1.2 as jsonschema-tools reads it; raises ValueError with a short reason."""
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # YAML flow style can look like JSON
    try:
        return load_yaml(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError("schema is not UTF-8") from exc
    except SchemaToolError as exc:
        raise ValueError(f"not valid YAML/JSON: {short(str(exc), 200)}") from exc


class NotFound(Exception):
    """No document at this place; the next base URI is tried."""


def _read_one(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SCHEMA_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise NotFound(str(path)) from exc
    except OSError as exc:
        raise EventError(Codes.SCHEMA_UNAVAILABLE, f"cannot read schema file: {exc.strerror}") from exc
    if len(data) > MAX_SCHEMA_BYTES:
        raise EventInvalid(Codes.SCHEMA_INVALID, f"schema file is larger than {MAX_SCHEMA_BYTES} bytes")
    return data


def _check_status(url: str, status: int) -> None:
    if status in (404, 410):
        raise NotFound(f"{status} from {short(url)}")
    if status >= 500 or status == 429:
        raise EventError(Codes.SCHEMA_UNAVAILABLE, f"schema host answered {status} for {short(url)}")
    if not 200 <= status < 300:
        raise EventInvalid(Codes.SCHEMA_NOT_FOUND, f"schema host answered {status} for {short(url)}")


def _too_large(url: str) -> EventInvalid:
    return EventInvalid(Codes.SCHEMA_INVALID, f"schema at {short(url)} is too large")


class SchemaLoader:
    """The documents behind checked URIs: local directories and http(s) bases, tried in order."""

    def __init__(self, base_uris: Sequence[str], *, file_extension: str | None, http_timeout: float) -> None:
        self.bases: list[tuple[str, str]] = []  # ("dir", path) | ("http", url-without-trailing-slash)
        for base in base_uris:
            if base.startswith(("http://", "https://")):
                self.bases.append(("http", base.rstrip("/")))
            else:
                path = base[len("file://") :] if base.startswith("file://") else base
                self.bases.append(("dir", str(Path(path).resolve())))
        self.file_extension = file_extension
        self.http_timeout = http_timeout
        self._client: httpx.AsyncClient | None = None
        self._sync_client: httpx.Client | None = None
        self._sync_lock = threading.Lock()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    def _places(self, target: Target) -> list[tuple[str, str]]:
        segments = with_extension(list(target.segments), self.file_extension)
        return [
            (kind, str(Path(base, *segments)) if kind == "dir" else base + "/" + "/".join(segments))
            for kind, base in self.bases
        ]

    async def fetch(self, uri: str, target: Target) -> bytes:
        """The document for ``target`` (``uri`` as the event gave it, for messages)."""
        if target.absolute is not None:
            await self.check_resolved_host(target.absolute)
            try:
                return await self.fetch_http(target.absolute)
            except NotFound as exc:
                raise EventInvalid(
                    Codes.SCHEMA_NOT_FOUND, f"schema {short(uri)!r} not found: {exc}"
                ) from None
        if not self.bases:
            raise EventInvalid(
                Codes.SCHEMA_NOT_FOUND, f"schema {short(uri)!r} not found: no schema base URIs"
            )
        last_error: EventError | None = None
        for kind, place in self._places(target):
            try:
                if kind == "dir":
                    return await asyncio.to_thread(self.read_file, Path(place))
                return await self.fetch_http(place)
            except NotFound:
                continue
            except EventError as exc:
                last_error = exc
        if last_error is not None:
            raise last_error
        raise EventInvalid(Codes.SCHEMA_NOT_FOUND, f"schema {short(uri)!r} not found")

    def fetch_sync(self, ref: str, target: Target) -> bytes:
        """Synchronous :meth:`fetch` for a ``$ref`` (the first base that has it; errors are not retried)."""
        if target.absolute is not None:
            return self.fetch_http_sync(target.absolute)
        for kind, place in self._places(target):
            try:
                return self.read_file(Path(place)) if kind == "dir" else self.fetch_http_sync(place)
            except NotFound:
                continue
        raise EventInvalid(Codes.SCHEMA_NOT_FOUND, f"$ref {short(ref)!r} not found")

    @staticmethod
    def read_file(path: Path) -> bytes:
        data = _read_one(path)
        # A repository checked out without symlink support holds ``latest`` as a file whose content is the
        # target's name (git's core.symlinks=false). Follow such a file once, to a sibling only.
        if len(data) <= 255:
            target = data.decode("utf-8", "replace").strip()
            if _SIBLING.fullmatch(target) and target not in (".", "..") and "\n" not in target:
                with contextlib.suppress(NotFound):
                    return _read_one(path.with_name(target))
        return data

    @staticmethod
    async def check_resolved_host(url: str) -> None:
        """Refuse a host name that resolves to a link-local or metadata address (not DNS-rebinding-proof)."""
        host = urlsplit(url).hostname or ""
        if literal_ip(host) is not None:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError as exc:
            raise EventError(Codes.SCHEMA_UNAVAILABLE, f"cannot resolve schema host {host!r}: {exc}") from exc
        for info in infos:
            addr = ipaddress.ip_address(info[4][0].split("%")[0])
            if bad_ip(addr):
                raise refused(f"$schema host {host!r} resolves to a link-local or metadata address")

    async def fetch_http(self, url: str) -> bytes:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.http_timeout, follow_redirects=False)
        try:
            async with self._client.stream("GET", url, headers={"accept": "application/json, */*"}) as resp:
                _check_status(url, resp.status_code)
                buf = bytearray()
                async for chunk in resp.aiter_bytes():
                    buf += chunk
                    if len(buf) > MAX_SCHEMA_BYTES:
                        raise _too_large(url)
                return bytes(buf)
        except httpx.HTTPError as exc:
            raise EventError(
                Codes.SCHEMA_UNAVAILABLE, f"schema host unavailable for {short(url)}: {type(exc).__name__}"
            ) from exc

    def fetch_http_sync(self, url: str) -> bytes:
        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(timeout=self.http_timeout, follow_redirects=False)
        try:
            resp = self._sync_client.get(url)
        except httpx.HTTPError as exc:
            raise EventError(Codes.SCHEMA_UNAVAILABLE, f"schema host unavailable for {short(url)}") from exc
        _check_status(url, resp.status_code)
        if len(resp.content) > MAX_SCHEMA_BYTES:
            raise _too_large(url)
        return resp.content
