"""The network transport: httpx's request and response types carried by one aiohttp session,
doing only what a Twilio call needs: no cookies, no redirects, no proxies from the
environment, each answer read whole. aiohttp sends several times faster than httpx's own
async transport (bench/bench_transport.py)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx

# aiohttp's errors as httpx's, most specific last (the same mapping as httpx-aiohttp's): a
# connection the server dropped after reading the request is a ConnectTimeout whose cause
# is not a connector error, which ``retry.never_sent`` tells from a refused connection.
ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    aiohttp.ServerTimeoutError: httpx.TimeoutException,
    aiohttp.SocketTimeoutError: httpx.ReadTimeout,
    aiohttp.ClientConnectionError: httpx.ConnectTimeout,
    aiohttp.ClientConnectorError: httpx.ConnectError,
    aiohttp.ClientPayloadError: httpx.ReadError,
    aiohttp.ClientProxyConnectionError: httpx.ProxyError,
    aiohttp.ClientHttpProxyError: httpx.ProxyError,
    aiohttp.NonHttpUrlClientError: httpx.UnsupportedProtocol,
    aiohttp.InvalidUrlClientError: httpx.UnsupportedProtocol,
}
# Headers of an answer aiohttp has decompressed that describe the compressed body.
_ENCODED = (b"content-encoding", b"content-length")


@contextlib.contextmanager
def httpx_errors() -> Iterator[None]:
    """Raise aiohttp's errors as the httpx error that says the same, caused by them."""
    try:
        yield
    except Exception as exc:
        mapped = None
        for kind, to in ERRORS.items():
            if isinstance(exc, kind) and (mapped is None or issubclass(to, mapped)):
                mapped = to
        if mapped is None:
            raise
        try:
            message = str(exc)
        except Exception:  # an aiohttp error made without what its str() reads
            message = type(exc).__name__
        raise mapped(message) from exc


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One pooled aiohttp session (made at the first request) behind httpx's transport API."""

    def __init__(self, max_connections: int = 100) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | None = None  # made at the first https request

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    def tls(self, url: httpx.URL) -> ssl.SSLContext | bool:
        """httpx's TLS settings (certifi's CAs, verified) for https; none for http."""
        if url.scheme != "https":
            return True
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=False)
        return self._tls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout: dict[str, Any] = request.extensions.get("timeout", {})
        with httpx_errors():
            async with self.session().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                ssl=self.tls(request.url),
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
            ) as answer:
                body = await answer.read()
        headers = answer.raw_headers
        if answer.headers.get("content-encoding"):
            headers = tuple(h for h in headers if h[0].lower() not in _ENCODED)
        return httpx.Response(
            answer.status,
            headers=headers,
            content=body,
            request=request,
            extensions={
                "reason_phrase": (answer.reason or "").encode(),
                "http_version": b"HTTP/1.1",
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
