"""Filesystem faults under a running ``eventplatform serve`` (real processes, real sockets, a real full disk):
the log's directory deleted, its permissions lost, its filesystem full. Each answers a precise
``log_unavailable`` with a ``cause`` while it lasts, loses no acknowledged event, and recovers without a
restart (log/sqlite/faults.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from eventplatform.examples import LINK_HOVER_STREAM
from tests.gate.conftest import Server, link_hover, read_log


def _post(client: httpx.Client, n: int) -> tuple[int, dict[str, Any], list[str]]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    events = [link_hover(meta={"stream": LINK_HOVER_STREAM, "id": i}, link_title="x" * 200) for i in ids]
    r = client.post("/v1/events", content=orjson.dumps(events), headers={"content-type": "application/json"})
    return r.status_code, r.json(), ids


def _exactly_once(stored: list[dict[str, Any]], acked: list[str]) -> None:
    ids = Counter(e["meta"]["id"] for e in stored)
    missing = [i for i in acked if i not in ids]
    dups = [i for i, c in ids.items() if c > 1]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged events lost"
    assert not dups, f"{len(dups)} events stored twice"


def _refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The failure entry of a batch the log refused entirely (every entry is alike)."""
    entries = body["error"]
    assert {(e["code"], e.get("cause")) for e in entries} == {(entries[0]["code"], entries[0].get("cause"))}
    return entries[0]


def _until(
    client: httpx.Client, acked: list[str], status: int, n: int, timeout: float = 15
) -> dict[str, Any]:
    """Post batches (recording what is acknowledged) until one gets ``status``; returns its body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, body, ids = _post(client, n)
        if code == 201:
            acked.extend(ids)
        if code == status:
            return body
        assert code in (201, 500), (code, body)
    raise AssertionError(f"no {status} within {timeout} s")


@pytest.mark.slow
def test_log_directory_deleted_under_load_is_recreated_with_every_event(tmp_path: Path) -> None:
    server = Server(tmp_path, workers=2).start()
    acked: list[str] = []
    statuses: Counter[int] = Counter()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(20):
                code, _, ids = _post(client, 20)
                statuses[code] += 1
                acked.extend(ids)
            shutil.rmtree(server.log_dir)
            # the partitions are found missing within a second; keep posting over that second and beyond
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                code, body, ids = _post(client, 20)
                statuses[code] += 1
                assert code == 201, body  # the refused call is re-tried on the re-created partition
                acked.extend(ids)
        # the worker(s) that got requests re-created their partition; an idle one does it when it stops
        assert list(server.log_dir.glob("partition-*.db")), server.stderr()
    finally:
        server.stop()
    assert "re-created" in server.stderr()
    assert server.proc is not None and server.proc.returncode in (0, -15), server.stderr()
    _exactly_once(server.records(LINK_HOVER_STREAM), acked)
    assert statuses[201] > 40


@pytest.mark.slow
def test_permissions_lost_on_the_log_directory(tmp_path: Path) -> None:
    # root ignores permission bits: the server runs without the capabilities that let it
    prefix = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search") if os.geteuid() == 0 else ()
    if prefix and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux): cannot take away the server's permissions")
    server = Server(tmp_path, prefix=prefix).start()
    acked: list[str] = []
    log_dir = server.log_dir
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            code, _, ids = _post(client, 10)
            assert code == 201
            acked.extend(ids)
            log_dir.chmod(0)
            # permissions are checked when a file is opened: the open partition keeps taking writes
            code, body, ids = _post(client, 10)
            assert code == 201, body
            acked.extend(ids)
            # ... until the partition must be re-created: its file deleted, the directory still closed
            for f in log_dir.glob("partition-0.*"):
                f.unlink()
            body = _until(client, acked, 500, 10)
            failure = _refusal(body)
            assert failure["code"] == "log_unavailable" and failure["cause"] == "permission_denied", failure
            assert str(log_dir) in failure["message"], failure
            assert client.get("/healthz/live").status_code == 200
            log_dir.chmod(0o755)
            code, body, ids = _post(client, 10)
            assert code == 201, body
            acked.extend(ids)
    finally:
        with contextlib.suppress(OSError):
            log_dir.chmod(0o755)
        server.stop()
    assert server.proc is not None and server.proc.returncode in (0, -15), server.stderr()
    _exactly_once(server.records(LINK_HOVER_STREAM), acked)


def _userns_mount_works() -> str | None:
    if not shutil.which("unshare"):
        return "no unshare (util-linux)"
    r = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=1m tmpfs /mnt || mount -t tmpfs -o size=1m tmpfs /tmp",
        ],
        capture_output=True,
        check=False,
    )
    return None if r.returncode == 0 else f"cannot mount a tmpfs in a user namespace: {r.stderr.decode()}"


@pytest.mark.slow
def test_disk_full_refuses_precisely_and_resumes_by_itself(tmp_path: Path) -> None:
    """A real full filesystem: a 4 MB tmpfs mounted in the server's own mount namespace (``unshare -rm``:
    no root needed, and the mount dies with the server); the test fills it through /proc/PID/root."""
    reason = _userns_mount_works()
    if reason:
        pytest.skip(reason)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mount = 'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"'
    server = Server(
        tmp_path, log=f"sqlite://{mnt}/log", prefix=("unshare", "-rm", "sh", "-c", mount, str(mnt))
    ).start()
    assert server.proc is not None
    inside = Path(f"/proc/{server.proc.pid}/root{mnt}")
    acked: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            code, _, ids = _post(client, 50)
            assert code == 201
            acked.extend(ids)
            filler = inside / "filler"
            with filler.open("wb") as f, contextlib.suppress(OSError):  # ENOSPC: the disk is full
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            os.truncate(filler, max(0, filler.stat().st_size - 512 * 1024))  # leave a little room
            body = _until(client, acked, 500, 50)
            failure = _refusal(body)
            assert failure["code"] == "log_unavailable" and failure["cause"] == "disk_full", failure
            assert "full" in failure["message"], failure
            assert client.get("/healthz/live").status_code == 200
            os.truncate(filler, 0)  # the operator frees space: intake resumes by itself
            code, body, ids = _post(client, 50)
            assert code == 201, body
            acked.extend(ids)
            # SQLite resolves /proc/PID/root to "/": read a copy (the server is idle: we are its only client)
            copy = tmp_path / "copy"
            shutil.copytree(inside / "log", copy, ignore=shutil.ignore_patterns("*-shm", "*.lock"))
            stored = read_log(f"sqlite://{copy}", LINK_HOVER_STREAM)
    finally:
        server.kill()
    _exactly_once(stored, acked)
