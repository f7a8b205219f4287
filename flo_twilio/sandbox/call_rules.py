"""A call as Twilio shows it: its status now (queued -> ringing -> in-progress ->
completed, one ``status_delay`` a step) and its JSON."""

from __future__ import annotations

import math
from typing import Any

from flo_twilio.sandbox.state import SandboxState
from flo_twilio.sandbox.wire import twilio_date

STATUSES = ("queued", "ringing", "in-progress", "completed")
PRICE_PER_MINUTE = 0.013


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
        "parent_call_sid": call.get("parent_call_sid"),
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


def call_params(call: dict[str, Any], status: str, direction: str) -> dict[str, str]:
    """The parameters of every webhook Twilio sends about a call (its VoiceUrl, its
    status callbacks)."""
    return {
        "CallSid": call["sid"],
        "AccountSid": call["account_sid"],
        "From": call["from"],
        "To": call["to"],
        "Caller": call["from"],
        "Called": call["to"],
        "CallStatus": status,
        "Direction": direction,
        "ApiVersion": "2010-04-01",
    }
