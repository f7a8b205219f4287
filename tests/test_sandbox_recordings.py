"""The sandbox follows the TwiML a number's VoiceUrl answers an inbound call with: a
``<Record>`` makes a recording (stored, served as WAV and MP3, deletable) and posts its
status and transcription callbacks; a ``<Dial>`` places a child call; the call's status
callbacks are posted. Answers are checked against Twilio's spec."""

from __future__ import annotations

import contextlib
import io
import wave
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.test_sandbox_api import conforms, http
from tests.test_sandbox_inbox import BASE, SAME_ORIGIN, page_client

pytestmark = pytest.mark.anyio

ACCOUNT = f"/2010-04-01/Accounts/{SID}"
NUMBER, PHONE, TEAM = "+15017122661", "+12065551212", "+14155550100"
HOOKS = "http://127.0.0.1:9/hooks"
VOICEMAIL = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Leave a message</Say>'
    '<Record maxLength="30" recordingStatusCallback="/hooks/recording" transcribe="true"'
    ' transcribeCallback="http://127.0.0.1:9/hooks/transcription"/><Hangup/>'
    "<Record/></Response>"
)
FORWARD = (
    f'<Response><Dial callerId="{NUMBER}"><Number statusCallback="{HOOKS}/child"'
    f' statusCallbackEvent="ringing answered completed">{TEAM}</Number></Dial></Response>'
)


def voice_app(twiml: str):
    """An ASGI app answering the voice webhook with ``twiml`` and recording every webhook
    (path, form, headers, full URL)."""
    received: list[tuple[str, dict[str, str], httpx.Headers, str]] = []

    async def hook(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        received.append((request.url.path, form, httpx.Headers(request.headers), str(request.url)))
        return Response(twiml if request.url.path == "/hooks/voice" else "", media_type="text/xml")

    return Starlette(routes=[Route("/hooks/{name}", hook, methods=["POST"])]), received


async def call_in(twiml: str, *, status_callback: str = "", delay: float = 0.0):
    """A sandbox whose number answers calls with ``twiml``; the inbound call's answer, the
    client (open), the webhooks received and the sandbox's app."""
    hooks, received = voice_app(twiml)
    app = create_app(
        SandboxState(status_delay=delay), callback_transport=httpx.ASGITransport(hooks)
    )
    client = http(app)
    numbers = (await client.get(f"{ACCOUNT}/IncomingPhoneNumbers.json")).json()
    sid = next(n["sid"] for n in numbers["incoming_phone_numbers"] if n["phone_number"] == NUMBER)
    settings = {"VoiceUrl": f"{HOOKS}/voice", "StatusCallback": status_callback}
    await client.post(f"{ACCOUNT}/IncomingPhoneNumbers/{sid}.json", data=settings)
    answer = await client.post("/_sandbox/inbound_call", json={"from": PHONE, "to": NUMBER})
    assert answer.status_code == 201, answer.text
    return answer.json(), client, received, app


def posted(received, path: str) -> list[dict[str, str]]:
    return [form for got, form, *_ in received if got == path]


async def test_a_record_makes_a_recording_and_posts_its_callbacks_signed():
    body, c, received, _ = await call_in(VOICEMAIL)
    async with contextlib.aclosing(c):
        verbs = [step["verb"] for step in body["followed"]]
        assert verbs == ["Say", "Record", "Hangup"]  # nothing after Hangup
        recording_sid = body["followed"][1]["recordingSid"]
        [status] = posted(received, "/hooks/recording")
        assert status["RecordingSid"] == recording_sid and status["CallSid"] == body["call"]["sid"]
        assert (status["RecordingStatus"], status["RecordingDuration"]) == ("completed", "4")
        assert status["RecordingUrl"] == f"http://sandbox{ACCOUNT}/Recordings/{recording_sid}"
        [text] = posted(received, "/hooks/transcription")
        assert text["TranscriptionText"] == (
            f"Hi, this is a message from {PHONE}. Please call me back. Thanks."
        )
        assert text["RecordingSid"] == recording_sid and text["TranscriptionStatus"] == "completed"
        for _, form, headers, url in received:
            assert RequestValidator(TOKEN).validate(url, form, headers["x-twilio-signature"])
        one = f"{ACCOUNT}/Recordings/{recording_sid}.json"
        fetched = conforms(
            await c.get(one), "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json", "get"
        )
        assert (fetched["call_sid"], fetched["duration"], fetched["source"]) == (
            body["call"]["sid"], "4", "RecordVerb",
        )  # fmt: skip
        assert fetched["media_url"] == status["RecordingUrl"]
        listed = conforms(
            await c.get(f"{ACCOUNT}/Recordings.json"),
            "/2010-04-01/Accounts/{AccountSid}/Recordings.json",
            "get",
        )
        assert [r["sid"] for r in listed["recordings"]] == [recording_sid]
        by_call = conforms(
            await c.get(f"{ACCOUNT}/Calls/{body['call']['sid']}/Recordings.json"),
            "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings.json",
            "get",
        )
        assert [r["sid"] for r in by_call["recordings"]] == [recording_sid]
        other = await c.get(f"{ACCOUNT}/Recordings.json", params={"CallSid": "CA" + "0" * 32})
        assert other.json()["recordings"] == []


async def test_the_recording_is_served_as_wav_and_mp3_the_same_every_time_then_deleted():
    body, c, _, app = await call_in(VOICEMAIL)
    async with contextlib.aclosing(c):
        media = f"{ACCOUNT}/Recordings/{body['followed'][1]['recordingSid']}"
        async with httpx.AsyncClient(  # no credentials: the audio's URL is its secret
            transport=httpx.ASGITransport(app), base_url="http://sandbox"
        ) as anonymous:
            plain, as_wav, as_mp3 = [
                await anonymous.get(media + ext) for ext in ("", ".wav", ".mp3")
            ]
        assert plain.content == as_wav.content and as_wav.headers["content-type"] == "audio/x-wav"
        with wave.open(io.BytesIO(as_wav.content)) as file:
            assert file.getnframes() / file.getframerate() == 4
        assert as_mp3.headers["content-type"] == "audio/mpeg"
        assert as_mp3.content[:2] == b"\xff\xfb" and len(as_mp3.content) > 10_000
        again, other, *_ = await call_in(VOICEMAIL)
        async with contextlib.aclosing(other):
            second = f"{ACCOUNT}/Recordings/{again['followed'][1]['recordingSid']}"
            assert second != media
            assert (await other.get(second + ".wav")).content == as_wav.content
            assert (await other.get(second + ".mp3")).content == as_mp3.content
        deleted = await c.delete(media + ".json")
        assert deleted.status_code == 204 and deleted.content == b""
        assert (await c.get(media + ".json")).status_code == 404
        assert (await c.get(media + ".wav")).status_code == 404
        assert (await c.delete(media + ".json")).json()["code"] == 20404


async def test_a_dial_places_a_child_call_with_its_status_callbacks():
    body, c, received, _ = await call_in(FORWARD, status_callback=f"{HOOKS}/parent", delay=0.02)
    async with contextlib.aclosing(c):
        [child_sid] = body["followed"][0]["callSids"]
        child = conforms(
            await c.get(f"{ACCOUNT}/Calls/{child_sid}.json"),
            "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
            "get",
        )
        assert (child["to"], child["from"], child["parent_call_sid"]) == (
            TEAM,
            NUMBER,
            body["call"]["sid"],
        )
        assert child["direction"] == "outbound-dial"
        with anyio.fail_after(5):
            while len(posted(received, "/hooks/child")) < 3 or not posted(
                received, "/hooks/parent"
            ):
                await anyio.sleep(0.02)
    statuses = [form["CallStatus"] for form in posted(received, "/hooks/child")]
    assert statuses == ["ringing", "in-progress", "completed"]
    [parent] = posted(received, "/hooks/parent")  # a number's StatusCallback: completed only
    assert (parent["CallSid"], parent["CallStatus"]) == (body["call"]["sid"], "completed")
    assert parent["Direction"] == "inbound" and "CallDuration" in parent
    tokens = [
        headers["i-twilio-idempotency-token"]
        for path, _, headers, _ in received
        if path != "/hooks/voice"
    ]
    assert len(set(tokens)) == len(tokens) == 4


async def test_twiml_that_is_not_a_response_is_reported_not_followed():
    for twiml, reason in (
        ("<Say>hi", "not XML"),
        ("<Hello/>", "not <Response>"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><Response/>', "DOCTYPE"),
    ):
        body, c, received, _ = await call_in(twiml)
        await c.aclose()
        [step] = body["followed"]
        assert reason in step["error"] and len(received) == 1


async def test_a_made_call_posts_the_status_events_it_asked_for():
    hooks, received = voice_app("")
    app = create_app(SandboxState(status_delay=0.02), callback_transport=httpx.ASGITransport(hooks))
    form = {
        "To": PHONE,
        "From": NUMBER,
        "Twiml": "<Response><Say>hi</Say></Response>",
        "StatusCallback": f"{HOOKS}/made",
        "StatusCallbackEvent": "initiated completed",
    }
    async with http(app) as c:
        made = (await c.post(f"{ACCOUNT}/Calls.json", data=form)).json()
        with anyio.fail_after(5):
            while len(posted(received, "/hooks/made")) < 2:
                await anyio.sleep(0.02)
    forms = posted(received, "/hooks/made")
    assert [(f["CallSid"], f["CallStatus"], f["SequenceNumber"]) for f in forms] == [
        (made["sid"], "initiated", "0"),
        (made["sid"], "completed", "1"),
    ]
    assert forms[1]["Direction"] == "outbound-api" and "ParentCallSid" not in forms[1]


async def test_the_inbox_shows_an_inbound_calls_twiml_and_a_player_for_its_recording():
    body, c, _, app = await call_in(VOICEMAIL)
    await c.aclose()
    sid = body["followed"][1]["recordingSid"]
    async with page_client(app, BASE) as page_reader:
        page = (await page_reader.get("/")).text
        assert f'<audio controls preload="none" src="{ACCOUNT}/Recordings/{sid}.wav">' in page
        assert "please call me back".casefold() in page.casefold() and "&lt;Record" in page
        cleared = await page_reader.post("/_inbox/clear", headers=SAME_ORIGIN)
        assert cleared.status_code == 303
    assert app.state.sandbox.state.recordings == {}


def test_recordings_are_kept_in_the_database_and_a_deleted_one_is_gone_from_it(tmp_path):
    db = tmp_path / "sandbox.db"
    first = SandboxState(db_path=db)
    kept, gone = (
        {"sid": f"RE{n * 32}", "account_sid": SID, "call_sid": "CA" + "1" * 32, "created": 1.0,
         "duration": 4, "transcription": None}
        for n in "ab"
    )  # fmt: skip
    first.save_recording(kept)
    first.save_recording(gone)
    first.delete_recording(gone["sid"])
    assert SandboxState(db_path=db).recordings == {kept["sid"]: kept}
