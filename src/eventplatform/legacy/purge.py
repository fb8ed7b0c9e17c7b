"""``eventplatform legacy purge``: the legacy retention rules on the MariaDB tables (reference §5.9).

Data older than 90 days is purged unless allowlisted. An allowlist TSV lists ``<Schema>\\t<field>`` pairs
to keep indefinitely, for every revision of the schema (every table ``<Schema>_<revision>``):

* the tables are those with a ``timestamp`` column and at least one ``event_*`` column;
* the window is ``[start, end)``: ``end`` = now - ``older_than`` days (values under 90 are refused), ``start``
  = now - ``newer_than`` days, else the checkpoint file's timestamp, else the beginning; after a successful
  run (not a dry run) the checkpoint file holds ``end``;
* a table whose schema is not allowlisted: its rows in the window are deleted, ``batch_size`` at a time;
* an allowlisted table: in its rows in the window every column is set to NULL except ``id``, ``uuid``,
  ``timestamp`` and the listed fields, ``batch_size`` rows at a time (by ``id``);
* the allowlist is validated first: two tab-separated columns, a ``[A-Za-z0-9_]`` schema, a
  ``[A-Za-z0-9_.]`` field (``event.action`` and ``event_action`` name the same column), no duplicates,
  every schema has a table, and ``clientIp`` / ``userAgent`` are never keepable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventplatform.legacy.mysqldb import LegacyDb, quote

MIN_DAYS = 90
ALWAYS_KEPT = ("id", "uuid", "timestamp")
NEVER_KEPT = frozenset({"clientip", "useragent"})  # compared lower-cased
_SCHEMA = re.compile(r"[A-Za-z0-9_]+")
_FIELD = re.compile(r"[A-Za-z0-9_.]+")
_TABLE = re.compile(r"(?P<schema>.+)_(?P<revision>[0-9]+)")


class PurgeError(ValueError):
    """A refused purge: bad window, bad allowlist (the message names the line)."""


@dataclass
class TableResult:
    table: str
    action: str  # "deleted" or "sanitized"
    rows: int
    kept: tuple[str, ...] = ()


@dataclass
class PurgeReport:
    start: str | None
    end: str
    dry_run: bool
    tables: list[TableResult] = field(default_factory=list)


def mw_timestamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def window(
    now: datetime, older_than: float, newer_than: float | None, checkpoint: Path | None
) -> tuple[str | None, str]:
    """``(start, end)`` as MediaWiki timestamps (start None: from the beginning)."""
    if older_than < MIN_DAYS:
        raise PurgeError(
            f"--older-than {older_than:g} is refused: data is kept at least {MIN_DAYS} days "
            "(the retention policy)"
        )
    end = mw_timestamp(now - timedelta(days=older_than))
    start: str | None = None
    if newer_than is not None:
        if newer_than <= older_than:
            raise PurgeError(f"--newer-than {newer_than:g} must be more than --older-than {older_than:g}")
        start = mw_timestamp(now - timedelta(days=newer_than))
    elif checkpoint is not None and checkpoint.exists():
        text = checkpoint.read_text().strip()
        if not re.fullmatch(r"[0-9]{14}", text):
            raise PurgeError(
                f"checkpoint file {checkpoint}: expected a timestamp YYYYMMDDHHMMSS, got {text!r}"
            )
        start = text
    if start is not None and start >= end:
        raise PurgeError(f"nothing to purge: the window [{start}, {end}) is empty")
    return start, end


def read_allowlist(path: Path) -> dict[str, set[str]]:
    """schema -> the columns to keep; :class:`PurgeError` naming every bad line."""
    problems: list[str] = []
    out: dict[str, set[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PurgeError(f"cannot read the allowlist {path}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        where = f"{path}:{number}"
        if len(parts) != 2:
            problems.append(f"{where}: expected 2 tab-separated columns (schema, field), got {len(parts)}")
            continue
        schema, name = (p.strip() for p in parts)
        if not _SCHEMA.fullmatch(schema):
            problems.append(f"{where}: schema {schema!r} is not [A-Za-z0-9_]+")
            continue
        if not _FIELD.fullmatch(name):
            problems.append(f"{where}: field {name!r} is not [A-Za-z0-9_.]+")
            continue
        column = name.replace(".", "_")
        if column.lower() in NEVER_KEPT:
            problems.append(f"{where}: {name} can never be kept (clientIp and userAgent are always purged)")
            continue
        if column in out.setdefault(schema, set()):
            problems.append(f"{where}: duplicate entry {schema} {name}")
            continue
        out[schema].add(column)
    if problems:
        raise PurgeError("invalid allowlist:\n  " + "\n  ".join(problems))
    return out


def legacy_tables(db: LegacyDb) -> dict[str, list[str]]:
    """table -> columns, for the tables with a ``timestamp`` column and an ``event_*`` column."""
    rows = db.query(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "ORDER BY TABLE_NAME, ORDINAL_POSITION"
    )
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(str(table), []).append(str(column))
    return {
        t: cols
        for t, cols in tables.items()
        if "timestamp" in cols and any(c.startswith("event_") for c in cols)
    }


def schema_of(table: str) -> str:
    """The schema part of ``<Schema>_<revision>`` (the whole name when it has no revision)."""
    match = _TABLE.fullmatch(table)
    return match.group("schema") if match else table


class Purger:
    def __init__(
        self,
        db: LegacyDb,
        *,
        batch_size: int = 1000,
        sleep: float = 1.0,
        dry_run: bool = False,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.db = db
        self.batch_size = max(1, batch_size)
        self.sleep = sleep
        self.dry_run = dry_run
        self.echo = echo

    def run(self, start: str | None, end: str, allowlist: dict[str, set[str]] | None) -> PurgeReport:
        tables = legacy_tables(self.db)
        allowlist = allowlist or {}
        missing = sorted(s for s in allowlist if not any(schema_of(t) == s for t in tables))
        if missing:
            raise PurgeError(
                "invalid allowlist: no table for schema(s) "
                + ", ".join(missing)
                + " (a typo would purge them)"
            )
        report = PurgeReport(start, end, self.dry_run)
        for table, columns in sorted(tables.items()):
            keep = allowlist.get(schema_of(table))
            if keep is None:
                result = self._delete(table, start, end)
            else:
                result = self._sanitize(table, columns, keep, start, end)
            report.tables.append(result)
            verb = f"would be {result.action}" if self.dry_run else result.action
            kept = f" (kept: {', '.join(result.kept)})" if result.action == "sanitized" else ""
            self.echo(f"{table}: {result.rows} rows {verb}{kept}")
        return report

    def _where(self, start: str | None, end: str) -> tuple[str, list[str]]:
        if start is None:
            return "`timestamp` < %s", [end]
        return "`timestamp` >= %s AND `timestamp` < %s", [start, end]

    def _delete(self, table: str, start: str | None, end: str) -> TableResult:
        where, args = self._where(start, end)
        if self.dry_run:
            (count,) = self.db.query(f"SELECT COUNT(*) FROM {quote(table)} WHERE {where}", args)[0]
            return TableResult(table, "deleted", int(count))
        total = 0
        while True:
            with self.db.connection().cursor() as cur:
                n = cur.execute(
                    f"DELETE FROM {quote(table)} WHERE {where} LIMIT %s", [*args, self.batch_size]
                )
            total += n
            if n < self.batch_size:
                return TableResult(table, "deleted", total)
            self._pause()

    def _sanitize(
        self, table: str, columns: list[str], keep: set[str], start: str | None, end: str
    ) -> TableResult:
        kept = tuple(c for c in columns if c in ALWAYS_KEPT or c in keep)
        purged = [c for c in columns if c not in kept]
        where, args = self._where(start, end)
        if not purged or self.dry_run:
            (count,) = self.db.query(f"SELECT COUNT(*) FROM {quote(table)} WHERE {where}", args)[0]
            return TableResult(table, "sanitized", int(count) if purged else 0, kept)
        assignments = ", ".join(f"{quote(c)} = NULL" for c in purged)
        total, last_id = 0, -1
        while True:
            ids = [
                r[0]
                for r in self.db.query(
                    f"SELECT id FROM {quote(table)} WHERE {where} AND id > %s ORDER BY id LIMIT %s",
                    [*args, last_id, self.batch_size],
                )
            ]
            if not ids:
                return TableResult(table, "sanitized", total, kept)
            with self.db.connection().cursor() as cur:
                cur.execute(
                    f"UPDATE {quote(table)} SET {assignments} WHERE id IN ({', '.join(['%s'] * len(ids))})",
                    ids,
                )
            total += len(ids)
            last_id = ids[-1]
            if len(ids) < self.batch_size:
                return TableResult(table, "sanitized", total, kept)
            self._pause()

    def _pause(self) -> None:
        if self.sleep > 0:
            time.sleep(self.sleep)


def write_checkpoint(path: Path, end: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(end + "\n")
    tmp.replace(path)
