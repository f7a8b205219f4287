"""Each card's real requests, sent to Stoplight Prism serving Twilio's official spec.

Prism answers 422 (or 400/401/415) with the violations it finds in a request; any such
answer, or an ``sl-violations`` header, fails the test.
"""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import (
    CancelMessage,
    CustomApi,
    DeleteMessage,
    GetCall,
    GetMessage,
    ListMessages,
    MakeCall,
    RedactMessage,
    SendMms,
    SendSms,
    WaitForDelivery,
)
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.client.core import network_transport
from tests import twilio_spec
from tests.test_cards import Recording

SID = "AC" + "a" * 32
SERVICE = "MG" + "b" * 32


@pytest.fixture(scope="module")
def prism_url():
    with twilio_spec.serving_prism(twilio_spec.prism_spec(), "/2010-04-01/Accounts.json") as url:
        yield url


def request_violations(response: httpx.Response) -> list[dict]:
    """Prism's findings about our request (it also reports on its own canned responses)."""
    found = json.loads(response.headers.get("sl-violations", "[]"))
    return [v for v in found if v.get("location", [""])[0] != "response"]


def assert_conforms(wire: Recording) -> None:
    assert wire.requests, "nothing was sent"
    for request, response in zip(wire.requests, wire.responses, strict=True):
        violations = request_violations(response)
        assert response.status_code < 400 and not violations, (
            f"{request.method} {request.url} {request.content!r}: "
            f"{response.status_code} {violations or response.content.decode(errors='replace')}"
        )


async def run(prism_url, card, options, inputs, api_key=False):
    wire = Recording(network_transport())
    credentials = (
        Credentials.of(SID, api_key="SK" + "c" * 32, api_secret="conformance-secret")
        if api_key
        else Credentials.of(SID, "conformance-token")
    )
    async with TwilioClient(credentials, api_base_url=prism_url, transport=wire) as client:
        outputs = await call_card(card, CardContext(client, {"sid": SID}), options, inputs)
    assert_conforms(wire)
    return outputs


SENDERS = [{"from": "+15005550006"}, {"messagingServiceSid": SERVICE}]
EXTRAS = [
    {},
    {"statusCallback": "https://example.com/status"},
    {"validityPeriod": 3600},
    {"contentSid": "HX" + "d" * 32, "contentVariables": {"1": "Ada"}},
    {"contentSid": "HX" + "d" * 32, "contentVariables": '{"1": "Ada"}'},
    {"shortenUrls": True},
    {
        "shortenUrls": False,
        "statusCallback": "https://example.com/s?a=1&b=two%20words",
        "validityPeriod": 1,
    },
]


@pytest.mark.anyio
@pytest.mark.parametrize(("sender", "extra"), list(itertools.product(SENDERS, EXTRAS)))
async def test_send_sms_requests_conform(prism_url, sender, extra):
    outputs = await run(
        prism_url, SendSms(), sender, {"to": "+12065551212", "body": "Hi + ünïcode & more", **extra}
    )
    assert outputs["sid"].startswith("SM")


@pytest.mark.anyio
async def test_scheduled_and_whatsapp_sms_conform(prism_url):
    await run(
        prism_url,
        SendSms(),
        {"messagingServiceSid": SERVICE},
        {"to": "+12065551212", "body": "later", "sendAt": "2030-01-01T09:00:00Z"},
    )
    await run(
        prism_url,
        SendSms(),
        {"from": "whatsapp:+15005550006"},
        {"to": "whatsapp:+12065551212", "body": "wa"},
    )
    await run(
        prism_url,
        SendSms(),
        {"from": "FloShop"},
        {"to": "+447700900123", "body": "alpha sender"},
        api_key=True,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("count", [1, 2, 10])
@pytest.mark.parametrize("body", [None, "Look at these"])
async def test_send_mms_requests_conform(prism_url, count, body):
    urls = [f"https://example.com/pictures/{i}.png?size=large&v=1" for i in range(count)]
    inputs = {"to": "+12065551212", "mediaUrls": urls} | ({"body": body} if body else {})
    await run(prism_url, SendMms(), {"from": "+15005550006"}, inputs)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "inputs"),
    [
        ("GET", {"relativeUrl": "/Accounts.json"}),
        ("GET", {"relativeUrl": f"/Accounts/{SID}.json"}),
        (
            "GET",
            {
                "relativeUrl": f"/Accounts/{SID}/Messages.json",
                "query": {"PageSize": 20, "To": "+12065551212"},
            },
        ),
        (
            "GET",
            {"relativeUrl": f"/Accounts/{SID}/IncomingPhoneNumbers.json", "query": "PageSize=50"},
        ),
        (
            "POST",
            {
                "relativeUrl": f"/Accounts/{SID}/Messages.json",
                "query": {"To": "+12065551212", "From": "+15005550006", "Body": "custom"},
            },
        ),
        (
            "POST",
            {
                "relativeUrl": f"/Accounts/{SID}/Messages/SM{'e' * 32}.json",
                "query": {"Status": "canceled"},
            },
        ),
        ("DELETE", {"relativeUrl": f"/Accounts/{SID}/Messages/SM{'e' * 32}.json"}),
        ("POST", {"relativeUrl": f"/Accounts/{SID}/Keys.json", "query": "FriendlyName=flo"}),
    ],
)
async def test_custom_api_requests_conform(prism_url, method, inputs):
    outputs = await run(prism_url, CustomApi(), {"method": method}, inputs)
    assert outputs["statusCode"] < 300


@pytest.mark.anyio
async def test_prism_really_reports_violations(prism_url):
    """The check can fail: a request Twilio's spec forbids is caught."""
    wire = Recording(network_transport())
    async with TwilioClient(
        Credentials.of(SID, "conformance-token"), api_base_url=prism_url, transport=wire
    ) as client:
        await client.request(
            "POST",
            f"/2010-04-01/Accounts/{SID}/Messages.json",
            form={"To": "+12065551212", "ValidityPeriod": "soon"},
            raise_for_status=False,
        )
    with pytest.raises(AssertionError, match="ValidityPeriod"):
        assert_conforms(wire)


MESSAGE_SID = {"sid": "SM" + "e" * 32}
# Prism answers its example's status, whatever it is: every status ends the wait
STATUSES = WaitForDelivery.manifest.properties("inputs")["until"]["items"]["enum"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("card", "inputs"),
    [
        (GetMessage(), MESSAGE_SID),
        (CancelMessage(), MESSAGE_SID),
        (RedactMessage(), MESSAGE_SID),
        (DeleteMessage(), MESSAGE_SID),
        (WaitForDelivery(), {**MESSAGE_SID, "until": STATUSES, "pollInterval": 0.01}),
        (GetMessage(), {"sid": "MM" + "f" * 32}),
        # Prism's canned page always names a next page, itself: limits stay within a page
        (ListMessages(), {"limit": 2}),
        (ListMessages(), {"to": "+12065551212", "from": "+15005550006", "limit": 2}),
        (ListMessages(), {"from": "FloShop", "limit": 1}),
        (
            ListMessages(),
            {
                "dateSentAfter": "2026-01-01T00:00:00Z",
                "dateSentBefore": "2026-02-01T09:30:00+02:00",
                "limit": 1,
            },
        ),
    ],
    ids=lambda value: getattr(value, "name", None),
)
async def test_message_action_requests_conform(prism_url, card, inputs):
    outputs = await run(prism_url, card, {}, inputs)
    assert outputs["sid" if "sid" in inputs else "count"]


CALL_INSTRUCTIONS = [
    {"say": 'Hello <Ada> & "friends"', "voice": "Polly.Joanna", "language": "en-US"},
    {"say": "Plain"},
    {"twiml": "<Response><Hangup/></Response>"},
    {"url": "https://example.com/twiml path.xml?a=1&b=2"},
]
CALL_EXTRAS = [{}, {"statusCallback": "https://example.com/calls", "timeout": 30, "record": True}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("instructions", "extra"), list(itertools.product(CALL_INSTRUCTIONS, CALL_EXTRAS))
)
async def test_make_call_requests_conform(prism_url, instructions, extra):
    outputs = await run(
        prism_url,
        MakeCall(),
        {"from": "+15005550006"},
        {"to": "+12065551212", **instructions, **extra},
    )
    assert outputs["sid"].startswith("CA")


@pytest.mark.anyio
async def test_get_call_requests_conform(prism_url):
    outputs = await run(prism_url, GetCall(), {}, {"sid": "CA" + "e" * 32})
    assert outputs["sid"].startswith("CA")
