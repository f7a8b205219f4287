"""The number cards against the sandbox in-process: search what is on offer (the same
list for the same search), buy, update and release a number, and the look-ups that find
what an interrupted purchase or release did."""

from __future__ import annotations

import time

import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import (
    BuyPhoneNumber,
    ReleasePhoneNumber,
    SearchAvailableNumbers,
    SendSms,
    UpdatePhoneNumber,
)
from flo_twilio.client import TwilioApiError
from flo_twilio.errors import InvalidInputError, OutcomeUnknownError
from flo_twilio.sandbox import SandboxState
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.test_sandbox_api import ACCOUNT, conforms, http

pytestmark = pytest.mark.anyio
OURS = f"/2010-04-01/Accounts/{SID}"  # the sandbox account's path


async def search(client, options=None, **inputs):
    found = await call_card(SearchAvailableNumbers(), CardContext(client), options or {}, inputs)
    return [n["phoneNumber"] for n in found["numbers"]]


async def buy(client, **inputs):
    return await call_card(BuyPhoneNumber(), CardContext(client), {}, inputs)


async def from_dropdown(client):
    return [c["value"] for c in await SendSms().choices(CardContext(client), "from")]


async def test_a_search_offers_the_same_numbers_in_the_area_code_every_time(client):
    first = await search(client, areaCode=206, limit=5)
    assert len(first) == 5 and all(n.startswith("+1206") for n in first)
    assert await search(client, areaCode=206, limit=5) == first
    found = await call_card(SearchAvailableNumbers(), CardContext(client), {}, {"areaCode": 206})
    assert found["firstPhoneNumber"] == first[0] and found["count"] == 20
    assert not set(first) & set(await search(client, areaCode=415, limit=5))


async def test_a_search_follows_contains_capabilities_type_and_country(client):
    store = await search(client, areaCode=415, contains="STORE")
    assert store and all(n.startswith("+1415") and n.endswith("78673") for n in store)
    assert await search(client, areaCode=206, smsEnabled=False) == []
    toll_free = await search(client, {"type": "tollFree"}, contains="555****", limit=3)
    assert len(toll_free) == 3 and all(n[2:5] == "800" and n[5:8] == "555" for n in toll_free)
    mobiles = await search(client, {"country": "GB", "type": "mobile"}, limit=2)
    assert len(mobiles) == 2 and all(n.startswith("+447") for n in mobiles)
    with pytest.raises(TwilioApiError) as none:
        await search(client, {"country": "US", "type": "mobile"})
    assert none.value.code == 20404


async def test_a_bought_number_joins_the_account_and_leaves_the_offer(client, sandbox_state):
    offered = await search(client, areaCode=206, limit=3)
    bought = await buy(
        client, phoneNumber=offered[0], friendlyName="Branch", voiceUrl="https://x.test/v"
    )
    assert bought["sid"].startswith("PN") and bought["phoneNumber"] == offered[0]
    assert bought["friendlyName"] == "Branch" and bought["voiceUrl"] == "https://x.test/v"
    assert offered[0] in await from_dropdown(client)
    assert offered[0] not in await search(client, areaCode=206, limit=3)
    with pytest.raises(TwilioApiError) as again:
        await buy(client, phoneNumber=offered[0])
    assert again.value.code == 21422 and len(sandbox_state.numbers[SID]) == 4
    by_area = await buy(client, areaCode=512)
    assert by_area["phoneNumber"].startswith("+1512") and len(sandbox_state.numbers[SID]) == 5


async def test_buying_takes_exactly_one_of_a_number_and_an_area_code(client):
    for inputs in ({}, {"phoneNumber": "+12065550100", "areaCode": 206}):
        with pytest.raises(InvalidInputError, match=r"exactly one of inputs\.phoneNumber"):
            await buy(client, **inputs)


async def test_an_update_sets_where_messages_and_calls_go(client, sandbox_state):
    bought = await buy(client, areaCode=206)
    changes = {
        "friendlyName": "Front desk",
        "smsUrl": "https://flows.test/sms",
        "voiceUrl": "https://flows.test/voice",
        "voiceMethod": "GET",
        "statusCallback": "https://flows.test/status",
        "voiceCallerIdLookup": True,
    }
    updated = await call_card(
        UpdatePhoneNumber(), CardContext(client), {}, {"sid": bought["sid"], **changes}
    )
    assert updated["smsUrl"] == "https://flows.test/sms" and updated["friendlyName"] == "Front desk"
    number = sandbox_state.number_by_sid(SID, bought["sid"])
    assert (number.sms_url, number.voice_url) == (
        "https://flows.test/sms",
        "https://flows.test/voice",
    )
    assert number.settings == {"voice_method": "GET", "voice_caller_id_lookup": True}
    assert number.status_callback == "https://flows.test/status"


async def test_a_released_number_leaves_the_account_and_the_from_dropdown(client):
    bought = await buy(client, areaCode=206)
    card = ReleasePhoneNumber()
    released = await call_card(card, CardContext(client), {}, {"sid": bought["sid"]})
    assert released == {"sid": bought["sid"], "released": True}
    assert bought["phoneNumber"] not in await from_dropdown(client)
    with pytest.raises(TwilioApiError):
        await call_card(card, CardContext(client), {}, {"sid": bought["sid"]})
    found = await card.reconcile(CardContext(client), {}, {"sid": bought["sid"]}, time.time())
    assert found == released


async def test_an_interrupted_purchase_is_found_by_its_number_or_area_code(client):
    since = time.time()
    assert (
        await BuyPhoneNumber().reconcile(CardContext(client), {}, {"areaCode": 206}, since) is None
    )
    bought = await buy(client, areaCode=206)
    for inputs in ({"areaCode": 206}, {"phoneNumber": bought["phoneNumber"]}):
        found = await BuyPhoneNumber().reconcile(CardContext(client), {}, inputs, since)
        assert found == bought
        taken = {bought["sid"]}
        assert (
            await BuyPhoneNumber().reconcile(CardContext(client), {}, inputs, since, taken) is None
        )


async def test_a_number_the_account_had_before_the_intent_is_not_taken(client):
    bought = await buy(client, areaCode=206)
    later = time.time() + 600  # past the slack a look-up allows an unmeasured clock
    inputs = {"phoneNumber": bought["phoneNumber"]}
    assert await BuyPhoneNumber().reconcile(CardContext(client), {}, inputs, later) is None


async def test_the_sandboxs_number_answers_match_the_spec(sandbox_app):
    numbers, one = (
        f"{ACCOUNT}/IncomingPhoneNumbers.json",
        f"{ACCOUNT}/IncomingPhoneNumbers/{{Sid}}.json",
    )
    async with http(sandbox_app) as c:
        offered = await c.get(f"{OURS}/AvailablePhoneNumbers/US/Local.json?AreaCode=206")
        path = f"{ACCOUNT}/AvailablePhoneNumbers/{{CountryCode}}/Local.json"
        wanted = conforms(offered, path, "GET")["available_phone_numbers"][0]["phone_number"]
        form = {"PhoneNumber": wanted, "VoiceUrl": "https://x.test"}
        bought = await c.post(f"{OURS}/IncomingPhoneNumbers.json", data=form)
        sid = conforms(bought, numbers, "POST")["sid"]
        updated = await c.post(f"{OURS}/IncomingPhoneNumbers/{sid}.json", data={"SmsUrl": ""})
        assert conforms(updated, one, "POST")["voice_url"] == "https://x.test"
        conforms(await c.get(f"{OURS}/IncomingPhoneNumbers.json"), numbers, "GET")
        released = await c.delete(f"{OURS}/IncomingPhoneNumbers/{sid}.json")
        assert released.status_code == 204
        gone = await c.get(f"{OURS}/IncomingPhoneNumbers/{sid}.json")
        assert gone.status_code == 404


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({}, 21421),
        ({"PhoneNumber": "+15005550006"}, 21422),  # the account's own
        ({"PhoneNumber": "12065550100"}, 21422),
        ({"AreaCode": "20"}, 21452),
        ({"AreaCode": "206", "SmsUrl": "ftp://x"}, 21502),
        ({"AreaCode": "206", "VoiceMethod": "PUT"}, 21502),
        ({"AreaCode": "206", "FriendlyName": "x" * 65}, 21502),
    ],
)
async def test_a_purchase_twilio_would_refuse_is_refused_with_its_code(sandbox_app, form, code):
    async with http(sandbox_app) as c:
        answer = await c.post(f"{OURS}/IncomingPhoneNumbers.json", data=form)
    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert len(sandbox_app.state.sandbox.state.numbers[SID]) == 3


def test_bought_numbers_outlive_a_restarted_sandbox(tmp_path):
    db = tmp_path / "sandbox.db"
    state = SandboxState(db_path=db)
    kept = state.buy_number(SID, "+12065550100")
    kept.sms_url = "https://x.test/sms"
    state.save_number(SID, kept)
    gone = state.buy_number(SID, "+12065550101")
    state.save_number(SID, gone)
    state.release_number(SID, gone)
    again = SandboxState(db_path=db)
    assert [n.phone_number for n in again.numbers[SID]][-1] == "+12065550100"
    assert again.number(SID, "+12065550100").sms_url == "https://x.test/sms"
    assert again.number(SID, "+12065550101") is None and len(again.numbers[SID]) == 4


async def test_a_purchase_whose_answer_is_lost_is_made_once_and_found(client, sandbox_app):
    sandbox_app.state.sandbox.faults.update({"ambiguous_rate": 1.0})
    since = time.time()
    with pytest.raises(OutcomeUnknownError):
        await buy(client, areaCode=212)
    assert len(sandbox_app.state.sandbox.state.numbers[SID]) == 4
    found = await BuyPhoneNumber().reconcile(CardContext(client), {}, {"areaCode": 212}, since)
    assert found is not None and found["phoneNumber"].startswith("+1212")
