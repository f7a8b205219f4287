"""Twilio's own Python SDK (``client.lookups.v2``, ``client.verify.v2``) against the sandbox
over loopback, with each product's base URL set to ``/<product>`` of the sandbox's."""

from __future__ import annotations

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from flo_twilio.sandbox.verify_rules import default_service_sid
from tests.test_sandbox_live import live  # noqa: F401  (fixture)


def sdk_for(url: str) -> Client:
    sdk = Client(SID, TOKEN)
    sdk.lookups.base_url = f"{url}/lookups"
    sdk.verify.base_url = f"{url}/verify"
    return sdk


def test_sdk_lookups_v2(live):  # noqa: F811
    sdk = sdk_for(live.url)
    found = sdk.lookups.v2.phone_numbers("+12065551216").fetch(fields="line_type_intelligence")
    assert found.valid is True and found.national_format == "(206) 555-1216"
    assert found.line_type_intelligence["type"] == "landline"
    national = sdk.lookups.v2.phone_numbers("020 7946 0958").fetch(country_code="GB")
    assert national.phone_number == "+442079460958" and national.country_code == "GB"
    invalid = sdk.lookups.v2.phone_numbers("+141599299600").fetch()
    assert invalid.valid is False and invalid.validation_errors == ["TOO_LONG"]


def test_sdk_verify_v2(live):  # noqa: F811
    sdk = sdk_for(live.url)
    service = sdk.verify.v2.services.create(friendly_name="flo", code_length=5)
    assert service.sid.startswith("VA") and service.code_length == 5
    assert sdk.verify.v2.services(service.sid).fetch().friendly_name == "flo"
    verification = sdk.verify.v2.services(service.sid).verifications.create(
        to="+12065551212", channel="sms"
    )
    assert verification.status == "pending" and verification.sid.startswith("VE")
    code = httpx.get(
        f"{live.url}/_sandbox/verifications", params={"To": "+12065551212"}, auth=(SID, TOKEN)
    ).json()["code"]
    checks = sdk.verify.v2.services(service.sid).verification_checks
    assert (
        checks.create(to="+12065551212", code="00000" if code != "00000" else "11111").valid
        is False
    )
    approved = checks.create(to="+12065551212", code=code)
    assert (approved.status, approved.valid) == ("approved", True)
    with pytest.raises(TwilioRestException) as gone:
        sdk.verify.v2.services(default_service_sid(SID)).verifications("VE" + "0" * 32).fetch()
    assert (gone.value.status, gone.value.code) == (404, 20404)
