"""Make a call (``POST Calls.json``) and Get a call (``GET Calls/{sid}.json``)."""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from flo_twilio.card import Card, CardContext
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.messages import browser_url, number_choices
from flo_twilio.cards.recent import created_since
from flo_twilio.client import TwilioClient, parse_date
from flo_twilio.errors import InvalidInputError, Problem

INSTRUCTIONS = ("say", "twiml", "url")
MAX_TWIML = 4000  # characters Twilio takes in the Twiml parameter
# Characters XML 1.0 cannot hold at all, escaped or not: what its Char production leaves
# out (named, not negated: a negated class over all of Unicode takes ~5 ms to compile).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def say_twiml(text: str, voice: str | None = None, language: str | None = None) -> str:
    """TwiML that reads ``text`` aloud. The text is escaped, so it is only ever spoken."""
    attributes = "".join(
        f" {name}={quoteattr(value)}"
        for name, value in (("voice", voice), ("language", language))
        if value
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Say{attributes}>{escape(text)}</Say></Response>"
    )


def call_params(options: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The form fields of ``POST Calls.json`` for the card's option and inputs (which
    passed ``check_call_inputs``)."""
    twiml = inputs.get("twiml")
    if "say" in inputs:
        twiml = say_twiml(inputs["say"], inputs.get("voice"), inputs.get("language"))
    return {
        "To": inputs["to"],
        "From": options["from"],
        "Twiml": twiml,
        "Url": browser_url(inputs.get("url")),
        "StatusCallback": browser_url(inputs.get("statusCallback")),
        "Timeout": inputs.get("timeout"),
        "Record": inputs.get("record"),
    }


def check_call_inputs(inputs: Mapping[str, Any]) -> None:
    """Exactly one of say, twiml and url; voice and language only with say; a say whose
    TwiML Twilio can carry."""
    given = [name for name in INSTRUCTIONS if name in inputs]
    problems = []
    if len(given) != 1:
        problems.append(
            Problem(
                "set exactly one of inputs.say, inputs.twiml and inputs.url"
                + (f" (got {', '.join(given)})" if given else ""),
                hint="say is text read aloud; twiml is TwiML; url answers TwiML",
            )
        )
    for name in ("voice", "language"):
        if name in inputs and "say" not in inputs:
            problems.append(Problem(f"inputs.{name} is for say", hint="set inputs.say too"))
    bad = _NOT_XML.search(str(inputs.get("say", "")))
    if bad:
        problems.append(
            Problem(
                f"inputs.say holds a character TwiML cannot carry ({bad.group()!r})",
                hint="remove control characters from the text",
            )
        )
    if not problems and "say" in inputs:
        twiml = say_twiml(inputs["say"], inputs.get("voice"), inputs.get("language"))
        if len(twiml) > MAX_TWIML:
            problems.append(
                Problem(
                    f"inputs.say is too long: its TwiML takes {len(twiml)} characters, "
                    f"Twilio takes at most {MAX_TWIML}",
                    hint="shorten the text (characters like & and < count 4 or 5)",
                )
            )
    if problems:
        raise InvalidInputError(problems)


def call_outputs(call: Mapping[str, Any]) -> dict[str, Any]:
    """A Twilio call resource as the cards' outputs (camelCase, typed)."""
    dates = {
        name: parse_date(call.get(field))
        for name, field in (
            ("dateCreated", "date_created"),
            ("startTime", "start_time"),
            ("endTime", "end_time"),
        )
    }
    duration = call.get("duration")
    return {
        "sid": call.get("sid"),
        "status": call.get("status"),
        "to": call.get("to"),
        "from": call.get("from"),
        **{name: moment.isoformat() if moment else None for name, moment in dates.items()},
        "duration": int(duration) if duration not in (None, "") else None,
        "price": call.get("price"),
        "priceUnit": call.get("price_unit"),
        "uri": call.get("uri"),
    }


class MakeCall(Card):
    name = "twilio.make_call"
    manifest = load_manifest(name)

    def changes_world(self, options: Mapping[str, Any]) -> bool:
        return True

    def check(self, options: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        check_call_inputs(inputs)

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        call = await client.request_json(
            "POST", _calls_path(client), expect="sid", form=call_params(options, inputs)
        )
        return call_outputs(call)

    def preview(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        return client.preview("POST", _calls_path(client), form=call_params(options, inputs))

    async def choices(self, ctx: CardContext, option: str) -> list[dict[str, Any]]:
        return await number_choices(ctx.client, "voice") if option == "from" else []

    async def reconcile(
        self,
        ctx: CardContext,
        options: Mapping[str, Any],
        inputs: Mapping[str, Any],
        since: float,
        exclude: Container[str] = frozenset(),
    ) -> dict[str, Any] | None:
        """Find the call an interrupted call made: same To and From, created at or after
        the intent in the API's clock, not in ``exclude``; newest first."""
        client: TwilioClient = ctx.client
        params = call_params(options, inputs)
        calls = client.paginate(
            _calls_path(client), "calls", {"To": params["To"], "From": params["From"]}, 100
        )
        async for call in created_since(client, calls, since):
            if call.get("sid") not in exclude:
                return call_outputs(call)
        return None


class GetCall(Card):
    name = "twilio.get_call"
    manifest = load_manifest(name)

    async def run(
        self, ctx: CardContext, options: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> dict[str, Any]:
        client: TwilioClient = ctx.client
        path = f"{client.account_path}/Calls/{inputs['sid']}.json"
        return call_outputs(await client.request_json("GET", path, expect="sid"))


def _calls_path(client: TwilioClient) -> str:
    return f"{client.account_path}/Calls.json"
