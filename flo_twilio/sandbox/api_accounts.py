"""Accounts and their API keys: ``Accounts.json``, ``Accounts/{sid}.json``, ``Keys.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.state import SandboxAccount
from flo_twilio.sandbox.wire import ACCOUNT, V, not_found, paged, read_form, twilio_date

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox


def routes(sandbox: Sandbox) -> list[Route]:
    g = sandbox.guarded
    return [
        Route(f"{V}/Accounts.json", g(list_accounts), methods=["GET"]),
        Route(f"{ACCOUNT}.json", g(fetch_account), methods=["GET"]),
        Route(f"{ACCOUNT}/Keys.json", g(create_key, auth_token_only=True), methods=["POST"]),
    ]


async def list_accounts(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    return paged(request, [account_json(account, request)], "accounts")


async def fetch_account(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    if request.path_params["account_sid"] != account.sid:
        return not_found(request)
    return JSONResponse(account_json(account, request))


async def create_key(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    form = await read_form(request)
    key = sandbox.state.add_key(account.sid, (form.get("FriendlyName") or [""])[0])
    return JSONResponse(
        {
            "sid": key.sid,
            "friendly_name": key.friendly_name,
            "date_created": twilio_date(key.created),
            "date_updated": twilio_date(key.created),
            "secret": key.secret,
        },
        status_code=201,
    )


def account_json(account: SandboxAccount, request: Request) -> dict[str, Any]:
    """The account's record; its Auth Token only for a caller who proved it, never for an
    API key (a key must not lead to the token)."""
    uri = f"{V}/Accounts/{account.sid}"
    return {
        "auth_token": None if request.state.by_api_key else account.auth_token,
        "date_created": twilio_date(account.created),
        "date_updated": twilio_date(account.created),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {
            "messages": f"{uri}/Messages.json",
            "incoming_phone_numbers": f"{uri}/IncomingPhoneNumbers.json",
            "keys": f"{uri}/Keys.json",
        },
        "type": account.type,
        "uri": f"{uri}.json",
    }
