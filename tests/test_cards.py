"""The Twilio cards against the sandbox (in-process) and, for URLs, a recording fake."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import CustomApi, SendMms, SendSms
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.errors import InvalidInputError, OutcomeUnknownError
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.conftest import FAST_RETRY

pytestmark = pytest.mark.anyio

SENDER = {"from": "+15005550006"}
SERVICE = "MG" + SID[2:]


class Recording(httpx.AsyncBaseTransport):
    """Passes requests on to another transport and keeps each one (with its body)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        self.responses.append(response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def form(self, index: int = -1) -> list[tuple[str, str]]:
        return parse_qsl(self.requests[index].content.decode(), keep_blank_values=True)


@pytest.fixture
def state():
    return SandboxState(status_delay=0.2)


@pytest.fixture
def wire(state):
    return Recording(httpx.ASGITransport(create_app(state, Faults())))


@pytest.fixture
async def ctx(wire):
    client = TwilioClient(
        Credentials.of(SID, auth_token=TOKEN),
        api_base_url="http://127.0.0.1",
        transport=wire,
        retry=FAST_RETRY,
    )
    async with client:
        yield CardContext(client, {"sid": SID})


async def test_send_sms_outputs(ctx, wire):
    outputs = await call_card(SendSms(), ctx, SENDER, {"to": "+12065551212", "body": "Hello"})
    assert outputs["sid"].startswith("SM") and outputs["status"] == "queued"
    assert outputs["dateCreated"].endswith("+00:00")  # ISO 8601 with offset
    assert outputs["numSegments"] == 1 and outputs["numMedia"] == 0
    assert (outputs["to"], outputs["from"], outputs["body"]) == (
        "+12065551212",
        "+15005550006",
        "Hello",
    )
    assert wire.form() == [("To", "+12065551212"), ("From", "+15005550006"), ("Body", "Hello")]


async def test_every_optional_sms_field_is_encoded(ctx, wire):
    from datetime import UTC, datetime, timedelta

    send_at = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    inputs = {
        "to": "+12065551212",
        "body": "Hi",
        "statusCallback": "http://127.0.0.1:9/cb",
        "validityPeriod": 600,
        "sendAt": send_at,
        "contentSid": "HX" + "a" * 32,
        "contentVariables": {"1": "Ada"},
        "shortenUrls": True,
    }
    outputs = await call_card(SendSms(), ctx, {"messagingServiceSid": SERVICE}, inputs)
    assert outputs["status"] == "scheduled"
    assert wire.form() == [
        ("To", "+12065551212"),
        ("MessagingServiceSid", SERVICE),
        ("Body", "Hi"),
        ("ContentSid", "HX" + "a" * 32),
        ("ContentVariables", '{"1": "Ada"}'),
        ("StatusCallback", "http://127.0.0.1:9/cb"),
        ("ValidityPeriod", "600"),
        ("SendAt", send_at),
        ("ScheduleType", "fixed"),
        ("ShortenUrls", "true"),
    ]


async def test_messaging_service_send(ctx):
    outputs = await call_card(
        SendSms(), ctx, {"messagingServiceSid": SERVICE}, {"to": "+12065551212", "body": "x"}
    )
    assert outputs["messagingServiceSid"] == SERVICE and outputs["status"] == "accepted"


async def test_whatsapp_send(ctx):
    outputs = await call_card(
        SendSms(),
        ctx,
        {"from": "whatsapp:+15005550006"},
        {"to": "whatsapp:+12065551212", "body": "x"},
    )
    assert outputs["to"] == "whatsapp:+12065551212"


@pytest.mark.parametrize(
    ("options", "inputs", "says"),
    [
        (SENDER, {"to": "12065551212", "body": "x"}, "inputs.to"),
        (SENDER, {"to": 12065551212, "body": "x"}, "quote phone numbers"),
        (SENDER, {"to": "+12065551212", "body": ""}, "at least 1 characters"),
        (SENDER, {"to": "+12065551212", "body": "x" * 1601}, "at most 1600"),
        ({}, {"to": "+12065551212", "body": "x"}, "messagingServiceSid"),
        ({"from": "+1"}, {"to": "+12065551212", "body": "x"}, "options.from"),
        (
            SENDER,
            {"to": "+12065551212", "body": "x", "sendAt": "2027-01-01T09:00:00Z"},
            "needs a Messaging Service",
        ),
        (SENDER, {"to": "whatsapp:+12065551212", "body": "x"}, "WhatsApp"),
        (SENDER, {"to": "+12065551212", "body": "x", "validityPeriod": 0}, "at least 1"),
        (
            SENDER,
            {"to": "+12065551212", "body": "x", "statusCallback": "not a url"},
            "statusCallback",
        ),
    ],
)
async def test_invalid_input_is_refused_before_any_request(ctx, wire, options, inputs, says):
    with pytest.raises(InvalidInputError, match=says):
        await call_card(SendSms(), ctx, options, inputs)
    assert wire.requests == []


async def test_send_mms(ctx, wire):
    urls = ["https://example.com/a.png", "https://example.com/b.gif"]
    outputs = await call_card(SendMms(), ctx, SENDER, {"to": "+12065551212", "mediaUrls": urls})
    assert outputs["sid"].startswith("MM") and outputs["numMedia"] == 2
    assert wire.form() == [
        ("To", "+12065551212"),
        ("From", "+15005550006"),
        ("MediaUrl", urls[0]),
        ("MediaUrl", urls[1]),
    ]


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ({"to": "+12065551212", "mediaUrls": []}, "at least 1 items"),
        ({"to": "+12065551212", "mediaUrls": ["https://e.com/x.png"] * 11}, "at most 10 items"),
        ({"to": "+12065551212", "mediaUrls": ["ftp://e.com/x.png"]}, "mediaUrls.0"),
        ({"to": "+12065551212", "body": "no media"}, "mediaUrls is required"),
    ],
)
async def test_mms_limits(ctx, wire, inputs, says):
    with pytest.raises(InvalidInputError, match=says):
        await call_card(SendMms(), ctx, SENDER, inputs)
    assert wire.requests == []


async def test_twilio_errors_pass_through_with_their_code(ctx):
    from flo_twilio.client import TwilioApiError

    with pytest.raises(TwilioApiError) as info:
        await call_card(
            SendSms(), ctx, {"from": "+15005550007"}, {"to": "+12065551212", "body": "x"}
        )
    assert info.value.code == 21606


async def test_from_dropdown_pages_through_every_number_and_filters_capability():
    numbers = [f"+1206555{i:04d}" for i in range(150)]  # MMS off for the second number only
    app = create_app(SandboxState(numbers=numbers))
    wire = Recording(httpx.ASGITransport(app))
    client = TwilioClient(
        Credentials.of(SID, auth_token=TOKEN), api_base_url="http://127.0.0.1", transport=wire
    )
    async with client:
        sms = await SendSms().choices(CardContext(client), "from")
        mms = await SendMms().choices(CardContext(client), "from")
    assert [c["value"] for c in sms] == numbers
    assert len(mms) == 149 and numbers[1] not in [c["value"] for c in mms]
    assert sms[0]["label"] == "Sandbox number 1 (+12065550000)"
    assert sum("IncomingPhoneNumbers" in str(r.url) for r in wire.requests) == 4  # 2 pages each


async def test_reconcile_finds_the_sent_message_and_only_it(ctx):
    import time

    since = time.time()
    inputs = {"to": "+12065551212", "body": "exactly once"}
    sent = await call_card(SendSms(), ctx, SENDER, inputs)
    found = await SendSms().reconcile(ctx, SENDER, inputs, since)
    assert found is not None and found["sid"] == sent["sid"]
    assert await SendSms().reconcile(ctx, SENDER, {**inputs, "body": "other"}, since) is None
    assert await SendSms().reconcile(ctx, SENDER, inputs, since, frozenset({sent["sid"]})) is None
    assert await SendSms().reconcile(ctx, SENDER, inputs, time.time() + 3600) is None


async def test_ambiguous_send_raises_outcome_unknown_and_is_reconciled(state):
    app = create_app(state, Faults(ambiguous_rate=1.0))
    client = TwilioClient(
        Credentials.of(SID, auth_token=TOKEN),
        api_base_url="http://127.0.0.1",
        transport=httpx.ASGITransport(app),
        retry=FAST_RETRY,
    )
    async with client:
        ctx = CardContext(client)
        inputs = {"to": "+12065551212", "body": "maybe"}
        with pytest.raises(OutcomeUnknownError):
            await call_card(SendSms(), ctx, SENDER, inputs)
        found = await SendSms().reconcile(ctx, SENDER, inputs, 0)
    assert found is not None and len(state.messages) == 1


# Custom API Action


async def test_custom_api_lists_accounts_as_the_seed_example(ctx, wire):
    outputs = await call_card(
        CustomApi(), ctx, {"method": "GET"}, {"relativeUrl": "/Accounts.json"}
    )
    assert outputs["statusCode"] == 200
    assert outputs["headers"]["content-type"] == "application/json"
    [account] = outputs["body"]["accounts"]
    assert account["sid"] == SID and account["auth_token"] == "***"
    assert str(wire.requests[0].url) == "http://127.0.0.1/2010-04-01/Accounts.json"


async def test_custom_api_query_and_form(ctx, wire):
    path = f"/Accounts/{SID}/Messages.json"
    created = await call_card(
        CustomApi(),
        ctx,
        {"method": "POST"},
        {
            "relativeUrl": path,
            "query": {"To": "+12065551212", "From": "+15005550006", "Body": "via custom"},
        },
    )
    assert created["statusCode"] == 201 and created["body"]["body"] == "via custom"
    assert wire.form() == [("To", "+12065551212"), ("From", "+15005550006"), ("Body", "via custom")]
    listed = await call_card(
        CustomApi(),
        ctx,
        {"method": "GET"},
        {"relativeUrl": path, "query": "PageSize=1&To=%2B12065551212"},
    )
    assert wire.requests[-1].url.params["To"] == "+12065551212"
    assert len(listed["body"]["messages"]) == 1
    as_json_text = await call_card(
        CustomApi(), ctx, {"method": "GET"}, {"relativeUrl": path, "query": '{"PageSize": 2}'}
    )
    assert wire.requests[-1].url.params["PageSize"] == "2" and as_json_text["statusCode"] == 200


async def test_custom_api_json_body(ctx, wire):
    await call_card(
        CustomApi(),
        ctx,
        {"method": "POST"},
        {
            "relativeUrl": "/Anything.json",
            "query": {"a": [1, 2]},
            "headers": {"Content-Type": "application/json"},
        },
    )
    assert wire.requests[-1].content == b'{"a": [1, 2]}'


async def test_custom_api_returns_error_statuses_as_outputs(ctx):
    outputs = await call_card(
        CustomApi(),
        ctx,
        {"method": "DELETE"},
        {"relativeUrl": f"/Accounts/{SID}/Messages/SM{'0' * 32}.json"},
    )
    assert outputs["statusCode"] == 404 and outputs["body"]["code"] == 20404


@pytest.mark.parametrize("header", ["Authorization", "host", "Proxy-Authorization"])
async def test_custom_api_refuses_credential_headers(ctx, wire, header):
    with pytest.raises(InvalidInputError, match="may not set"):
        await call_card(
            CustomApi(),
            ctx,
            {"method": "GET"},
            {"relativeUrl": "/Accounts.json", "headers": {header: "x"}},
        )
    assert wire.requests == []


HOSTILE = [
    "https://evil.example/steal",
    "http://evil.example",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "@evil.example",
    "/x@evil.example",
    "/Accounts/../../x",
    "../Accounts.json",
    "/Accounts/%2e%2e/x",
    "/Accounts/%2E%2E/%2E%2E/x",
    "%2F%2Fevil.example",
    "%252F%252Fevil.example",
    "/a/%252e%252e/b",
    "/x%40evil.example",
    "/Accounts.json\r\nHost: evil",
    "/Accounts .json",
    "/Accounts.json\x00",
    "/a\tb",
    "/x#frag",
    "/%5Cevil.example",
    "mailto:x@y",
]


@pytest.mark.parametrize("relative_url", HOSTILE)
async def test_custom_api_refuses_hostile_relative_urls_without_any_request(
    ctx, wire, relative_url
):
    with pytest.raises(InvalidInputError, match="relativeUrl"):
        await call_card(CustomApi(), ctx, {"method": "GET"}, {"relativeUrl": relative_url})
    assert wire.requests == []


async def test_custom_api_other_products_and_no_proxy():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = TwilioClient(
        Credentials.of(SID, auth_token=TOKEN),
        edge="dublin",
        region="ie1",
        transport=httpx.MockTransport(handler),
    )
    async with client:
        ctx = CardContext(client)
        await call_card(
            CustomApi(), ctx, {"method": "GET", "api": "messaging"}, {"relativeUrl": "/v1/Services"}
        )
        await call_card(CustomApi(), ctx, {"method": "GET"}, {"relativeUrl": "Accounts.json"})
    assert str(seen[0].url) == "https://messaging.dublin.ie1.twilio.com/v1/Services"
    assert str(seen[1].url) == "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts.json"
    with pytest.raises(InvalidInputError, match="method"):
        await call_card(CustomApi(), ctx, {"method": "TRACE"}, {"relativeUrl": "/x"})
