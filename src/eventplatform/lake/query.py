"""DuckDB over the lake: every table as ``event.<table>`` (hive partitioning and union by name, so
partition pruning works and old files with fewer columns read as nulls), quarantine as
``quarantine.<table>``, and the refine status as ``lake.status``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from eventplatform.lake.status import Status

HIVE_TYPES = "{'datacenter': VARCHAR, 'year': BIGINT, 'month': BIGINT, 'day': BIGINT, 'hour': BIGINT}"


def tables(lake: Path, database: str = "event") -> list[str]:
    root = lake / database
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.rglob("*.parquet")))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def connect(lake: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake's views."""
    con = duckdb.connect()
    for schema in ("event", "quarantine", "lake"):
        con.execute(f"CREATE SCHEMA {schema}")
    for name in tables(lake):
        glob = lake / "event" / name / "**" / "*.parquet"
        con.execute(
            f"CREATE VIEW event.{_quote(name)} AS SELECT * FROM read_parquet({_literal(glob)},"
            f" hive_partitioning = true, union_by_name = true, hive_types = {HIVE_TYPES})"
        )
    root = lake / "quarantine"
    if root.is_dir():
        for path in sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("*.parquet"))):
            con.execute(
                f"CREATE VIEW quarantine.{_quote(path.name)} AS SELECT * FROM"
                f" read_parquet({_literal(path / '*.parquet')}, union_by_name = true)"
            )
    status = lake / "_status.sqlite"
    if status.exists():
        con.register("lake_status_rows", status_table(lake))
        con.execute("CREATE VIEW lake.status AS SELECT * FROM lake_status_rows")
    return con


def run(lake: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    con = connect(lake)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description] if cur.description else []
        return names, cur.fetchall()
    finally:
        con.close()


def run_arrow(lake: Path, sql: str) -> Any:
    con = connect(lake)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def status_table(lake: Path) -> pa.Table:
    status = Status(lake)
    try:
        rows = status.hours()
    finally:
        status.close()
    return pa.Table.from_pylist(rows) if rows else pa.table({"table_name": pa.array([], pa.string())})
