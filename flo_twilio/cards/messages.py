"""Send an SMS and Send an MMS: one POST to Messages.json each."""

from __future__ import annotations

import json
from collections.abc import Container, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from flo_twilio.card import Audience, Card, CardContext
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.matching import body_matcher
from flo_twilio.cards.opt_outs import OPTED_OUT
from flo_twilio.cards.recent import created_since
from flo_twilio.client import TwilioClient, parse_date
from flo_twilio.errors import InvalidInputError, Problem

_OUTPUT_FIELDS = {
    "sid": "sid",
    "status": "status",
    "to": "to",
    "from": "from",
    "body": "body",
    "price": "price",
    "priceUnit": "price_unit",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "messagingServiceSid": "messaging_service_sid",
    "uri": "uri",
}


def message_params(options: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The form fields of ``POST Messages.json`` for a card's options and inputs (which
    passed ``check_combination``)."""
    variables = inputs.get("contentVariables")
    return {
        "To": inputs["to"],
        "From": options.get("from"),
        "MessagingServiceSid": options.get("messagingServiceSid"),
        "Body": inputs.get("body"),
        "MediaUrl": [browser_url(url) for url in inputs.get("mediaUrls") or []] or None,
        "ContentSid": inputs.get("contentSid"),
        "ContentVariables": json.dumps(variables) if isinstance(variables, dict) else variables,
        "StatusCallback": browser_url(inputs.get("statusCallback")),
        "ValidityPeriod": inputs.get("validityPeriod"),
        "SendAt": inputs.get("sendAt"),
        "ScheduleType": "fixed" if inputs.get("sendAt") else None,
        "ShortenUrls": inputs.get("shortenUrls"),
    }


def browser_url(url: Any) -> Any:
    """A URL percent-encoded as a browser encodes it before requesting it: a space becomes
    %20, non-ASCII characters their UTF-8 bytes in %XX; what is encoded already stays."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~") if isinstance(url, str) else url


def check_combination(options: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Rules that span several fields, which a per-field schema cannot say."""
    problems = []
    if inputs.get("sendAt") and not options.get("messagingServiceSid"):
        problems.append(
            Problem(
                "inputs.sendAt needs a Messaging Service",
                hint="set the option messagingServiceSid (MG...) to schedule messages",
            )
        )
    sender = str(options.get("from") or "")
    if sender and inputs["to"].startswith("whatsapp:") != sender.startswith("whatsapp:"):
        problems.append(
            Problem(
                "inputs.to and options.from must both be WhatsApp addresses or neither",
                hint="write both as whatsapp:+<number>",
            )
        )
    if problems:
        raise InvalidInputError(problems)


def message_outputs(message: Mapping[str, Any]) -> dict[str, Any]:
    """A Twilio message resource as the card's outputs (camelCase, typed)."""
    outputs = {name: message.get(field) for name, field in _OUTPUT_FIELDS.items()}
    created = parse_date(message.get("date_created"))
    outputs["dateCreated"] = created.isoformat() if created else None
    for name, field in (("numSegments", "num_segments"), ("numMedia", "num_media")):
        value = message.get(field)
        outputs[name] = int(value) if value not in (None, "") else None
    return outputs


async def number_choices(client: TwilioClient, capability: str) -> list[dict[str, Any]]:
    """The phone-number dropdown: the account's numbers that have ``capability``."""
    return [
        {
            "value": number["phone_number"],
            "label": f"{number.get('friendly_name') or number['phone_number']} ({number['phone_number']})",
            "capabilities": number.get("capabilities") or {},
        }
        async for number in client.phone_numbers()
        if (number.get("capabilities") or {}).get(capability)
    ]


class SendMessage(Card):
    """What Send an SMS and Send an MMS share; ``capability`` filters the from dropdown."""

    capability: ClassVar[str]
    opt_out_codes = frozenset({OPTED_OUT})

    def changes_world(self, options: Mapping[str, Any]) -> bool:
        return True

    def audience(self, options: Mapping[str, Any], inputs: Mapping[str, Any]) -> Audience | None:
        """The ``to`` number, from the ``from`` number and the messaging service."""
        senders = tuple(
            str(options[name]) for name in ("from", "messagingServiceSid") if options.get(name)
        )
        return Audience(str(inputs["to"]), senders) if inputs.get("to") and senders else None

    def check(self, options: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        check_combination(options, inputs)

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        return message_outputs(await client.create_message(message_params(options, inputs)))

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        return client.preview(
            "POST", f"{client.account_path}/Messages.json", form=message_params(options, inputs)
        )

    async def choices(self, ctx: CardContext, option: str) -> list[dict[str, Any]]:
        return await number_choices(ctx.client, self.capability) if option == "from" else []

    async def reconcile(
        self,
        ctx: CardContext,
        options: Mapping[str, Any],
        inputs: Mapping[str, Any],
        since: float,
        exclude: Container[str] = frozenset(),
    ) -> dict[str, Any] | None:
        """Find the message an interrupted send created: same To, sender, media and body
        (as Twilio may have rewritten it), created at or after the intent in the API's
        clock, and not in ``exclude``; newest first."""
        client: TwilioClient = ctx.client
        params = message_params(options, inputs)
        filters = {k: params[k] for k in ("To", "From") if params[k]}
        same_body = body_matcher(
            params["Body"] or "",
            smart_encoding=bool(params["MessagingServiceSid"]),
            shortened_links=bool(params["ShortenUrls"]),
        )
        async for message in created_since(client, client.messages(filters), since):
            if (
                message.get("sid") not in exclude
                and same_body(message.get("body") or "")
                and _same_media(message, params)
                and _same_service(message, params)
            ):
                return message_outputs(message)
        return None


def _same_media(message: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    return int(message.get("num_media") or 0) == len(params["MediaUrl"] or [])


def _same_service(message: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    service = params["MessagingServiceSid"]
    return not service or message.get("messaging_service_sid") == service


class SendSms(SendMessage):
    name = "twilio.send_sms"
    manifest = load_manifest(name)
    capability = "sms"


class SendMms(SendMessage):
    name = "twilio.send_mms"
    manifest = load_manifest(name)
    capability = "mms"
