"""The missed-call sample flows end to end, ``flo serve`` and the sandbox each in their own
process over loopback: a call to the number is answered with the voicemail prompt, its
recording made, the recording-ready flow texts the caller back and sends the team the
recording's link (which serves the audio); the number's call status callback runs a
call_status flow once."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.helpers import ROOT
from tests.inprocess import recorded_runs
from tests.test_incoming_call import voice_url
from tests.test_serve import (  # noqa: F401  (fixtures)
    ACCOUNT,
    NUMBER,
    PHONE,
    Serving,
    no_server_left,
    sandbox,
)

VOICEMAIL = str(ROOT / "sample_flows/missed_call_voicemail.yaml")
TEXT_BACK = str(ROOT / "sample_flows/missed_call_text_back.yaml")
TEAM = "+14155550100"
CALL_LOG = """\
flo: 1
name: call_log
description: Fetch each call whose status callback comes here.
trigger:
  card: twilio.call_status
steps:
  - id: call
    card: twilio.get_call
    inputs:
      sid: ${{ trigger.callSid }}
outputs:
  status: ${{ trigger.status }}
"""


def runs_of(flows: dict[str, int], seconds: float = 30) -> dict[str, list[dict]]:
    """The ended runs of each flow, once each has ``flows[name]`` of them."""
    deadline = time.monotonic() + seconds
    while True:
        ended = [r for r in recorded_runs() if r["status"] in ("done", "failed")]
        found = {name: [r for r in ended if r["flow"] == name] for name in flows}
        if all(len(found[name]) >= count for name, count in flows.items()):
            return found
        assert time.monotonic() < deadline, recorded_runs()
        time.sleep(0.1)


def sent_to(client: httpx.Client, number: str) -> list[str]:
    messages = client.get(f"{ACCOUNT}/Messages.json", params={"To": number}).json()["messages"]
    return [m["body"] for m in messages]


@pytest.mark.slow
def test_a_missed_call_leaves_a_voicemail_the_caller_is_texted_and_the_team_gets_its_link(
    sandbox,  # noqa: F811
    tmp_path,
):
    log = tmp_path / "call_log.yaml"
    log.write_text(CALL_LOG)
    serve = Serving(tmp_path, VOICEMAIL, TEXT_BACK, str(log), "--attach")
    serve.wait_for("attached")
    assert voice_url(sandbox) == serve.url("missed_call_voicemail")
    numbers = sandbox.get(f"{ACCOUNT}/IncomingPhoneNumbers.json").json()
    sid = next(n["sid"] for n in numbers["incoming_phone_numbers"] if n["phone_number"] == NUMBER)
    pointed = {"StatusCallback": serve.url("call_log")}
    sandbox.post(f"{ACCOUNT}/IncomingPhoneNumbers/{sid}.json", data=pointed).raise_for_status()

    called = sandbox.post("/_sandbox/inbound_call", json={"from": PHONE, "to": NUMBER})
    assert called.status_code == 201, called.text
    answer = called.json()
    assert [step["verb"] for step in answer["followed"]] == ["Say", "Record", "Hangup"]
    recording_sid = answer["followed"][1]["recordingSid"]

    runs = runs_of({"missed_call_voicemail": 1, "missed_call_text_back": 1, "call_log": 1})
    assert all(r["status"] == "done" for found in runs.values() for r in found), runs
    [ready] = runs["missed_call_text_back"]
    event = ready["arguments"]["event"]
    assert (event["recordingSid"], event["callSid"]) == (recording_sid, answer["call"]["sid"])
    assert sent_to(sandbox, PHONE) == [
        "Sorry we missed your call. We got your message and will call you back soon."
    ]
    [link] = sent_to(sandbox, TEAM)
    media = f"{str(sandbox.base_url).rstrip('/')}{ACCOUNT}/Recordings/{recording_sid}.mp3"
    assert link == f"Voicemail from {PHONE} (4 s): {media}"
    audio = httpx.get(media)  # the link works without the account's credentials
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    [status] = runs["call_log"]
    assert status["arguments"]["event"]["status"] == "completed"

    again = sandbox.post("/_sandbox/inbound_call", json={"from": PHONE, "to": NUMBER})
    assert again.status_code == 201
    runs_of({"missed_call_text_back": 2, "call_log": 2})
    assert len(sent_to(sandbox, TEAM)) == 2  # one text a voicemail, no more
    assert serve.stop(signal.SIGINT) == 0
    assert voice_url(sandbox) == ""
