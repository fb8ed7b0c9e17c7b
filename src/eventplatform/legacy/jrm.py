"""The legacy SQL layout (the reference's ``jrm.py``): one table per schema and revision, flattened columns.

Pure logic, no database: :func:`table_name`, :func:`columns_of` (a JSON Schema -> the columns, in the
reference's order and types) and :func:`row_of` (an event -> the row's values, each checked against its
column so that a value that does not fit is refused precisely instead of being cut or failing a batch).

Layout: table ``<Schema>_<revision>`` (non-alphanumerics of the schema name replaced by ``_``); columns
``id`` (auto-increment primary key), ``uuid`` (CHAR(32), unique), ``timestamp`` (VARCHAR(14), the
MediaWiki timestamp ``YYYYMMDDHHMMSS`` of the event's receive time ``dt``, indexed), the capsule fields
kept (``wiki``, ``webHost``, ``dt``, ``client_dt``), ``userAgent`` (the request's user agent) and the
instrumentation's fields flattened with ``_`` (``event_pageId``, ``event_timing_start``). Order: ``id``,
``uuid``, then fewer underscores first, then alphabetical. Types: boolean BOOLEAN, integer BIGINT, number
DOUBLE (the reference's FLOAT loses digits), string VARCHAR(1024), ``format: date-time`` DATETIME(3)
indexed, arrays and free-form objects as JSON text in VARCHAR(1024). Every column but ``id`` is nullable, so
that purging can set it to NULL. Never stored: ``recvFrom``, ``revision``, ``schema``, ``seqId``,
``topic``, ``ip``, ``$schema``, ``meta``, ``http`` (but the user agent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

NEVER_STORED = frozenset(
    {"recvFrom", "revision", "schema", "seqId", "topic", "ip", "$schema", "meta", "http"}
)
VARCHAR_MAX = 1024
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_NON_WORD = re.compile(r"[^A-Za-z0-9_]")


class RowError(ValueError):
    """An event that cannot become a row of its table (the message says which field and why)."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql_type: str  # BIGINT, DOUBLE, BOOLEAN, VARCHAR(1024), CHAR(32), VARCHAR(14), DATETIME(3)
    path: tuple[str, ...]  # where the value is in the event ((), for the derived ones)
    index: str | None = None  # None, "index" or "unique"

    @property
    def kind(self) -> str:
        """The family of the SQL type: int, float, bool, text, datetime."""
        t = self.sql_type
        if t == "BIGINT":
            return "int"
        if t == "DOUBLE":
            return "float"
        if t == "BOOLEAN":
            return "bool"
        return "datetime" if t.startswith("DATETIME") else "text"


def table_name(schema: str, revision: int) -> str:
    """``NavigationTiming_10785754``."""
    return f"{_NON_ALNUM.sub('_', schema)}_{revision}"


def _flatten(schema: Mapping[str, Any], path: tuple[str, ...], out: dict[str, Column]) -> None:
    for name, prop in (schema.get("properties") or {}).items():
        if not path and name in NEVER_STORED:
            continue
        if not isinstance(prop, Mapping):
            continue
        sub = (*path, name)
        kind = prop.get("type")
        if kind == "object" and prop.get("properties"):
            _flatten(prop, sub, out)
            continue
        column = _NON_WORD.sub("_", "_".join(sub))
        if kind == "boolean":
            sql = "BOOLEAN"
        elif kind == "integer":
            sql = "BIGINT"
        elif kind == "number":
            sql = "DOUBLE"
        elif kind == "string" and prop.get("format") == "date-time":
            sql = "DATETIME(3)"
        else:
            sql = f"VARCHAR({VARCHAR_MAX})"
        index = "index" if sql.startswith("DATETIME") else None
        if name == "id" and len(sub) > 1:
            index = "unique"
        out[column] = Column(column, sql, sub, index)


def columns_of(schema: Mapping[str, Any]) -> list[Column]:
    """The columns of a table for events of ``schema`` (a materialized ``analytics/legacy/*`` schema)."""
    found: dict[str, Column] = {}
    _flatten(schema, (), found)
    found.pop("id", None)  # the table's own
    found["uuid"] = Column("uuid", "CHAR(32)", ("uuid",), "unique")
    found["timestamp"] = Column("timestamp", "VARCHAR(14)", (), "index")
    found["userAgent"] = Column(
        "userAgent", f"VARCHAR({VARCHAR_MAX})", ("http", "request_headers", "user-agent")
    )
    rest = sorted((c for c in found.values() if c.name != "uuid"), key=lambda c: (c.name.count("_"), c.name))
    return [found["uuid"], *rest]


def mediawiki_timestamp(value: Any) -> str | None:
    """``YYYYMMDDHHMMSS`` (UTC) from an ISO 8601 string, or unix seconds/milliseconds."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value
            dt = datetime.fromtimestamp(seconds, UTC)
        elif isinstance(value, str):
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            dt = dt.astimezone(UTC) if dt.tzinfo else dt
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return dt.strftime("%Y%m%d%H%M%S")


def _sql_datetime(value: str) -> str:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    dt = dt.astimezone(UTC) if dt.tzinfo else dt
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _get(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = event
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def convert(column: Column, value: Any) -> Any:
    """``value`` as the column stores it; :class:`RowError` when it does not fit (never cut)."""
    if value is None:
        return None
    kind = column.kind
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if type(value) is not int or not BIGINT_MIN <= value <= BIGINT_MAX:
            raise RowError(f"{column.name}: {_show(value)} does not fit {column.sql_type}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RowError(f"{column.name}: {_show(value)} does not fit {column.sql_type}")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise RowError(f"{column.name}: {_show(value)} does not fit {column.sql_type}")
        return value
    if kind == "datetime":
        if not isinstance(value, str):
            raise RowError(f"{column.name}: {_show(value)} does not fit {column.sql_type}")
        try:
            return _sql_datetime(value)
        except ValueError:
            raise RowError(f"{column.name}: {_show(value)} is not an ISO 8601 date-time") from None
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    if column.name == "uuid" and len(text) == 36 and text.count("-") == 4:
        text = text.replace("-", "")  # a dashed UUID, stored as the 32 hex digits of the legacy uuid
    limit = int(column.sql_type.split("(")[1].rstrip(")"))
    if len(text) > limit:
        raise RowError(f"{column.name}: {len(text)} characters do not fit {column.sql_type} (never cut)")
    return text


def row_of(event: Mapping[str, Any], columns: list[Column], received_ms: int | None = None) -> dict[str, Any]:
    """The values of one row, by column name (absent fields are NULL)."""
    row: dict[str, Any] = {}
    for column in columns:
        if column.name == "timestamp":
            meta = event.get("meta")
            when = event.get("dt") or (meta.get("dt") if isinstance(meta, Mapping) else None) or received_ms
            row["timestamp"] = mediawiki_timestamp(when)
            continue
        row[column.name] = convert(column, _get(event, column.path))
    return row


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:80] + "…"
