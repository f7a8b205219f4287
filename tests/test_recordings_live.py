"""Recordings over loopback: a call to the sandbox's number, answered by a TwiML server
with a <Record>, makes a recording that Twilio's Python SDK lists, fetches and deletes, and
whose audio its media URL serves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread
from tests.test_sandbox_live import live  # noqa: F401  (fixture)

NUMBER, PHONE = "+15017122661", "+12065551212"


async def voicemail(request) -> Response:
    return Response(
        "<Response><Say>Leave a message</Say><Record/></Response>", media_type="text/xml"
    )


def test_twilios_sdk_lists_fetches_and_deletes_a_recording_whose_audio_is_served(live):  # noqa: F811
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    sdk = Client(SID, TOKEN)
    sdk.api.base_url = live.url
    with ServerThread(Starlette(routes=[Route("/voice", voicemail, methods=["POST"])])) as twiml:
        [number] = sdk.incoming_phone_numbers.list(phone_number=NUMBER)
        sdk.incoming_phone_numbers(number.sid).update(voice_url=f"{twiml.url}/voice")
        called = httpx.post(
            f"{live.url}/_sandbox/inbound_call",
            json={"from": PHONE, "to": NUMBER},
            auth=(SID, TOKEN),
        ).json()
    call_sid = called["call"]["sid"]
    [made] = sdk.recordings.list(date_created_after=datetime.now(UTC) - timedelta(days=1))
    assert made.call_sid == call_sid and made.duration == "4" and made.source == "RecordVerb"
    assert [r.sid for r in sdk.calls(call_sid).recordings.list()] == [made.sid]
    assert sdk.recordings.list(call_sid="CA" + "0" * 32) == []
    fetched = sdk.recordings(made.sid).fetch()
    assert fetched.media_url == f"{live.url}/2010-04-01/Accounts/{SID}/Recordings/{made.sid}"
    audio = httpx.get(fetched.media_url + ".wav")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    assert sdk.recordings(made.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        sdk.recordings(made.sid).fetch()
    assert gone.value.status == 404
    assert httpx.get(fetched.media_url + ".wav").status_code == 404
