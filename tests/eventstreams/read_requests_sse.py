"""Reads COUNT events of URL with ``requests-sse`` (an SSE client EventStreams users run in Python) and prints
``open`` on each connection and each event as a JSON line {id, data}; exits after COUNT events. Run as a
script by the tests (its reconnection sleeps stay out of the test process)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

from requests_sse import EventSource


def main(url: str, count: int) -> None:
    seen = 0
    with EventSource(
        url,
        timeout=30,
        reconnection_time=timedelta(milliseconds=300),
        max_connect_retry=20,
        on_open=lambda: print("open", flush=True),
    ) as source:
        for event in source:
            if event.type != "message":
                continue
            print(json.dumps({"id": event.last_event_id, "data": event.data}), flush=True)
            seen += 1
            if seen >= count:
                return


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
