"""New incoming call: the number's ``VoiceUrl`` webhook starts the flow, and Twilio is
answered at once with TwiML made from the trigger's options (escaped: option text is only
ever spoken or dialled, never read as TwiML)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from flo_twilio.card import CardContext
from flo_twilio.cards.manifest_folder import load_manifest
from flo_twilio.cards.messages import number_choices
from flo_twilio.cards.triggers import LOCATION, NumberWebhookTrigger

XML = '<?xml version="1.0" encoding="UTF-8"?>'


def call_answer(options: Mapping[str, Any]) -> str:
    """TwiML for ``options``, in this order: say, play, forwardTo, record, hangup."""
    verbs = []
    if "say" in options:
        verbs.append(
            f"<Say{_attributes(voice=options.get('voice'), language=options.get('language'))}>"
            f"{escape(options['say'])}</Say>"
        )
    if "play" in options:
        verbs.append(f"<Play>{escape(options['play'])}</Play>")
    if "forwardTo" in options:
        verbs.append(f"<Dial>{escape(options['forwardTo'])}</Dial>")
    if options.get("record"):
        transcribe = options.get("transcribe")
        attributes = _attributes(
            maxLength=options.get("maxLength"),
            transcribe=None if transcribe is None else str(transcribe).lower(),
            recordingStatusCallback=options.get("recordingStatusCallback"),
            transcribeCallback=options.get("transcribeCallback"),
        )
        verbs.append(f"<Record{attributes}/>")
    if options.get("hangup"):
        verbs.append("<Hangup/>")
    return f"{XML}<Response>{''.join(verbs)}</Response>"


def _attributes(**values: Any) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in values.items() if v is not None)


class IncomingCall(NumberWebhookTrigger):
    name = "twilio.incoming_call"
    manifest = load_manifest(name)
    webhook = "Voice"

    def reply(self, options: Mapping[str, Any]) -> tuple[str, str]:
        return call_answer(options), "text/xml"

    def outputs(self, options: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any] | None:
        if form.get("To") != options["to"] or "CallSid" not in form:
            return None  # another number's call, or not a call at all
        outputs: dict[str, Any] = {
            "callSid": form["CallSid"],
            "accountSid": form.get("AccountSid", ""),
            "from": form.get("From", ""),
            "to": form["To"],
            "callStatus": form.get("CallStatus", ""),
            "direction": form.get("Direction", ""),
            "callerName": form.get("CallerName") or None,
        }
        for name in LOCATION:
            outputs[name] = form.get(name[0].upper() + name[1:], "")
        return outputs

    def event_key(self, outputs: Mapping[str, Any], form: Mapping[str, str]) -> str:
        return f"call:{outputs['callSid']}:received"

    async def choices(self, ctx: CardContext, option: str) -> list[dict[str, Any]]:
        return await number_choices(ctx.client, "voice") if option == "to" else []
