"""The reference's test vectors (normalize, partition paths, dedup, normalized_host, is_wmf_domain) and the
JSON Schema -> Arrow mapping, also over every latest schema of Wikimedia's primary repository."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from eventplatform.lake.evolve import conform_table, merge
from eventplatform.lake.hours import deduplicate
from eventplatform.lake.naming import Hour, normalize, table_name
from eventplatform.lake.transforms import is_own_domain, normalized_host
from eventplatform.lake.types import UnsupportedSchema, arrow_schema
from tests.schemas.primary_fixture import fixture_path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mediawiki.revision-create", "mediawiki_revision_create"),
        ("mediawiki.page_change.v1", "mediawiki_page_change_v1"),
        ("eventgate-analytics-external.error.validation", "eventgate_analytics_external_error_validation"),
        ("swift.upload-complete", "swift_upload_complete"),
        ("NavigationTiming", "navigationtiming"),
        ("2fa.event", "_fa_event"),
        ("$schema", "_schema"),
    ],
)
def test_normalize(name: str, expected: str) -> None:
    assert normalize(name) == expected


def test_table_name_drops_legacy_prefix() -> None:
    assert table_name("eventlogging_NavigationTiming") == "navigationtiming"


def test_partition_path_not_zero_padded() -> None:
    hour = Hour.from_path("datacenter=eqiad/year=2024/month=02/day=15/hour=00")
    assert hour.path == "datacenter=eqiad/year=2024/month=2/day=15/hour=0"


def test_dedup_keeps_latest_dt_and_rows_without_id() -> None:
    meta = pa.struct([("id", pa.string()), ("dt", pa.string())])
    table = pa.table(
        {
            "meta": pa.array(
                [
                    {"id": "x", "dt": "2024-01-01T00:00:01Z"},
                    {"id": "x", "dt": "2024-01-01T00:00:03Z"},
                    {"id": None, "dt": "a"},
                    {"id": "x", "dt": "2024-01-01T00:00:02Z"},
                    {"id": None, "dt": "a"},
                ],
                meta,
            )
        }
    )
    out = deduplicate(table).column("meta").to_pylist()
    assert out == [
        {"id": "x", "dt": "2024-01-01T00:00:03Z"},
        {"id": None, "dt": "a"},
        {"id": None, "dt": "a"},
    ]


@pytest.mark.parametrize(
    ("host", "project", "qualifiers"),
    [
        ("en.m.wikipedia.org", "en", ["m"]),
        ("www.wikidata.org", "-", []),
        ("m.wikidata.org", "-", ["m"]),
        ("en.zero.m.wikipedia.org", "en", ["zero", "m"]),
        ("canary", "-", []),
    ],
)
def test_normalized_host(host: str, project: str, qualifiers: list[str]) -> None:
    got = normalized_host(host)
    assert (got["project"], got["qualifiers"]) == (project, qualifiers)


def test_is_own_domain() -> None:
    assert is_own_domain("en.wikipedia.org.")
    assert not is_own_domain("en-wiki.org")
    assert not is_own_domain("en.wikipedia.nom.it")
    assert is_own_domain("shop.example.org", ["example.org"])


def test_type_mapping() -> None:
    schema = arrow_schema(
        {
            "type": "object",
            "properties": {
                "$schema": {"type": "string"},
                "n": {"type": "integer"},
                "x": {"type": "number"},
                "dt": {"type": "string", "format": "date-time"},
                "Ok": {"type": "boolean"},
                "m": {"type": "object", "additionalProperties": {"type": "integer"}},
                "s": {
                    "type": "object",
                    "properties": {
                        "user-agent": {"type": "string"},
                        "aB": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        }
    )
    assert schema.names == ["_schema", "n", "x", "dt", "ok", "m", "s"]
    assert [str(f.type) for f in schema][:5] == ["string", "int64", "double", "string", "bool"]
    assert schema.field("m").type == pa.map_(pa.string(), pa.int64())
    assert schema.field("s").type.names == ["user_agent", "aB"]  # nested: cleaned, case kept
    assert all(f.nullable for f in schema)


@pytest.mark.parametrize(
    ("node", "reason"),
    [
        ({"type": ["string", "integer"]}, "union type"),
        ({"type": "object"}, "neither 'properties' nor"),
        ({"type": "array", "items": [{"type": "string"}]}, "tuple arrays"),
        ({"type": "null"}, "type 'null'"),
    ],
)
def test_type_mapping_refusals(node: dict, reason: str) -> None:
    with pytest.raises(UnsupportedSchema, match=reason) as info:
        arrow_schema({"type": "object", "properties": {"f": node}})
    assert info.value.pointer.startswith("/properties/f")


def test_evolution_adds_sorted_columns_and_struct_fields_at_the_end() -> None:
    v1 = pa.schema([("b", pa.string()), ("s", pa.struct([("x", pa.int64())]))])
    v2 = pa.schema(
        [
            ("z", pa.string()),
            ("a", pa.int64()),
            ("s", pa.struct([("y", pa.string()), ("x", pa.int64())])),
            ("b", pa.int64()),
        ]
    )
    merged = merge(v1, v2)
    assert merged.schema.names == ["b", "s", "a", "z"]
    assert merged.schema.field("s").type.names == ["x", "y"]
    assert merged.schema.field("b").type == pa.string()  # never retyped
    assert merged.clashes == ["b: the table has string, the schema says int64"]
    old = pa.table({"b": ["1", None], "s": pa.array([{"x": 1}, None], v1.field("s").type)})
    new = conform_table(old, merged.schema)
    assert new.to_pylist() == [
        {"b": "1", "s": {"x": 1, "y": None}, "a": None, "z": None},
        {"b": None, "s": None, "a": None, "z": None},
    ]  # NULL structs stay NULL


def test_every_primary_schema_maps_or_is_refused_with_a_reason() -> None:
    root = fixture_path() / "jsonschema"
    latest = sorted(p for p in root.rglob("latest.yaml"))
    assert len(latest) > 40
    mapped, refused = 0, []
    for path in latest:
        text = Path(path).read_text()
        if "\n" not in text.strip() and (path.parent / text.strip()).is_file():  # a git symlink placeholder
            text = (path.parent / text.strip()).read_text()
        schema = yaml.safe_load(text)
        try:
            arrow_schema(schema)
            mapped += 1
        except UnsupportedSchema as exc:
            assert exc.reason and exc.pointer.startswith("/")
            refused.append(f"{path.relative_to(root)}: {exc}")
    print(f"{mapped} mapped, {len(refused)} refused:", *refused, sep="\n  ")
    assert mapped >= len(latest) - len(refused) and mapped > 30
