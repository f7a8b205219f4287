"""Look up a phone number, against the sandbox's Lookups v2 (in-process), and where the
client sends product requests."""

from __future__ import annotations

import httpx
import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import LookupPhoneNumber
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.client.urls import base_url
from flo_twilio.errors import InvalidInputError
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import basic_auth
from tests.test_cards import ctx, state, wire  # noqa: F401  (fixtures)

pytestmark = pytest.mark.anyio
LTI = {"fields": ["line_type_intelligence"]}


async def lookup(ctx, **inputs):  # noqa: F811
    return await call_card(LookupPhoneNumber(), ctx, {}, inputs)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "https://lookups.twilio.com"),
        ({"edge": "dublin", "region": "ie1"}, "https://lookups.dublin.ie1.twilio.com"),
        ({"api_base_url": "http://127.0.0.1:4010"}, "http://127.0.0.1:4010/lookups"),
        ({"api_base_url": "https://proxy.example.com/"}, "https://proxy.example.com/lookups"),
    ],
)
def test_product_hosts(kwargs, expected):
    assert base_url("lookups", **kwargs) == expected
    assert base_url("api", **kwargs) == expected.replace("lookups", "api", 1).removesuffix("/api")


def test_a_product_that_is_not_a_host_label_is_refused():
    with pytest.raises(InvalidInputError):
        base_url("lookups.evil.com/x", api_base_url="http://127.0.0.1:4010")
    with pytest.raises(InvalidInputError):
        base_url("x@evil")


async def test_lookup_goes_to_lookups_twilio_com_with_the_account_credentials():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"valid": True, "phone_number": "+12065551212"})

    client = TwilioClient(Credentials.of(SID, TOKEN), transport=httpx.MockTransport(answer))
    async with client:
        await lookup(CardContext(client), phoneNumber="(206) 555-1212", countryCode="us", **LTI)
    [request] = seen
    assert str(request.url) == (
        "https://lookups.twilio.com/v2/PhoneNumbers/%28206%29%20555-1212"
        "?Fields=line_type_intelligence&CountryCode=US"
    )
    assert request.headers["authorization"] == basic_auth(SID, TOKEN)


async def test_valid_mobile_number(ctx, wire):  # noqa: F811
    outputs = await lookup(ctx, phoneNumber="+12065551212", **LTI)
    assert outputs == {
        "valid": True,
        "phoneNumber": "+12065551212",
        "nationalFormat": "(206) 555-1212",
        "countryCode": "US",
        "callingCountryCode": "1",
        "validationErrors": [],
        "lineType": "mobile",
        "carrierName": "Sandbox Wireless",
    }
    assert wire.requests[-1].url.path == "/lookups/v2/PhoneNumbers/+12065551212"


@pytest.mark.parametrize(
    ("number", "country", "e164", "line_type"),
    [
        ("(206) 555-1216", None, "+12065551216", "landline"),
        ("206.555.1218", None, "+12065551218", "fixedVoip"),
        ("+1 206 555 1219", None, "+12065551219", "nonFixedVoip"),
        ("0170 1234567", "DE", "+491701234567", "mobile"),
        ("020 7946 0958", "gb", "+442079460958", "landline"),
        ("+18005551212", None, "+18005551212", "tollFree"),
    ],
)
async def test_national_formats_and_line_types(ctx, number, country, e164, line_type):  # noqa: F811
    inputs = {"phoneNumber": number, **LTI} | ({"countryCode": country} if country else {})
    outputs = await lookup(ctx, **inputs)
    assert (outputs["valid"], outputs["phoneNumber"], outputs["lineType"]) == (
        True,
        e164,
        line_type,
    )


@pytest.mark.parametrize(
    ("number", "reason", "shown"),
    [
        ("+141599299600", "TOO_LONG", "+141599299600"),
        ("+1415992996", "TOO_SHORT", "+1415992996"),
        ("+999123", "INVALID_COUNTRY_CODE", "+999123"),
        ("not a number", "NOT_A_NUMBER", "not a number"),
        ("+447700900123", "INVALID_BUT_POSSIBLE", "+447700900123"),
    ],
)
async def test_invalid_numbers_are_answered_not_refused(ctx, number, reason, shown):  # noqa: F811
    outputs = await lookup(ctx, phoneNumber=number, **LTI)
    assert outputs["valid"] is False and outputs["validationErrors"] == [reason]
    assert outputs["phoneNumber"] == shown
    assert outputs["nationalFormat"] is None and outputs["lineType"] is None


async def test_without_line_type_intelligence_there_is_no_line_type(ctx, wire):  # noqa: F811
    outputs = await lookup(ctx, phoneNumber="+12065551212")
    assert outputs["valid"] and outputs["lineType"] is None and outputs["carrierName"] is None
    assert wire.requests[-1].url.query == b""


async def test_a_number_with_a_slash_or_hash_stays_one_path_segment(ctx, wire):  # noqa: F811
    outputs = await lookup(ctx, phoneNumber="206/555#1212?x=1")
    assert wire.requests[-1].url.raw_path.startswith(
        b"/lookups/v2/PhoneNumbers/206%2F555%231212%3Fx"
    )
    assert outputs["valid"] is False


async def test_wrong_credentials_get_twilio_s_401(wire):  # noqa: F811
    client = TwilioClient(
        Credentials.of(SID, "wrong-token-123"), api_base_url="http://127.0.0.1", transport=wire
    )
    async with client:
        with pytest.raises(Exception, match="20003"):
            await lookup(CardContext(client), phoneNumber="+12065551212")


async def test_bad_inputs_are_refused_before_sending(ctx, wire):  # noqa: F811
    for inputs in (
        {"phoneNumber": "   "},
        {"phoneNumber": "+12065551212", "countryCode": "USA"},
        {"phoneNumber": "+12065551212", "fields": ["caller_id"]},
    ):
        with pytest.raises(InvalidInputError):
            await lookup(ctx, **inputs)
    assert wire.requests == []
