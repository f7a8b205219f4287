"""What the sandbox does with the TwiML a call's webhook answers, verb by verb: ``<Record>``
makes a short generated recording, posts its ``recordingStatusCallback`` and, when
transcribed, its ``transcribeCallback`` (with a fixed text); ``<Dial>`` places a child call
to each number; ``<Hangup>`` and ``<Reject>`` end the call; ``<Say>``, ``<Play>``,
``<Pause>`` and the rest take no action. ``action`` URLs are not requested."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from flo_twilio.sandbox import call_statuses
from flo_twilio.sandbox.api_recordings import media_url
from flo_twilio.sandbox.callbacks import deliver
from flo_twilio.sandbox.message_rules import E164
from flo_twilio.sandbox.state import new_sid
from flo_twilio.sandbox.wire import twilio_date

if TYPE_CHECKING:
    from flo_twilio.sandbox.guards import Sandbox

VOICEMAIL_SECONDS = 4  # how long a caller speaks into a <Record> (less when maxLength is)
TRANSCRIPT = "Hi, this is a message from {caller}. Please call me back. Thanks."


def parse(twiml: str) -> list[ET.Element] | str:
    """The verbs of a TwiML ``<Response>``, or why it is not one."""
    if "<!DOCTYPE" in twiml or "<!ENTITY" in twiml:
        return "TwiML may not declare a DOCTYPE or entities"
    try:
        root = ET.fromstring(twiml.strip())
    except ET.ParseError as exc:
        return f"not XML: {exc}"
    if root.tag != "Response":
        return f"the root element is <{root.tag}>, not <Response>"
    return list(root)


async def follow(
    sandbox: Sandbox, call: dict[str, Any], twiml: str, document_url: str, base_url: str
) -> list[dict[str, Any]]:
    """Do what ``twiml`` (fetched from ``document_url``) says for ``call``: one entry a verb."""
    verbs = parse(twiml)
    if isinstance(verbs, str):
        return [{"error": verbs}]
    done: list[dict[str, Any]] = []
    for verb in verbs:
        if verb.tag == "Record":
            recording = await record(sandbox, call, verb, document_url, base_url)
            done.append({"verb": "Record", "recordingSid": recording["sid"]})
        elif verb.tag == "Dial":
            children = [dial(sandbox, call, verb, number) for number in _dialled(verb)]
            done.append({"verb": "Dial", "callSids": [child["sid"] for child in children]})
        else:
            done.append({"verb": verb.tag})
        if verb.tag in ("Hangup", "Reject"):
            break
    return done


async def record(
    sandbox: Sandbox, call: dict[str, Any], verb: ET.Element, document_url: str, base_url: str
) -> dict[str, Any]:
    """Store a recording for ``<Record>`` and post its callbacks."""
    attrs = verb.attrib
    max_length = int(attrs["maxLength"]) if attrs.get("maxLength", "").isdigit() else 3600
    transcribe_url = attrs.get("transcribeCallback")
    transcribed = attrs.get("transcribe", "false").lower() == "true" or bool(transcribe_url)
    recording = {
        "sid": new_sid("RE"),
        "account_sid": call["account_sid"],
        "call_sid": call["sid"],
        "created": sandbox.state.clock(),
        "duration": max(1, min(max_length, VOICEMAIL_SECONDS)),
        "transcription": TRANSCRIPT.format(caller=call["from"]) if transcribed else None,
    }
    sandbox.state.save_recording(recording)
    url = media_url(base_url, recording)
    token = sandbox.state.accounts[call["account_sid"]].auth_token
    common = {
        "AccountSid": call["account_sid"],
        "CallSid": call["sid"],
        "RecordingSid": recording["sid"],
        "RecordingUrl": url,
    }
    async with sandbox.callbacks.client() as http:
        if attrs.get("recordingStatusCallback"):
            params = {
                **common,
                "RecordingStatus": "completed",
                "RecordingDuration": str(recording["duration"]),
                "RecordingChannels": "1",
                "RecordingSource": "RecordVerb",
                "RecordingStartTime": twilio_date(recording["created"]),
                "ErrorCode": "0",
            }
            target = urljoin(document_url, attrs["recordingStatusCallback"])
            method = attrs.get("recordingStatusCallbackMethod", "POST").upper()
            await deliver(http, target, method, params, token, _event(recording, "completed"))
        if transcribe_url:
            transcription_sid = new_sid("TR")
            params = {
                **common,
                "TranscriptionSid": transcription_sid,
                "TranscriptionText": recording["transcription"],
                "TranscriptionStatus": "completed",
                "TranscriptionUrl": f"{url}/Transcriptions/{transcription_sid}",
                "From": call["from"],
                "To": call["to"],
                "CallStatus": "completed",
                "Direction": call.get("direction", "inbound"),
                "ApiVersion": "2010-04-01",
            }
            target = urljoin(document_url, transcribe_url)
            await deliver(http, target, "POST", params, token, _event(recording, "transcribed"))
    return recording


def dial(
    sandbox: Sandbox, parent: dict[str, Any], verb: ET.Element, number: ET.Element
) -> dict[str, Any]:
    """Place ``<Dial>``'s child call to one number (caller ID: ``callerId``, else the caller)."""
    child = {
        "sid": new_sid("CA"),
        "account_sid": parent["account_sid"],
        "to": (number.text or "").strip(),
        "from": verb.attrib.get("callerId") or parent["from"],
        "created": sandbox.state.clock(),
        "status_callback": number.attrib.get("statusCallback"),
        "status_callback_event": number.attrib.get("statusCallbackEvent"),
        "status_callback_method": number.attrib.get("statusCallbackMethod"),
        "record": False,
        "direction": "outbound-dial",
        "parent_call_sid": parent["sid"],
    }
    sandbox.state.save_call(child)
    call_statuses.schedule(sandbox, child)
    return child


def _dialled(verb: ET.Element) -> list[ET.Element]:
    """The numbers ``<Dial>`` calls: its text, or each ``<Number>`` inside it."""
    numbers = [n for n in verb if n.tag == "Number"] or [verb]
    return [n for n in numbers if E164.match((n.text or "").strip())]


def _event(recording: dict[str, Any], what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{recording['sid']}/{what}"))
