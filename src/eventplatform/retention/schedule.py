"""The operations jobs ``serve`` runs on a schedule (all off by default): each is the job's own command in
a child process (``eventplatform canary --every 1h``, ``eventplatform purge --every 1d --yes``), so a job
that crashes or hangs never touches the intake workers, and it dies with ``serve`` even on SIGKILL."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

# the settings a job must see as serve resolved them (command line included), as environment variables
_PASSED = (
    "log",
    "datacenter",
    "stream_config",
    "schema_base_uris",
    "schema_file_extension",
    "allow_absolute_schema_uris",
    "service_name",
    "host",
    "port",
)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def job_environment(settings: Any, config_file: str | None) -> dict[str, str]:
    env = dict(os.environ)
    flat = settings.flat()
    for key in _PASSED:
        value = flat.get(key)
        if value is None:
            env.pop(f"EVENTPLATFORM_{key.upper()}", None)
            continue
        if isinstance(value, list):
            value = " ".join(value)
        env[f"EVENTPLATFORM_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    if config_file:
        env["EVENTPLATFORM_CONFIG"] = config_file
    return env


def start_job(args: Sequence[str], settings: Any, config_file: str | None) -> subprocess.Popen[bytes]:
    """``eventplatform ARGS…`` as a child of this process, with serve's settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "eventplatform", *args],
        env=job_environment(settings, config_file),
        preexec_fn=_die_with_parent,
    )


def stop_jobs(jobs: Sequence[subprocess.Popen[bytes]]) -> None:
    for job in jobs:
        if job.poll() is None:
            job.terminate()
    for job in jobs:
        try:
            job.wait(10)
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait()
