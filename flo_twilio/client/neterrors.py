"""Why a request never got an answer, in words a person can act on."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

import httpx

SANDBOX_HINT = (
    "Without a network, use the sandbox: run flo sandbox, and point an account at it with "
    "flo accounts add NAME --api-base-url http://127.0.0.1:4010 (with no account at all, "
    "flows run on a built-in sandbox)"
)


def unreachable(exc: BaseException, url: str) -> str:
    """``could not reach HOST: CAUSE`` for a transport error, looking through the chain of
    causes (the aiohttp transport reports every connection failure as ConnectTimeout)."""
    host = urlsplit(url).netloc
    text = f"could not reach {host}: {cause(exc)}"
    if (urlsplit(url).hostname or "").endswith("twilio.com"):
        text += f". {SANDBOX_HINT}"
    elif refused_on_this_machine(exc, url):
        port = urlsplit(url).port or 80
        text += f" (if it is a flo sandbox, start it again: flo sandbox --port {port})"
    return text


def cause(exc: BaseException) -> str:
    """refused, DNS, TLS or timeout, else the innermost error's name and message."""
    chain = causes(exc)
    for error in chain:
        if isinstance(error, socket.gaierror):
            return "the name does not resolve (DNS); check the host name and the network"
        if isinstance(error, ssl.SSLError):
            reason = getattr(error, "reason", None) or error
            return f"TLS failed ({reason}); is it an http server, or a proxy?"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused: nothing listens on that port"
        if isinstance(error, ConnectionResetError):
            return "the connection was reset"
        if isinstance(error, TimeoutError | httpx.TimeoutException) and error is chain[-1]:
            return "timed out"
    innermost = chain[-1]
    return (
        f"{type(innermost).__name__}: {innermost}" if str(innermost) else type(innermost).__name__
    )


def refused_on_this_machine(exc: BaseException, url: str) -> bool:
    """A connection refused by a loopback address: nothing listens there (a stopped
    sandbox), and no try a few seconds later will find otherwise."""
    host = (urlsplit(url).hostname or "").lower()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return loopback and any(isinstance(e, ConnectionRefusedError) for e in causes(exc))


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions that caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
