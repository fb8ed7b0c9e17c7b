"""The threaded client against a real intake (``eventplatform serve``, SQLite log) over real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from eventplatform.client import EventClient, Identity, Problem, in_sample
from tests.client.conftest import NESTED_OUTER, SAMPLED, Flaky, Server, link_hover, start_intake
from tests.gate.conftest import free_port

STREAM = "mediawiki.interwiki_link_hover"
SCHEMA = "/analytics/link_hover/1.0.0"


def event(n: int) -> dict:
    return {"$schema": SCHEMA, "link_href": f"mw:{n}", "link_title": "t"}


def settled(stats: dict[str, int]) -> int:
    kinds = ("delivered", "invalid", "rejected", "undeliverable", "overflow", "out_of_sample", "unconfigured")
    return sum(stats.get(k, 0) for k in kinds)


def test_events_arrive_in_the_log_stamped_and_batched(intake: Server) -> None:
    before = len(intake.records(STREAM))
    with EventClient(intake.url + "/v1/events", domain="client.example", batch_size=40, linger=30) as client:
        for n in range(100):
            assert client.submit(STREAM, event(n))
        assert client.flush(30)  # 2 full batches went at once, the partial one on flush
        stats = client.stats()
    assert stats["delivered"] == 100 and stats["queued"] == 100
    rows = intake.records(STREAM)[before:]
    assert sorted(r["link_href"] for r in rows) == sorted(f"mw:{n}" for n in range(100))
    assert {r["meta"]["domain"] for r in rows} == {"client.example"}
    assert all(r["dt"].endswith("Z") and r["meta"]["id"] for r in rows)
    assert client.closed


def test_bad_input_is_refused_precisely_counted_and_never_raised(intake: Server) -> None:
    problems: list[Problem] = []
    cyclic: dict = {"$schema": SCHEMA}
    cyclic["me"] = cyclic
    with EventClient(
        intake.url + "/v1/events",
        stream_config=intake.url + "/v1/stream-configs",
        on_problem=problems.append,
        max_body_bytes=2000,
    ) as client:
        assert not client.submit(STREAM, {"link_href": "x"})
        assert not client.submit("not.a.configured.stream", event(1))
        assert not client.submit(STREAM, "not an object")
        assert not client.submit(STREAM, cyclic)
        assert not client.submit(STREAM, {**event(1), "link_title": "x" * 3000})
        assert client.submit(STREAM, {**event(1), "link_href": 12})  # invalid: only intake knows
        assert client.flush(30)
        stats = client.stats()
    kinds = [p.kind for p in problems]
    assert kinds == [
        "missing_schema",
        "unconfigured",
        "not_an_object",
        "unserialisable",
        "too_large",
        "invalid",
    ]
    assert 'missing required field "$schema"' in problems[0].message
    assert "not.a.configured.stream is not configured" in problems[1].message
    assert problems[5].context and "link_href" in str(problems[5].context)
    assert stats["invalid"] == 1 and stats.get("retries", 0) == 0  # invalid events are never retried


def test_sampling_follows_the_stream_config_of_intake(intake: Server) -> None:
    sessions = [Identity(session_id=os.urandom(10).hex()) for _ in range(300)]
    with EventClient(intake.url + "/v1/events", stream_config=intake.url + "/v1/stream-configs") as client:
        for n, ident in enumerate(sessions):
            client.submit(SAMPLED, {**event(n), "link_title": ident.session_id}, identity=ident)
            client.submit(NESTED_OUTER, {**event(n), "link_title": ident.session_id}, identity=ident)
        assert client.flush(30)
        stats = client.stats()
    inner = {r["link_title"] for r in intake.records(SAMPLED)}
    outer = {r["link_title"] for r in intake.records(NESTED_OUTER)}
    assert inner == {s.session_id for s in sessions if in_sample(s.session_id, 0.1)}
    assert outer == {s.session_id for s in sessions if in_sample(s.session_id, 0.5)}
    assert inner <= outer
    assert stats["out_of_sample"] == 600 - len(inner) - len(outer)


def test_retries_until_intake_comes_up_then_every_event_arrives_once(tmp_path: Path) -> None:
    server = start_intake(tmp_path / "late")  # its port is chosen, nothing listens on it yet
    try:
        with EventClient(server.url + "/v1/events", linger=0.01, backoff=0.05, max_backoff=0.3) as client:
            ids = []
            for n in range(50):
                assert client.submit(STREAM, event(n))
            assert not client.flush(0.3)  # intake is down: nothing settles
            server.start()
            assert client.flush(60)
            stats = client.stats()
        rows = server.records(STREAM)
        ids = [r["meta"]["id"] for r in rows]
        assert len(set(ids)) == 50 and stats["delivered"] == 50 and stats["retries"] >= 1
    finally:
        server.kill()


def test_503_and_closed_connections_are_retried_with_backoff(intake: Server) -> None:
    for status in (503, 0, 500):
        before = len(intake.records(STREAM))
        with (
            Flaky(intake.url, failures=3, status=status) as flaky,
            EventClient(flaky.url + "/v1/events", linger=0.01, backoff=0.02, max_backoff=0.1) as client,
        ):
            for n in range(20):
                client.submit(STREAM, event(n))
            assert client.flush(60)
            stats = client.stats()
        rows = intake.records(STREAM)[before:]
        # at least once: every meta.id arrives; a duplicate would carry the same meta.id
        assert len({r["meta"]["id"] for r in rows}) == 20, status
        assert stats["delivered"] == 20 and stats["retries"] >= 3, (status, stats)


def test_the_spool_survives_a_killed_process(intake: Server, tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    dead = f"http://127.0.0.1:{free_port()}/v1/events"
    script = textwrap.dedent(f"""
        import sys, time
        from eventplatform.client import EventClient
        client = EventClient({dead!r}, spool={str(spool)!r}, linger=0.01, backoff=0.01,
                             attempts_before_spool=1)
        for n in range(30):
            client.submit({STREAM!r}, {{"$schema": {SCHEMA!r}, "link_href": "spooled:%d" % n}})
        while client.stats().get("spooled", 0) < 30:
            time.sleep(0.01)
        print("spooled", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "spooled"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with EventClient(intake.url + "/v1/events", spool=spool, linger=0.01) as client:
        assert client.flush(30)
        assert client.stats()["restored"] == 30
    hrefs = Counter(r["link_href"] for r in intake.records(STREAM) if r["link_href"].startswith("spooled:"))
    assert set(hrefs) == {f"spooled:{n}" for n in range(30)}


def test_unsent_events_go_to_the_spool_at_close_and_out_with_the_next_client(intake: Server, tmp_path: Path):
    spool = tmp_path / "spool.db"
    dead = f"http://127.0.0.1:{free_port()}/v1/events"
    client = EventClient(dead, spool=spool, linger=5)
    for n in range(10):
        client.submit(STREAM, {**event(n), "link_href": f"closed:{n}"})
    client.close(timeout=0.2)
    assert client.stats()["spooled"] == 10 and client.stats().get("undeliverable", 0) == 0
    with EventClient(intake.url + "/v1/events", spool=spool) as again:
        assert again.flush(30)
    assert {r["link_href"] for r in intake.records(STREAM) if r["link_href"].startswith("closed:")} == {
        f"closed:{n}" for n in range(10)
    }


def test_memory_is_bounded_and_every_loss_is_counted() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1/events"
    problems: list[Problem] = []
    client = EventClient(
        dead,
        max_queue=50,
        batch_size=10,
        max_in_flight=1,
        overflow="drop_oldest",
        linger=0.01,
        on_problem=problems.append,
    )
    for n in range(1000):
        assert client.submit(STREAM, event(n))  # drop_oldest keeps the newest
        assert len(client.buffer) <= 50
    client.close(timeout=0.1)
    stats = client.stats()
    # the queue (50), the batch in flight and the one waiting for a slot (10 each) hold the rest
    assert stats["overflow"] >= 1000 - 50 - 2 * 10
    assert settled(stats) == stats["queued"] == 1000  # nothing unaccounted for
    assert sum(p.kind == "overflow" for p in problems) == stats["overflow"]

    blocking = EventClient(dead, max_queue=5, batch_size=100, linger=30, block_timeout=0.05)
    results = [blocking.submit(STREAM, event(n)) for n in range(8)]
    assert results == [True] * 5 + [False] * 3  # waited 50 ms for room, then refused and counted
    blocking.close(timeout=0.1)
    stats = blocking.stats()
    assert stats["overflow"] == 3 and stats["undeliverable"] == 5


def test_events_submitted_before_the_stream_config_loads_are_sampled_when_it_does(tmp_path: Path) -> None:
    server = start_intake(tmp_path / "cfg")
    try:
        ident = Identity(session_id="ffffffff00")  # out at any rate below 1
        with EventClient(
            server.url + "/v1/events",
            stream_config=server.url + "/v1/stream-configs",
            identity=ident,
            linger=0.01,
        ) as client:
            assert client.submit(SAMPLED, event(1))  # undecided: queued
            assert client.submit(STREAM, event(2))
            server.start()
            assert client.flush(60)
            stats = client.stats()
        assert stats["out_of_sample"] == 1 and stats["delivered"] == 1
        assert [r["link_href"] for r in server.records(STREAM)] == ["mw:2"]
    finally:
        server.kill()


def test_link_hover_helper_event_is_accepted(intake: Server) -> None:
    with EventClient(intake.url + "/v1/events") as client:
        assert client.submit(STREAM, link_hover(link_href="helper"))
        assert client.flush(30)
        assert client.stats()["delivered"] == 1
