"""The account's phone numbers: ``IncomingPhoneNumbers.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flo_twilio.sandbox.state import Account
from flo_twilio.sandbox.wire import ACCOUNT, V, paged, twilio_date

if TYPE_CHECKING:
    from flo_twilio.sandbox.app import Sandbox


def routes(sandbox: Sandbox) -> list[Route]:
    return [
        Route(
            f"{ACCOUNT}/IncomingPhoneNumbers.json",
            sandbox.guarded(list_numbers),
            methods=["GET"],
        )
    ]


async def list_numbers(sandbox: Sandbox, request: Request, account: Account) -> Response:
    numbers = [number_json(account.sid, n) for n in sandbox.state.numbers[account.sid]]
    return paged(request, numbers, "incoming_phone_numbers")


def number_json(account_sid: str, number: Any) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "capabilities": number.capabilities,
        "date_created": twilio_date(number.created),
        "date_updated": twilio_date(number.created),
        "friendly_name": number.friendly_name,
        "phone_number": number.phone_number,
        "sid": number.sid,
        "status": "in-use",
        "uri": f"{V}/Accounts/{account_sid}/IncomingPhoneNumbers/{number.sid}.json",
    }
