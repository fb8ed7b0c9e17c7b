"""``CREATE TABLE`` for engines with a metastore (Hive, Spark SQL, Trino's Hive connector)."""

from __future__ import annotations

import pyarrow as pa

# the partition columns of every table, in path order (also the Spark engine's)
PARTITIONS = (
    ("datacenter", pa.string()),
    ("year", pa.int64()),
    ("month", pa.int64()),
    ("day", pa.int64()),
    ("hour", pa.int64()),
)


def hive_type(kind: pa.DataType) -> str:
    """Hive's type name, which Spark's DDL strings read as well."""
    if pa.types.is_string(kind):
        return "string"
    if pa.types.is_int64(kind):
        return "bigint"
    if pa.types.is_int32(kind):
        return "int"
    if pa.types.is_float64(kind):
        return "double"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_struct(kind):
        return "struct<" + ",".join(f"`{f.name}`:{hive_type(f.type)}" for f in kind) + ">"
    if pa.types.is_list(kind):
        return f"array<{hive_type(kind.value_type)}>"
    if pa.types.is_map(kind):
        return f"map<{hive_type(kind.key_type)},{hive_type(kind.item_type)}>"
    raise ValueError(f"no Hive type for {kind}")


def trino_type(kind: pa.DataType) -> str:
    if pa.types.is_string(kind):
        return "varchar"
    if pa.types.is_struct(kind):
        return "row(" + ", ".join(f'"{f.name}" {trino_type(f.type)}' for f in kind) + ")"
    if pa.types.is_list(kind):
        return f"array({trino_type(kind.value_type)})"
    if pa.types.is_map(kind):
        return f"map({trino_type(kind.key_type)}, {trino_type(kind.item_type)})"
    return hive_type(kind)


def create_table(name: str, schema: pa.Schema, location: str, dialect: str = "hive") -> str:
    if dialect == "trino":
        cols = [f'  "{f.name}" {trino_type(f.type)}' for f in schema]
        cols += [f'  "{n}" {trino_type(t)}' for n, t in PARTITIONS]
        return (
            f'CREATE TABLE event."{name}" (\n' + ",\n".join(cols) + "\n)\nWITH (\n"
            f"  external_location = '{location}',\n  format = 'PARQUET',\n"
            "  partitioned_by = ARRAY['datacenter', 'year', 'month', 'day', 'hour']\n);\n"
            f"CALL system.sync_partition_metadata('event', '{name}', 'ADD');"
        )
    cols = [f"  `{f.name}` {hive_type(f.type)}" for f in schema]
    parts = ", ".join(f"`{n}` {hive_type(t)}" for n, t in PARTITIONS)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `event`.`{name}` (\n" + ",\n".join(cols) + "\n)\n"
        f"PARTITIONED BY ({parts})\nSTORED AS PARQUET\nLOCATION '{location}';\n"
        f"MSCK REPAIR TABLE `event`.`{name}`;"
    )
