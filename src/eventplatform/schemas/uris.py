"""Checks a producer's ``$schema`` as untrusted input, before any I/O (see :mod:`.registry` for the rules).

A relative URI becomes lexically normalized path segments (a ``..`` above the base is refused); an absolute
one is allowed only when configured, only over http(s), never with credentials nor towards a link-local,
metadata or otherwise special address; a json-schema.org meta-schema URL is marked to be validated offline.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from eventplatform.errors import Codes, EventInvalid, short

MAX_URI_LENGTH = 1024
_RELATIVE_OK = re.compile(r"[A-Za-z0-9._~/+\-]*")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_META_SCHEMA = re.compile(r"^https?://json-schema\.org/(draft-0[467]/schema|draft/20(19-09|20-12)/schema)#?$")


def refused(message: str) -> EventInvalid:
    return EventInvalid(Codes.SCHEMA_URI_REFUSED, message)


def bad_ip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_link_local or addr.is_unspecified or addr.is_multicast or addr.is_reserved


def literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
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


def split_relative(uri: str) -> list[str]:
    """Lexically normalized path segments; refuses a ``..`` that climbs above the base."""
    segments: list[str] = []
    for seg in uri.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not segments:
                raise refused(f"schema URI {short(uri)!r} escapes the schema base with '..'")
            segments.pop()
            continue
        segments.append(seg)
    if not segments:
        raise refused(f"schema URI {short(uri)!r} names no schema")
    return segments


def with_extension(segments: list[str], ext: str | None) -> list[str]:
    if not ext:
        return segments
    last = segments[-1]
    head, dot, tail = last.rpartition(".")
    if dot and head and tail and not tail.isdigit():
        return segments
    return [*segments[:-1], last + ext]


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URI: either relative path segments (resolved against bases) or an absolute http(s) URL."""

    key: str
    segments: tuple[str, ...] = ()
    absolute: str | None = None
    meta: bool = False


def check_uri(uri: Any, *, max_uri_length: int, allow_absolute_uris: bool) -> Target:
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
        raise refused(f"$schema must be a string, got {kind}")
    if not uri:
        raise refused("$schema is an empty string")
    if len(uri) > max_uri_length:
        raise refused(f"$schema is {len(uri)} characters long; the limit is {max_uri_length}")
    if _CONTROL.search(uri):
        raise refused(f"$schema {short(uri)!r} contains a control character or backslash")
    m = _SCHEME.match(uri)
    if m:
        scheme = m.group(1).lower()
        if scheme == "file":
            raise refused(f"$schema {short(uri)!r}: file:// URIs are never allowed")
        if not allow_absolute_uris:
            raise refused(
                f"$schema {short(uri)!r} is an absolute URI; use a relative URI such as /title/1.0.0"
            )
        if scheme not in ("http", "https"):
            raise refused(f"$schema {short(uri)!r}: only http and https URIs are allowed")
        if _META_SCHEMA.match(uri):
            return Target(key="meta:" + uri.rstrip("#").replace("https://", "http://"), meta=True)
        parts = urlsplit(uri)
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise refused(f"$schema {short(uri)!r} has no host")
        if parts.username is not None or parts.password is not None:
            raise refused(f"$schema {short(uri)!r} carries credentials")
        ip = literal_ip(host)
        if (ip is not None and bad_ip(ip)) or host in _METADATA_HOSTS:
            raise refused(f"$schema {short(uri)!r} points at a link-local or metadata address")
        return Target(key=uri, absolute=uri)
    if not _RELATIVE_OK.fullmatch(uri):
        raise refused(f"$schema {short(uri)!r} has characters outside [A-Za-z0-9._~/+-] (relative URIs only)")
    segments = split_relative(uri)
    return Target(key="/" + "/".join(segments), segments=tuple(segments))
