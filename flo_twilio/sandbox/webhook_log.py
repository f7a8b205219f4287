"""The webhook log: every request the sandbox made to a SmsUrl or StatusCallback, with its
signature header and what it was answered (the inbox page shows it, as Twilio's console
shows its request inspector).

Recorded by the transport under the sandbox's webhook client, so every delivery, whichever
route made it, is seen once, as it went on the wire."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx

MAX_RECORDS = 500  # the newest ones are kept
MAX_SHOWN_BODY = 4096  # characters of an answer kept for the page


@dataclass
class WebhookRecord:
    """One request the sandbox made, and its answer (``status`` None: no answer, see
    ``failure``)."""

    number: int
    at: float
    method: str
    url: str
    signature: str
    params: list[tuple[str, str]]
    status: int | None = None
    failure: str = ""
    answer: str = ""
    seconds: float = 0.0
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        names = {name for name, _ in self.params}
        self.kind = "StatusCallback" if "MessageStatus" in names else "SmsUrl"


class WebhookLog:
    """The newest ``MAX_RECORDS`` webhook requests, oldest first; ``clock`` stamps them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.records: deque[WebhookRecord] = deque(maxlen=MAX_RECORDS)
        self.count = 0

    def __iter__(self) -> Iterator[WebhookRecord]:
        return iter(self.records)

    def clear(self) -> None:
        self.records.clear()

    def wrap(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncBaseTransport:
        """``transport`` (httpx's own when None), each request through it recorded here."""
        return RecordingTransport(transport or httpx.AsyncHTTPTransport(), self)

    def start(self, request: httpx.Request, body: bytes) -> WebhookRecord:
        self.count += 1
        query = parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True)
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        record = WebhookRecord(
            number=self.count,
            at=self.clock(),
            method=request.method,
            url=str(request.url),
            signature=request.headers.get("x-twilio-signature", ""),
            params=form if request.method == "POST" else query,
        )
        self.records.append(record)
        return record


class RecordingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that records each request and its answer in a ``WebhookLog``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, log: WebhookLog) -> None:
        self.inner, self.log = inner, log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        record = self.log.start(request, body)
        started = time.monotonic()
        try:
            response = await self.inner.handle_async_request(request)
            content = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            await response.aclose()
        except httpx.HTTPError as exc:
            record.failure = type(exc).__name__
            raise
        finally:
            record.seconds = time.monotonic() - started
        record.status = response.status_code
        record.answer = content.decode("utf-8", "replace")[:MAX_SHOWN_BODY]
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()
