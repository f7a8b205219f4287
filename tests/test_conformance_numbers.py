"""The number cards' requests, sent to Prism serving Twilio's official spec (see
test_conformance), and the sandbox's answers to them checked against the spec's schemas."""

from __future__ import annotations

import pytest

from flo_twilio.cards import (
    BuyPhoneNumber,
    ReleasePhoneNumber,
    SearchAvailableNumbers,
    UpdatePhoneNumber,
)
from tests.test_conformance import prism_url, run  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio
NUMBER_SID = {"sid": "PN" + "e" * 32}
EVERY_SETTING = {
    "friendlyName": "Branch & co",
    "smsUrl": "https://example.com/sms?a=1&b=2",
    "smsMethod": "GET",
    "smsFallbackUrl": "https://example.com/sms-fallback",
    "smsFallbackMethod": "POST",
    "smsApplicationSid": "AP" + "1" * 32,
    "voiceUrl": "https://example.com/voice",
    "voiceMethod": "POST",
    "voiceFallbackUrl": "https://example.com/voice-fallback",
    "voiceFallbackMethod": "GET",
    "voiceApplicationSid": "AP" + "2" * 32,
    "voiceCallerIdLookup": True,
    "voiceReceiveMode": "voice",
    "statusCallback": "https://example.com/status",
    "statusCallbackMethod": "POST",
    "apiVersion": "2010-04-01",
    "trunkSid": "TK" + "3" * 32,
    "identitySid": "RI" + "4" * 32,
    "addressSid": "AD" + "5" * 32,
    "bundleSid": "BU" + "6" * 32,
    "emergencyStatus": "Active",
    "emergencyAddressSid": "AD" + "7" * 32,
}
SEARCHES = [
    ({}, {}),
    ({"country": "US", "type": "local"}, {"areaCode": 206, "contains": "555****", "limit": 5}),
    ({"country": "GB", "type": "mobile"}, {"smsEnabled": True, "voiceEnabled": False}),
    ({"type": "tollFree"}, {"mmsEnabled": True, "faxEnabled": False, "beta": True}),
    (
        {"type": "local"},
        {
            "excludeAllAddressRequired": True,
            "excludeLocalAddressRequired": False,
            "excludeForeignAddressRequired": True,
            "nearNumber": "+14155551212",
            "nearLatLong": "37.840853,-122.461217",
            "distance": 50,
            "inPostalCode": "94105",
            "inRegion": "CA",
            "inRateCenter": "SNFC CNTRL",
            "inLata": "722",
            "inLocality": "San Francisco",
        },
    ),
    *(({"type": kind}, {}) for kind in ("national", "voip", "sharedCost", "machineToMachine")),
]


@pytest.mark.parametrize(("options", "inputs"), SEARCHES)
async def test_search_available_numbers_requests_conform(prism_url, options, inputs):  # noqa: F811
    outputs = await run(prism_url, SearchAvailableNumbers(), options, inputs)
    assert outputs["count"] == len(outputs["numbers"])


@pytest.mark.parametrize(
    "inputs",
    [{"phoneNumber": "+12065550100"}, {"areaCode": 206}, {"areaCode": 415, **EVERY_SETTING}],
)
async def test_buy_phone_number_requests_conform(prism_url, inputs):  # noqa: F811
    outputs = await run(prism_url, BuyPhoneNumber(), {}, inputs)
    assert "sid" in outputs


@pytest.mark.parametrize("inputs", [{"friendlyName": "x"}, EVERY_SETTING])
async def test_update_phone_number_requests_conform(prism_url, inputs):  # noqa: F811
    await run(prism_url, UpdatePhoneNumber(), {}, {**NUMBER_SID, **inputs})


async def test_release_phone_number_requests_conform(prism_url):  # noqa: F811
    outputs = await run(prism_url, ReleasePhoneNumber(), {}, NUMBER_SID)
    assert outputs["released"] is True
