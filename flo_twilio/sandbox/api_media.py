"""A message's media: ``Messages/{sid}/Media.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flo_twilio.sandbox.api_messages import owned_message
from flo_twilio.sandbox.message_rules import render_media
from flo_twilio.sandbox.state import SandboxAccount
from flo_twilio.sandbox.wire import ACCOUNT, not_found, paged

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox


def routes(sandbox: Sandbox) -> list[Route]:
    path = f"{ACCOUNT}/Messages/{{sid}}/Media.json"
    return [Route(path, sandbox.guarded(list_media), methods=["GET"])]


async def list_media(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    message = owned_message(sandbox, request, account)
    if not message:
        return not_found(request)
    return paged(request, render_media(message), "media_list")
