"""The uvicorn patches apply to the installed uvicorn, which is inside the range they were written for."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http import httptools_impl

from eventplatform.gate.uvicorn_patches import SUPPORTED, install, reason, version_supported
from eventplatform.gate.uvicorn_patches.balance import BalancedServer, ConnectionCounts


def test_installed_uvicorn_is_supported() -> None:
    low, high = (".".join(map(str, v)) for v in SUPPORTED)
    assert version_supported(uvicorn.__version__), (
        f"uvicorn {uvicorn.__version__} is outside {low} <= v < {high}: check the patches, then widen"
    )
    assert version_supported("0.30.0") and not version_supported("0.56.0") and not version_supported("1.0")


def test_reason_patch_applies_and_hooks_httptools_send() -> None:
    assert install() == {"reason": True, "longurl": True}
    assert isinstance(httptools_impl.STATUS_LINE, reason._StatusLines)
    assert httptools_impl.STATUS_LINE[404] == b"HTTP/1.1 404 Not Found\r\n"  # uvicorn's own table behind
    assert reason.hooked(
        httptools_impl.RequestResponseCycle.send.__get__(object.__new__(httptools_impl.RequestResponseCycle))
    )

    async def in_a_task() -> bytes:
        reason.set_reason(201, "All 2 out of 2 events were accepted.", b"x-a: b\r\n")
        return httptools_impl.STATUS_LINE[201]

    assert asyncio.run(in_a_task()) == b"HTTP/1.1 201 All 2 out of 2 events were accepted.\r\nx-a: b\r\n"
    assert httptools_impl.STATUS_LINE[201] == b"HTTP/1.1 201 Created\r\n"  # other tasks: the standard phrase


async def app(scope: Any, receive: Any, send: Any) -> None:
    pass


def test_balance_patch_fits_uvicorn_server() -> None:
    """BalancedServer overrides uvicorn.Server's startup/shutdown and builds uvicorn's protocol itself."""
    for name in ("startup", "shutdown"):
        assert getattr(uvicorn.Server, name) is not getattr(BalancedServer, name)

    async def main() -> None:
        with socket.socket() as sock:
            config = uvicorn.Config(app, http="httptools", lifespan="off")
            config.load()
            server = BalancedServer(config, sock, ConnectionCounts(1), 0)
            server.lifespan = config.lifespan_class(config)  # as uvicorn.Server.startup sets it
            protocol: Any = server._protocol_factory()()
            assert isinstance(protocol, httptools_impl.HttpToolsProtocol)
            assert server._publish() == 0
            assert server.counts.should_accept(0)

    asyncio.run(main())


@pytest.mark.parametrize("missing", ["STATUS_LINE"])
def test_reason_patch_refuses_an_unknown_uvicorn(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setattr(httptools_impl, missing, None)
    assert reason.install() is False


def test_long_request_targets_are_split_at_the_query() -> None:
    import httptools

    from eventplatform.gate.uvicorn_patches import longurl

    assert longurl.install() is True
    proxy = longurl._Httptools(httptools)
    url = b"/event.gif?" + b"x" * 100_000
    parsed = proxy.parse_url(url)
    assert parsed.path == b"/event.gif" and parsed.query == b"x" * 100_000
    assert proxy.parse_url(b"/a?b").query == b"b"  # short ones: httptools itself
    with pytest.raises(httptools.HttpParserInvalidURLError):
        proxy.parse_url(b"/" + b"p" * 70_000)  # a long path is still refused
