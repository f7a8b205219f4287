"""Incoming calls, the sandbox's own route: ``POST /_sandbox/inbound_call`` with JSON
``{"from", "to"}`` plays a phone calling one of the account's numbers.

The call is stored as Twilio stores one (direction ``inbound``, in the Calls list), then
its number's ``VoiceUrl`` gets the form parameters Twilio sends, signed, and the TwiML it
answers is followed (``call_script``: recordings, child calls), and the number's
``StatusCallback`` gets the call's status callbacks. The answer holds the call, what the
webhook answered (its status and TwiML) and what was done, verb by verb (``followed``)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox import api_calls, call_script, call_statuses
from flo_twilio.sandbox.api_inbound import location
from flo_twilio.sandbox.call_rules import call_params
from flo_twilio.sandbox.callbacks import call_webhook
from flo_twilio.sandbox.message_rules import E164
from flo_twilio.sandbox.state import SandboxAccount, new_sid
from flo_twilio.sandbox.wire import error

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox


def routes(sandbox: Sandbox) -> list[Route]:
    endpoint = sandbox.guarded(inbound_call, drills=False)
    return [Route("/_sandbox/inbound_call", endpoint, methods=["POST"])]


async def inbound_call(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return error(400, 20001, "the body must be JSON: {from, to}")
    for name in ("from", "to"):
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, str) or not E164.match(value):
            return error(400, 20001, f"{name} must be a phone number in E.164 form")
    number = sandbox.state.number(account.sid, data["to"])
    if number is None:
        return error(404, 20404, f"{data['to']} is not a number of this account")
    call = {
        "sid": new_sid("CA"),
        "account_sid": account.sid,
        "to": data["to"],
        "from": data["from"],
        "created": sandbox.state.clock(),
        "status_callback": number.status_callback or None,
        "status_callback_method": number.settings.get("status_callback_method", "POST"),
        "record": False,
        "direction": "inbound",
    }
    sandbox.state.save_call(call)
    call_statuses.schedule(sandbox, call)
    webhook: dict[str, Any] = {"url": number.voice_url or None, "status": None, "twiml": None}
    followed: list[dict[str, Any]] = []
    if number.voice_url:
        method = number.settings.get("voice_method", "POST")
        async with sandbox.callbacks.client() as http:
            answer = await call_webhook(
                http, number.voice_url, method, voice_params(call), account.auth_token,
                str(uuid.uuid4()),
            )  # fmt: skip
        if isinstance(answer, str):
            webhook["status"] = answer
        else:
            webhook["status"], webhook["twiml"] = answer.status_code, answer.text
            call["twiml"], call["url"] = answer.text, number.voice_url  # for the inbox page
            sandbox.state.save_call(call)
            if answer.is_success:
                followed = await call_script.follow(
                    sandbox, call, answer.text, number.voice_url, str(request.base_url)
                )
    body = {
        "call": api_calls.render(sandbox.state, call),
        "webhook": webhook,
        "followed": followed,
    }
    return JSONResponse(body, status_code=201)


def voice_params(call: dict[str, Any]) -> dict[str, str]:
    """The form parameters Twilio sends a number's VoiceUrl for an incoming call."""
    params = call_params(call, "ringing", "inbound")
    for side, number in (("From", call["from"]), ("To", call["to"])):
        country, city, state, zip_code = location(number)
        params[f"{side}Country"], params[f"{side}City"] = country, city
        params[f"{side}State"], params[f"{side}Zip"] = state, zip_code
    return params
