"""The sandbox plays Twilio's side of triggers: numbers whose SmsUrl can be set, incoming
messages listed as Twilio lists them and posted, signed, to that SmsUrl."""

from __future__ import annotations

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
from tests.test_sandbox_api import MESSAGES, OK, conforms, http

pytestmark = pytest.mark.anyio

NUMBERS = f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
HOOK = "http://127.0.0.1:9/hooks/sms?flow=a"


def receiver():
    """An ASGI app recording each webhook: (full URL, method, form, headers)."""
    received: list[tuple[str, str, dict[str, str], httpx.Headers]] = []

    async def hook(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        received.append((str(request.url), request.method, form, httpx.Headers(request.headers)))
        return Response("<Response/>", media_type="text/xml")

    app = Starlette(routes=[Route("/hooks/sms", hook, methods=["GET", "POST"])])
    return app, received


def app_with_receiver(state: SandboxState | None = None):
    """A sandbox whose webhooks go to a ``receiver``; the list of what it received."""
    hooks, received = receiver()
    return create_app(
        state or SandboxState(), callback_transport=httpx.ASGITransport(hooks)
    ), received


def number_path(number: dict) -> str:
    return f"/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{number['sid']}.json"


async def first_number(c: httpx.AsyncClient) -> dict:
    return (await c.get(NUMBERS)).json()["incoming_phone_numbers"][0]


async def test_a_numbers_sms_url_is_set_fetched_and_cleared():
    app = create_app(SandboxState())
    async with http(app) as c:
        number = await first_number(c)
        assert number["sms_url"] == ""
        one = number_path(number)
        answer = await c.post(one, data={"SmsUrl": HOOK, "SmsMethod": "post"})
        assert answer.status_code == 200
        assert (answer.json()["sms_url"], answer.json()["sms_method"]) == (HOOK, "POST")
        conforms(
            await c.get(one),
            "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
            "get",
        )
        assert (await first_number(c))["sms_url"] == HOOK
        assert (await c.post(one, data={"SmsUrl": "ftp://x"})).json()["code"] == 21502
        assert (await c.post(one, data={"SmsMethod": "PUT"})).json()["code"] == 21502
        assert (await c.post(one, data={"SmsUrl": ""})).json()["sms_url"] == ""
        missing = one.replace(number["sid"], "PN" + "0" * 32)
        assert (await c.post(missing, data={"SmsUrl": HOOK})).status_code == 404


async def test_an_incoming_message_is_listed_and_posted_signed_to_the_sms_url():
    app, received = app_with_receiver()
    async with http(app) as c:
        number = await first_number(c)
        await c.post(number_path(number), data={"SmsUrl": HOOK})
        answer = await c.post(
            "/_sandbox/inbound",
            json={
                "from": "+12065551212",
                "to": number["phone_number"],
                "body": "Hi there",
                "mediaUrls": ["https://example.com/cat.png"],
                "deliveries": 2,
            },
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["webhook"]["deliveries"] == [200, 200]
        message = answer.json()["message"]
        listed = (await c.get(MESSAGES)).json()["messages"]
        conforms(await c.get(MESSAGES), "/2010-04-01/Accounts/{AccountSid}/Messages.json", "get")
    assert [(m["sid"], m["direction"], m["status"]) for m in listed] == [
        (message["sid"], "inbound", "received")
    ]
    assert len(received) == 2
    (url, method, form, headers), again = received
    assert (url, method) == (HOOK, "POST")
    assert form == again[2]
    assert headers["i-twilio-idempotency-token"] == again[3]["i-twilio-idempotency-token"]
    assert {k: form[k] for k in ("MessageSid", "SmsSid", "SmsMessageSid")} == dict.fromkeys(
        ("MessageSid", "SmsSid", "SmsMessageSid"), message["sid"]
    )
    assert form["From"] == "+12065551212" and form["To"] == number["phone_number"]
    assert (form["Body"], form["NumMedia"], form["NumSegments"]) == ("Hi there", "1", "1")
    assert (form["MediaUrl0"], form["MediaContentType0"]) == (
        "https://example.com/cat.png",
        "image/png",
    )
    assert (form["FromCity"], form["FromState"], form["FromCountry"]) == ("SEATTLE", "WA", "US")
    assert (form["SmsStatus"], form["AccountSid"], form["ApiVersion"]) == (
        "received",
        SID,
        "2010-04-01",
    )
    assert RequestValidator(TOKEN).validate(url, form, headers["x-twilio-signature"])
    assert not RequestValidator("another-token").validate(url, form, headers["x-twilio-signature"])


async def test_a_get_sms_url_gets_the_parameters_in_its_query():
    app, received = app_with_receiver()
    async with http(app) as c:
        number = await first_number(c)
        await c.post(number_path(number), data={"SmsUrl": HOOK, "SmsMethod": "GET"})
        inbound = {"from": "+12065551212", "to": number["phone_number"], "body": "a&b=c"}
        assert (await c.post("/_sandbox/inbound", json=inbound)).status_code == 201
    ((url, method, form, headers),) = received
    assert method == "GET" and form == {}
    assert dict(parse_qsl(httpx.URL(url).query.decode()))["Body"] == "a&b=c"
    assert RequestValidator(TOKEN).validate(url, {}, headers["x-twilio-signature"])


async def test_webhooks_go_only_to_this_machine_and_bad_inbound_is_refused():
    app = create_app(SandboxState())
    async with http(app) as c:
        number = await first_number(c)
        one = number_path(number)
        await c.post(one, data={"SmsUrl": "https://example.com/hook"})
        ok = {"from": "+12065551212", "to": number["phone_number"], "body": "hi"}
        answer = await c.post("/_sandbox/inbound", json=ok)
        assert answer.status_code == 201
        assert "loopback" in answer.json()["webhook"]["deliveries"][0]
        for bad in (
            {**ok, "from": "12065551212"},
            {**ok, "body": ""},
            {**ok, "mediaUrls": ["file:///etc/passwd"]},
            {**ok, "deliveries": 0},
            [ok],
        ):
            assert (await c.post("/_sandbox/inbound", json=bad)).status_code == 400, bad
        assert (
            await c.post("/_sandbox/inbound", json={**ok, "to": "+12065550000"})
        ).status_code == 404
    async with http(app, auth=(SID, "wrong")) as c:
        assert (await c.post("/_sandbox/inbound", json=ok)).status_code == 401


async def test_status_callbacks_carry_one_idempotency_token_per_status():
    app, received = app_with_receiver(SandboxState(status_delay=0.05))
    async with http(app) as c:
        await c.post(MESSAGES, data={**OK, "StatusCallback": HOOK})
        with anyio.fail_after(5):
            while len(received) < 2:
                await anyio.sleep(0.02)
    tokens = [headers["i-twilio-idempotency-token"] for *_, headers in received]
    assert len(set(tokens)) == 2 and all(tokens)
    for url, _, form, headers in received:
        assert RequestValidator(TOKEN).validate(url, form, headers["x-twilio-signature"])
