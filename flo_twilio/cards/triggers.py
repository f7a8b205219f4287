"""Twilio's triggers: a message arrives (the number's ``SmsUrl`` webhook), a message's status
changes (its ``StatusCallback``), a call arrives (the number's ``VoiceUrl``; see
``incoming_call``). All check ``X-Twilio-Signature`` with the Auth Token and know one event
by Twilio's ``I-Twilio-Idempotency-Token`` or by its message (or call) SID and status."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from flo_twilio.card import Audience, CardContext
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.messages import number_choices
from flo_twilio.cards.opt_outs import keyword_consent
from flo_twilio.cards.statuses import earlier_statuses
from flo_twilio.client import TwilioClient, parse_date
from flo_twilio.client.signature import body_hash, is_valid_request
from flo_twilio.errors import InvalidInputError
from flo_twilio.trigger import AttachConflict, Consent, Event, Rejected, Trigger, Webhook

MAX_MEDIA = 10  # Twilio attaches at most 10 media files to a message
LOCATION = [
    f"{side}{part}" for side in ("from", "to") for part in ("Country", "State", "City", "Zip")
]


class TwilioTrigger(Trigger):
    """What Twilio's triggers share: the signature check, the event keys, TwiML's answer."""

    answer = ('<?xml version="1.0" encoding="UTF-8"?><Response/>', "text/xml")

    def parse(self, options: Mapping[str, Any], webhook: Webhook, secret: str) -> Event | None:
        received = webhook.headers.get("x-twilio-signature", "")
        if not received:
            raise Rejected("no X-Twilio-Signature: Twilio signs every webhook")
        if not is_valid_request(secret, webhook.url, webhook.form, received, webhook.body):
            raise Rejected(
                "X-Twilio-Signature does not match: not sent by Twilio for this URL and "
                "account (behind a tunnel or proxy, give its URL with --public-url, or "
                "--trust-proxy for its X-Forwarded-Proto and X-Forwarded-Host)"
            )
        form = fields(webhook)
        outputs = self.outputs(options, form)
        if outputs is None:
            return None
        keys = [self.event_key(outputs, form)]
        token = webhook.headers.get("i-twilio-idempotency-token")
        if token:
            keys.insert(0, f"delivery:{token}")
        return Event(outputs, tuple(keys), tuple(self.stale_keys(outputs, form)))

    def stale_keys(self, outputs: Mapping[str, Any], form: Mapping[str, str]) -> list[str]:
        """The keys of the events this one makes stale (none by default)."""
        return []

    def outputs(self, options: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any] | None:
        raise NotImplementedError

    def event_key(self, outputs: Mapping[str, Any], form: Mapping[str, str]) -> str:
        """What tells this event from another when Twilio gives no idempotency token."""
        return (
            f"message:{outputs['messageSid']}:{form.get('SmsStatus') or form.get('MessageStatus')}"
        )


class NumberWebhookTrigger(TwilioTrigger):
    """A trigger fed by a webhook of the number in option ``to``: ``webhook`` names it
    (``Sms``: SmsUrl and SmsMethod, ``Voice``: VoiceUrl and VoiceMethod), which
    ``flo serve --attach`` sets and puts back."""

    webhook: ClassVar[str]

    async def attach(
        self,
        ctx: CardContext,
        options: Mapping[str, Any],
        url: str,
        replace: bool,
        ours: Collection[str] = (),
    ) -> dict[str, Any] | None:
        """Set the number's webhook URL to ``url`` when it is empty, already ``url`` or one
        of ``ours``; another URL is replaced only with ``replace``."""
        number = await _number(ctx.client, options["to"])
        url_field, method_field = f"{self.webhook}Url", f"{self.webhook}Method"
        current = number.get(f"{self.webhook.lower()}_url") or ""
        if current and current != url and current not in ours and not replace:
            raise AttachConflict(
                f"{options['to']} already sends its {self.webhook_what} to {current}; "
                "flo serve --attach --replace takes it over (and puts it back on exit)"
            )
        await _update(ctx.client, number["sid"], {url_field: url, method_field: "POST"})
        return {
            "sid": number["sid"],
            url_field: current,
            method_field: number.get(f"{self.webhook.lower()}_method") or "POST",
        }

    async def detach(
        self, ctx: CardContext, options: Mapping[str, Any], url: str, attached: dict[str, Any]
    ) -> None:
        number = await _number(ctx.client, options["to"])
        if number.get(f"{self.webhook.lower()}_url") == url:  # changed since: theirs now
            fields = (f"{self.webhook}Url", f"{self.webhook}Method")
            await _update(ctx.client, number["sid"], {k: attached[k] for k in fields})

    @property
    def webhook_what(self) -> str:
        return "incoming messages" if self.webhook == "Sms" else "incoming calls"


class IncomingMessage(NumberWebhookTrigger):
    name = "twilio.incoming_message"
    manifest = load_manifest(name)
    webhook = "Sms"

    def outputs(self, options: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any] | None:
        if form.get("To") != options["to"] or "MessageSid" not in form:
            return None  # another number's message, or not a message at all
        count = min(max(integer(form.get("NumMedia")) or 0, 0), MAX_MEDIA)
        outputs: dict[str, Any] = {
            "messageSid": form["MessageSid"],
            "accountSid": form.get("AccountSid", ""),
            "from": form.get("From", ""),
            "to": form["To"],
            "body": form.get("Body", ""),
            "numMedia": count,
            "mediaUrls": [form[f"MediaUrl{i}"] for i in range(count) if f"MediaUrl{i}" in form],
            "numSegments": integer(form.get("NumSegments")),
            "messagingServiceSid": form.get("MessagingServiceSid") or None,
        }
        for name in LOCATION:
            outputs[name] = form.get(name[0].upper() + name[1:], "")
        return outputs

    async def choices(self, ctx: CardContext, option: str) -> list[dict[str, Any]]:
        return await number_choices(ctx.client, "sms") if option == "to" else []

    def consent(self, event: Event) -> Consent | None:
        """A STOP (or START) texted to the number: its sender opts out of (or back in to)
        the number and, when it belongs to one, its messaging service."""
        outputs = event.outputs
        opted_out = keyword_consent(str(outputs.get("body") or ""))
        if opted_out is None or not outputs.get("from"):
            return None
        senders = (
            outputs["to"],
            *([outputs["messagingServiceSid"]] if outputs.get("messagingServiceSid") else []),
        )
        return Consent(Audience(outputs["from"], senders), opted_out)

    async def poll(
        self, ctx: CardContext, options: Mapping[str, Any], cursor: Any
    ) -> tuple[list[Event], Any]:
        """Incoming messages to the number newer than ``cursor`` ({"since": epoch seconds,
        "seen": SIDs created in that second}); a first poll only sets the cursor."""
        client: TwilioClient = ctx.client
        since, seen = (cursor["since"], set(cursor["seen"])) if cursor else (None, set())
        found: list[tuple[float, dict[str, Any]]] = []
        floor = since
        async for message in client.messages({"To": options["to"]}):
            created = parse_date(message.get("date_created"))
            if created is None or message.get("direction") != "inbound":
                continue
            moment = created.timestamp()
            if floor is None:
                floor = moment  # a first poll: only the newest second counts, for the cursor
            if moment < floor:
                break  # newest first: the rest were seen
            found.append((moment, message))
        if not found:
            return [], cursor or {"since": 0, "seen": []}
        newest = max(moment for moment, _ in found)
        at_newest = {m["sid"] for moment, m in found if moment == newest}
        next_cursor = {
            "since": newest,
            "seen": sorted(at_newest | (seen if newest == since else set())),
        }
        if since is None:
            return [], next_cursor
        fresh = [m for _, m in reversed(found) if m["sid"] not in seen]
        return [await self._event(client, m) for m in fresh], next_cursor

    async def _event(self, client: TwilioClient, message: dict[str, Any]) -> Event:
        media = (
            [
                client.base_url + item["uri"].removesuffix(".json")
                async for item in client.paginate(
                    f"{client.account_path}/Messages/{message['sid']}/Media.json", "media_list"
                )
            ]
            if int(message.get("num_media") or 0)
            else []
        )
        outputs: dict[str, Any] = {
            "messageSid": message["sid"],
            "accountSid": message.get("account_sid", ""),
            "from": message.get("from") or "",
            "to": message.get("to") or "",
            "body": message.get("body") or "",
            "numMedia": len(media),
            "mediaUrls": media,
            "numSegments": integer(message.get("num_segments")),
            "messagingServiceSid": message.get("messaging_service_sid"),
            **dict.fromkeys(LOCATION, ""),
        }
        return Event(outputs, (f"message:{message['sid']}:received",))


class MessageStatus(TwilioTrigger):
    """A message's status changed: a flow runs once per message and status, and never for
    a status earlier than one already seen (callbacks arrive twice and out of order)."""

    name = "twilio.message_status"
    manifest = load_manifest(name)

    def stale_keys(self, outputs: Mapping[str, Any], form: Mapping[str, str]) -> list[str]:
        """The keys of the message's statuses earlier than this one's."""
        status = form.get("MessageStatus") or ""
        return [
            f"message:{outputs['messageSid']}:{earlier}" for earlier in earlier_statuses(status)
        ]

    def outputs(self, options: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any] | None:
        if "MessageSid" not in form or "MessageStatus" not in form:
            return None
        return {
            "messageSid": form["MessageSid"],
            "status": form["MessageStatus"],
            "errorCode": integer(form.get("ErrorCode")),
            "to": form.get("To", ""),
            "from": form.get("From") or None,
            "accountSid": form.get("AccountSid", ""),
        }


async def _number(client: TwilioClient, phone_number: str) -> dict[str, Any]:
    async for number in client.phone_numbers():
        if number.get("phone_number") == phone_number.removeprefix("whatsapp:"):
            return number
    raise InvalidInputError(
        f"{phone_number} is not a number of account {client.account_sid}: "
        "flo options twilio.incoming_message to lists them"
    )


async def _update(client: TwilioClient, sid: str, form: dict[str, str]) -> None:
    path = f"{client.account_path}/IncomingPhoneNumbers/{sid}.json"
    await client.request_json("POST", path, expect="sid", form=form)


def fields(webhook: Webhook) -> dict[str, str]:
    """The webhook's parameters: its form, or the text values of a JSON object body (one
    Twilio checks by ``bodySHA256``)."""
    if body_hash(webhook.url) is None:
        return dict(webhook.form)
    try:
        data = json.loads(webhook.body)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


def integer(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
