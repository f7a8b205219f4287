"""New incoming call: the TwiML it answers at once (escaped), and through ``flo serve``
with the sandbox's ``POST /_sandbox/inbound_call``: the number's VoiceUrl is attached and
put back, the call answered, the flow run once with the call's data."""

from __future__ import annotations

import signal
import xml.etree.ElementTree as ET

import httpx
import pytest

from flo_twilio.cards import IncomingCall
from flo_twilio.cards.call_trigger import call_answer
from flo_twilio.errors import InvalidInputError
from tests.test_serve import (  # noqa: F401  (fixtures)
    ACCOUNT,
    NUMBER,
    PHONE,
    Serving,
    no_server_left,
    replies,
    sandbox,
    wait_runs,
)

MISSED_CALL = """\
flo: 1
name: missed_call
description: Answer a call with a voicemail prompt, then text the caller back.
trigger:
  card: twilio.incoming_call
  options:
    to: "+15017122661"
    say: "Sorry <we're> out & about"
    voice: alice
    record: true
    maxLength: 30
    transcribe: true
    hangup: true
steps:
  - id: text_back
    card: twilio.send_sms
    options:
      from: "+15017122661"
    inputs:
      to: ${{ trigger.from }}
      body: "We missed your call (${{ trigger.callSid }}); we will call you back."
outputs:
  call: ${{ trigger.callSid }}
"""


def test_the_answer_is_twiml_of_the_options_in_order_with_text_escaped():
    twiml = call_answer(
        {
            "say": 'Hi </Say><Dial>+1900</Dial> & "you"',
            "voice": "alice",
            "play": "https://x.test/a.mp3?a=1&b=2",
            "forwardTo": "+12065551212",
            "record": True,
            "maxLength": 30,
            "transcribe": False,
            "hangup": True,
        }
    )
    verbs = list(ET.fromstring(twiml.split("?>", 1)[1]))
    assert [v.tag for v in verbs] == ["Say", "Play", "Dial", "Record", "Hangup"]
    assert verbs[0].text == 'Hi </Say><Dial>+1900</Dial> & "you"'
    assert verbs[0].attrib == {"voice": "alice"} and verbs[2].text == "+12065551212"
    assert verbs[1].text == "https://x.test/a.mp3?a=1&b=2"
    assert verbs[3].attrib == {"maxLength": "30", "transcribe": "false"}
    assert call_answer({"to": NUMBER}).endswith("<Response></Response>")


def test_options_twiml_cannot_carry_are_refused():
    manifest = IncomingCall.manifest
    with pytest.raises(InvalidInputError, match="say"):
        manifest.check("options", {"to": NUMBER, "say": "bell\x07"})
    with pytest.raises(InvalidInputError, match="forwardTo"):
        manifest.check("options", {"to": NUMBER, "forwardTo": "</Dial>"})


def voice_url(client: httpx.Client) -> str:
    numbers = client.get(f"{ACCOUNT}/IncomingPhoneNumbers.json").json()["incoming_phone_numbers"]
    return next(n["voice_url"] for n in numbers if n["phone_number"] == NUMBER)


@pytest.mark.slow
def test_an_incoming_call_is_answered_at_once_and_runs_the_flow_once(sandbox, tmp_path):  # noqa: F811
    flow = tmp_path / "missed_call.yaml"
    flow.write_text(MISSED_CALL)
    serve = Serving(tmp_path, str(flow), "--attach")
    serve.wait_for("attached")
    assert voice_url(sandbox) == serve.url("missed_call")
    called = sandbox.post("/_sandbox/inbound_call", json={"from": PHONE, "to": NUMBER})
    assert called.status_code == 201, called.text
    answer = called.json()
    assert answer["call"]["direction"] == "inbound" and answer["webhook"]["status"] == 200
    verbs = list(ET.fromstring(answer["webhook"]["twiml"].split("?>", 1)[1]))
    assert [v.tag for v in verbs] == ["Say", "Record", "Hangup"]
    assert verbs[0].text == "Sorry <we're> out & about"
    (run,) = wait_runs(1)
    assert run["status"] == "done"
    event = run["arguments"]["event"]
    assert event["callSid"] == answer["call"]["sid"] and event["fromCity"] == "SEATTLE"
    sid = answer["call"]["sid"]
    assert replies(sandbox) == [f"We missed your call ({sid}); we will call you back."]
    assert serve.stop(signal.SIGINT) == 0
    assert voice_url(sandbox) == ""


def test_an_inbound_call_to_a_number_without_a_voice_url_is_only_recorded(sandbox):  # noqa: F811
    called = sandbox.post("/_sandbox/inbound_call", json={"from": PHONE, "to": NUMBER})
    assert called.status_code == 201
    assert called.json()["webhook"] == {"url": None, "status": None, "twiml": None}
    refused = sandbox.post("/_sandbox/inbound_call", json={"from": "x", "to": NUMBER})
    assert refused.status_code == 400 and "from must be" in refused.json()["message"]
