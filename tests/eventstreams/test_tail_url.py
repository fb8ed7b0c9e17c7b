"""``eventplatform tail --url``: follows a remote EventStreams endpoint and resumes across its restart;
``--lines`` starts with the last events (and says so when the server cannot)."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

from tests.eventstreams.conftest import event, new_stream, post, start_platform
from tests.eventstreams.test_clients import Lines
from tests.gate.conftest import EXE


def test_tail_url_follows_and_resumes_across_a_restart(tmp_path: Path) -> None:
    server = start_platform(tmp_path)
    stream = new_stream()
    post(server, [event(stream, "before")])
    proc = subprocess.Popen(
        [EXE, "tail", "--url", server.url, "--since", "-5s", "--limit", "5", stream],
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "tail-stderr.txt").open("wb"),
    )
    try:
        lines = Lines(proc)
        got = [lines.next()]  # from --since
        post(server, [event(stream, f"e{i}", dt="2026-01-01T00:00:00.000Z") for i in range(2)])
        got += [lines.next(), lines.next()]
        server.stop()
        server.start()
        post(server, [event(stream, f"e{i}", dt="2026-01-01T00:00:00.000Z") for i in range(2, 4)])
        got += [lines.next(), lines.next()]
        assert proc.wait(30) == 0  # --limit 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.kill()
    assert [orjson.loads(line)["link_title"] for line in got] == ["before", "e0", "e1", "e2", "e3"]


def test_tail_url_refused_request_is_a_clear_error(tmp_path: Path) -> None:
    server = start_platform(tmp_path)
    try:
        done = subprocess.run(
            [EXE, "tail", "--url", f"{server.url}/v2/stream/not.configured", "--limit", "1"],
            capture_output=True,
            timeout=60,
        )
    finally:
        server.kill()
    assert done.returncode == 1
    assert b"HTTP 400" in done.stderr and b"Stream Not Found" in done.stderr


def test_tail_url_lines_starts_with_the_last_events(tmp_path: Path) -> None:
    server = start_platform(tmp_path)
    stream = new_stream()
    post(server, [event(stream, f"old{i}") for i in range(4)])
    procs = [
        subprocess.Popen([EXE, "tail", "--url", server.url, *args, stream], stdout=subprocess.PIPE)
        for args in (["--lines", "2", "--limit", "3"], ["--limit", "5"])  # the default: the last 10
    ]
    try:
        readers = [Lines(proc) for proc in procs]
        got = [[reader.next() for _ in range(n)] for reader, n in zip(readers, (2, 4), strict=True)]
        post(server, [event(stream, "live")])
        for proc, reader, lines in zip(procs, readers, got, strict=True):
            lines.append(reader.next())
            assert proc.wait(30) == 0  # --limit
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        server.kill()
    titles = [[orjson.loads(line)["link_title"] for line in lines] for lines in got]
    assert titles == [["old2", "old3", "live"], ["old0", "old1", "old2", "old3", "live"]]


class _Reference(BaseHTTPRequestHandler):
    """An EventStreams without ``?last`` (as Wikimedia's): one event from the end, whatever the query."""

    def do_GET(self) -> None:
        body = b':ok\n\nevent: message\nid: [{"topic":"t","partition":0,"timestamp":1}]\ndata: {"n":1}\n\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_tail_url_lines_says_when_the_server_ignores_it() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Reference)
    thread = threading.Thread(target=httpd.serve_forever, name="reference-eventstreams")
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v2/stream/s"
        asked = subprocess.run(
            [EXE, "tail", "--url", url, "--lines", "5", "--limit", "1"], capture_output=True, timeout=60
        )
        default = subprocess.run([EXE, "tail", "--url", url, "--limit", "1"], capture_output=True, timeout=60)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert asked.returncode == 0 and asked.stdout == b'{"n":1}\n'
    assert (
        b"does not serve the last events" in asked.stderr
        and b"following from the current end" in asked.stderr
    )
    assert (
        default.returncode == 0 and default.stdout == b'{"n":1}\n' and default.stderr == b""
    )  # not asked for
