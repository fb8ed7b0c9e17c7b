"""The MariaDB/MySQL side of the legacy sink and cleaner (PyMySQL; blocking: callers use a thread).

Tables are created on first use and extended (``ALTER TABLE … ADD COLUMN``) when a newer schema version
brings a field; an existing column keeps its type, and a value that does not fit it is refused by
:func:`eventplatform.legacy.jrm.convert`. The sink's log positions live in ``eventplatform_positions``,
written in the same transaction as the rows, so a restart resumes exactly after the last committed batch.
DDL commits implicitly in MySQL, so tables are prepared before the transaction begins.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql

from eventplatform.legacy.jrm import Column

POSITIONS = "eventplatform_positions"
_TYPE_NAMES = {"bigint": "BIGINT", "double": "DOUBLE", "float": "DOUBLE", "tinyint": "BOOLEAN"}


@dataclass(frozen=True, slots=True)
class DbUrl:
    """``mysql://USER[:PASS]@HOST[:PORT]/DATABASE[?unix_socket=PATH]``."""

    user: str
    password: str | None
    host: str
    port: int
    database: str
    unix_socket: str | None = None

    @classmethod
    def parse(cls, url: str) -> DbUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
            raise ValueError(f"not a mysql:// URL: {url!r} (mysql://USER[:PASS]@HOST[:PORT]/DATABASE)")
        database = parts.path.lstrip("/")
        if not parts.username or not parts.hostname or not database:
            raise ValueError(
                f"the database URL needs a user, a host and a database: mysql://USER@HOST/log, got {url!r}"
            )
        try:
            port = parts.port or 3306
        except ValueError:
            raise ValueError(f"bad port in the database URL {url!r}") from None
        socket = parse_qs(parts.query).get("unix_socket", [None])[0]
        password = unquote(parts.password) if parts.password is not None else None
        return cls(unquote(parts.username), password, parts.hostname, port, unquote(database), socket)

    def __str__(self) -> str:  # never the password
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


def quote(name: str) -> str:
    """A quoted identifier (table and column names come from schemas: only ``[A-Za-z0-9_]`` reach here)."""
    if not re.fullmatch(r"[A-Za-z0-9_$]{1,64}", name):
        raise ValueError(f"not a usable SQL identifier: {name!r}")
    return f"`{name}`"


def column_type(data_type: str, column_type: str) -> str:
    """An information_schema type as :class:`Column` spells it (``varchar(1024)`` -> ``VARCHAR(1024)``)."""
    if data_type == "tinyint" and column_type.startswith("tinyint(1)"):
        return "BOOLEAN"
    if data_type in _TYPE_NAMES:
        return _TYPE_NAMES[data_type]
    return column_type.upper()


class LegacyDb:
    """One connection to the ``log`` database (reconnected after a failure)."""

    def __init__(self, url: str | DbUrl, *, connect_timeout: float = 10, read_timeout: float = 60) -> None:
        self.url = url if isinstance(url, DbUrl) else DbUrl.parse(url)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._conn: pymysql.connections.Connection[Any] | None = None

    # -- connection ------------------------------------------------------------------------------------

    def connection(self) -> pymysql.connections.Connection[Any]:
        if self._conn is None:
            u = self.url
            self._conn = pymysql.connect(
                host=u.host,
                port=u.port,
                user=u.user,
                password=u.password or "",
                database=u.database,
                unix_socket=u.unix_socket,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=int(self.connect_timeout),
                read_timeout=int(self.read_timeout),
                write_timeout=int(self.read_timeout),
            )
        return self._conn

    def reset(self) -> None:
        """Drop the connection (after a failure: the next call reconnects)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                pass

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.connection().cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    # -- tables ----------------------------------------------------------------------------------------

    def existing_columns(self, table: str) -> dict[str, str] | None:
        """column -> type of ``table``, or None when it does not exist."""
        rows = self.query(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (table,),
        )
        if not rows:
            return None
        return {name: column_type(str(data).lower(), str(full).lower()) for name, data, full in rows}

    def tables(self) -> list[str]:
        return [r[0] for r in self.query("SHOW TABLES")]

    def prepare(self, table: str, wanted: Sequence[Column]) -> tuple[list[Column], list[str]]:
        """Create ``table`` or add the columns it lacks. Returns the columns to write with (an existing
        column with its type in the database) and the names of the columns added."""
        existing = self.existing_columns(table)
        if existing is None:
            self._create(table, wanted)
            return list(wanted), [c.name for c in wanted]
        added = [c for c in wanted if c.name not in existing]
        for column in added:
            self.query(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column.name)} {column.sql_type} NULL")
            if column.index:
                self._index(table, column)
        effective = [
            c if c.name not in existing else Column(c.name, existing[c.name], c.path, c.index) for c in wanted
        ]
        return effective, [c.name for c in added]

    def _create(self, table: str, columns: Sequence[Column]) -> None:
        defs = ["`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"]
        defs += [f"{quote(c.name)} {c.sql_type} NULL" for c in columns]
        for c in columns:
            if c.index == "unique":
                defs.append(f"UNIQUE KEY {quote(_index_name(table, c.name))} ({quote(c.name)})")
            elif c.index:
                defs.append(f"KEY {quote(_index_name(table, c.name))} ({quote(c.name)})")
        self.query(
            f"CREATE TABLE IF NOT EXISTS {quote(table)} ({', '.join(defs)}) "
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
        )

    def _index(self, table: str, column: Column) -> None:
        kind = "UNIQUE INDEX" if column.index == "unique" else "INDEX"
        name = quote(_index_name(table, column.name))
        self.query(f"CREATE {kind} IF NOT EXISTS {name} ON {quote(table)} ({quote(column.name)})")

    # -- positions -------------------------------------------------------------------------------------

    def ensure_positions(self) -> None:
        self.query(
            f"CREATE TABLE IF NOT EXISTS {POSITIONS} ("
            "consumer VARCHAR(255) NOT NULL, topic VARCHAR(255) NOT NULL, log_partition INT NOT NULL, "
            "next_offset BIGINT NOT NULL, updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP "
            "ON UPDATE CURRENT_TIMESTAMP, PRIMARY KEY (consumer, topic, log_partition)) "
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )

    def positions(self, consumer: str) -> dict[tuple[str, int], int]:
        rows = self.query(
            f"SELECT topic, log_partition, next_offset FROM {POSITIONS} WHERE consumer = %s", (consumer,)
        )
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    # -- the write of one batch ------------------------------------------------------------------------

    def write(
        self,
        consumer: str,
        rows: Mapping[str, tuple[Sequence[Column], Sequence[dict[str, Any]]]],
        positions: Mapping[tuple[str, int], int],
    ) -> dict[str, list[dict[str, Any]]]:
        """In one transaction: the rows of each table (those whose ``uuid`` is already stored are left out
        and returned, by table) and the consumer's new positions."""
        conn = self.connection()
        duplicates: dict[str, list[dict[str, Any]]] = {}
        conn.begin()
        try:
            with conn.cursor() as cur:
                for table, (columns, table_rows) in rows.items():
                    fresh = self._without_stored(cur, table, table_rows, duplicates)
                    if not fresh:
                        continue
                    names = [c.name for c in columns]
                    sql = (
                        f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) "
                        f"VALUES ({', '.join(['%s'] * len(names))})"
                    )
                    cur.executemany(sql, [tuple(r.get(n) for n in names) for r in fresh])
                if positions:
                    cur.executemany(
                        f"INSERT INTO {POSITIONS} (consumer, topic, log_partition, next_offset) "
                        "VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)",
                        [(consumer, t, p, o) for (t, p), o in positions.items()],
                    )
            conn.commit()
        except BaseException:
            try:
                conn.rollback()
            except Exception:
                pass
            raise
        return duplicates

    def _without_stored(
        self,
        cur: Any,
        table: str,
        rows: Sequence[dict[str, Any]],
        duplicates: dict[str, list[dict[str, Any]]],
    ) -> list[dict[str, Any]]:
        """The rows whose uuid is neither stored already nor earlier in the batch."""
        uuids = [r["uuid"] for r in rows if r.get("uuid") is not None]
        stored: set[str] = set()
        for chunk in _chunks(uuids, 1000):
            cur.execute(
                f"SELECT uuid FROM {quote(table)} WHERE uuid IN ({', '.join(['%s'] * len(chunk))})", chunk
            )
            stored.update(r[0] for r in cur.fetchall())
        out = []
        for row in rows:
            uuid = row.get("uuid")
            if uuid is not None and uuid in stored:
                duplicates.setdefault(table, []).append(row)
                continue
            if uuid is not None:
                stored.add(uuid)
            out.append(row)
        return out


def _index_name(table: str, column: str) -> str:
    name = f"ix_{table}_{column}"
    if len(name) <= 64:
        return name
    return f"ix_{hashlib.sha1(name.encode()).hexdigest()[:12]}_{column}"[:64]


def _chunks(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])
