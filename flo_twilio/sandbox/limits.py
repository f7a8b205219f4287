"""What the sandbox will not hold or wait for: request bodies over a size limit (413), and
clients that take too long to send a request or stay idle (the connection is closed)."""

from __future__ import annotations

import asyncio
import json

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_BODY = 1024 * 1024  # bytes; a message with 10 media URLs and 1,600 characters is ~25 KB
CLIENT_TIMEOUT = 10.0  # seconds to send a whole request, or to start the next one


class BodyLimit:
    """ASGI middleware: a request body over ``max_body`` bytes gets Twilio's 413 / 20413,
    unread and unprocessed. Bodies are read whole before the app sees them."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_body:
            await too_large(send, self.max_body)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await too_large(send, self.max_body)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "code": 20413,
            "message": f"Request Entity Too Large: the sandbox takes bodies up to {limit} bytes",
            "more_info": "https://www.twilio.com/docs/errors/20413",
            "status": 413,
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose client, for
    ``client_timeout`` seconds, sends nothing or has not finished sending a request
    (uvicorn alone waits for ever for a first request, and for a slow request's headers
    and body). A half-sent request gets 408 before the connection closes."""

    client_timeout = CLIENT_TIMEOUT
    _armed = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        self._armed += 1
        self.loop.call_later(self.client_timeout, self._expire, self._armed)

    def _expire(self, armed: int) -> None:
        if armed != self._armed or self.transport.is_closing():
            return  # re-armed since, or already closed
        if self.conn.their_state is h11.DONE:
            return  # the request is all here: the app is answering it
        partial = self.conn.their_state is h11.SEND_BODY or self.conn.trailing_data[0]
        if partial and (self.cycle is None or not self.cycle.response_started):
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
        self.transport.close()


def timed_protocol(client_timeout: float) -> type[TimedH11Protocol]:
    """A ``TimedH11Protocol`` class with this timeout, for ``uvicorn.Config(http=...)``."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"client_timeout": client_timeout})
