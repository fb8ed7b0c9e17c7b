"""The legacy SQL layout, without a database: names, columns, types, conversions that never cut."""

from __future__ import annotations

import pytest

from eventplatform.legacy.jrm import (
    Column,
    RowError,
    columns_of,
    convert,
    mediawiki_timestamp,
    row_of,
    table_name,
)

SCHEMA = {
    "properties": {
        "$schema": {"type": "string"},
        "meta": {"type": "object", "properties": {"stream": {"type": "string"}}},
        "http": {"type": "object", "properties": {"client_ip": {"type": "string"}}},
        "schema": {"type": "string"},
        "revision": {"type": "integer"},
        "recvFrom": {"type": "string"},
        "seqId": {"type": "integer"},
        "dt": {"type": "string", "format": "date-time"},
        "uuid": {"type": "string"},
        "wiki": {"type": "string"},
        "event": {
            "type": "object",
            "properties": {
                "pageId": {"type": "integer"},
                "ratio": {"type": "number"},
                "isAnon": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "timing": {
                    "type": "object",
                    "properties": {"start": {"type": "integer"}, "id": {"type": "string"}},
                },
                "free": {"type": "object"},
                "odd-name": {"type": "string"},
            },
        },
    }
}


def test_table_name() -> None:
    assert table_name("NavigationTiming", 10785754) == "NavigationTiming_10785754"
    assert table_name("Mobile.Wiki-App", 3) == "Mobile_Wiki_App_3"


def test_columns_order_types_and_never_stored_fields() -> None:
    columns = {c.name: c for c in columns_of(SCHEMA)}
    assert list(columns)[:1] == ["uuid"]
    assert list(columns) == [
        "uuid", "dt", "timestamp", "userAgent", "wiki",
        "event_free", "event_isAnon", "event_pageId", "event_ratio", "event_tags",
        "event_odd_name", "event_timing_id", "event_timing_start",
    ]  # fmt: skip (fewer underscores first, then alphabetical)
    assert columns["uuid"].sql_type == "CHAR(32)" and columns["uuid"].index == "unique"
    assert columns["timestamp"].sql_type == "VARCHAR(14)" and columns["timestamp"].index == "index"
    assert columns["dt"].sql_type == "DATETIME(3)" and columns["dt"].index == "index"
    assert columns["event_pageId"].sql_type == "BIGINT"
    assert columns["event_ratio"].sql_type == "DOUBLE"
    assert columns["event_isAnon"].sql_type == "BOOLEAN"
    assert columns["event_tags"].sql_type == columns["event_free"].sql_type == "VARCHAR(1024)"
    assert columns["event_timing_id"].index == "unique"  # a property named id
    assert columns["userAgent"].path == ("http", "request_headers", "user-agent")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-04-02T06:26:13Z", "20150402062613"),
        ("2015-04-02T08:26:13.5+02:00", "20150402062613"),
        (1427955973, "20150402062613"),
        (1427955973000, "20150402062613"),
        ("yesterday", None),
        (None, None),
        (True, None),
    ],
)
def test_mediawiki_timestamp(value: object, expected: str | None) -> None:
    assert mediawiki_timestamp(value) == expected


def test_values_that_do_not_fit_are_refused_never_cut() -> None:
    big = Column("event_pageId", "BIGINT", ("event", "pageId"))
    text = Column("event_action", "VARCHAR(1024)", ("event", "action"))
    assert convert(big, 2.0) == 2
    with pytest.raises(RowError, match="event_pageId: 'abc' does not fit BIGINT"):
        convert(big, "abc")
    with pytest.raises(RowError, match="does not fit BIGINT"):
        convert(big, 2**63)
    with pytest.raises(RowError, match="1025 characters do not fit VARCHAR\\(1024\\) \\(never cut\\)"):
        convert(text, "x" * 1025)
    assert convert(text, ["a", 1]) == '["a",1]'
    assert convert(Column("uuid", "CHAR(32)", ("uuid",)), "9b2f6f1c-1b7e-4c3e-8f1a-2a3b4c5d6e7f") == (
        "9b2f6f1c1b7e4c3e8f1a2a3b4c5d6e7f"
    )


def test_row_of_takes_the_receive_time_for_timestamp() -> None:
    columns = columns_of(SCHEMA)
    event = {
        "dt": "2015-04-02T06:26:13.250Z",
        "uuid": "a" * 32,
        "event": {"pageId": 5, "timing": {"start": 1}},
        "http": {"request_headers": {"user-agent": "UA"}},
    }
    row = row_of(event, columns)
    assert row["timestamp"] == "20150402062613" and row["dt"] == "2015-04-02 06:26:13.250"
    assert row["event_pageId"] == 5 and row["event_timing_start"] == 1 and row["userAgent"] == "UA"
    assert row["event_ratio"] is None
    assert row_of({"meta": {"dt": "2020-01-01T00:00:00Z"}}, columns)["timestamp"] == "20200101000000"
