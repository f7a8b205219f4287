"""Calls: make and list them (``Calls.json``), fetch one (``Calls/{sid}.json``). A call
moves queued -> ringing -> in-progress -> completed, one ``status_delay`` a step."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.message_rules import E164, is_http_url
from flo_twilio.sandbox.state import SandboxAccount, SandboxState, new_sid
from flo_twilio.sandbox.wire import ACCOUNT, error, not_found, paged, read_form, twilio_date

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox

# Twilio's magic test numbers for calls: To -> error, From -> error.
MAGIC_TO = {"+15005550001": 21217, "+15005550002": 21214, "+15005550003": 21215}
MAGIC_FROM = {"+15005550001": 21212, "+15005550007": 21210}
ALWAYS_ACCEPTED_FROM = "+15005550006"
ERRORS = {
    21201: "No 'To' number is specified",
    21205: "Url parameter is required",
    21209: "Invalid 'Timeout' parameter",
    21210: "The source phone number provided is not yet verified for your account",
    21211: "Invalid 'To' Phone Number",
    21212: "Invalid 'From' Phone Number",
    21213: "No 'From' number is specified",
    21214: "'To' phone number cannot be reached",
    21215: "Account not authorized to call this number",
    21217: "Phone number does not appear to be valid",
    21609: "Invalid StatusCallback URL",
}
STATUSES = ("queued", "ringing", "in-progress", "completed")
PRICE_PER_MINUTE = 0.013


def routes(sandbox: Sandbox) -> list[Route]:
    g = sandbox.guarded
    return [
        Route(f"{ACCOUNT}/Calls.json", g(create), methods=["POST"]),
        Route(f"{ACCOUNT}/Calls.json", g(list_calls), methods=["GET"]),
        Route(f"{ACCOUNT}/Calls/{{sid}}.json", g(fetch), methods=["GET"]),
    ]


async def create(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    form = {k: v[0] for k, v in (await read_form(request)).items()}
    code = call_error(sandbox.state, account.sid, form)
    if code:
        return error(400, code, ERRORS[code])
    now = sandbox.state.clock()
    call = {
        "sid": new_sid("CA"),
        "account_sid": account.sid,
        "to": form["To"],
        "from": form["From"],
        "created": now,
        "status_callback": form.get("StatusCallback"),
        "record": form.get("Record") == "true",
        "twiml": form.get("Twiml") or "",  # what it was told to do, for the inbox page
        "url": form.get("Url") or "",
    }
    sandbox.state.save_call(call)
    return JSONResponse(render(sandbox.state, call), status_code=201)


def call_error(state: SandboxState, account_sid: str, form: dict[str, str]) -> int | None:
    """Twilio's error code for a ``POST Calls.json`` form, None when it makes a call."""
    to, sender = form.get("To"), form.get("From")
    timeout = form.get("Timeout", "60")
    callback = form.get("StatusCallback")
    number = state.number(account_sid, sender or "")
    checks = (
        (not to, 21201),
        (not sender, 21213),
        (not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")), 21205),
        ("Url" in form and not is_http_url(form["Url"]), 21205),
        (not timeout.isdigit() or not 1 <= int(timeout) <= 600, 21209),
        (bool(callback) and not is_http_url(callback or ""), 21609),
        (to in MAGIC_TO, MAGIC_TO.get(to or "")),
        (not E164.match(to or ""), 21211),
        (sender in MAGIC_FROM, MAGIC_FROM.get(sender or "")),
        (not E164.match(sender or ""), 21212),
        (
            sender != ALWAYS_ACCEPTED_FROM and not (number and number.capabilities.get("voice")),
            21210,
        ),
    )
    return next((code for failed, code in checks if failed), None)


async def list_calls(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    state, query = sandbox.state, request.query_params
    filters = {k: query[k] for k in ("To", "From") if k in query}
    records = [
        call
        for call in reversed(state.calls.values())
        if call["account_sid"] == account.sid
        and all(call[k.lower()] == v for k, v in filters.items())
        and query.get("Status", call_status(state, call)[0]) == call_status(state, call)[0]
    ]
    return paged(request, records, "calls", lambda c: render(state, c))


async def fetch(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    call = sandbox.state.calls.get(request.path_params["sid"])
    if not call or call["account_sid"] != account.sid:
        return not_found(request)
    return JSONResponse(render(sandbox.state, call))


def call_status(state: SandboxState, call: dict[str, Any]) -> tuple[str, int]:
    """The call's status now, and how many status steps it has taken (0 to 3)."""
    delay = state.status_delay
    elapsed = state.clock() - call["created"]
    step = len(STATUSES) - 1 if delay <= 0 else min(int(elapsed // delay), len(STATUSES) - 1)
    return STATUSES[step], step


def render(state: SandboxState, call: dict[str, Any]) -> dict[str, Any]:
    """The call as Twilio's JSON."""
    status, step = call_status(state, call)
    delay, created = state.status_delay, call["created"]
    started = created + delay if step >= 1 else None
    ended = created + 3 * delay if step >= 3 else None
    duration = round(delay) if ended else None
    minutes = max(1, math.ceil((duration or 0) / 60))
    uri = f"/2010-04-01/Accounts/{call['account_sid']}/Calls/{call['sid']}"
    number = state.number(call["account_sid"], call["from"])
    return {
        "account_sid": call["account_sid"],
        "annotation": None,
        "answered_by": None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": twilio_date(created),
        "date_updated": twilio_date(created + step * delay),
        "direction": call.get("direction", "outbound-api"),
        "duration": str(duration) if duration is not None else None,
        "end_time": twilio_date(ended) if ended else None,
        "forwarded_from": None,
        "from": call["from"],
        "from_formatted": call["from"],
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": number.sid if number else None,
        "price": f"-{PRICE_PER_MINUTE * minutes:.5f}" if ended else None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call["sid"],
        "start_time": twilio_date(started) if started else None,
        "status": status,
        "subresource_uris": {
            name: f"{uri}/{name.title().replace('_', '')}.json"
            for name in ("notifications", "recordings", "payments", "events", "siprec")
        },
        "to": call["to"],
        "to_formatted": call["to"],
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }
