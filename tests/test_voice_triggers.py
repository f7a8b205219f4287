"""Call status changed and Recording ready: their events from Twilio's signed callbacks
(as the sandbox posts them), each kept once per call (or recording) and status, an earlier
status dropped once a later one was accepted; incoming_call's voicemail TwiML names where
its callbacks go."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from flo_twilio.cards import CallStatus, IncomingCall, RecordingReady
from flo_twilio.cards.call_trigger import call_answer
from flo_twilio.errors import InvalidInputError
from flo_twilio.runner.events import EventStore
from tests.test_twilio_triggers import webhook

CALL = "CA" + "3" * 32
RECORDING = "RE" + "4" * 32
URL = f"http://127.0.0.1:9/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{RECORDING}"


def call_form(status: str, **more: str) -> list[tuple[str, str]]:
    form = {"CallSid": CALL, "CallStatus": status, "To": "+15017122661", "From": "+12065551212"}
    form.update({"Direction": "inbound", "AccountSid": "AC" + "0" * 32, **more})
    return list(form.items())


def recording_form(**more: str) -> list[tuple[str, str]]:
    form = {"RecordingSid": RECORDING, "RecordingUrl": URL, "CallSid": CALL, **more}
    return list(form.items())


def accepted(trigger, options, forms, tmp_path) -> list[dict]:
    """The outputs of the events an event store accepts, in delivery order."""
    store = EventStore(tmp_path / "events.db")
    kept = []
    for form in forms:
        event = trigger.parse(options, webhook(form), "t0ken")
        if event is not None and store.accept("route", event) is not None:
            kept.append(event.outputs)
    store.close()
    return kept


def test_a_call_status_runs_once_per_status_and_never_after_a_later_one(tmp_path):
    deliveries = [
        call_form("ringing"),
        call_form("completed", CallDuration="4", ParentCallSid="CA" + "5" * 32),
        call_form("ringing"),  # late
        call_form("completed", CallDuration="4"),  # again
        call_form("in-progress"),  # late
        [("MessageSid", "SM" + "1" * 32), ("MessageStatus", "sent")],  # not a call's
    ]
    kept = accepted(CallStatus(), {}, deliveries, tmp_path)
    assert [(e["status"], e["duration"]) for e in kept] == [("ringing", None), ("completed", 4)]
    assert kept[1]["parentCallSid"] == "CA" + "5" * 32 and kept[0]["parentCallSid"] is None
    for outputs in kept:
        CallStatus.manifest.check("outputs", outputs)


def test_a_recording_is_ready_once_with_its_duration_or_its_transcription(tmp_path):
    status = recording_form(RecordingStatus="completed", RecordingDuration="4")
    text = recording_form(TranscriptionStatus="completed", TranscriptionText="call me back")
    late = recording_form(RecordingStatus="in-progress")
    [ready] = accepted(RecordingReady(), {}, [status, text, status, late], tmp_path / "a")
    assert (ready["recordingSid"], ready["recordingUrl"], ready["duration"]) == (RECORDING, URL, 4)
    assert ready["transcriptionText"] is None and ready["callSid"] == CALL
    transcribed = accepted(
        RecordingReady(), {"transcribe": True}, [status, text, text], tmp_path / "b"
    )
    assert [e["transcriptionText"] for e in transcribed] == ["call me back"]
    for outputs in (ready, *transcribed):
        RecordingReady.manifest.check("outputs", outputs)


@pytest.fixture(autouse=True)
def folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()


def test_the_voicemail_names_where_its_recording_and_transcription_go():
    twiml = call_answer(
        {
            "record": True,
            "recordingStatusCallback": "missed_call_text_back",
            "transcribeCallback": "https://x.test/t?a=1&b=2",
        }
    )
    [record] = ET.fromstring(twiml.split("?>", 1)[1])
    assert record.attrib == {
        "recordingStatusCallback": "missed_call_text_back",
        "transcribeCallback": "https://x.test/t?a=1&b=2",
    }
    with pytest.raises(InvalidInputError, match="recordingStatusCallback"):
        IncomingCall.manifest.check(
            "options", {"to": "+15017122661", "recordingStatusCallback": "javascript:x"}
        )
