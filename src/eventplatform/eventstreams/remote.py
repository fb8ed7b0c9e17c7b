"""Reading a remote EventStreams service (ours or Wikimedia's): ``eventplatform tail --url``.

httpx-sse parses the stream; tenacity retries the connection (exponential backoff with jitter, capped at
30 s) when the service is away or ends the stream (a restart, a slow-client cut-off), and every new
connection sends the id of the last event received as ``Last-Event-ID``, so nothing is skipped or repeated
across reconnections (with our server; with the reference, as well as its ids allow).

``last=N`` asks the first connection to start with the last N events (``?last=N``, an extension of ours);
a server that ignores it (Wikimedia's) starts at the end, which ``on_no_last`` is told about.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import quote, urlsplit

import httpx
from httpx_sse import EventSource
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential


class Retriable(Exception):
    """The connection failed or ended in a way that a new connection may fix."""


class RemoteError(Exception):
    """The service refused the request (4xx): retrying would get the same answer."""


def stream_url(url: str, streams: tuple[str, ...] | list[str]) -> str:
    """``url`` as it is when it names streams (``…/v2/stream/a,b``), else ``url/v2/stream/<streams>``."""
    if "/v2/stream/" in urlsplit(url).path:
        return url
    if not streams:
        raise ValueError("name the streams: in the URL (…/v2/stream/a,b) or as arguments")
    return url.rstrip("/") + "/v2/stream/" + ",".join(quote(s, safe="") for s in streams)


async def _open(
    client: httpx.AsyncClient, url: str, params: dict[str, str], last_id: str | None
) -> httpx.Response:
    headers = {"Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    try:
        response = await client.send(
            client.build_request("GET", url, params=params, headers=headers), stream=True
        )
    except httpx.TransportError as exc:
        raise Retriable(f"cannot connect to {url}: {exc}") from exc
    if response.status_code == 200:
        return response
    body = (await response.aread()).decode("utf-8", "replace")
    await response.aclose()
    if response.status_code in (429,) or response.status_code >= 500:
        raise Retriable(f"{url}: HTTP {response.status_code}: {body[:300]}")
    raise RemoteError(f"{url}: HTTP {response.status_code}: {body[:500]}")


async def follow(
    url: str,
    *,
    since_ms: int | None = None,
    last: int = 0,
    on_no_last: Callable[[], None] | None = None,
    canaries: bool = False,
    attempts: int = 1_000_000,
    timeout: float = 60.0,
) -> AsyncIterator[bytes]:
    """The ``data`` of every ``message`` event of ``url``, forever (or until ``attempts`` connections in a
    row fail). ``since_ms`` and ``last`` apply to the first connection only: later ones resume from the
    last id."""
    params: dict[str, str] = {}
    if since_ms is not None:
        params["since"] = str(since_ms)
    elif last > 0:
        params["last"] = str(last)
    if canaries:
        params["canary"] = "include"
    last_id: str | None = None
    # the read timeout is well above the server's heartbeat: a silent connection is a dead one
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0)) as client:
        while True:
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(Retriable),
                wait=wait_random_exponential(multiplier=0.5, max=30),
                stop=stop_after_attempt(attempts),
                reraise=True,
            )
            response = await retrying(_open, client, url, params, last_id)
            if "last" in params and "x-eventstreams-last" not in response.headers and on_no_last:
                on_no_last()
            params.pop("last", None)  # the first connection started with them; later ones resume
            if last_id:
                params.pop("since", None)
            try:
                async for sse in EventSource(response).aiter_sse():
                    if sse.event == "message":
                        if not sse.data:  # e.g. a block with only `retry:`: no event, as the SSE spec says
                            continue
                        if sse.id:
                            last_id = sse.id
                        yield sse.data.encode()
                    elif sse.event == "error":  # the server ended the stream and said why: reconnect
                        break
            except (httpx.TransportError, httpx.StreamError):
                pass  # the connection broke: reconnect from the last id
            finally:
                await response.aclose()
            if last_id:
                params.pop("since", None)
