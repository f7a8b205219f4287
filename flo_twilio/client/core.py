"""TwilioClient: one pooled, authenticated, rate-capped HTTP client per account."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import platform
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from flo_twilio.client.clock import ClockOffset
from flo_twilio.client.encoding import encode_form, form_pairs
from flo_twilio.client.errors import (
    TwilioApiError,
    TwilioError,
    TwilioTransportError,
    TwilioUnreachableError,
)
from flo_twilio.client.neterrors import refused_on_this_machine, unreachable
from flo_twilio.client.pacing import GateFor, SenderPacing
from flo_twilio.client.retry import READ_ONLY, RetryPolicy, asks_to_slow_down, never_sent
from flo_twilio.client.segments import count_segments
from flo_twilio.client.urls import API_VERSION_PATH, base_url
from flo_twilio.connection import Gate
from flo_twilio.errors import InvalidInputError, NotSentError, OutcomeUnknownError, Problem
from flo_twilio.redaction import register_secret

log = logging.getLogger("flo_twilio.client")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=None)
# No try of a call starts, and none is waited for, later than this after the call began: a
# request flo gave up on has reached Twilio by then or never will.
DEFAULT_DEADLINE = 30.0
DEFAULT_MAX_IN_FLIGHT = 25
DEFAULT_RETRY = RetryPolicy()
# Paging stops with an error past this many pages (at Twilio's largest page size, a
# million records): a server that never says "last page" cannot keep flo busy forever.
MAX_PAGES = 1000
URLS_KEPT = 64


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
    from flo_twilio.client.transport import AiohttpTransport

    return AiohttpTransport()


def basic_auth(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")


class TwilioClient:
    """Async client for one Twilio account.

    Requests are capped at ``max_in_flight`` at once. Messages are paced by segments, per
    sender: ``max_per_second`` segments a second for each sender, or its own rate in
    ``sender_rates`` (the wait for a turn is not part of the deadline; ``gate_for`` gives a
    sender's gate when the account's limits are shared with other processes). With a
    ``gate``, the account's in-flight cap shared with other processes, each request also
    holds one of its slots while on the wire; 429s are retried with backoff,
    requests that never left are retried, reads (GET, HEAD) are retried on 5xx and lost
    answers, and any other request (POST, DELETE...) whose outcome is unknown raises
    ``OutcomeUnknownError`` instead of being resent.
    Every call, retries included, ends within ``deadline`` seconds. ``clock`` holds the
    offset of the API's clock, measured from the ``Date`` header of every answer.

    Requests go straight to the transport, as httpx requests: a bulk send needs none of an
    httpx client's cookies, redirects or per-request auth flow.
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
        max_per_second: float | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        deadline: float = DEFAULT_DEADLINE,
        gate: Gate | None = None,
        sender_rates: Mapping[str, float] | None = None,
        gate_for: GateFor | None = None,
    ) -> None:
        self.credentials = credentials
        self.account_sid = credentials.account_sid
        self.region, self.edge, self.api_base_url = region, edge, api_base_url
        self.base_url = base_url("api", region=region, edge=edge, api_base_url=api_base_url)
        self.retry, self.deadline = retry, deadline
        self.clock = ClockOffset()
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.pacing = SenderPacing(max_per_second, sender_rates, gate_for)
        self._notes: Counter[str] = Counter()
        self._gate = gate
        register_secret(credentials.secret, username=credentials.username)
        self.timeout = timeout
        self._transport = transport or network_transport()
        self._headers = httpx.Headers(
            {
                "User-Agent": user_agent(),
                "Accept": "application/json",
                "Accept-Charset": "utf-8",
                "Connection": "keep-alive",
            }
        )
        self._authorization = basic_auth(credentials.username, credentials.secret)
        # What a request without headers of its own sends, made once (httpx copies them).
        self._plain_headers = self._compose_headers({}, form=False)
        self._form_headers = self._compose_headers({}, form=True)
        self._extensions = {"timeout": timeout.as_dict()}
        self._urls: dict[str, httpx.URL] = {}  # parsed once: a bulk send posts to one URL

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
        try:
            await self._transport.aclose()
        finally:
            await self.pacing.aclose()
            if self._gate:
                await self._gate.aclose()

    def usage(self) -> dict[str, float]:
        """What this client's sends used: message ``segments``, and ``pacing_seconds``, the
        time pacing by segments per sender needed (the longest sender's)."""
        return {"segments": self.pacing.segments, "pacing_seconds": self.pacing.seconds}

    def note(self, line: str) -> None:
        """Something a run's summary should say (counted: the same line once per time)."""
        self._notes[line] += 1

    def notes(self) -> Counter[str]:
        """What was noted so far, each line with how often."""
        return self._notes.copy()

    @property
    def account_path(self) -> str:
        return f"{API_VERSION_PATH}/Accounts/{self.account_sid}"

    def product_url(self, product: str) -> str:
        """Base URL of another Twilio product (messaging, lookups...) for this account: its
        own host at Twilio, or ``/<product>`` under the account's API base URL."""
        if product == "api":
            return self.base_url
        return base_url(product, region=self.region, edge=self.edge, api_base_url=self.api_base_url)

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

        With ``raise_for_status`` an error status or a redirect raises ``TwilioApiError``;
        without it every answer is returned, and only a lost answer to a POST raises.
        Headers that HTTP cannot carry are refused before anything is sent.
        """
        method = method.upper()
        if form is not None:
            content = encode_form(form)
        if headers:
            check_headers(headers)
            send_headers = self._compose_headers(headers, form=form is not None)
        else:
            send_headers = self._form_headers if form is not None else self._plain_headers
        request = httpx.Request(
            method,
            self._url((base or self.base_url) + path),
            params=params,
            content=content,
            headers=send_headers,
            extensions=self._extensions,
        )
        call = _Call(method, path, time.monotonic() + self.deadline)
        try:
            async with asyncio.timeout(self.deadline):
                response = await self._send(call, request)
        except TimeoutError:
            reason = f"no answer within {self.deadline:g}s"
            if call.on_wire and method not in READ_ONLY:
                raise OutcomeUnknownError(method, path, reason) from None
            raise TwilioTransportError(f"{method} {path}: {reason}") from None
        status = response.status_code
        if raise_for_status and 300 <= status < 400:
            raise redirect_error(response, method, path)
        if status >= 500 and method not in READ_ONLY and raise_for_status:
            raise OutcomeUnknownError(method, path, f"HTTP {status}")
        if status >= 400 and raise_for_status:
            raise api_error(response, method, path)
        return response

    def _compose_headers(self, extra: Mapping[str, str], *, form: bool) -> httpx.Headers:
        """The client's headers, then ``extra``, the form's content type unless ``extra``
        gives one, and the account's authorization (always its own)."""
        headers = self._headers.copy()
        headers.update(extra)
        if form and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Authorization"] = self._authorization
        return headers

    def _url(self, text: str) -> httpx.URL:
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= URLS_KEPT:
                self._urls.clear()
            url = self._urls[text] = httpx.URL(text)
        return url

    async def _send(self, call: _Call, request: httpx.Request) -> httpx.Response:
        """Try ``request`` until it is answered, retrying what may be retried in time."""
        method, path = call.method, call.path
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(call, request)
            except httpx.TransportError as exc:
                if never_sent(exc) and refused_on_this_machine(exc, str(request.url)):
                    raise TwilioUnreachableError(
                        f"{method} {path}: {unreachable(exc, str(request.url))}"
                    ) from None
                retryable = never_sent(exc) or method in READ_ONLY
                if (
                    retryable
                    and attempt < self.retry.max_attempts
                    and call.has_time(delay := self.retry.delay(attempt))
                ):
                    call.on_wire = False
                    await asyncio.sleep(delay)
                    continue
                if not retryable:
                    raise OutcomeUnknownError(method, path, type(exc).__name__) from None
                raise TwilioTransportError(
                    f"{method} {path}: no answer after {attempt} tries; {unreachable(exc, str(request.url))}"
                ) from None
            except NotSentError:  # the gate's: the request waited for its slot, never left
                raise
            except Exception as exc:  # a transport's own failure: did it leave? nobody knows
                if method not in READ_ONLY:
                    raise OutcomeUnknownError(method, path, type(exc).__name__) from None
                raise TwilioTransportError(f"{method} {path}: {type(exc).__name__}") from None
            status = response.status_code
            retryable = asks_to_slow_down(response) or (status >= 500 and method in READ_ONLY)
            if (
                retryable
                and attempt < self.retry.max_attempts
                and call.has_time(
                    delay := self.retry.delay(attempt, response.headers.get("Retry-After"))
                )
            ):
                log.debug("%s %s: HTTP %s, retry %s", method, path, status, attempt)
                await asyncio.sleep(delay)
                continue
            return response

    async def _attempt(self, call: _Call, request: httpx.Request) -> httpx.Response:
        async with self._in_flight, self._slot():
            call.on_wire = True
            sent = time.time()
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            response.request = request
            call.on_wire = False
        self.clock.observe(response.headers.get("date"), sent, time.time())
        return response

    def _slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """One of the gate's slots, or (without a gate) nothing more than the local cap."""
        return self._gate.slot() if self._gate else contextlib.nullcontext()

    async def request_json(
        self, method: str, path: str, expect: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """``request`` and decode the JSON object it answers, which must have the key
        ``expect``. Any other answer to a POST leaves its outcome unknown."""
        response = await self.request(method, path, **kwargs)
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and (expect is None or expect in body):
            return body
        kind = response.headers.get("content-type") or "no content type"
        what = f"HTTP {response.status_code} without {expect or 'a JSON object'} ({kind})"
        if method.upper() not in READ_ONLY:
            raise OutcomeUnknownError(method.upper(), path, what)
        raise TwilioApiError(response.status_code, None, f"the answer has no resource: {what}")

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
            page = await self.request_json("GET", next_path, expect=key, params=query)
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
        """Send a message when its sender's pace allows: a media message counts one
        segment, a text its body's segments."""
        sender = str(params.get("From") or params.get("MessagingServiceSid") or "")
        media = bool(params.get("MediaUrl"))
        segments = 1 if media else count_segments(str(params.get("Body") or "")).count
        await self.pacing.wait(sender, segments)
        return await self.request_json(
            "POST", f"{self.account_path}/Messages.json", expect="sid", form=params
        )

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
        account = await self.request_json("GET", f"{self.account_path}.json", expect="sid")
        account.pop("auth_token", None)
        return account

    async def create_api_key(self, friendly_name: str) -> dict[str, Any]:
        """A new API key; its ``secret`` is returned this once."""
        return await self.request_json(
            "POST",
            f"{self.account_path}/Keys.json",
            expect="sid",
            form={"FriendlyName": friendly_name},
        )


class _Call:
    """One call in progress: when it must end, and whether a try of it is on the wire."""

    def __init__(self, method: str, path: str, ends: float) -> None:
        self.method, self.path, self.ends = method, path, ends
        self.on_wire = False

    def has_time(self, delay: float) -> bool:
        return time.monotonic() + delay < self.ends


_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FIELD_VALUE = re.compile(r"^[\t\x20-\x7e]*$")


def check_headers(headers: Mapping[str, Any]) -> None:
    """Refuse headers HTTP cannot carry (names not tokens; values not one line of ASCII)."""
    problems = [
        Problem(
            f"request header {name!r} cannot be sent: "
            + (
                "its name is not a header name"
                if not _TOKEN.match(str(name))
                else "its value must be one line of ASCII text"
            ),
            hint="names are letters, digits and -; put other text in the body",
        )
        for name, value in headers.items()
        if not _TOKEN.match(str(name))
        or not isinstance(value, str)
        or not _FIELD_VALUE.match(value)
    ]
    if problems:
        raise InvalidInputError(problems)


def redirect_error(response: httpx.Response, method: str, path: str) -> TwilioApiError:
    """Twilio's API never redirects: a 3xx comes from something else, and is not followed."""
    where = response.headers.get("location") or "elsewhere"
    return TwilioApiError(
        status=response.status_code,
        code=None,
        message=f"answered with a redirect to {where}, which is not followed "
        "(is the account's API base URL right?)",
        method=method,
        path=path,
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
