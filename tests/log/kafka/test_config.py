"""librdkafka settings given by the user do not switch off the Kafka log's own callbacks (pure logic)."""

from __future__ import annotations

from typing import Any

from eventplatform.log.kafka import KafkaLog, merge_config


def test_user_settings_win_but_our_callbacks_still_run() -> None:
    calls: list[tuple[str, Any]] = []
    ours = {
        "linger.ms": 5,
        "statistics.interval.ms": 2000,
        "stats_cb": lambda text: calls.append(("ours", text)),
        "error_cb": lambda err: calls.append(("ours-error", err)),
    }
    conf = merge_config(
        ours,
        {"linger.ms": 1, "stats_cb": lambda text: calls.append(("theirs", text))},
        {"statistics.interval.ms": 0, "error_cb": lambda err: calls.append(("theirs-error", err))},
    )
    assert conf["linger.ms"] == 1
    assert conf["statistics.interval.ms"] == 2000  # 0 would turn the broker-less check off
    conf["stats_cb"]("{}")
    conf["error_cb"]("boom")
    assert calls == [("ours", "{}"), ("theirs", "{}"), ("ours-error", "boom"), ("theirs-error", "boom")]
    assert merge_config(ours, {"statistics.interval.ms": 60_000})["statistics.interval.ms"] == 60_000


def test_a_failing_callback_of_ours_does_not_skip_the_users() -> None:
    seen: list[str] = []

    def ours(text: str) -> None:
        raise ValueError("ours failed")

    conf = merge_config({"stats_cb": ours}, {"stats_cb": seen.append})
    try:
        conf["stats_cb"]("{}")
    except ValueError:
        pass
    assert seen == ["{}"]


def test_producer_and_reader_configs_keep_the_health_check_with_a_users_stats_cb() -> None:
    theirs: list[str] = []
    log = KafkaLog.from_url(
        "kafka://127.0.0.1:1",
        producer_config={"stats_cb": theirs.append, "statistics.interval.ms": 0},
        consumer_config={"stats_cb": theirs.append},
    )
    for conf in (log.producer_config(False), log.producer_config(True)):
        assert conf["statistics.interval.ms"] > 0
        conf["stats_cb"]('{"brokers": {"b1": {"state": "UP"}}}')
    assert len(theirs) == 2
