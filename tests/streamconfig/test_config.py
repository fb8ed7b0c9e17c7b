"""Stream config: resolution, deep merge, topics, constraints, query parsing, loading and refresh."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from eventplatform.cli.streams import streams as streams_cli
from eventplatform.streamconfig.config import (
    StreamConfig,
    StreamConfigError,
    StreamConfigSource,
    StreamQueryError,
    api_response,
    deep_merge,
    parse_constraint,
    parse_query,
    topic_for,
)

DOC: dict[str, Any] = {
    "defaults": {
        "topic_prefixes": ["eqiad.", "codfw."],
        "canary_events_enabled": False,
        "producers": {"eventgate": {"enrich_fields_from_http_headers": {"meta.request_id": False}}},
    },
    "streams": {
        "test.event": {
            "schema_title": "test/event",
            "destination_event_service": "eventgate-main",
            "sample": {"rate": 1, "unit": "session"},
            "canary_events_enabled": True,
            "some_future_key": {"anything": [1, 2]},
        },
        "/^mediawiki\\.job\\..+/": {
            "schema_title": "mediawiki/job",
            "destination_event_service": "eventgate-main",
        },
        "mediawiki.job.special": {"schema_title": "special/job", "topic_prefixes": ["eqiad."]},
        "/job/": {"schema_title": "other/job"},
        "eventlogging_Legacy": {"schema_title": "analytics/legacy/legacy", "topic_prefixes": None},
        "explicit": {"topics": ["a", "b"], "sample": {"rate": 0.5, "unit": "pageview"}},
    },
}


@pytest.fixture
def config() -> StreamConfig:
    return StreamConfig.from_document(DOC)


def test_exact_then_first_regex(config: StreamConfig) -> None:
    s = config.get("test.event")
    assert s is not None
    assert s["stream"] == "test.event"
    assert s["topics"] == ["eqiad.test.event", "codfw.test.event"]
    assert s["some_future_key"] == {"anything": [1, 2]}  # passed through
    assert s["canary_events_enabled"] is True
    job = config.get("mediawiki.job.foo")
    assert job is not None and job["schema_title"] == "mediawiki/job"
    assert job["stream"] == "/^mediawiki\\.job\\..+/"  # output keeps the pattern
    assert job["topics"] == ["eqiad.mediawiki.job.foo", "codfw.mediawiki.job.foo"]
    assert config.get("mediawiki.job.special")["schema_title"] == "special/job"  # type: ignore[index]
    assert config.get("x.job.y")["schema_title"] == "other/job"  # type: ignore[index]  # search semantics
    assert config.get("nope") is None


def test_deep_merge_decisions(config: StreamConfig) -> None:
    s = config.get("test.event")
    assert s is not None
    assert s["producers"] == {"eventgate": {"enrich_fields_from_http_headers": {"meta.request_id": False}}}
    # a list replaces the default list (no index merge, unlike the reference's Q9)
    assert config.get("mediawiki.job.special")["topics"] == ["eqiad.mediawiki.job.special"]  # type: ignore[index]
    # an explicit null overrides and disables prefixes
    legacy = config.get("eventlogging_Legacy")
    assert (
        legacy is not None
        and legacy["topic_prefixes"] is None
        and legacy["topics"] == ["eventlogging_Legacy"]
    )
    assert config.get("explicit")["topics"] == ["a", "b"]  # type: ignore[index]
    assert deep_merge({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}}
    # the defaults are not shared between entries
    config.select()["test.event"]["producers"]["x"] = 1
    assert "x" not in config.get("test.event")["producers"]  # type: ignore[index]


def test_select_all_and_regex_topics(config: StreamConfig) -> None:
    everything = config.select()
    assert list(everything) == list(DOC["streams"])
    assert everything["/^mediawiki\\.job\\..+/"]["topics"] == ["/^(eqiad\\.|codfw\\.)mediawiki\\.job\\..+/"]
    assert everything["/job/"]["topics"] == ["/(eqiad\\.|codfw\\.)job/"]
    some = config.select(["test.event", "mediawiki.job.foo", "unknown"])
    assert list(some) == ["test.event", "mediawiki.job.foo"]
    assert config.to_document() == {"streams": everything}


def test_constraints(config: StreamConfig) -> None:
    sel = config.select(None, {"destination_event_service": "eventgate-main"})
    assert list(sel) == ["test.event", "/^mediawiki\\.job\\..+/"]
    assert list(config.select(None, {"sample": {"unit": "session"}})) == ["test.event"]
    assert list(config.select(None, {"canary_events_enabled": "1"})) == ["test.event"]  # PHP cast of true
    assert list(config.select(None, {"canary_events_enabled": ""})) != ["test.event"]
    assert list(config.select(None, {"sample": {"rate": "0.5"}})) == ["explicit"]
    assert list(config.select(None, {"topic_prefixes": ["codfw."]})) == [
        "test.event",
        "/^mediawiki\\.job\\..+/",
        "/job/",
        "explicit",
    ]
    # a stream constraint uses regex/equality semantics
    assert list(config.select(None, {"stream": "mediawiki.job.foo"})) == ["/^mediawiki\\.job\\..+/", "/job/"]
    # unset or null settings never match
    assert config.select(None, {"topic_prefixes": []}) and "eventlogging_Legacy" not in config.select(
        None, {"topic_prefixes": []}
    )
    # Q11 fixed: a list constraint does not stop the check of its siblings
    assert config.select(None, {"topic_prefixes": ["eqiad."], "schema_title": "nope"}) == {}


def test_query_parsing(config: StreamConfig) -> None:
    assert parse_constraint("a[b][c]=v=w") == {"a": {"b": {"c": "v=w"}}}
    assert parse_constraint("a[]=x") == {"a": ["x"]}
    assert parse_constraint("flag") == {"flag": ""}
    names, cons = parse_query(
        "test.event|mediawiki.job.foo", ["sample[unit]=session|sample[rate]=1", "x[]=1|x[]=2"]
    )
    assert names == ["test.event", "mediawiki.job.foo"]
    assert cons == {"sample": {"unit": "session", "rate": "1"}, "x": ["1", "2"]}
    assert parse_query("\x1fa|b\x1fc", None) == (["a|b", "c"], None)
    assert parse_query(None, None) == (None, None)
    with pytest.raises(StreamQueryError, match="the limit is 250"):
        parse_query("|".join(f"s{i}" for i in range(251)))
    with pytest.raises(StreamQueryError):
        parse_query(None, "=x")
    body = api_response(config, "test.event|nope", "sample[unit]=session")
    assert list(body["streams"]) == ["test.event"]
    assert api_response(StreamConfig.from_document({"streams": {}})) == {"streams": {}}


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"streams": {"/a(/": {}}}, "invalid regex"),
        ({"streams": {"/a/i": {}}}, "no flags"),
        ({"streams": {"s": {"topic_prefixes": "eqiad."}}}, "'topic_prefixes' must be a list"),
        ({"streams": {"s": {"topics": [1]}}}, "'topics' must be a list"),
        ({"streams": {"s": []}}, "settings must be a map"),
        ({"streams": [{"schema_title": "x"}]}, "'stream' setting"),
        ({"stream": {}}, "unknown top-level key"),
        ({"streams": {"s": {}}, "defaults": []}, "'defaults' must be a map"),
        ([], "must be a map"),
    ],
)
def test_bad_documents(doc: Any, fragment: str) -> None:
    with pytest.raises(StreamConfigError, match=fragment.replace("(", r"\(")):
        StreamConfig.from_document(doc)


def test_legacy_list_and_api_response_roundtrip(config: StreamConfig) -> None:
    legacy = StreamConfig.from_document({"streams": [{"stream": "a", "schema_title": "t"}]})
    assert legacy.get("a") == {"stream": "a", "schema_title": "t", "topics": ["a"]}
    # an API response (no defaults, topics already computed) loads and answers the same
    again = StreamConfig.from_bytes(
        orjson.dumps({"batchcomplete": True, "streams": config.select(["test.event"])})
    )
    assert again.get("test.event") == config.get("test.event")


def test_topic_for() -> None:
    assert topic_for("test.event", "eqiad") == "eqiad.test.event"
    assert topic_for("eventlogging_Foo", "eqiad") == "eventlogging_Foo"
    assert topic_for("test.event", None) == "test.event"


def test_yaml_file_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "streams.yaml"
    path.write_text(
        "defaults:\n  topic_prefixes: [eqiad.]\nstreams:\n  test.event:\n    schema_title: test/event\n"
        "    destination_event_service: eventgate-main\n    on: yes\n  other:\n    schema_title: o/o\n"
    )
    config = StreamConfig.from_file(path)
    assert config.get("test.event")["on"] == "yes"  # type: ignore[index]  # YAML 1.2: strings stay strings
    runner = CliRunner()
    res = runner.invoke(streams_cli, ["list", "--stream-config", str(path), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert list(orjson.loads(res.output)["streams"]) == ["test.event", "other"]
    res = runner.invoke(
        streams_cli,
        ["list", "--stream-config", str(path), "--constraint", "destination_event_service=eventgate-main"],
    )
    assert res.exit_code == 0 and "eqiad.test.event" in res.output and "o/o" not in res.output
    res = runner.invoke(streams_cli, ["show", "test.event", "--stream-config", str(path)])
    assert orjson.loads(res.output)["streams"]["test.event"]["topics"] == ["eqiad.test.event"]
    res = runner.invoke(streams_cli, ["show", "test.event", "missing", "--stream-config", str(path)])
    assert res.exit_code == 1 and "'missing' does not match any stream" in res.output
    res = runner.invoke(streams_cli, ["list", "--stream-config", str(tmp_path / "none.yaml")])
    assert res.exit_code != 0 and "cannot read stream config" in res.output


class _Handler(http.server.BaseHTTPRequestHandler):
    body: bytes = b""
    status: int = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/w/api.php?action=streamconfigs"
    srv.shutdown()
    srv.server_close()


def test_http_source_refresh_keeps_last_good(server: str) -> None:
    async def main() -> None:
        _Handler.status, _Handler.body = 200, orjson.dumps({"streams": {"a": {"schema_title": "a"}}})
        src = StreamConfigSource(server, refresh_interval=0.05)
        await src.start()
        assert src.current.get("a") is not None
        _Handler.body = orjson.dumps({"streams": {"b": {"schema_title": "b"}}})
        for _ in range(100):
            await asyncio.sleep(0.02)
            if src.current.get("b") is not None:
                break
        assert src.current.get("b") is not None and src.current.get("a") is None
        _Handler.status = 500
        for _ in range(250):  # a refresh fails
            await asyncio.sleep(0.02)
            if src.last_error:
                break
        assert src.current.get("b") is not None and src.last_error and "500" in src.last_error
        _Handler.status, _Handler.body = 200, b"streams: {/bad(/: {}}"
        assert not await src.reload()
        assert "invalid regex" in (src.last_error or "")
        assert src.current.get("b") is not None
        await src.stop()

    asyncio.run(main())


def test_first_load_failure_raises(tmp_path: Path) -> None:
    src = StreamConfigSource(str(tmp_path / "missing.yaml"))
    with pytest.raises(StreamConfigError):
        asyncio.run(src.start())
