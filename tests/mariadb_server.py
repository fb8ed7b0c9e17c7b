"""A real MariaDB server for the tests, started once per test process by ``scripts/mariadb.sh``.

Tests that use it are marked ``xdist_group("mariadb")`` so that ``pytest -n 2 --dist loadgroup`` runs them
all on one worker, which starts one server (on a free port, in a temporary data directory) and stops it at
the end; each test gets a database of its own. ``make test`` installs Debian's mariadb-server first
(``scripts/deps/legacy.sh``); set ``EVENTPLATFORM_SKIP_MARIADB=1`` to skip these tests explicitly.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "mariadb.sh"
USER = PASSWORD = "eventplatform"

mariadb = pytest.mark.xdist_group("mariadb")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MariaDB:
    port: int
    state_dir: Path
    start_seconds: float = 0.0

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MARIADB_STATE_DIR": str(self.state_dir),
            "MARIADB_PORT": str(self.port),
            "MARIADB_WATCH_PID": str(os.getpid()),  # a killed test run does not leave a server behind
            "MARIADB_START_TIMEOUT": os.environ.get("MARIADB_START_TIMEOUT", "120"),
        }

    def script(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), command], env=self._env(), capture_output=True, text=True, timeout=300
        )

    def start(self) -> None:
        t0 = time.monotonic()
        done = self.script("start")
        if done.returncode != 0:
            raise RuntimeError(f"scripts/mariadb.sh start failed:\n{done.stdout}\n{done.stderr}")
        self.start_seconds = time.monotonic() - t0

    def stop(self) -> None:
        self.script("stop")

    def running(self) -> bool:
        return self.script("status").returncode == 0

    def url(self, database: str) -> str:
        return f"mysql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str | None = None) -> Any:
        return pymysql.connect(
            host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, database=database, autocommit=True
        )

    def query(self, database: str, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def new_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{time.monotonic_ns() % 10**12}"
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            conn.close()
        return name


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    if os.environ.get("EVENTPLATFORM_SKIP_MARIADB") == "1":
        pytest.skip("EVENTPLATFORM_SKIP_MARIADB=1: MariaDB integration tests skipped on request")
    if not (shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists()):
        pytest.fail(
            "the legacy MariaDB tests need Debian's mariadb-server: run scripts/deps/legacy.sh (make test "
            "does); set EVENTPLATFORM_SKIP_MARIADB=1 to skip them"
        )
    server = MariaDB(_free_port(), tmp_path_factory.mktemp("mariadb"))
    try:
        server.start()
    except RuntimeError as exc:  # another process took the port between the probe and the start
        print(f"\nfirst MariaDB start failed, retrying on another port: {exc}")
        server.stop()
        server = MariaDB(_free_port(), tmp_path_factory.mktemp("mariadb"))
        server.start()
    print(f"\nMariaDB on 127.0.0.1:{server.port} started in {server.start_seconds:.1f}s")
    try:
        yield server
    finally:
        server.stop()
