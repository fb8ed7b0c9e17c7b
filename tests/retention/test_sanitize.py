"""Sanitization over real Parquet files in the lake layout: nested fields, the HMAC vector, salt rotation,
the lint, re-sanitizing after an allowlist change, and a crash in the middle of a swap."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from eventplatform.retention.allowlist import Allowlist, AllowlistError
from eventplatform.retention.cli import sanitize
from eventplatform.retention.salts import SaltError, Salts, hmac_hex, period_of

TABLE = "mediawiki_interwiki_link_hover"  # the bundled stream's table
SALT_Q4 = "a" * 64
SALT_Q3 = "b" * 64

SCHEMA = pa.schema(
    [
        ("dt", pa.string()),
        ("link_title", pa.string()),
        ("link_href", pa.string()),
        (
            "meta",
            pa.struct([("id", pa.string()), ("domain", pa.string()), ("stream", pa.string())]),
        ),
        (
            "http",
            pa.struct([("client_ip", pa.string()), ("request_headers", pa.map_(pa.string(), pa.string()))]),
        ),
        ("geocoded_data", pa.map_(pa.string(), pa.string())),
        ("n", pa.int64()),
    ]
)


def rows(title: str) -> list[dict[str, object]]:
    return [
        {
            "dt": "2026-12-05T08:00:00Z",
            "link_title": title,
            "link_href": "https://example.org",
            "meta": {"id": "id-1", "domain": "en.wikipedia.org", "stream": "s"},
            "http": {"client_ip": "192.0.2.1", "request_headers": [("user-agent", "Firefox")]},
            "geocoded_data": [("country", "France"), ("city", "Paris")],
            "n": 7,
        },
        {
            "dt": None,
            "link_title": None,
            "link_href": None,
            "meta": None,
            "http": None,
            "geocoded_data": None,
            "n": None,
        },
    ]


def write_hour(lake: Path, when: datetime, title: str = "t", table: str = TABLE) -> Path:
    d = (
        lake
        / "event"
        / table
        / f"datacenter=eqiad/year={when.year}/month={when.month}/day={when.day}/hour={when.hour}"
    )
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows(title), schema=SCHEMA), d / "part-0.parquet")
    return d


def salts_dir(tmp_path: Path) -> Path:
    d = tmp_path / "salts"
    d.mkdir(exist_ok=True)
    (d / "2026100100_2027010100_2027030100").write_text(SALT_Q4)
    (d / "2026070100_2026100100_").write_text(SALT_Q3)
    return d


ALLOWLIST = """
__defaults__:
  dt: keep
mediawiki.interwiki_link_hover:
  link_title: hash
  meta:
    id: keep
    domain: hash
  geocoded_data:
    country: keep
"""


def run(tmp_path: Path, lake: Path, allowlist: str, *more: str) -> object:
    path = tmp_path / "allowlist.yaml"
    path.write_text(allowlist)
    args = ["--allowlist", str(path), "--lake", str(lake), "--salts", str(salts_dir(tmp_path)), *more]
    return CliRunner().invoke(sanitize, args)


def sanitized(lake: Path, when: datetime) -> list[dict[str, object]]:
    d = (
        lake
        / "event_sanitized"
        / TABLE
        / f"datacenter=eqiad/year={when.year}/month={when.month}/day={when.day}/hour={when.hour}"
    )
    return pq.read_table(d / "part-0.parquet").to_pylist()


def test_hmac_vector_of_the_reference() -> None:
    assert (
        hmac_hex("some salt", "some string value")
        == "3BF2B893B2A0F57586E7CF73AF0690F061FAA9546F2C385AD93174BB9A81468C"
    )


def test_nested_fields_kept_hashed_or_nulled(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    hour = datetime(2026, 12, 5, 8, tzinfo=UTC)
    write_hour(lake, hour, "Secret")
    r = run(tmp_path, lake, ALLOWLIST)
    assert r.exit_code == 0, r.output
    first, empty = sanitized(lake, hour)
    assert first == {
        "dt": "2026-12-05T08:00:00Z",  # __defaults__
        "link_title": hmac_hex(SALT_Q4, "Secret"),
        "link_href": None,  # not listed
        "meta": {"id": "id-1", "domain": hmac_hex(SALT_Q4, "en.wikipedia.org"), "stream": None},
        "http": None,  # not listed: the IP and the user agent are gone
        "geocoded_data": [("country", "France")],  # other keys removed
        "n": None,
    }
    assert empty["meta"] is None and empty["geocoded_data"] is None  # a NULL struct stays NULL
    # same schema as the source, partition columns out of the file
    out = pq.read_schema(next((lake / "event_sanitized").rglob("*.parquet")))
    assert out.names == SCHEMA.names


def test_salt_rotates_per_quarter_and_runs_are_incremental(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    q3, q4a, q4b = (
        datetime(2026, 9, 30, 23, tzinfo=UTC),
        datetime(2026, 10, 1, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 23, tzinfo=UTC),
    )
    for h in (q3, q4a, q4b):
        write_hour(lake, h, "Same")
    r = run(tmp_path, lake, ALLOWLIST)
    assert r.exit_code == 0, r.output
    assert "3 partition(s) sanitized, 0 unchanged" in r.stderr
    titles = {h: sanitized(lake, h)[0]["link_title"] for h in (q3, q4a, q4b)}
    assert titles[q4a] == titles[q4b] == hmac_hex(SALT_Q4, "Same")
    assert titles[q3] == hmac_hex(SALT_Q3, "Same") != titles[q4a]

    r = run(tmp_path, lake, ALLOWLIST)  # nothing new: nothing done
    assert "0 partition(s) sanitized, 3 unchanged" in r.stderr
    write_hour(lake, q4a, "Late")  # re-refined hour (new file contents)
    r = run(tmp_path, lake, ALLOWLIST)
    assert "1 partition(s) sanitized, 2 unchanged" in r.stderr
    # an allowlist change re-sanitizes every affected hour
    r = run(tmp_path, lake, ALLOWLIST.replace("  link_title: hash\n", "  link_title: keep\n"))
    assert "3 partition(s) sanitized, 0 unchanged" in r.stderr
    assert sanitized(lake, q4a)[0]["link_title"] == "Late"


def test_a_missing_salt_fails_the_hour_not_the_run(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    old, ok = datetime(2025, 1, 1, 0, tzinfo=UTC), datetime(2026, 12, 5, 8, tzinfo=UTC)
    write_hour(lake, old)
    write_hour(lake, ok)
    r = run(tmp_path, lake, ALLOWLIST)
    assert r.exit_code == 1
    assert "no salt in" in r.stderr and "covers the hour 2025-01-01T00" in r.stderr
    assert sanitized(lake, ok)
    assert not (lake / "event_sanitized" / TABLE / "datacenter=eqiad" / "year=2025").exists()


def test_salt_files_rotation_and_unreadable(tmp_path: Path) -> None:
    salts = Salts(tmp_path / "s")
    now = datetime(2026, 12, 5, 8, tzinfo=UTC)
    assert period_of(now, 3) == (datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert salts.rotate(now) == ["created salt 2026100100_2027010100_2027030200"]
    assert salts.rotate(now) == []
    assert salts.for_hour(now).value == (tmp_path / "s" / "2026100100_2027010100_2027030200").read_text()
    assert salts.rotate(datetime(2027, 3, 3, tzinfo=UTC)) == [
        "created salt 2027010100_2027040100_2027053100",
        "deleted salt 2026100100_2027010100_2027030200",
    ]
    (tmp_path / "s" / "2027010100_2027040100_2027053100").write_text("not a salt")
    with pytest.raises(SaltError, match="does not hold 64 hexadecimal characters"):
        salts.for_hour(datetime(2027, 2, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("allowlist", "message"),
    [
        ("nope_table:\n  dt: keep\n", "nope_table: unknown table"),
        (f"{TABLE}:\n  nope: keep\n", f"{TABLE}.nope: no such field"),
        (f"{TABLE}:\n  meta: keep\n", "keep of a struct or map is not allowed"),
        (f"{TABLE}:\n  n: hash\n", "hash applies to strings only"),
        (f"{TABLE}:\n  link_title:\n    x: keep\n", "a nested map applies to structs and maps"),
        (f"{TABLE}:\n  http:\n    client_ip: keep\n", "http.client_ip: may not be allowlisted"),
        (f"{TABLE}:\n  http:\n    client_ip: hash\n", "http.client_ip: may not be allowlisted"),
        (f"{TABLE}:\n  http:\n    request_headers:\n      user-agent: keep\n", "user_agent: may not be"),
        (f"{TABLE}:\n  http: keep_all\n", "keep_all would keep sensitive field(s) http.client_ip"),
        (f"{TABLE}: keep_all\n", "keep_all would keep sensitive field(s) http.client_ip"),
    ],
)
def test_lint_refuses_with_a_reason(tmp_path: Path, allowlist: str, message: str) -> None:
    lake = tmp_path / "lake"
    write_hour(lake, datetime(2026, 12, 5, 8, tzinfo=UTC))
    r = run(tmp_path, lake, allowlist, "--lint")
    assert r.exit_code == 1
    assert message in r.stderr, r.stderr
    assert "nothing sanitized" in r.stderr


def test_field_marked_sensitive_in_the_schema_is_refused(tmp_path: Path) -> None:
    """A schema repository whose link_href says ``sensitive: true``."""
    import shutil

    from eventplatform.examples import SCHEMA_BASE_DIR

    repo = tmp_path / "schemas"
    shutil.copytree(SCHEMA_BASE_DIR, repo, symlinks=True)
    f = repo / "analytics" / "link_hover" / "1.0.0.yaml"
    f.write_text(
        f.read_text().replace(
            "    description: href attribute", "    sensitive: true\n    description: href attribute"
        )
    )
    lake = tmp_path / "lake"
    write_hour(lake, datetime(2026, 12, 5, 8, tzinfo=UTC))
    r = run(tmp_path, lake, f"{TABLE}:\n  link_href: keep\n", "--lint", "--schema-base-uri", str(repo))
    assert r.exit_code == 1
    assert "link_href: may not be allowlisted: marked sensitive in the schema" in r.stderr


def test_duplicate_entries_and_bad_actions_are_refused() -> None:
    with pytest.raises(AllowlistError, match="duplicate entry 'NavigationTiming'"):
        Allowlist.parse("navigationtiming:\n  dt: keep\nNavigationTiming:\n  dt: keep\n")
    with pytest.raises(AllowlistError, match="duplicate entry 'dt'"):
        Allowlist.parse("t:\n  dt: keep\n  dt: hash\n")
    with pytest.raises(AllowlistError, match="unknown action 'drop'"):
        Allowlist.parse("t:\n  dt: drop\n")
    defaults = Allowlist.parse(
        "__defaults__:\n  dt: keep\n  meta:\n    id: keep\nt:\n  meta:\n    dt: hash\n"
    )
    assert defaults.tables["t"] == {"dt": "keep", "meta": {"id": "keep", "dt": "hash"}}


def test_missing_allowlist_file_is_reported(tmp_path: Path) -> None:
    r = CliRunner().invoke(sanitize, ["--allowlist", str(tmp_path / "none.yaml"), "--lake", str(tmp_path)])
    assert r.exit_code == 1 and "cannot read allowlist" in r.output


def test_a_crash_in_the_middle_of_a_swap_is_undone(tmp_path: Path) -> None:
    """The old partition was moved aside and the new one never arrived: the next run puts it back, then
    sanitizes again; nothing half-written is ever visible."""
    lake = tmp_path / "lake"
    hour = datetime(2026, 12, 5, 8, tzinfo=UTC)
    write_hour(lake, hour)
    assert run(tmp_path, lake, ALLOWLIST).exit_code == 0
    target = next((lake / "event_sanitized").rglob("hour=8"))
    slot = lake / "_sanitize_staging" / "deadrun" / "slot"
    slot.mkdir(parents=True)
    (slot / "_target").write_text(str(target))
    target.rename(slot / "old")
    (slot / "new").mkdir()
    (slot / "new" / "part-0.parquet").write_bytes(b"PAR1 half written")
    from eventplatform.retention.sanitize import recover

    recover(lake)
    assert pq.read_table(target / "part-0.parquet").num_rows == 2
    assert not (lake / "_sanitize_staging" / "deadrun").exists()


def test_map_keys_kept_hashed_or_removed_row_by_row() -> None:
    from eventplatform.retention.sanitize import mask_array

    kind = pa.map_(pa.string(), pa.string())
    arr = pa.array(
        [[("Country", "FR"), ("city", "Paris")], None, [], [("city", "Oslo"), ("x-id", "7")]], kind
    )
    out = mask_array(arr, {"country": "keep", "x_id": "hash"}, lambda v: f"H({v})")
    assert out.to_pylist() == [[("Country", "FR")], None, [], [("x-id", "H(7)")]]
