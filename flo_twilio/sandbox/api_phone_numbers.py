"""The account's phone numbers: list them (``IncomingPhoneNumbers.json``, filtered by
``PhoneNumber`` or ``FriendlyName``), fetch one and
change where its incoming messages go (``IncomingPhoneNumbers/{sid}.json``: ``SmsUrl``,
``SmsMethod``, ``StatusCallback``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.message_rules import is_http_url
from flo_twilio.sandbox.state import PhoneNumber, SandboxAccount
from flo_twilio.sandbox.wire import ACCOUNT, V, error, not_found, paged, read_form, twilio_date

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox

URL_FIELDS = {"SmsUrl": "sms_url", "StatusCallback": "status_callback"}


def routes(sandbox: Sandbox) -> list[Route]:
    g = sandbox.guarded
    one = f"{ACCOUNT}/IncomingPhoneNumbers/{{sid}}.json"
    return [
        Route(f"{ACCOUNT}/IncomingPhoneNumbers.json", g(list_numbers), methods=["GET"]),
        Route(one, g(fetch_number), methods=["GET"]),
        Route(one, g(update_number), methods=["POST"]),
    ]


async def list_numbers(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """The account's numbers, filtered as Twilio filters them: ``PhoneNumber`` (a part of the
    number, ``*`` for any digit) and ``FriendlyName`` (the whole name)."""
    query = request.query_params
    wanted = number_pattern(query.get("PhoneNumber"))
    name = query.get("FriendlyName")
    numbers = [
        number_json(account.sid, n)
        for n in sandbox.state.numbers[account.sid]
        if (wanted is None or wanted.search(n.phone_number))
        and (name is None or n.friendly_name == name)
    ]
    return paged(request, numbers, "incoming_phone_numbers")


def number_pattern(given: str | None) -> re.Pattern[str] | None:
    """A ``PhoneNumber`` filter as a pattern: found anywhere in the number, ``*`` any digit
    (a leading + that the query decoded as a space is dropped: the digits still match)."""
    if given is None:
        return None
    return re.compile(re.escape(given.strip()).replace(r"\*", "[0-9]"))


async def fetch_number(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    number = sandbox.state.number_by_sid(account.sid, request.path_params["sid"])
    return JSONResponse(number_json(account.sid, number)) if number else not_found(request)


async def update_number(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """Set ``SmsUrl``, ``SmsMethod`` or ``StatusCallback`` as Twilio does: an empty URL
    clears it, anything else must be an http(s) URL (21502), the method GET or POST."""
    number = sandbox.state.number_by_sid(account.sid, request.path_params["sid"])
    if not number:
        return not_found(request)
    form = {k: v[0] for k, v in (await read_form(request)).items()}
    for name in URL_FIELDS:
        if form.get(name) and not is_http_url(form[name]):
            return error(400, 21502, f"{name} is not a valid URL")
    method = form.get("SmsMethod", number.sms_method).upper()
    if method not in ("GET", "POST"):
        return error(400, 21502, "SmsMethod must be GET or POST")
    for name, attribute in URL_FIELDS.items():
        if name in form:
            setattr(number, attribute, form[name])
    number.sms_method = method
    number.updated = sandbox.state.clock()
    return JSONResponse(number_json(account.sid, number))


def number_json(account_sid: str, number: PhoneNumber) -> dict[str, Any]:
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "capabilities": number.capabilities,
        "date_created": twilio_date(number.created),
        "date_updated": twilio_date(number.updated),
        "friendly_name": number.friendly_name,
        "phone_number": number.phone_number,
        "sid": number.sid,
        "sms_method": number.sms_method,
        "sms_url": number.sms_url,
        "status": "in-use",
        "status_callback": number.status_callback,
        "uri": f"{V}/Accounts/{account_sid}/IncomingPhoneNumbers/{number.sid}.json",
    }
