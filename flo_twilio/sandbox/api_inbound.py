"""Incoming messages, the sandbox's own route: ``POST /_sandbox/inbound`` with JSON
``{"from", "to", "body", "mediaUrls"}`` plays a phone texting one of the account's numbers.

The message is stored as Twilio stores one (direction ``inbound``, status ``received``, in
the Messages list), then its number's ``SmsUrl`` gets the form parameters Twilio sends,
signed, with an ``I-Twilio-Idempotency-Token``; ``"deliveries": N`` delivers that same
webhook N times, as Twilio does when it retries. The answer says what each delivery got.
A body that is an opt-out keyword (STOP...) opts the phone out of that number, as Twilio
does: sending to it from the number is refused with 21610 until it texts START.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.callbacks import deliver
from flo_twilio.sandbox.message_rules import (
    E164,
    KEYWORDS,
    content_type,
    is_http_url,
    render,
    segments,
)
from flo_twilio.sandbox.state import SandboxAccount, new_sid
from flo_twilio.sandbox.wire import error

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox

MAX_DELIVERIES = 5
# Where a number is, as Twilio tells it: country by calling code, city by US area code.
COUNTRIES = {"+1": "US", "+44": "GB", "+49": "DE", "+33": "FR", "+61": "AU", "+81": "JP"}
US_AREAS = {
    "206": ("SEATTLE", "WA", "98101"),
    "212": ("NEW YORK", "NY", "10001"),
    "415": ("SAN FRANCISCO", "CA", "94105"),
    "501": ("LITTLE ROCK", "AR", "72201"),
}


def routes(sandbox: Sandbox) -> list[Route]:
    return [Route("/_sandbox/inbound", sandbox.guarded(inbound, drills=False), methods=["POST"])]


async def inbound(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return error(400, 20001, "the body must be JSON: {from, to, body, mediaUrls}")
    return await text_in(sandbox, account, data)


async def text_in(sandbox: Sandbox, account: SandboxAccount, data: Any) -> JSONResponse:
    """A phone texts one of the account's numbers (``data`` as ``POST /_sandbox/inbound``
    takes it): the message stored, its number's SmsUrl called; Twilio's JSON answer."""
    problem = _problem(data)
    if problem:
        return error(400, 20001, problem)
    number = sandbox.state.number(account.sid, data["to"])
    if number is None:
        return error(404, 20404, f"{data['to']} is not a number of this account")
    now = sandbox.state.clock()
    media = data.get("mediaUrls") or []
    message = {
        "sid": new_sid("MM" if media else "SM"),
        "account_sid": account.sid,
        "to": data["to"],
        "from": data["from"],
        "body": data.get("body") or "",
        "media": media,
        "messaging_service_sid": None,
        "status_callback": None,
        "created": now,
        "send_at": None,
        "canceled": False,
        "updated": now,
        "direction": "inbound",
    }
    sandbox.state.save_message(message)
    opted_out = KEYWORDS.get(message["body"].strip().upper())
    if opted_out is not None:
        consent = (account.sid, number.phone_number, message["from"])
        (sandbox.state.opted_out.add if opted_out else sandbox.state.opted_out.discard)(consent)
    deliveries: list[int | str] = []
    if number.sms_url:
        params = webhook_params(message)
        event = str(uuid.uuid4())
        token = account.auth_token
        async with sandbox.callbacks.client() as http:
            for _ in range(int(data.get("deliveries", 1))):
                deliveries.append(
                    await deliver(http, number.sms_url, number.sms_method, params, token, event)
                )
    return JSONResponse(
        {
            "message": render(sandbox.state, message),
            "webhook": {"url": number.sms_url or None, "deliveries": deliveries},
        },
        status_code=201,
    )


def _problem(data: Any) -> str:
    if not isinstance(data, dict):
        return "the body must be a JSON object: {from, to, body, mediaUrls}"
    for name in ("from", "to"):
        value = data.get(name)
        if not isinstance(value, str) or not E164.match(value.removeprefix("whatsapp:")):
            return f"{name} must be a phone number in E.164 form, e.g. +12065551212"
    if not isinstance(data.get("body", ""), str) or len(data.get("body", "")) > 1600:
        return "body must be text of at most 1,600 characters"
    media = data.get("mediaUrls", [])
    if not isinstance(media, list) or len(media) > 10:
        return "mediaUrls must be a list of at most 10 URLs"
    if not all(isinstance(url, str) and is_http_url(url) for url in media):
        return "each of mediaUrls must be an http(s) URL"
    if not data.get("body") and not media:
        return "give a body or mediaUrls"
    deliveries = data.get("deliveries", 1)
    if not isinstance(deliveries, int) or not 1 <= deliveries <= MAX_DELIVERIES:
        return f"deliveries must be a whole number from 1 to {MAX_DELIVERIES}"
    return ""


def webhook_params(message: dict[str, Any]) -> dict[str, str]:
    """The form parameters Twilio sends a number's SmsUrl for an incoming message."""
    sid = message["sid"]
    params = {
        "ToCountry": "",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": str(len(message["media"])),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": message["body"],
        "FromCountry": "",
        "To": message["to"],
        "ToZip": "",
        "NumSegments": str(segments(message["body"])),
        "MessageSid": sid,
        "AccountSid": message["account_sid"],
        "From": message["from"],
        "ApiVersion": "2010-04-01",
    }
    for side, number in (("From", message["from"]), ("To", message["to"])):
        country, city, state, zip_code = location(number)
        params[f"{side}Country"], params[f"{side}City"] = country, city
        params[f"{side}State"], params[f"{side}Zip"] = state, zip_code
    for i, url in enumerate(message["media"]):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = content_type(url)
    return params


def location(number: str) -> tuple[str, str, str, str]:
    """(country, city, state, zip) of a number, as far as the sandbox knows; "" otherwise."""
    bare = number.removeprefix("whatsapp:")
    country = next((c for code, c in COUNTRIES.items() if bare.startswith(code)), "")
    city, state, zip_code = US_AREAS.get(bare[2:5], ("", "", "")) if country == "US" else ("",) * 3
    return country, city, state, zip_code
