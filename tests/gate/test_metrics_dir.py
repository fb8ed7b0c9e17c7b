"""``serve`` with several workers keeps its Prometheus files in a temporary directory: removed when it stops,
and, when it was SIGKILLed (it cannot clean up then), by the next ``serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.gate.conftest import EXE, free_port


def start(tmp: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTPLATFORM_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["TMPDIR"] = str(tmp)
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port), "--workers", "2", "--log", f"sqlite://{workdir}/log"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/metrics", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("serve did not start")


def metrics_dirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("eventplatform-metrics-*"))


def test_metrics_dir_removed_on_stop_and_after_a_sigkill(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, _ = start(tmp, tmp_path)
    try:
        assert [d.name.split("-")[2] for d in metrics_dirs(tmp)] == [str(proc.pid)]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    (stale,) = metrics_dirs(tmp)  # left behind by the SIGKILL
    proc, _ = start(tmp, tmp_path)
    try:
        assert not stale.exists()  # removed by the next serve
        assert len(metrics_dirs(tmp)) == 1
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert metrics_dirs(tmp) == []
