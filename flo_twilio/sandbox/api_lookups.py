"""Lookups v2 (``lookups.twilio.com``), served under ``/lookups``: ``GET
/lookups/v2/PhoneNumbers/{PhoneNumber}``, answered as ``lookup_rules`` says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.lookup_rules import look_up
from flo_twilio.sandbox.state import SandboxAccount

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox

PREFIX = "/lookups/v2"


def routes(sandbox: Sandbox) -> list[Route]:
    return [
        Route(f"{PREFIX}/PhoneNumbers/{{number:path}}", sandbox.guarded(fetch), methods=["GET"])
    ]


async def fetch(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    query = request.query_params
    fields = {f.strip() for f in query.get("Fields", "").split(",") if f.strip()}
    number = request.path_params["number"]
    answer = look_up(number, query.get("CountryCode"), fields)
    answer["url"] = str(request.url.replace(query=""))
    return JSONResponse(answer)
