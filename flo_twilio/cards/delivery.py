"""Wait for delivery: fetch a message until its status is one of ``until``.

Polls back off (each wait 1.5 times the last, up to a minute) with jitter, so thousands of
waits in a for_each spread out; every fetch goes through the account's client, which never
has more than its in-flight cap of requests open at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from typing import Any

from flo_twilio.card import Card, CardContext
from flo_twilio.cards.delivery_errors import explained
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.message_actions import message_path
from flo_twilio.cards.statuses import is_earlier
from flo_twilio.client import TwilioClient, parse_date
from flo_twilio.errors import FloError

BACKOFF = 1.5
LONGEST_WAIT = 60.0
JITTER = 0.1  # each wait is up to 10% shorter or longer, so waits started together drift apart


class StillWaitingError(FloError):
    """The message did not reach any of the awaited statuses in time."""


class WaitForDelivery(Card):
    name = "twilio.wait_for_delivery"
    manifest = load_manifest(name)

    def defaults(self, field: str) -> Any:
        return self.manifest.properties("inputs")[field]["default"]

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        sid = inputs["sid"]
        until = set(inputs.get("until") or self.defaults("until"))
        timeout = float(inputs.get("timeout", self.defaults("timeout")))
        wait = float(inputs.get("pollInterval", self.defaults("pollInterval")))
        longest = max(wait, LONGEST_WAIT)
        ends = time.monotonic() + timeout
        latest: Mapping[str, Any] | None = None
        while True:
            message = await client.request_json("GET", message_path(client, sid), expect="sid")
            if latest is None or not is_earlier(str(message.get("status")), latest["status"]):
                latest = message  # an answer older than one seen (a stale read) is not news
            if latest.get("status") in until:
                note_failure(client, latest)
                return _delivery_outputs(latest)
            left = ends - time.monotonic()
            if left <= 0:
                raise StillWaitingError(
                    f"message {sid} is still {latest.get('status')!r} after {timeout:g}s, "
                    f"not one of {', '.join(sorted(until))}; raise inputs.timeout to wait longer"
                )
            await asyncio.sleep(min(wait * random.uniform(1 - JITTER, 1 + JITTER), left))
            wait = min(wait * BACKOFF, longest)


def note_failure(client: TwilioClient, message: Mapping[str, Any]) -> None:
    """Tell the run's summary what a failure after acceptance means and what to do."""
    line = explained(str(message.get("status")), message.get("error_code"))
    if line and message.get("status") in ("failed", "undelivered"):
        client.note(line)


def _delivery_outputs(message: Mapping[str, Any]) -> dict[str, Any]:
    updated = parse_date(message.get("date_updated"))
    return {
        "sid": message["sid"],
        "status": message["status"],
        "errorCode": message.get("error_code"),
        "errorMessage": message.get("error_message"),
        "dateUpdated": updated.isoformat() if updated else None,
    }
