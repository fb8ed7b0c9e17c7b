"""Fixtures for intake tests: a real ``eventplatform serve`` subprocess on a free port, over real sockets.

Every server gets its own temporary working directory and SQLite log, and is always killed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_SCHEMA_URI, LINK_HOVER_STREAM
from eventplatform.log import Start, open_log

EXE = str(Path(sys.executable).with_name("eventplatform"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def link_hover(**overrides: Any) -> dict[str, Any]:
    """A valid event of the bundled example stream."""
    event: dict[str, Any] = {
        "$schema": LINK_HOVER_SCHEMA_URI,
        "meta": {"stream": LINK_HOVER_STREAM},
        "dt": "2024-03-15T19:05:00.456Z",
        "link_href": "mw:Extension:EventLogging",
        "link_title": "mw:Extension:EventLogging",
    }
    event.update(overrides)
    return event


async def post_fresh_batch(client: httpx.AsyncClient, size: int = 20) -> tuple[list[str], httpx.Response]:
    """POST ``size`` link-hover events with new ``meta.id``s, for the load of the crash and drain tests; the
    ids, to check what was acknowledged against the log, and the answer (httpx errors propagate)."""
    ids = [str(uuid.uuid4()) for _ in range(size)]
    events = [link_hover(meta={"stream": LINK_HOVER_STREAM, "id": i}) for i in ids]
    answer = await client.post(
        "/v1/events", content=orjson.dumps(events), headers={"content-type": "application/json"}
    )
    return ids, answer


class Server:
    """One ``eventplatform serve`` process."""

    def __init__(
        self,
        workdir: Path,
        *args: str,
        workers: int = 1,
        log: str | None = None,
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.prefix = prefix  # a command the server runs under (e.g. unshare, setpriv)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = workdir / "log"  # the default log: SQLite in the working directory
        self.args = [
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log",
            log or f"sqlite://{self.log_dir}",
            *args,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = workdir / "stderr.txt"

    def start(self, timeout: float = 30.0) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if "--workers" in self.args and self.args[self.args.index("--workers") + 1] != "1":
            metrics_dir = self.workdir / "metrics"  # not in /tmp: a SIGKILLed server cannot clean up
            metrics_dir.mkdir(exist_ok=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        self.proc = subprocess.Popen(
            [*self.prefix, EXE, "serve", *self.args],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr_path.open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.stderr()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/_info", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        self.kill()  # not left running when the caller never gets the server to stop
        raise RuntimeError(f"server did not start: {self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)  # the whole group: supervisor and workers
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful: SIGTERM to the group, SIGKILL if it is not gone within ``timeout``."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def records(self, topic: str) -> list[dict[str, Any]]:
        """Every event of ``topic`` in the SQLite log, read directly."""
        return read_log(f"sqlite://{self.log_dir}", topic)


def read_log(url: str, topic: str) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        log = open_log(url)
        try:
            if topic not in await log.list_topics():
                return []
            return [orjson.loads(r.value) async for r in log.consume([topic], Start.beginning())]
        finally:
            await log.close()

    return asyncio.run(main())


@contextlib.contextmanager
def running(workdir: Path, *args: str, workers: int = 1) -> Iterator[Server]:
    server = Server(workdir, *args, workers=workers)
    try:
        yield server.start()
    finally:
        server.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default platform (bundled schemas and stream config), with --output."""
    workdir = tmp_path_factory.mktemp("gate")
    with running(workdir, "--output", str(workdir / "events.json")) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
