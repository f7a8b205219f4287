"""The sandbox's ASGI app: the parts of Twilio's REST API (2010-04-01) the cards use.

This module holds the app factory; authentication and the guards every route goes
through are ``guards.Sandbox``; the routes are in one module per resource: ``api_accounts`` (accounts and API
keys), ``api_phone_numbers``, ``api_messages``, ``api_media``, ``api_calls``, ``api_recordings``, and the sandbox's own routes
``api_drills`` (fault drills), ``api_inbound`` (a phone texting one of the numbers),
``api_inbound_call`` (a phone calling one), and the inbox page at ``/`` (``inbox``).
"""

from __future__ import annotations

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
    api_recordings,
    api_verify,
    inbox,
)
from flo_twilio.sandbox.callbacks import Callbacks
from flo_twilio.sandbox.faults import Faults
from flo_twilio.sandbox.guards import Sandbox
from flo_twilio.sandbox.limits import MAX_BODY, BodyLimit
from flo_twilio.sandbox.state import SandboxState
from flo_twilio.sandbox.wire import error, not_found

ROUTE_MODULES = (
    api_accounts,
    api_phone_numbers,
    api_messages,
    api_media,
    api_calls,
    api_recordings,
    api_drills,
    api_inbound,
    api_inbound_call,
    api_lookups,
    api_verify,
    inbox,
)


def create_app(
    state: SandboxState | None = None,
    faults: Faults | None = None,
    callback_transport: Any = None,
    max_body: int = MAX_BODY,
) -> Starlette:
    """The sandbox as an ASGI app; ``app.state.sandbox`` holds its state and faults.
    Request bodies over ``max_body`` bytes are refused with 413."""
    state = state or SandboxState()
    faults = faults or Faults()
    sandbox = Sandbox(state, faults, Callbacks(state, callback_transport, faults))
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
