"""The sandbox's own routes, not Twilio's: ``/_sandbox/faults`` reads and changes the fault
drills at run time, ``/_sandbox/stats`` says how many requests are in flight and the most
there were at once (the account's Auth Token only; drills never apply to them)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.faults import FaultError
from flo_twilio.sandbox.state import SandboxAccount
from flo_twilio.sandbox.wire import error

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox


def routes(sandbox: Sandbox) -> list[Route]:
    endpoint = sandbox.guarded(faults, drills=False, auth_token_only=True)
    counted = sandbox.guarded(stats, drills=False, auth_token_only=True)
    return [
        Route("/_sandbox/faults", endpoint, methods=["GET", "POST"]),
        Route("/_sandbox/stats", counted, methods=["GET"]),
    ]


async def faults(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    if request.method == "POST":
        try:
            changes = json.loads(await request.body() or b"{}")
        except (ValueError, RecursionError):
            return error(400, 20001, 'the body is not JSON; give e.g. {"rate_500": 0.1}')
        try:
            sandbox.faults.update(changes)
        except FaultError as exc:
            return error(400, 20001, str(exc))
    return JSONResponse(sandbox.faults.as_dict())


async def stats(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    return JSONResponse(
        {"in_flight": sandbox.in_flight - 1, "peak_in_flight": sandbox.peak_in_flight}
    )
