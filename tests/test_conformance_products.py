"""Lookup and Verify cards' requests, sent to Prism serving Twilio's official Lookups v2
and Verify v2 specs (paths under /<product>, as the client sends them to a base URL), and
the sandbox's answers validated against those specs' response schemas."""

from __future__ import annotations

import itertools

import httpx
import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import CheckVerification, LookupPhoneNumber, StartVerification
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.client.core import network_transport
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from flo_twilio.sandbox.verify_rules import default_service_sid
from tests import twilio_spec
from tests.test_cards import Recording
from tests.test_conformance import SID, assert_conforms

pytestmark = pytest.mark.anyio
SERVICE = {"serviceSid": "VA" + "b" * 32}


@pytest.fixture(scope="module")
def lookups_prism():
    spec = twilio_spec.product_prism_spec("lookups")
    with twilio_spec.serving_prism(spec, "/lookups/v2/PhoneNumbers/+14159929960") as url:
        yield url


@pytest.fixture(scope="module")
def verify_prism():
    spec = twilio_spec.product_prism_spec("verify")
    with twilio_spec.serving_prism(spec, f"/verify/v2/Services/{SERVICE['serviceSid']}") as url:
        yield url


async def run(base_url, card, options, inputs):
    wire = Recording(network_transport())
    credentials = Credentials.of(SID, "conformance-token")
    async with TwilioClient(credentials, api_base_url=base_url, transport=wire) as client:
        outputs = await call_card(card, CardContext(client, {"sid": SID}), options, inputs)
    assert_conforms(wire)
    return outputs


NUMBERS = [
    {"phoneNumber": "+14159929960"},
    {"phoneNumber": "(415) 992-9960"},
    {"phoneNumber": "020 7946 0958", "countryCode": "GB"},
    {"phoneNumber": "not a number / really?#"},
]
FIELDS = [{}, {"fields": ["line_type_intelligence"]}, {"fields": ["validation"]}]
FIELDS.append({"fields": ["validation", "line_type_intelligence"]})


@pytest.mark.parametrize(("number", "fields"), list(itertools.product(NUMBERS, FIELDS)))
async def test_lookup_requests_conform(lookups_prism, number, fields):
    outputs = await run(lookups_prism, LookupPhoneNumber(), {}, {**number, **fields})
    assert outputs["phoneNumber"]  # Prism's canned answer, read as the card's outputs


@pytest.mark.parametrize(
    ("to", "channel"),
    [("+12065551212", channel) for channel in ("sms", "call", "whatsapp")]
    + [("ada@example.com", "email")],
)
async def test_verify_requests_conform(verify_prism, to, channel):
    started = await run(verify_prism, StartVerification(), SERVICE, {"to": to, "channel": channel})
    assert started["sid"].startswith("VE")
    checked = await run(verify_prism, CheckVerification(), SERVICE, {"to": to, "code": "123456"})
    assert checked["valid"] is True  # Prism's canned approval


# The sandbox's answers, validated against the specs.


@pytest.fixture
async def sandbox_client():
    transport = httpx.ASGITransport(create_app(SandboxState(status_delay=0.01)))
    credentials = Credentials.of(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    async with TwilioClient(
        credentials, api_base_url="http://127.0.0.1", transport=transport
    ) as client:
        yield client


def assert_valid(product: str, path: str, method: str, response: httpx.Response) -> None:
    validator = twilio_spec.product_response_validator(product, path, method, response.status_code)
    errors = [e.message for e in validator.iter_errors(response.json())]
    assert not errors, errors


@pytest.mark.parametrize(
    ("number", "query"),
    [
        ("+12065551212", {"Fields": "line_type_intelligence"}),
        ("(206) 555-1216", {"Fields": "line_type_intelligence", "CountryCode": "US"}),
        ("+18005551212", {"Fields": "line_type_intelligence"}),
        ("+141599299600", {}),
        ("nonsense", {"Fields": "line_type_intelligence"}),
    ],
)
async def test_sandbox_lookups_answers_follow_the_spec(sandbox_client, number, query):
    client = sandbox_client
    response = await client.request(
        "GET", f"/v2/PhoneNumbers/{number}", params=query, base=client.product_url("lookups")
    )
    assert_valid("lookups", "/v2/PhoneNumbers/{PhoneNumber}", "GET", response)


async def test_sandbox_verify_answers_follow_the_spec(sandbox_client):
    client = sandbox_client
    base = client.product_url("verify")
    service = default_service_sid(DEFAULT_ACCOUNT_SID)
    made = await client.request("POST", "/v2/Services", form={"FriendlyName": "app"}, base=base)
    assert_valid("verify", "/v2/Services", "POST", made)
    fetched = await client.request("GET", f"/v2/Services/{service}", base=base)
    assert_valid("verify", "/v2/Services/{Sid}", "GET", fetched)
    form = {"To": "+12065551212", "Channel": "sms"}
    started = await client.request(
        "POST", f"/v2/Services/{service}/Verifications", form=form, base=base
    )
    assert_valid("verify", "/v2/Services/{ServiceSid}/Verifications", "POST", started)
    sid = started.json()["sid"]
    one = await client.request("GET", f"/v2/Services/{service}/Verifications/{sid}", base=base)
    assert_valid("verify", "/v2/Services/{ServiceSid}/Verifications/{Sid}", "GET", one)
    code = (
        await client.request("GET", "/_sandbox/verifications", params={"To": "+12065551212"})
    ).json()["code"]
    checked = await client.request(
        "POST",
        f"/v2/Services/{service}/VerificationCheck",
        form={"To": "+12065551212", "Code": code},
        base=base,
    )
    assert checked.json()["status"] == "approved"
    assert_valid("verify", "/v2/Services/{ServiceSid}/VerificationCheck", "POST", checked)


def test_the_response_check_can_fail():
    validator = twilio_spec.product_response_validator(
        "verify", "/v2/Services/{ServiceSid}/Verifications", "POST", 201
    )
    assert list(validator.iter_errors({"sid": "SM123", "channel": "fax", "valid": "yes"}))
