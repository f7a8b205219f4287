"""The sandbox's guards around its state: authentication, the concurrency cap and injected
faults every route passes. The ``api_*`` route modules and the app both import it."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from flo_twilio.sandbox.callbacks import Callbacks
from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.message_rules import Pace
from flo_twilio.sandbox.sender_queue import SenderQueues
from flo_twilio.sandbox.state import SandboxAccount, SandboxState
from flo_twilio.sandbox.wire import error

Handler = Callable[["Sandbox", Request, SandboxAccount], Awaitable[Response]]
FAULT_ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


class Sandbox:
    """Authentication, and the guards every route passes (the concurrency cap, injected
    faults), around a ``SandboxState`` and its fault drills."""

    def __init__(self, state: SandboxState, faults: Faults, callbacks: Callbacks) -> None:
        self.state, self.faults, self.callbacks = state, faults, callbacks
        self.queues = SenderQueues()
        self.in_flight = 0
        self.peak_in_flight = 0  # the most requests at once since start (GET /_sandbox/stats)

    def pace(self) -> Pace | None:
        """Senders' queues at the drills' ``sender_rate``, if one is set."""
        rate, limit = self.faults.sender_rate, self.faults.queue_seconds
        if not rate:
            return None
        return lambda sender, segments, now: self.queues.admit(sender, segments, now, rate, limit)

    def authenticate(self, request: Request, account_sid: str | None) -> SandboxAccount | Response:
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
