"""Twilio's triggers read a webhook as Twilio sends it: the signature checked (Twilio's
documented test vector), the event's outputs and the keys that make a repeat a duplicate."""

from __future__ import annotations

import pytest

from flo_twilio import Rejected, Webhook
from flo_twilio.cards import IncomingMessage, MessageStatus
from flo_twilio.client.signature import signature

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
INCOMING = [
    ("MessageSid", "SM" + "1" * 32),
    ("From", "+12065551212"),
    ("To", "+15017122661"),
    ("Body", "hi"),
    ("NumMedia", "1"),
    ("MediaUrl0", "https://example.com/a.png"),
    ("NumSegments", "1"),
    ("SmsStatus", "received"),
    ("FromCity", "SEATTLE"),
]


def webhook(form, url="https://flo.example/auto_reply", token="t0ken", **headers) -> Webhook:
    signed = {"x-twilio-signature": signature(token, url, form)}
    return Webhook(url, "POST", {**signed, **headers}, form)


def test_twilios_documented_signature_vector_is_accepted_and_a_wrong_one_rejected():
    hook = Webhook(
        VECTOR_URL, "POST", {"x-twilio-signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, VECTOR
    )
    assert IncomingMessage().parse({"to": "+18005551212"}, hook, "12345") is None  # not a message
    with pytest.raises(Rejected, match="does not match"):
        IncomingMessage().parse({"to": "+18005551212"}, hook, "12346")
    with pytest.raises(Rejected, match="no X-Twilio-Signature"):
        IncomingMessage().parse({}, Webhook(VECTOR_URL, "POST", {}, VECTOR), "12345")


def test_an_incoming_message_event_and_its_keys():
    token = {"i-twilio-idempotency-token": "abc"}
    event = IncomingMessage().parse({"to": "+15017122661"}, webhook(INCOMING, **token), "t0ken")
    assert event is not None
    assert event.keys == ("delivery:abc", f"message:{'SM' + '1' * 32}:received")
    outputs = event.outputs
    assert (outputs["from"], outputs["body"], outputs["numMedia"]) == ("+12065551212", "hi", 1)
    assert outputs["mediaUrls"] == ["https://example.com/a.png"]
    assert (outputs["fromCity"], outputs["toCity"]) == ("SEATTLE", "")
    IncomingMessage.manifest.check("outputs", outputs)
    other_number = IncomingMessage().parse({"to": "+15558675310"}, webhook(INCOMING), "t0ken")
    assert other_number is None


def test_a_status_event_is_keyed_by_message_and_status():
    form = [
        ("MessageSid", "SM" + "2" * 32),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
    ]
    form += [("To", "+12065551212"), ("From", "+15017122661")]
    event = MessageStatus().parse({}, webhook(form), "t0ken")
    assert event is not None and event.keys == (f"message:{'SM' + '2' * 32}:undelivered",)
    assert (event.outputs["status"], event.outputs["errorCode"]) == ("undelivered", 30003)
    MessageStatus.manifest.check("outputs", event.outputs)
