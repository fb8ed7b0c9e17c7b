"""The reference's event transforms (§1.7), column-wise on Arrow tables.

Order: remove canary events, (deduplicate: per hour, in :mod:`.hours`), parse the user agent, the
own-domain flag, the normalized host. Per-value work (hosts, user agents) runs once per distinct value of
a chunk and is spread back with an index, so its cost follows the number of distinct values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from eventplatform.streamconfig.canary import CANARY_DOMAIN

# is_wmf_domain's list (reference §1.7.5); settings lake.own_domains replaces it
WMF_DOMAINS = (
    "wikimedia.org",
    "wikibooks.org",
    "wikinews.org",
    "wikipedia.org",
    "wikiquote.org",
    "wikisource.org",
    "wiktionary.org",
    "wikiversity.org",
    "wikivoyage.org",
    "wikidata.org",
    "wikifunctions.org",
    "mediawiki.org",
    "wikimediafoundation.org",
    "wikiworkshop.org",
    "wmfusercontent.org",
    "wmflabs.org",
    "wmcloud.org",
    "toolforge.org",
)

NORMALIZED_HOST = pa.struct(
    [
        ("project_class", pa.string()),
        ("project", pa.string()),
        ("qualifiers", pa.list_(pa.string())),
        ("tld", pa.string()),
        ("project_family", pa.string()),
    ]
)
USER_AGENT_MAP = pa.map_(pa.string(), pa.string())
UA_KEYS = (
    "browser_family",
    "browser_major",
    "device_family",
    "os_family",
    "os_major",
    "os_minor",
    "wmf_app_version",
)
UA_MAX = 400
_QUALIFIERS = {"m", "mobile", "wap", "zero", "www", "download"}
_SEPARATORS = re.compile(r"[./]+")
_PORT = re.compile(r":\d*$")


def canary_mask(table: pa.Table) -> pa.Array | None:
    """True for canary rows (``meta.domain == "canary"``, exact, as the reference's
    ``remove_canary_events``, column-wise: ``streamconfig.canary.is_canary`` per event); None when the
    table has no ``meta.domain``. Dropped whatever the stream config says: a canary is never data."""
    domain = column(table, "meta.domain")
    if domain is None:
        return None
    return pc.fill_null(pc.equal(domain, CANARY_DOMAIN), False)


def column(table: pa.Table, dotted: str) -> pa.Array | None:
    """A nested column by dotted path, None when absent."""
    head, *rest = dotted.split(".")
    if head not in table.column_names:
        return None
    array: Any = table.column(head)
    for name in rest:
        if not pa.types.is_struct(array.type) or array.type.get_field_index(name) < 0:
            return None
        array = pc.struct_field(array, name)
    return array


def _per_distinct(values: pa.Array, fn: Callable[[Any], Any], kind: pa.DataType) -> pa.Array:
    """``fn`` of each value, computed once per distinct value."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    uniques = pc.unique(values)
    results = pa.array([fn(v) for v in uniques.to_pylist()], kind)
    return results.take(pc.index_in(values, uniques))


def normalized_host(host: str | None) -> dict[str, Any]:
    """The reference's NormalizedHostInfo (Java split: trailing empty pieces dropped)."""
    unknown = {"project_class": "-", "project": "-", "qualifiers": [], "tld": "-", "project_family": "-"}
    if host is None:
        return unknown
    text = _SEPARATORS.sub(".", _PORT.sub("", host.lower()))
    pieces = text.split(".")
    while pieces and pieces[-1] == "":
        pieces.pop()
    if len(pieces) <= 1 or pieces[-1].isdigit():
        return unknown
    family, tld = pieces[-2], pieces[-1]
    project, qualifiers = "-", []
    if len(pieces) > 2 and pieces[0] != "www":
        if pieces[0] in _QUALIFIERS:
            qualifiers.append(pieces[0])
        else:
            project = pieces[0]
    if len(pieces) > 3:
        qualifiers.extend(pieces[1:-2])
    return {
        "project_class": family,
        "project": project,
        "qualifiers": qualifiers,
        "tld": tld,
        "project_family": family,
    }


def is_own_domain(host: str | None, domains: Sequence[str] = WMF_DOMAINS) -> bool:
    """``is_wmf_domain`` over any list of registered domains (the last two labels must be one of them)."""
    if host is None or len(host) > 800:
        return False
    labels = host.lower().rstrip(".").split(".")
    return len(labels) >= 2 and ".".join(labels[-2:]) in domains


@lru_cache(maxsize=1)
def _ua_parser() -> Any:
    from ua_parser import parse

    return parse


def user_agent_map(ua: str | None) -> list[tuple[str, str]] | None:
    """The reference's ``user_agent_map`` (ua-parser with the uap-core rules); "-" for unknown values."""
    if ua is None:
        return None
    out = dict.fromkeys(UA_KEYS, "-")
    if len(ua) <= UA_MAX:
        result = _ua_parser()(ua)
        if result.user_agent:
            out["browser_family"] = result.user_agent.family or "-"
            out["browser_major"] = result.user_agent.major or "-"
        if result.os:
            out["os_family"] = result.os.family or "-"
            out["os_major"] = result.os.major or "-"
            out["os_minor"] = result.os.minor or "-"
        if result.device:
            out["device_family"] = result.device.family or "-"
        if result.user_agent is None and result.os is None and result.device is None:
            out["browser_family"] = out["os_family"] = out["device_family"] = "Other"
        marker = ua.find("WikipediaApp/")
        if marker >= 0:
            out["wmf_app_version"] = ua[marker + len("WikipediaApp/") :].split(" ", 1)[0] or "-"
    return list(out.items())


def _user_agents(table: pa.Table) -> pa.Array | None:
    headers = column(table, "http.request_headers")
    if headers is not None and pa.types.is_map(headers.type):
        if isinstance(headers, pa.ChunkedArray):
            headers = headers.combine_chunks()
        found = pc.map_lookup(headers, "user-agent", "first")
        agent = column(table, "agent.ua_string")
        return found if agent is None else pc.coalesce(agent, found)
    return column(table, "agent.ua_string")


def add_columns(table: pa.Table, own_domains: Sequence[str] = WMF_DOMAINS) -> pa.Table:
    """user_agent_map (when there is a user agent), is_own_domain and normalized_host (always)."""
    n = table.num_rows
    ua = _user_agents(table)
    if ua is not None:
        table = _set(table, "user_agent_map", _per_distinct(ua, user_agent_map, USER_AGENT_MAP))
    host = column(table, "meta.domain")
    if host is None:
        host = column(table, "webhost")
    domains = tuple(own_domains)
    if host is None:
        own = pa.nulls(n, pa.bool_())
        norm = pa.nulls(n, NORMALIZED_HOST)
    else:
        own = _per_distinct(host, lambda h: is_own_domain(h, domains), pa.bool_())
        norm = _per_distinct(host, normalized_host, NORMALIZED_HOST)
    table = _set(table, "is_own_domain", own)
    return _set(table, "normalized_host", norm)


def transform_fields() -> list[pa.Field]:
    """The columns :func:`add_columns` may add, for the table schema (before any data)."""
    return [
        pa.field("user_agent_map", USER_AGENT_MAP),
        pa.field("is_own_domain", pa.bool_()),
        pa.field("normalized_host", NORMALIZED_HOST),
    ]


def _set(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    idx = table.schema.get_field_index(name)
    if idx >= 0:
        table = table.remove_column(idx)
    return table.append_column(name, array)
