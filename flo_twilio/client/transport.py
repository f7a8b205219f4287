"""The network transport: httpx's request and response types carried by one aiohttp session,
doing only what a Twilio call needs: no cookies, no redirects, no proxies from the
environment, each answer read whole. aiohttp sends several times faster than httpx's own
async transport (bench/bench_transport.py)."""

from __future__ import annotations

import contextlib
import functools
import ssl
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp

# Headers of an answer aiohttp has decompressed that describe the compressed body.
_ENCODED = (b"content-encoding", b"content-length")
_ALONE = False  # see ``alone_in_process``


def alone_in_process() -> None:
    """Say that this transport is this process's only aiohttp user (the flo command says
    so). aiohttp, when first imported, makes two TLS contexts loaded with the system's CA
    certificates (about 0.1 s, a quarter of a one-message ``flo run``) that this transport
    never uses: it gives every https request httpx's (certifi's) context. Imported after
    this call, aiohttp leaves them empty: an https request that fell back on them would
    fail verification, never pass unverified. A host that uses aiohttp itself does not
    call it."""
    global _ALONE
    _ALONE = True


def _aiohttp() -> ModuleType:
    """aiohttp, imported at the first request (see ``alone_in_process``)."""
    if "aiohttp" in sys.modules or not _ALONE:
        import aiohttp

        return aiohttp
    load = ssl.SSLContext.set_default_verify_paths
    ssl.SSLContext.set_default_verify_paths = lambda self: None  # type: ignore[method-assign]
    try:
        import aiohttp
    finally:
        ssl.SSLContext.set_default_verify_paths = load  # type: ignore[method-assign]
    return aiohttp


@functools.cache
def errors() -> dict[type[Exception], type[httpx.TransportError]]:
    """aiohttp's errors as httpx's, most specific last (the same mapping as httpx-aiohttp's):
    a connection the server dropped after reading the request is a ConnectTimeout whose
    cause is not a connector error, which ``retry.never_sent`` tells from a refused one."""
    aio = _aiohttp()
    return {
        aio.ServerTimeoutError: httpx.TimeoutException,
        aio.SocketTimeoutError: httpx.ReadTimeout,
        aio.ClientConnectionError: httpx.ConnectTimeout,
        aio.ClientConnectorError: httpx.ConnectError,
        aio.ClientPayloadError: httpx.ReadError,
        aio.ClientProxyConnectionError: httpx.ProxyError,
        aio.ClientHttpProxyError: httpx.ProxyError,
        aio.NonHttpUrlClientError: httpx.UnsupportedProtocol,
        aio.InvalidUrlClientError: httpx.UnsupportedProtocol,
    }


@contextlib.contextmanager
def httpx_errors() -> Iterator[None]:
    """Raise aiohttp's errors as the httpx error that says the same, caused by them."""
    try:
        yield
    except Exception as exc:
        mapped = None
        for kind, to in errors().items():
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
            aio = _aiohttp()
            self._session = aio.ClientSession(
                connector=aio.TCPConnector(limit=self.max_connections),
                cookie_jar=aio.DummyCookieJar(),
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
                timeout=_aiohttp().ClientTimeout(
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
