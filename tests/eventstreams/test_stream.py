"""``GET /v2/stream/{streams}`` over real sockets, on the SQLite log and on the real Kafka broker: delivery,
framing, ``since``, resume with ``Last-Event-ID`` (exactly once, also for events sharing a millisecond),
filters, canaries, JSON lines, heartbeats, limits and the error answers."""

from __future__ import annotations

import contextlib
import time

import httpx
import orjson

from tests.eventstreams.conftest import SSE, Server, event, new_stream, post, sse


def test_posted_events_arrive_with_the_reference_framing(platform: Server) -> None:
    stream = new_stream()
    with (
        httpx.Client(timeout=20) as client,
        client.stream("GET", f"{platform.url}/v2/stream/{stream}") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"  # Accept: */*
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["access-control-allow-origin"] == "*"
        reader = SSE(response)
        assert reader.first.startswith(b":ok\n\n")
        post(platform, [event(stream, "one"), event(stream, "two")])
        frames = reader.take(2)
        assert reader.retry == 1500
    assert [f.event for f in frames] == ["message", "message"]
    data = [f.json for f in frames]
    assert [d["link_title"] for d in data] == ["one", "two"]
    assert data[0]["meta"]["topic"] == f"eqiad.{stream}"
    assert data[0]["meta"]["partition"] == 0
    assert data[1]["meta"]["offset"] == data[0]["meta"]["offset"] + 1
    position = orjson.loads(frames[1].id)
    mine = [p for p in position if p["topic"] == f"eqiad.{stream}"]
    assert mine[0]["offset"] == data[1]["meta"]["offset"] + 1
    assert mine[0]["partition"] == 0 and isinstance(mine[0]["timestamp"], int)


def test_every_datacenter_topic_and_aliases(platform: Server) -> None:
    """A stream is read from all its datacenter topics; an alias reads the stream it names."""
    with sse(platform, "/v2/stream/live.alias") as reader:
        post(platform, [event("live.alias_target", "through the alias")])
        assert reader.next().json["link_title"] == "through the alias"


def test_since_replays_and_iso_dates(platform: Server) -> None:
    stream = new_stream()
    t0 = int(time.time() * 1000) - 1000
    post(platform, [event(stream, f"old{i}") for i in range(3)])
    with sse(platform, f"/v2/stream/{stream}?since={t0}") as reader:
        assert [f.json["link_title"] for f in reader.take(3)] == ["old0", "old1", "old2"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 / 1000 - 1))
    with sse(platform, f"/v2/stream/{stream}?since={iso}") as reader:
        assert reader.next().json["link_title"] == "old0"


def test_resume_exactly_once_with_events_in_one_millisecond(platform: Server) -> None:
    """Every event once, in order, across a reconnection, although all share one timestamp."""
    stream = new_stream()
    dt = "2026-01-01T00:00:00.000Z"
    with sse(platform, f"/v2/stream/{stream}") as reader:
        post(platform, [event(stream, f"e{i}", dt=dt) for i in range(10)])
        got = reader.take(4)
    last_id = got[-1].id
    assert last_id is not None
    post(platform, [event(stream, f"e{i}", dt=dt) for i in range(10, 15)])
    with sse(platform, f"/v2/stream/{stream}", headers={"Last-Event-ID": last_id}) as reader:
        got += reader.take(11)
        post(platform, [event(stream, "after", dt=dt)])
        got.append(reader.next())
    titles = [f.json["link_title"] for f in got]
    assert titles == [f"e{i}" for i in range(15)] + ["after"]
    assert len({f.json["meta"]["offset"] for f in got}) == 16


def test_reference_style_ids_resume_by_timestamp(platform: Server) -> None:
    """An id of the reference (timestamp only, or another log's offsets) resumes by time."""
    stream = new_stream()
    post(platform, [event(stream, "before", dt="2026-01-01T00:00:00.000Z")])
    post(platform, [event(stream, "after", dt="2026-01-01T00:00:01.000Z")])
    topic = f"eqiad.{stream}"
    ids = [
        [{"topic": topic, "partition": 0, "timestamp": 1767225600001}],
        [{"topic": topic, "partition": 0, "offset": 0, "timestamp": 1767225600001, "log": "elsewhere"}],
    ]
    for position in ids:
        with sse(platform, f"/v2/stream/{stream}", headers={"Last-Event-ID": as_id(position)}) as r:
            assert r.next().json["link_title"] == "after"
    by_offset = [{"topic": topic, "partition": 0, "offset": 0}]  # hand-made: offsets as given
    with sse(platform, f"/v2/stream/{stream}", headers={"Last-Event-ID": as_id(by_offset)}) as r:
        assert r.next().json["link_title"] == "before"


def as_id(position: list[dict[str, object]]) -> str:
    return orjson.dumps(position).decode()


def test_match_filters_and_canaries(platform: Server) -> None:
    stream = new_stream()
    events = [
        event(stream, "en", domain="en.wikipedia.org"),
        event(stream, "canary", domain="canary"),
        event(stream, "de", domain="de.wikipedia.org"),
        event(stream, "en2", domain="en.wikipedia.org"),
    ]
    with (
        sse(platform, f"/v2/stream/{stream}") as plain,
        sse(platform, f"/v2/stream/{stream}?canary=include") as canaries,
        sse(platform, f"/v2/stream/{stream}?match=meta.domain:en.wikipedia.org&match=link_title:en2") as en,
    ):
        post(platform, events)
        assert [f.json["link_title"] for f in plain.take(3)] == ["en", "de", "en2"]
        assert [f.json["link_title"] for f in canaries.take(4)] == ["en", "canary", "de", "en2"]
        assert en.next().json["link_title"] == "en2"


def test_last_starts_with_the_last_events_then_follows(platform: Server) -> None:
    """``?last=N`` (``tail --url --lines N``): the last N events (canaries not counted unless included),
    then the live ones; a ``Last-Event-ID`` still wins over it, so a resume neither repeats nor skips."""
    stream = new_stream()
    titles = ["a0", "a1", "a2", "a3"]
    post(platform, [event(stream, t) for t in titles] + [event(stream, "canary", domain="canary")])
    post(platform, [event(stream, "a4")])
    with sse(platform, f"/v2/stream/{stream}?last=3") as reader:
        assert reader.response.headers["x-eventstreams-last"] == "3"
        got = reader.take(3)
        assert [f.json["link_title"] for f in got] == ["a2", "a3", "a4"]
        post(platform, [event(stream, "live")])
        assert reader.next().json["link_title"] == "live"
    with sse(platform, f"/v2/stream/{stream}?last=3&canary=include") as reader:
        assert [f.json["link_title"] for f in reader.take(3)] == ["canary", "a4", "live"]
    with sse(platform, f"/v2/stream/{stream}?last=1&match=link_title:a1") as reader:  # read further back
        assert [f.json["link_title"] for f in reader.take(1)] == ["a1"]
    with sse(platform, f"/v2/stream/{stream}?last=3", headers={"Last-Event-ID": got[0].id or ""}) as reader:
        assert [f.json["link_title"] for f in reader.take(3)] == ["a3", "a4", "live"]
    with sse(platform, f"/v2/stream/{stream}?last=100") as reader:  # more than there are: all of them
        assert reader.next().json["link_title"] == "a0"
    with sse(platform, f"/v2/stream/{stream}?last=0") as reader:  # from the end
        assert "x-eventstreams-last" not in reader.response.headers
        post(platform, [event(stream, "end")])
        assert reader.next().json["link_title"] == "end"
    url = f"{platform.url}/v2/stream/{stream}"
    for query, words in [
        ("last=x", "expected 0 to"),
        ("last=10001", "expected 0 to"),
        ("last=2&since=1000", "since"),
    ]:
        r = httpx.get(f"{url}?{query}", timeout=20)
        assert (r.status_code, r.json()["title"]) == (400, "Invalid last"), query
        assert words in r.json()["detail"], r.text


def test_json_lines_mode(platform: Server) -> None:
    stream = new_stream()
    with (
        httpx.Client(timeout=20) as client,
        client.stream(
            "GET", f"{platform.url}/v2/stream/{stream}", headers={"Accept": "application/json"}
        ) as response,
    ):
        assert response.headers["content-type"].startswith("application/json")
        post(platform, [event(stream, "a"), event(stream, "b")])
        reader = SSE(response)
        assert reader.first == b"\n"
        lines = (line for line in reader.lines if line)
        got = [orjson.loads(next(lines)) for _ in range(2)]
    assert [g["link_title"] for g in got] == ["a", "b"]
    assert got[0]["meta"]["topic"] == f"eqiad.{stream}"


def test_heartbeats_on_an_idle_stream(platform: Server) -> None:
    with sse(platform, f"/v2/stream/{new_stream()}", timeout=5) as reader:
        deadline = time.monotonic() + 5
        for line in reader.lines:
            if line.startswith(":") and "heartbeat" in line:
                break
            assert time.monotonic() < deadline
        else:
            raise AssertionError("the stream ended")


def test_error_answers(platform: Server) -> None:
    stream = new_stream()
    url = f"{platform.url}/v2/stream/{stream}"
    topic = f"eqiad.{stream}"

    def get(path: str = "", **headers: str) -> httpx.Response:
        return httpx.get(url + path, headers=headers, timeout=20)

    r = httpx.get(f"{platform.url}/v2/stream/nope,{stream},other", timeout=20)
    assert r.status_code == 400
    assert r.json()["type"] == "not_found" and r.json()["detail"] == "Invalid streams: nope,other"
    r = get("?since=yesterday")
    assert (r.status_code, r.json()["type"]) == (400, "invalid_timestamp")
    r = get(f"?since={int(time.time() * 1000) + 3_600_000}")
    assert r.status_code == 400 and "future" in r.json()["detail"]
    assert get("?match=nocolon").status_code == 400
    cases = {
        "not json": (400, "not JSON"),
        "x" * 70_000: (400, "bytes long"),
        "[]": (400, "non-empty"),
        orjson.dumps([{"topic": topic, "partition": 0, "offset": -5}]).decode(): (400, "offset"),
        orjson.dumps([{"topic": topic, "partition": -1, "offset": 0}]).decode(): (400, "partition"),
        orjson.dumps([{"topic": topic, "partition": 0}]).decode(): (400, "needs an offset"),
        orjson.dumps([{"topic": "eqiad.other.stream", "partition": 0, "offset": 0}]).decode(): (
            404,
            "not a topic of the requested streams",
        ),
    }
    for header, (status, words) in cases.items():
        r = get(**{"Last-Event-ID": header})
        assert r.status_code == status, (header[:40], r.text)
        assert r.json()["name"] == "InvalidAssignmentError" and words in r.json()["detail"]
    assert httpx.get(platform.url + "/_info", timeout=5).status_code == 200  # still serving


def test_connection_limits(platform: Server) -> None:
    """6 per client IP, 9 per process (conftest's config): a clear 429 beyond."""
    stream = new_stream()
    with contextlib.ExitStack() as stack:
        for _ in range(6):
            stack.enter_context(sse(platform, f"/v2/stream/{stream}"))
        r = httpx.get(f"{platform.url}/v2/stream/{stream}", timeout=10)
        assert r.status_code == 429
        assert r.json()["title"] == "Too Many Concurrent Connections From Your Client IP"
        for i in range(3):
            stack.enter_context(sse(platform, f"/v2/stream/{stream}", headers={"X-Client-IP": f"10.0.0.{i}"}))
        r = httpx.get(f"{platform.url}/v2/stream/{stream}", headers={"X-Client-IP": "10.0.0.99"}, timeout=10)
        assert r.status_code == 429 and r.json()["title"] == "Too Many Concurrent Connections"
    # all closed: room again
    with sse(platform, f"/v2/stream/{stream}") as reader:
        post(platform, [event(stream, "again")])
        assert reader.next().json["link_title"] == "again"
