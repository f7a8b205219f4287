"""The sandbox's own routes, not Twilio's: ``/_sandbox/faults`` reads and changes the fault
drills at run time (the account's Auth Token only; drills never apply to it)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.state import Account
from flo_twilio.sandbox.wire import error

if TYPE_CHECKING:
    from flo_twilio.sandbox.app import Sandbox


def routes(sandbox: Sandbox) -> list[Route]:
    endpoint = sandbox.guarded(faults, drills=False, auth_token_only=True)
    return [Route("/_sandbox/faults", endpoint, methods=["GET", "POST"])]


async def faults(sandbox: Sandbox, request: Request, account: Account) -> Response:
    if request.method == "POST":
        try:
            sandbox.faults.update(json.loads(await request.body() or b"{}"))
        except (ValueError, TypeError) as exc:
            return error(400, 20001, str(exc))
    return JSONResponse(sandbox.faults.as_dict())
