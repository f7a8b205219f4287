"""The account's phone numbers: list them (``IncomingPhoneNumbers.json``, filtered by
``PhoneNumber`` or ``FriendlyName``), buy one (``POST IncomingPhoneNumbers.json``, by
``PhoneNumber`` or ``AreaCode``), fetch, change and release one
(``IncomingPhoneNumbers/{sid}.json``), and search the numbers on offer
(``AvailablePhoneNumbers/{country}/{type}.json``, see ``number_rules``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flo_twilio.sandbox.api_messages import DroppedConnection
from flo_twilio.sandbox.message_rules import is_http_url
from flo_twilio.sandbox.number_rules import SearchError, available_numbers
from flo_twilio.sandbox.state import PhoneNumber, SandboxAccount
from flo_twilio.sandbox.wire import ACCOUNT, V, error, not_found, paged, read_form, twilio_date

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox

URL_FIELDS = ("SmsUrl", "SmsFallbackUrl", "VoiceUrl", "VoiceFallbackUrl", "StatusCallback")
METHODS = ("GET", "POST")
CHOICES = {  # fields that take one of a few values
    **{
        name: METHODS
        for name in ("SmsMethod", "SmsFallbackMethod", "VoiceMethod", "VoiceFallbackMethod")
    },
    "StatusCallbackMethod": METHODS,
    "VoiceCallerIdLookup": ("true", "false"),
    "VoiceReceiveMode": ("voice", "fax"),
    "EmergencyStatus": ("Active", "Inactive"),
    "ApiVersion": ("2010-04-01", "2008-08-01"),
}
SIDS = (
    *("SmsApplicationSid", "VoiceApplicationSid", "TrunkSid", "IdentitySid", "AddressSid"),
    *("BundleSid", "EmergencyAddressSid"),
)
SETTABLE = ("FriendlyName", *URL_FIELDS, *CHOICES, *SIDS)
ATTRIBUTES = {"friendly_name", "sms_url", "sms_method", "status_callback", "voice_url"}
TYPES = ("Local", "Mobile", "TollFree", "National", "Voip", "SharedCost", "MachineToMachine")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MAX_OFFERED = 50  # numbers one search answers at most


def snake(name: str) -> str:
    """A Twilio field as its JSON key: ``SmsFallbackUrl`` -> ``sms_fallback_url``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def routes(sandbox: Sandbox) -> list[Route]:
    g = sandbox.guarded
    many = f"{ACCOUNT}/IncomingPhoneNumbers.json"
    one = f"{ACCOUNT}/IncomingPhoneNumbers/{{sid}}.json"
    return [
        Route(many, g(list_numbers), methods=["GET"]),
        Route(many, g(buy_number), methods=["POST"]),
        Route(one, g(fetch_number), methods=["GET"]),
        Route(one, g(update_number), methods=["POST"]),
        Route(one, g(release_number), methods=["DELETE"]),
        Route(
            f"{ACCOUNT}/AvailablePhoneNumbers/{{country}}/{{kind}}.json",
            g(search_numbers),
            methods=["GET"],
        ),
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


async def search_numbers(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """The numbers on offer for the country and type, filtered by the query; the same every
    time for the same query, but for the numbers bought since."""
    country, kind = request.path_params["country"], request.path_params["kind"]
    if kind not in TYPES:
        return not_found(request)
    query = request.query_params
    try:
        count = min(max(int(query.get("PageSize", MAX_OFFERED)), 1), MAX_OFFERED)
        offered = available_numbers(country, kind, query, _Taken(sandbox), count)
    except ValueError:
        return error(400, 20001, "PageSize must be an integer")
    except SearchError as exc:
        return error(404 if exc.code == 20404 else 400, exc.code, str(exc))
    return JSONResponse({"available_phone_numbers": offered, "uri": request.url.path})


class _Taken:
    """The numbers some account has, as a container."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __contains__(self, number: object) -> bool:
        return isinstance(number, str) and self.sandbox.state.taken(number)


async def buy_number(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """Give the account the ``PhoneNumber`` asked for (21422 when it is not free), or the
    first number on offer in ``AreaCode`` (21452 when none is), set as the form says."""
    form = {k: v[0] for k, v in (await read_form(request)).items()}
    problem = settings_problem(form)
    if problem:
        return problem
    state = sandbox.state
    wanted = form.get("PhoneNumber")
    if wanted is None and "AreaCode" in form:
        offered = _offered(sandbox, form["AreaCode"])
        if not offered:
            return error(400, 21452, f"No phone numbers found in area code {form['AreaCode']}")
        wanted = offered[0]["phone_number"]
    if wanted is None:
        return error(400, 21421, "PhoneNumber or AreaCode is required")
    if not E164.fullmatch(wanted) or state.taken(wanted):
        return error(400, 21422, f"PhoneNumber {wanted} is not available")
    number = state.buy_number(account.sid, wanted)
    apply_settings(number, form)
    state.save_number(account.sid, number)
    if sandbox.faults.ambiguous():
        if sandbox.faults.ambiguous_mode == "drop":
            return DroppedConnection()
        return error(500, 20500, "Internal Server Error")
    return JSONResponse(number_json(account.sid, number), status_code=201)


def _offered(sandbox: Sandbox, area_code: str) -> list[dict[str, Any]]:
    try:
        return available_numbers("US", "Local", {"AreaCode": area_code}, _Taken(sandbox), 1)
    except SearchError:
        return []


async def fetch_number(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    number = sandbox.state.number_by_sid(account.sid, request.path_params["sid"])
    return JSONResponse(number_json(account.sid, number)) if number else not_found(request)


async def update_number(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    """Change the fields the form gives, as Twilio does: an empty URL clears it, anything
    else must be an http(s) URL (21502), a method GET or POST."""
    number = sandbox.state.number_by_sid(account.sid, request.path_params["sid"])
    if not number:
        return not_found(request)
    form = {k: v[0] for k, v in (await read_form(request)).items()}
    problem = settings_problem(form)
    if problem:
        return problem
    apply_settings(number, form)
    number.updated = sandbox.state.clock()
    sandbox.state.save_number(account.sid, number)
    return JSONResponse(number_json(account.sid, number))


async def release_number(sandbox: Sandbox, request: Request, account: SandboxAccount) -> Response:
    number = sandbox.state.number_by_sid(account.sid, request.path_params["sid"])
    if not number:
        return not_found(request)
    sandbox.state.release_number(account.sid, number)
    return Response(status_code=204)


def settings_problem(form: Mapping[str, str]) -> Response | None:
    """Twilio's error for the first field of ``form`` it would refuse, or None."""
    for name in URL_FIELDS:
        if form.get(name) and not is_http_url(form[name]):
            return error(400, 21502, f"{name} is not a valid URL")
    for name, allowed in CHOICES.items():
        if name in form and form[name] not in allowed and form[name].upper() not in allowed:
            return error(400, 21502, f"{name} must be one of {', '.join(allowed)}")
    if len(form.get("FriendlyName", "")) > 64:
        return error(400, 21502, "FriendlyName is longer than 64 characters")
    return None


def apply_settings(number: PhoneNumber, form: Mapping[str, str]) -> None:
    for name in SETTABLE:
        if name not in form:
            continue
        key, value = snake(name), form[name]
        if name in CHOICES and CHOICES[name] == ("GET", "POST"):
            value = value.upper()
        if key in ATTRIBUTES:
            setattr(number, key, value)
        else:
            number.settings[key] = value == "true" if name == "VoiceCallerIdLookup" else value


def number_json(account_sid: str, number: PhoneNumber) -> dict[str, Any]:
    settings = {snake(name): None for name in SIDS} | number.settings
    return {
        "account_sid": account_sid,
        "address_requirements": "none",
        "api_version": "2010-04-01",
        "beta": False,
        "capabilities": number.capabilities,
        "date_created": twilio_date(number.created),
        "date_updated": twilio_date(number.updated),
        "emergency_status": "Inactive",
        "friendly_name": number.friendly_name,
        "origin": "twilio",
        "phone_number": number.phone_number,
        "sid": number.sid,
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": number.sms_method,
        "sms_url": number.sms_url,
        "status": "in-use",
        "status_callback": number.status_callback,
        "status_callback_method": "POST",
        "uri": f"{V}/Accounts/{account_sid}/IncomingPhoneNumbers/{number.sid}.json",
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": "",
        "voice_method": "POST",
        "voice_receive_mode": "voice",
        "voice_url": number.voice_url,
        **settings,
    }
