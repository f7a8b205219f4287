"""TwilioClient: one pooled, authenticated, rate-capped HTTP client per account."""

from __future__ import annotations

import asyncio
import json
import logging
import platform
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from flo_twilio.client.encoding import encode_form, form_pairs
from flo_twilio.client.errors import TwilioApiError, TwilioError, TwilioTransportError
from flo_twilio.client.neterrors import unreachable
from flo_twilio.client.retry import IDEMPOTENT, TOO_MANY_REQUESTS, RetryPolicy, never_sent
from flo_twilio.client.urls import API_VERSION_PATH, base_url
from flo_twilio.errors import OutcomeUnknownError
from flo_twilio.redaction import register_secret

log = logging.getLogger("flo_twilio.client")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=None)
DEFAULT_MAX_IN_FLIGHT = 25
DEFAULT_RETRY = RetryPolicy()
# Paging stops with an error past this many pages (at Twilio's largest page size, a
# million records): a server that never says "last page" cannot keep flo busy forever.
MAX_PAGES = 1000


@dataclass(frozen=True, repr=False)
class Credentials:
    """Who the requests are made as. The secret never appears in a repr."""

    account_sid: str
    username: str  # the account SID, or an API key SID (SK...)
    secret: str

    def __repr__(self) -> str:
        return f"Credentials(account_sid={self.account_sid!r}, username={self.username!r}, secret='***')"

    @classmethod
    def of(
        cls,
        account_sid: str,
        auth_token: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
    ) -> Credentials:
        if api_key:
            return cls(account_sid, api_key, api_secret or "")
        return cls(account_sid, account_sid, auth_token or "")


def user_agent() -> str:
    from flo_twilio import __version__

    return (
        f"flo-twilio/{__version__} ({platform.system()} {platform.machine()}) "
        f"Python/{platform.python_version()}"
    )


def network_transport() -> httpx.AsyncBaseTransport:
    """The transport for real sockets: aiohttp-backed, chosen by bench/bench_transport.py."""
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(trust_env=False)


class TwilioClient:
    """Async client for one Twilio account.

    Requests are capped at ``max_in_flight`` at once; 429s are retried with backoff,
    requests that never left are retried, GET/DELETE are retried on 5xx, and a POST
    whose outcome is unknown raises ``OutcomeUnknownError`` instead of being resent.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        region: str | None = None,
        edge: str | None = None,
        api_base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.credentials = credentials
        self.account_sid = credentials.account_sid
        self.region, self.edge, self.api_base_url = region, edge, api_base_url
        self.base_url = base_url("api", region=region, edge=edge, api_base_url=api_base_url)
        self.retry = retry
        self._in_flight = asyncio.Semaphore(max_in_flight)
        register_secret(credentials.secret, username=credentials.username)
        self._http = httpx.AsyncClient(
            auth=httpx.BasicAuth(credentials.username, credentials.secret),
            transport=transport or network_transport(),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={
                "User-Agent": user_agent(),
                "Accept": "application/json",
                "Accept-Charset": "utf-8",
            },
        )

    def __repr__(self) -> str:
        return f"TwilioClient(account_sid={self.account_sid!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> TwilioClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def account_path(self) -> str:
        return f"{API_VERSION_PATH}/Accounts/{self.account_sid}"

    def product_url(self, product: str) -> str:
        """Base URL of another Twilio product (messaging, lookups...) for this account."""
        if product == "api" or self.api_base_url:
            return self.base_url
        return base_url(product, region=self.region, edge=self.edge)

    def preview(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, Any] | None = None,
        base: str | None = None,
    ) -> dict[str, Any]:
        """The request ``request`` would send, with the credentials masked."""
        return {
            "method": method,
            "url": (base or self.base_url) + path,
            "auth": f"{self.credentials.username}:***",
            "form": form_pairs(form or {}),
        }

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        form: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        base: str | None = None,
        raise_for_status: bool = True,
    ) -> httpx.Response:
        """Send one request to ``base`` (default: the account's API host) + ``path``.

        With ``raise_for_status`` an error status raises ``TwilioApiError``; without it
        every answer is returned, and only a lost answer to a POST raises.
        """
        method = method.upper()
        url = (base or self.base_url) + path
        send_headers = dict(headers or {})
        if form is not None:
            content = encode_form(form)
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._in_flight:
                    response = await self._http.request(
                        method, url, params=params, content=content, headers=send_headers
                    )
                    await response.aread()
            except httpx.TransportError as exc:
                retryable = never_sent(exc) or method in IDEMPOTENT
                if retryable and attempt < self.retry.max_attempts:
                    await asyncio.sleep(self.retry.delay(attempt))
                    continue
                if not retryable:
                    raise OutcomeUnknownError(method, path, type(exc).__name__) from None
                raise TwilioTransportError(
                    f"{method} {path}: no answer after {attempt} tries; {unreachable(exc, url)}"
                ) from None
            status = response.status_code
            retryable = status == TOO_MANY_REQUESTS or (status >= 500 and method in IDEMPOTENT)
            if retryable and attempt < self.retry.max_attempts:
                log.debug("%s %s: HTTP %s, retry %s", method, path, status, attempt)
                await asyncio.sleep(self.retry.delay(attempt, response.headers.get("Retry-After")))
                continue
            if status >= 500 and method not in IDEMPOTENT and raise_for_status:
                raise OutcomeUnknownError(method, path, f"HTTP {status}")
            if status >= 400 and raise_for_status:
                raise api_error(response, method, path)
            return response

    async def request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """``request`` and decode the JSON body."""
        response = await self.request(method, path, **kwargs)
        return json.loads(response.content) if response.content else {}

    async def paginate(
        self,
        path: str,
        key: str,
        params: Mapping[str, Any] | None = None,
        page_size: int = 50,
        max_pages: int = MAX_PAGES,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every record of a list resource, following ``next_page_uri`` to the end.

        Paging stops with an error on a next page that is not a path on this host, on a
        page seen before, and after ``max_pages`` pages.
        """
        query: Any = {**(params or {}), "PageSize": page_size}
        next_path: str | None = path
        seen: set[str] = set()
        while next_path:
            if len(seen) == max_pages:
                raise TwilioError(f"GET {path}: stopped after {max_pages} pages (the limit)")
            seen.add(next_path)
            page = await self.request_json("GET", next_path, params=query)
            for record in page.get(key) or []:
                yield record
            next_path, query = page.get("next_page_uri"), None
            if next_path and not self._same_host_path(next_path):
                raise TwilioError(
                    f"GET {path}: refusing a next_page_uri off this API host: {next_path!r}"
                )
            if next_path in seen:
                raise TwilioError(
                    f"GET {path}: the next page repeats a page already read: {next_path!r}"
                )

    def _same_host_path(self, next_path: Any) -> bool:
        """Whether ``next_path`` is a plain path that stays on the account's API host."""
        if not isinstance(next_path, str) or not next_path.startswith("/"):
            return False
        if next_path.startswith("//") or any(c == "\\" or c.isspace() for c in next_path):
            return False
        try:
            base, target = httpx.URL(self.base_url), httpx.URL(self.base_url + next_path)
        except httpx.InvalidURL:
            return False
        return (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)

    # The resources the cards and accounts use.

    async def create_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request_json("POST", f"{self.account_path}/Messages.json", form=params)

    def messages(
        self, filters: Mapping[str, Any] | None = None, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        return self.paginate(f"{self.account_path}/Messages.json", "messages", filters, page_size)

    def phone_numbers(self, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        return self.paginate(
            f"{self.account_path}/IncomingPhoneNumbers.json",
            "incoming_phone_numbers",
            None,
            page_size,
        )

    async def fetch_account(self) -> dict[str, Any]:
        """The account's record, without its ``auth_token``."""
        account = await self.request_json("GET", f"{self.account_path}.json")
        account.pop("auth_token", None)
        return account

    async def create_api_key(self, friendly_name: str) -> dict[str, Any]:
        """A new API key; its ``secret`` is returned this once."""
        return await self.request_json(
            "POST", f"{self.account_path}/Keys.json", form={"FriendlyName": friendly_name}
        )


def api_error(response: httpx.Response, method: str, path: str) -> TwilioApiError:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return TwilioApiError(
        status=response.status_code,
        code=body.get("code"),
        message=str(body.get("message") or response.reason_phrase or "error"),
        more_info=body.get("more_info"),
        method=method,
        path=path,
    )
