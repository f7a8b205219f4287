"""Calls: make and list them (``Calls.json``), fetch one (``Calls/{sid}.json``). A call
moves queued -> ringing -> in-progress -> completed, one ``status_delay`` a step; its
``StatusCallback`` gets the events of ``StatusCallbackEvent`` (``call_statuses``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox import call_statuses
from flo_twilio.sandbox.call_rules import STATUSES as STATUSES
from flo_twilio.sandbox.call_rules import call_status as call_status
from flo_twilio.sandbox.call_rules import render as render
from flo_twilio.sandbox.message_rules import E164, is_http_url
from flo_twilio.sandbox.state import SandboxAccount, SandboxState, new_sid
from flo_twilio.sandbox.wire import ACCOUNT, error, not_found, paged, read_form

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
        "status_callback_event": form.get("StatusCallbackEvent"),
        "status_callback_method": form.get("StatusCallbackMethod"),
        "record": form.get("Record") == "true",
        "twiml": form.get("Twiml") or "",  # what it was told to do, for the inbox page
        "url": form.get("Url") or "",
    }
    sandbox.state.save_call(call)
    call_statuses.schedule(sandbox, call)
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
