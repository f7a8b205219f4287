"""What a server will not hold or wait for: request bodies over a size limit (413), clients
that take too long to send a request or stay idle (the connection is closed), more
connections than it can keep open. The sandbox uses it, and so does ``flo serve`` (through
the CLI, as the sandbox stands alone)."""

from __future__ import annotations

import asyncio
import errno
import json
import resource
import sys
import time
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_BODY = 1024 * 1024  # bytes; a message with 10 media URLs and 1,600 characters is ~25 KB
CLIENT_TIMEOUT = 10.0  # seconds to send a whole request, or to start the next one
SHUTDOWN_GRACE = 5  # seconds a stopping server waits for the requests it is answering
MAX_CONNECTIONS = 1000  # open at once, at most (fewer under a low open-file limit)


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


class Refusals:
    """One short line on stderr for each kind of refusal, then at most one every
    ``every`` seconds with how many were left untold (no traceback, no flood)."""

    def __init__(self, name: str, every: float = 10.0) -> None:
        self.name, self.every = name, every
        self.last: dict[str, float] = {}
        self.untold: dict[str, int] = {}

    def tell(self, kind: str, line: str) -> None:
        now = time.monotonic()
        if now - self.last.get(kind, -self.every) < self.every:
            self.untold[kind] = self.untold.get(kind, 0) + 1
            return
        more = self.untold.pop(kind, 0)
        self.last[kind] = now
        also = f" (and {more} more like it in the last {self.every:g}s)" if more else ""
        print(f"{self.name}: {line}{also}", file=sys.stderr, flush=True)

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An event loop's exception handler: running out of open files while accepting
        is one line (the loop tries again by itself), anything else as the loop says."""
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
            self.tell("files", f"out of open files, not accepting for a moment: {error.strerror}")
            return
        loop.default_exception_handler(context)


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose client, for
    ``client_timeout`` seconds, sends nothing or has not finished sending a request
    (uvicorn alone waits for ever for a first request, and for a slow request's headers
    and body). A half-sent request gets 408 before the connection closes.

    At most ``max_connections`` are open: past it, the connection that has waited longest
    for its client is dropped to make room (a complete request being answered is never
    dropped), so slow clients cannot crowd out one that sends its request at once."""

    client_timeout = CLIENT_TIMEOUT
    max_connections = 0  # no cap
    refusals = Refusals("server")
    _armed = 0
    _since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        if self.max_connections:
            self._make_room()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def _arm(self) -> None:
        self._armed += 1
        self._since = self.loop.time()
        self.loop.call_later(self.client_timeout, self._expire, self._armed)

    def _expire(self, armed: int) -> None:
        if armed == self._armed and self._waiting():
            self.refusals.tell("slow", f"dropped clients slower than {self.client_timeout:g}s")
            self._drop()

    def _waiting(self) -> bool:
        """Open, and waiting for its client (not answering a request that is all here)."""
        return not self.transport.is_closing() and self.conn.their_state is not h11.DONE

    def _drop(self) -> None:
        partial = self.conn.their_state is h11.SEND_BODY or self.conn.trailing_data[0]
        if partial and (self.cycle is None or not self.cycle.response_started):
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
        self.transport.close()

    def _make_room(self) -> None:
        opened = [c for c in self.connections if not c.transport.is_closing()]
        if len(opened) <= self.max_connections:
            return
        waiting = [c for c in opened if isinstance(c, TimedH11Protocol) and c._waiting()]
        oldest = min(waiting, key=lambda c: c._since, default=self)
        self.refusals.tell(
            "full",
            f"{self.max_connections} connections open (the most allowed): "
            "dropped the one that waited longest for its client",
        )
        oldest._drop()


def guarded_protocol(
    client_timeout: float, max_connections: int, refusals: Refusals
) -> type[TimedH11Protocol]:
    """A ``TimedH11Protocol`` class with these limits, for ``uvicorn.Config(http=...)``."""
    limits = {
        "client_timeout": client_timeout,
        "max_connections": max_connections,
        "refusals": refusals,
    }
    return type("TimedH11Protocol", (TimedH11Protocol,), limits)


def connections_allowed() -> int:
    """A cap on open connections that leaves room under this process's open-file limit
    for its own files and its calls out (a quarter of it, at least 64)."""
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if files == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, files - max(64, files // 4)))
