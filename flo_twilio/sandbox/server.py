"""Serve the sandbox over loopback with uvicorn (``flo sandbox``)."""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import sys

import uvicorn

from flo_twilio.errors import InvalidInputError, Problem
from flo_twilio.sandbox.app import create_app
from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.limits import (
    CLIENT_TIMEOUT,
    SHUTDOWN_GRACE,
    Refusals,
    connections_allowed,
    guarded_protocol,
)
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN, SandboxState


def serve(
    state: SandboxState,
    faults: Faults,
    host: str = "127.0.0.1",
    port: int = 4010,
    client_timeout: float | None = None,
) -> None:
    """Run until Ctrl-C; say how to connect once the port is bound and listening.

    A port that is taken is an InvalidInputError (one line, with a --port hint). Clients
    idle or slow to send a request for ``client_timeout`` seconds (default
    ``CLIENT_TIMEOUT``) are disconnected, and no more connections are kept open than the
    open-file limit leaves room for."""
    sock = bind(host, port)
    port = sock.getsockname()[1]
    refusals = Refusals("flo sandbox")
    app = create_app(state, faults)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        http=guarded_protocol(client_timeout or CLIENT_TIMEOUT, connections_allowed(), refusals),
        timeout_graceful_shutdown=SHUTDOWN_GRACE,  # a drill's latency does not hold a stop
        lifespan="off",  # none used; a second Ctrl-C cancelled it with a traceback
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            asyncio.get_running_loop().set_exception_handler(refusals.loop_error)
            await super().startup(sockets)
            if not self.should_exit:
                print(banner(state, host, port), file=sys.stderr, flush=True)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            app.state.closing = True  # the inbox page's live streams end, not wait out the grace
            await super().shutdown(sockets)

    # uvicorn puts back the Ctrl-C handling it found, then raises the Ctrl-C it handled
    # again: ignored, that one and any later one do nothing while the sandbox ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Server(config).run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host`` (IPv6 with or without brackets) and ``port`` (0: any
    free one); a port out of range or taken is an InvalidInputError."""
    if not 0 <= port <= 65535:
        raise InvalidInputError(
            [Problem(f"--port {port} is not a port", hint="give one from 1 to 65535, or 0 for any")]
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP, and without it every answer on a kept-alive connection waited ~40 ms
    # for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        taken = exc.errno == errno.EADDRINUSE
        raise InvalidInputError(
            [
                Problem(
                    f"cannot listen on {host}:{port}: {exc.strerror}",
                    hint=f"another program uses port {port}; pick another with --port {port + 1}"
                    if taken
                    else "check --host and --port",
                )
            ]
        ) from None
    return sock


def http_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets."""
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def shown_token(token: str) -> str:
    """The token for the banner: the public default as it is, any other one never."""
    return token if token == DEFAULT_AUTH_TOKEN else "(the one you gave)"


def banner(state: SandboxState, host: str, port: int) -> str:
    """How to connect to each of the sandbox's accounts."""
    lines = []
    for sid, account in state.accounts.items():
        numbers = ", ".join(n.phone_number for n in state.numbers[sid])
        lines.append(
            f"flo sandbox: a Twilio-compatible API on {http_url(host, port)}\n"
            f"  account sid:  {sid}\n"
            f"  auth token:   {shown_token(account.auth_token)}\n"
            f"  inbox:        {http_url(host, port)}/ (in a browser: messages, calls, webhooks)\n"
            f"  numbers:      {numbers}\n"
            f"  connect it:   flo accounts add sandbox --account-sid {sid} --auth-token - "
            f"--api-base-url {http_url(host, port)}"
        )
    return "\n".join(lines)
