"""The sandbox's ASGI app: the parts of Twilio's REST API (2010-04-01) the cards use.

This module holds the app factory, authentication and the guards every route goes
through; the routes are in one module per resource: ``api_accounts`` (accounts and API
keys), ``api_phone_numbers``, ``api_messages``, ``api_media``, ``api_calls``, and the sandbox's own routes
``api_drills`` (fault drills), ``api_inbound`` (a phone texting one of the numbers) and
``api_inbound_call`` (a phone calling one).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from flo_twilio.sandbox import (
    api_accounts,
    api_calls,
    api_drills,
    api_inbound,
    api_inbound_call,
    api_lookups,
    api_media,
    api_messages,
    api_phone_numbers,
    api_verify,
)
from flo_twilio.sandbox.callbacks import Callbacks
from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.limits import MAX_BODY, BodyLimit
from flo_twilio.sandbox.state import Account, SandboxState
from flo_twilio.sandbox.wire import error, not_found

Handler = Callable[["Sandbox", Request, Account], Awaitable[Response]]
FAULT_ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
ROUTE_MODULES = (
    api_accounts,
    api_phone_numbers,
    api_messages,
    api_media,
    api_calls,
    api_drills,
    api_inbound,
    api_inbound_call,
    api_lookups,
    api_verify,
)


class Sandbox:
    """Authentication, and the guards every route passes (the concurrency cap, injected
    faults), around a ``SandboxState`` and its fault drills."""

    def __init__(self, state: SandboxState, faults: Faults, callbacks: Callbacks) -> None:
        self.state, self.faults, self.callbacks = state, faults, callbacks
        self.in_flight = 0
        self.peak_in_flight = 0  # the most requests at once since start (GET /_sandbox/stats)

    def authenticate(self, request: Request, account_sid: str | None) -> Account | Response:
        """The account the request's Basic auth proves, or Twilio's 401. Whether it was an
        API key is kept in ``request.state.by_api_key``."""
        header = request.headers.get("authorization", "")
        try:
            scheme, _, encoded = header.partition(" ")
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            scheme = ""
        if scheme.lower() != "basic":
            return error(401, 20003, "Authentication Error - No credentials provided")
        key = self.state.keys.get(username)
        request.state.by_api_key = bool(key and key.secret == password)
        if key and request.state.by_api_key:
            owner = key.account_sid
        else:
            account = self.state.accounts.get(username)
            owner = username if account and account.auth_token == password else ""
        if not owner:
            return error(401, 20003, "Authenticate")
        if account_sid is not None and account_sid != owner:
            return error(401, 20003, "Authenticate")
        return self.state.accounts[owner]

    def guarded(
        self, handler: Handler, *, drills: bool = True, auth_token_only: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """Auth and (with ``drills``) the concurrency cap and injected faults, then the handler.

        With ``auth_token_only``, API keys are refused: like Twilio's standard keys, they
        cannot mint keys (nor, here, change the fault drills).
        """

        async def endpoint(request: Request) -> Response:
            self.in_flight += 1
            if drills:
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                cap = self.faults.max_concurrency
                if drills and cap is not None and self.in_flight > cap:
                    return error(429, 20429, "Too Many Requests")
                if drills and self.faults.latency:
                    await asyncio.sleep(self.faults.latency)
                account = self.authenticate(request, request.path_params.get("account_sid"))
                if isinstance(account, Response):
                    return account
                if auth_token_only and request.state.by_api_key:
                    return error(
                        401,
                        20003,
                        "Authenticate: this needs the account's Auth Token, not an API key",
                    )
                injected = self.faults.injected_status() if drills else None
                if injected:
                    return error(injected, *FAULT_ERRORS[injected])
                return await handler(self, request, account)
            finally:
                self.in_flight -= 1

        return endpoint


def create_app(
    state: SandboxState | None = None,
    faults: Faults | None = None,
    callback_transport: Any = None,
    max_body: int = MAX_BODY,
) -> Starlette:
    """The sandbox as an ASGI app; ``app.state.sandbox`` holds its state and faults.
    Request bodies over ``max_body`` bytes are refused with 413."""
    state = state or SandboxState()
    sandbox = Sandbox(state, faults or Faults(), Callbacks(state, callback_transport))
    app = Starlette(
        routes=[route for module in ROUTE_MODULES for route in module.routes(sandbox)],
        middleware=[Middleware(BodyLimit, max_body=max_body)],
        exception_handlers={
            HTTPException: http_error,  # type: ignore[dict-item]
            Exception: internal_error,
        },
    )
    app.state.sandbox = sandbox
    return app


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        return error(405, 20004, "Method not allowed")
    return not_found(request)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug in the sandbox still answers in Twilio's JSON error form."""
    return error(500, 20500, f"Internal Server Error ({type(exc).__name__})")
