"""A call's status callbacks: each of the events its ``StatusCallbackEvent`` names
(``initiated``, ``ringing``, ``answered``, ``completed``; ``completed`` alone by default, as
Twilio does) is posted to its ``StatusCallback`` when the call reaches it, signed, with
Twilio's parameters."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from flo_twilio.sandbox.call_rules import call_params, call_status, render
from flo_twilio.sandbox.callbacks import deliver

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox

# event -> (the call's status step it waits for, the CallStatus it reports)
EVENTS = {
    "initiated": (0, "initiated"),
    "ringing": (1, "ringing"),
    "answered": (2, "in-progress"),
    "completed": (3, "completed"),
}


def events_of(value: str | None) -> list[str]:
    """The events a ``StatusCallbackEvent`` value names (spaces or commas between them)."""
    named = (value or "completed").replace(",", " ").split()
    return [event for event in EVENTS if event in named] or ["completed"]


def schedule(sandbox: Sandbox, call: dict[str, Any]) -> None:
    """Post the call's status callbacks as it reaches them, if it has a StatusCallback."""
    if call.get("status_callback"):
        sandbox.callbacks.spawn(_follow(sandbox, call))


async def _follow(sandbox: Sandbox, call: dict[str, Any]) -> None:
    state = sandbox.state
    token = state.accounts[call["account_sid"]].auth_token
    async with sandbox.callbacks.client() as http:
        for number, event in enumerate(events_of(call.get("status_callback_event")), 1):
            step, status = EVENTS[event]
            while call_status(state, call)[1] < step:
                await asyncio.sleep(max(state.status_delay / 4, 0.01))
            params = status_params(sandbox, call, status, number)
            await deliver(
                http, call["status_callback"], call.get("status_callback_method") or "POST",
                params, token, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{call['sid']}/{status}")),
            )  # fmt: skip


def status_params(
    sandbox: Sandbox, call: dict[str, Any], status: str, number: int
) -> dict[str, str]:
    """What Twilio posts to a call's StatusCallback when it reaches ``status``."""
    shown = render(sandbox.state, call)
    params = {
        **call_params(call, status, shown["direction"]),
        "CallbackSource": "call-progress-events",
        "SequenceNumber": str(number - 1),
        "Timestamp": shown["date_updated"],
    }
    if call.get("parent_call_sid"):
        params["ParentCallSid"] = call["parent_call_sid"]
    if status == "completed":
        params["CallDuration"] = params["Duration"] = shown["duration"] or "0"
    return params
