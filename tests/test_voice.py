"""Make a Call and Get a Call against the sandbox; the sandbox's Calls as Twilio's spec says."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET

import httpx
import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import GetCall, MakeCall
from flo_twilio.client import TwilioApiError
from flo_twilio.errors import InvalidInputError
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.conftest import sandbox_client
from tests.test_cards import Recording
from tests.test_sandbox_api import ACCOUNT, conforms, http

pytestmark = pytest.mark.anyio

FROM = {"from": "+15005550006"}
TO = "+12065551212"
CALLS = f"/2010-04-01/Accounts/{SID}/Calls.json"


@pytest.fixture
def state():
    return SandboxState(status_delay=0.05)


@pytest.fixture
def wire(state):
    return Recording(httpx.ASGITransport(create_app(state)))


@pytest.fixture
async def ctx(state, wire):
    async with sandbox_client(create_app(state), transport=wire) as client:
        yield CardContext(client, {"sid": SID})


def sent_twiml(wire) -> ET.Element:
    return ET.fromstring(dict(wire.form())["Twiml"])


async def test_make_call_says_the_text(ctx, wire):
    inputs = {"to": TO, "say": "Hello Ada", "voice": "Polly.Joanna", "language": "en-GB"}
    outputs = await call_card(MakeCall(), ctx, FROM, inputs)
    assert outputs["sid"].startswith("CA") and outputs["status"] == "queued"
    assert outputs["dateCreated"].endswith("+00:00") and outputs["duration"] is None
    say = sent_twiml(wire).find("Say")
    assert say is not None and say.text == "Hello Ada"
    assert say.attrib == {"voice": "Polly.Joanna", "language": "en-GB"}
    form = dict(wire.form())
    assert (form["To"], form["From"]) == (TO, "+15005550006") and "Url" not in form


@pytest.mark.parametrize(
    "text",
    [
        "</Say><Dial>+19005550000</Dial><Say>",
        "<![CDATA[x]]> & &amp; <!-- c --> <?pi?>",
        "\"quoted\" 'single' <Play>http://e.com/a.mp3</Play>",
    ],
)
async def test_no_text_can_inject_twiml(ctx, wire, text):
    await call_card(MakeCall(), ctx, FROM, {"to": TO, "say": text})
    response = sent_twiml(wire)
    assert [child.tag for child in response] == ["Say"]
    assert response[0].text == text and len(response[0]) == 0


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "exactly one of inputs.say"),
        ({"say": "hi", "twiml": "<Response/>"}, "got say, twiml"),
        ({"url": "https://e.com/t.xml", "voice": "alice"}, "inputs.voice is for say"),
        ({"say": "bell \x07"}, "character TwiML cannot carry"),
        ({"say": "&" * 790}, "inputs.say is too long"),
    ],
)
async def test_bad_instructions_are_refused_before_sending(ctx, wire, inputs, message):
    with pytest.raises(InvalidInputError, match=message):
        await call_card(MakeCall(), ctx, FROM, {"to": TO, **inputs})
    assert wire.requests == []


async def test_twiml_url_and_the_rest_are_sent_as_given(ctx, wire):
    inputs = {
        "to": TO,
        "url": "https://e.com/my twiml.xml",
        "statusCallback": "https://e.com/status",
        "timeout": 20,
        "record": True,
    }
    await call_card(MakeCall(), ctx, FROM, inputs)
    assert wire.form() == [
        ("To", TO),
        ("From", "+15005550006"),
        ("Url", "https://e.com/my%20twiml.xml"),
        ("StatusCallback", "https://e.com/status"),
        ("Timeout", "20"),
        ("Record", "true"),
    ]
    await call_card(MakeCall(), ctx, FROM, {"to": TO, "twiml": "<Response><Hangup/></Response>"})
    assert dict(wire.form())["Twiml"] == "<Response><Hangup/></Response>"


async def test_get_call_follows_the_status_clock(ctx, state):
    made = await call_card(MakeCall(), ctx, FROM, {"to": TO, "say": "hi"})
    seen = []
    for _ in range(100):
        got = await call_card(GetCall(), ctx, {}, {"sid": made["sid"]})
        if not seen or seen[-1] != got["status"]:
            seen.append(got["status"])
        if got["status"] == "completed":
            break
        await asyncio.sleep(0.01)
    assert seen == ["queued", "ringing", "in-progress", "completed"]
    assert got["duration"] == 0 and got["price"] == "-0.01300" and got["priceUnit"] == "USD"
    assert got["startTime"] <= got["endTime"]  # whole seconds


async def test_an_unknown_call_is_twilios_20404(ctx):
    with pytest.raises(TwilioApiError) as caught:
        await call_card(GetCall(), ctx, {}, {"sid": "CA" + "0" * 32})
    assert (caught.value.status, caught.value.code) == (404, 20404)


async def test_an_interrupted_call_is_found_by_to_from_and_time(ctx):
    since = time.time()
    card, inputs = MakeCall(), {"to": TO, "say": "hi"}
    assert await card.reconcile(ctx, FROM, inputs, since) is None
    made = await call_card(card, ctx, FROM, inputs)
    await call_card(card, ctx, FROM, {"to": "+12065550000", "say": "hi"})  # another number
    found = await card.reconcile(ctx, FROM, inputs, since)
    assert found is not None and found["sid"] == made["sid"]
    assert await card.reconcile(ctx, FROM, inputs, since, exclude={made["sid"]}) is None
    assert await card.reconcile(ctx, FROM, inputs, time.time() + 300) is None  # past the slack


async def test_the_from_dropdown_lists_voice_numbers(ctx, state):
    state.numbers[SID][1].capabilities["voice"] = False
    choices = await MakeCall().choices(ctx, "from")
    assert [c["value"] for c in choices] == ["+15005550006", "+15558675310"]


async def test_sandbox_calls_match_the_spec(state):
    state.status_delay = 0
    async with http(create_app(state)) as c:
        made = await c.post(CALLS, data={"To": TO, "From": "+15005550006", "Twiml": "<Response/>"})
        assert made.status_code == 201
        call = conforms(made, f"{ACCOUNT}/Calls.json", "POST")
        fetched = await c.get(f"/2010-04-01/Accounts/{SID}/Calls/{call['sid']}.json")
        assert conforms(fetched, f"{ACCOUNT}/Calls/{{Sid}}.json", "GET")["status"] == "completed"
        listed = await c.get(CALLS, params={"To": TO, "PageSize": 5})
        assert [x["sid"] for x in conforms(listed, f"{ACCOUNT}/Calls.json", "GET")["calls"]] == [
            call["sid"]
        ]
        assert (await c.get(CALLS, params={"To": "+1999"})).json()["calls"] == []


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"To": None}, 21201),
        ({"From": None}, 21213),
        ({"Twiml": None}, 21205),
        ({"Twiml": None, "Url": "ftp://e.com/x"}, 21205),
        ({"To": "12065551212"}, 21211),
        ({"To": "+15005550001"}, 21217),
        ({"To": "+15005550002"}, 21214),
        ({"From": "+15005550001"}, 21212),
        ({"From": "+15005550007"}, 21210),
        ({"From": "+12065559999"}, 21210),
        ({"Timeout": "0"}, 21209),
        ({"StatusCallback": "not a url"}, 21609),
    ],
)
async def test_sandbox_refuses_calls_as_twilio_does(state, changes, code):
    form = {"To": TO, "From": "+15005550006", "Twiml": "<Response/>", **changes}
    async with http(create_app(state)) as c:
        answer = await c.post(CALLS, data={k: v for k, v in form.items() if v is not None})
    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert not state.calls


async def test_a_restarted_sandbox_remembers_its_calls(tmp_path):
    first = SandboxState(db_path=tmp_path / "s.db")
    async with http(create_app(first)) as c:
        made = (
            await c.post(CALLS, data={"To": TO, "From": "+15005550006", "Url": "https://e.com/"})
        ).json()
    again = SandboxState(db_path=tmp_path / "s.db")
    assert made["sid"] in again.calls
