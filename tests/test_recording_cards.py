"""The recording cards against the sandbox in-process: list (filters, limit), get (the
media URL, and the audio saved into a folder checked before anything is sent) and delete
(looked up when interrupted: a recording that is gone was deleted)."""

from __future__ import annotations

import time

import httpx
import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import DeleteRecording, GetRecording, ListRecordings
from flo_twilio.client import TwilioApiError
from flo_twilio.errors import InvalidInputError
from flo_twilio.sandbox import audio
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import new_sid
from tests.conftest import sandbox_client

pytestmark = pytest.mark.anyio
DAY = 86400
CALL = "CA" + "1" * 32


def recorded(state, *, call_sid: str = CALL, created: float | None = None, duration: int = 4):
    """A recording the sandbox holds, as a <Record> would have made it."""
    recording = {
        "sid": new_sid("RE"),
        "account_sid": SID,
        "call_sid": call_sid,
        "created": time.time() if created is None else created,
        "duration": duration,
        "transcription": None,
    }
    state.save_recording(recording)
    return recording


async def test_recordings_are_listed_newest_first_by_call_and_day_up_to_limit(
    client, sandbox_state
):
    old = recorded(sandbox_state, created=time.time() - 3 * DAY)
    other = recorded(sandbox_state, call_sid="CA" + "2" * 32)
    new = recorded(sandbox_state)
    card, ctx = ListRecordings(), CardContext(client)
    listed = await call_card(card, ctx, {}, {})
    assert [r["sid"] for r in listed["recordings"]] == [new["sid"], other["sid"], old["sid"]]
    assert listed["count"] == 3 and listed["recordings"][0]["duration"] == 4
    assert listed["recordings"][0]["mediaUrl"].endswith(f"/Recordings/{new['sid']}.wav")
    by_call = await call_card(card, ctx, {}, {"callSid": CALL, "limit": 1})
    assert [r["sid"] for r in by_call["recordings"]] == [new["sid"]]
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - DAY))
    before = await call_card(card, ctx, {}, {"dateCreatedBefore": yesterday})
    assert [r["sid"] for r in before["recordings"]] == [old["sid"]]
    after = await call_card(card, ctx, {}, {"dateCreatedAfter": yesterday, "callSid": CALL})
    assert [r["sid"] for r in after["recordings"]] == [new["sid"]]


async def test_get_gives_the_media_url_and_saves_the_audio_when_asked(
    client, sandbox_state, tmp_path
):
    recording = recorded(sandbox_state, duration=3)
    card, ctx, sid = GetRecording(), CardContext(client), recording["sid"]
    got = await call_card(card, ctx, {}, {"sid": sid})
    assert (got["callSid"], got["duration"], got["source"]) == (CALL, 3, "RecordVerb")
    assert got["mediaUrl"] == f"http://127.0.0.1/2010-04-01/Accounts/{SID}/Recordings/{sid}.wav"
    assert (got["file"], got["bytes"]) == (None, None)
    assert list(tmp_path.iterdir()) == []
    saved = await call_card(card, ctx, {"saveTo": str(tmp_path), "format": "mp3"}, {"sid": sid})
    assert saved["mediaUrl"].endswith(".mp3") and saved["file"] == str(tmp_path / f"{sid}.mp3")
    assert (tmp_path / f"{sid}.mp3").read_bytes() == audio.mp3(3)
    assert saved["bytes"] == len(audio.mp3(3)) and len(list(tmp_path.iterdir())) == 1
    wav = await call_card(card, ctx, {"saveTo": str(tmp_path)}, {"sid": sid})
    assert (tmp_path / f"{sid}.wav").read_bytes() == audio.wav(3) and wav["bytes"] > 0


async def test_a_save_folder_that_cannot_take_the_file_is_refused_before_anything_is_sent(
    sandbox_app, tmp_path
):
    sent: list[httpx.Request] = []
    inner = httpx.ASGITransport(sandbox_app)

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            sent.append(request)
            return await inner.handle_async_request(request)

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    async with sandbox_client(sandbox_app, transport=Recording()) as client:
        for folder, why in ((tmp_path / "missing", "does not exist"), (a_file, "is not a folder")):
            with pytest.raises(InvalidInputError, match=f"options.saveTo {why}"):
                await call_card(
                    GetRecording(), CardContext(client), {"saveTo": str(folder)},
                    {"sid": "RE" + "0" * 32},
                )  # fmt: skip
    assert sent == []


async def test_a_deleted_recording_is_gone_and_an_interrupted_delete_is_found(
    client, sandbox_state
):
    recording = recorded(sandbox_state)
    card, ctx, inputs = DeleteRecording(), CardContext(client), {"sid": recording["sid"]}
    assert card.changes_world({})
    assert await card.reconcile(ctx, {}, inputs, time.time()) is None  # still there
    deleted = await call_card(card, ctx, {}, inputs)
    assert deleted == {"sid": recording["sid"], "deleted": True}
    assert recording["sid"] not in sandbox_state.recordings
    with pytest.raises(TwilioApiError) as again:
        await call_card(card, ctx, {}, inputs)
    assert again.value.code == 20404
    assert await card.reconcile(ctx, {}, inputs, time.time()) == deleted
    preview = card.preview(ctx, {}, inputs)
    assert preview["method"] == "DELETE" and preview["url"].endswith(f"{recording['sid']}.json")
