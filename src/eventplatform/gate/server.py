"""Runs intake: one process, or a supervisor that forks N workers sharing one listening socket.

Each worker has its own event loop, its own log writer (with SQLite: its own partition, so writers never
contend) and its own schema cache. The supervisor forwards SIGTERM/SIGINT for a graceful shutdown and
restarts a worker that dies; workers die with the supervisor (PR_SET_PDEATHSIG), even on SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the app (and prometheus-client) are imported only after the metrics mode is set
    from eventplatform.gate.app import GateApp
    from eventplatform.gate.uvicorn_patches.balance import ConnectionCounts
    from eventplatform.settings import Settings


STARTUP_FAILURE = 3  # uvicorn's exit code when the app's startup fails
METRICS_DIR_PREFIX = "eventplatform-metrics-"  # + the supervisor's pid + "-": see remove_stale_metrics_dirs


class ListenError(OSError):
    """The address cannot be listened on (in use, not ours, …)."""


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker_app(settings: Settings, index: int = 0, *, freeze_gc: bool = False) -> GateApp:
    """The ASGI app of one worker with every route it serves. The one place a worker's app is put
    together: a part that serves HTTP in the same process adds its routes here (``extra_routes``), and
    tests/gate/test_openapi.py checks this app's routes against gate/openapi.yaml, both ways."""
    from eventplatform.gate.app import GateApp

    parts = []
    if settings.eventstreams.enabled:  # live streams and the console on the same port
        from eventplatform.eventstreams.service import EventStreams

        parts.append(EventStreams(settings))
    return GateApp(settings, worker_index=index, freeze_gc=freeze_gc, parts=parts)


def run_worker(
    settings: Settings, sock: socket.socket, index: int, counts: ConnectionCounts | None = None
) -> None:
    """Serve on ``sock`` until SIGTERM/SIGINT (uvicorn with uvloop + httptools). With ``counts`` (several
    workers), connections are accepted in turn with the other workers (see gate.uvicorn_patches.balance)."""
    import uvicorn

    from eventplatform.gate.access import configure as configure_access_log
    from eventplatform.gate.uvicorn_patches import install, limits
    from eventplatform.gate.uvicorn_patches.balance import BalancedServer

    install()
    server_settings = settings.server
    limits.LIMITS = limits.Limits(
        server_settings.header_timeout, server_settings.body_timeout, server_settings.max_connections
    )
    configure_access_log()

    app = worker_app(settings, index, freeze_gc=True)
    parts = app.parts
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=limits.GateHttpProtocol,  # httptools, with request timeouts and the connection limit
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For / X-Client-IP are read by the app, as eventgate-wikimedia
        timeout_graceful_shutdown=server_settings.shutdown_timeout,
        timeout_keep_alive=server_settings.keep_alive_timeout,
        backlog=2048,
    )
    server = uvicorn.Server(config) if counts is None else BalancedServer(config, sock, counts, index)
    limits.install_drain(server, app, server_settings.drain_delay)
    if parts:
        from eventplatform.eventstreams.server import stop_streams

        stop_streams(server, parts[0])
    sockets = [sock] if counts is None else []
    profile_dir = os.environ.get("EVENTPLATFORM_PROFILE_DIR")
    if not profile_dir:
        server.run(sockets=sockets)
        return
    import cProfile  # profiling the worker, for docs/benchmarks.md: where the time goes

    # uvicorn re-raises the shutdown signal after serving: let it hit a no-op so the profile gets written
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    prof = cProfile.Profile(time.thread_time)  # CPU of the event-loop thread, not wall time
    prof.enable()
    try:
        server.run(sockets=sockets)
    finally:
        prof.disable()
        prof.dump_stats(os.path.join(profile_dir, f"worker-{index}-{os.getpid()}.prof"))


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def serve(settings: Settings) -> None:
    workers = settings.server.resolved_workers
    sock = bind_socket(settings.server.host, settings.server.port)
    host, port = sock.getsockname()[:2]
    print(
        f"eventplatform intake on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}, "
        f"log {settings.log.url}, stream config {settings.streamconfig.source})",
        file=sys.stderr,
        flush=True,
    )
    if workers == 1:
        run_worker(settings, sock, 0)
        return
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        remove_stale_metrics_dirs()
        own_dir = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    try:
        _supervise(settings, sock, workers)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


def remove_stale_metrics_dirs() -> None:
    """The metrics directories of supervisors that are gone: a SIGKILLed supervisor cannot remove its own, so
    the next one does (the pid in the name says whose it is)."""
    base = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(base):
            pid = name[len(METRICS_DIR_PREFIX) :].split("-", 1)[0]
            if not (name.startswith(METRICS_DIR_PREFIX) and pid.isdigit()):
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
            except PermissionError:
                pass  # another user's live process


def _spawn(settings: Settings, sock: socket.socket, index: int, counts: ConnectionCounts) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            _die_with_parent()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            run_worker(settings, sock, index, counts)
        except SystemExit as exc:  # uvicorn exits with 3 when the app cannot start
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    return pid


def _supervise(settings: Settings, sock: socket.socket, workers: int) -> None:
    """Fork the workers, restart one that dies, stop all on SIGTERM/SIGINT or when one cannot start."""
    from eventplatform.gate.uvicorn_patches.balance import NOT_ACCEPTING, ConnectionCounts

    counts = ConnectionCounts(workers)
    children: dict[int, int] = {}  # pid -> worker index
    stopping = failed = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def start(index: int) -> None:
        counts.set(index, NOT_ACCEPTING)  # until it accepts (its predecessor's connections died with it)
        pid = _spawn(settings, sock, index, counts)
        children[pid] = index
        if stopping:  # the signal came while forking (or during the restart back-off): nobody else tells it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(workers):
        start(index)
    restarts: dict[int, float] = {}
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, None)
        if index is None or stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        if code == STARTUP_FAILURE:  # a configuration problem: restarting would fail the same way
            print(f"eventplatform: worker {index} failed to start; stopping", file=sys.stderr)
            stop(signal.SIGTERM, None)
            failed = True
            continue
        print(f"eventplatform: worker {index} (pid {pid}) exited with {code}; restarting", file=sys.stderr)
        last = restarts.get(index, 0.0)
        if time.monotonic() - last < 1.0:
            time.sleep(1.0)
        restarts[index] = time.monotonic()
        if not stopping:
            start(index)
    sock.close()
    if failed:
        sys.exit(1)
