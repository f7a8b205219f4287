"""Start a verification and check its code, against the sandbox's Verify v2 (in-process)."""

from __future__ import annotations

import httpx
import pytest

from flo_twilio import call_card
from flo_twilio.cards import CheckVerification, StartVerification
from flo_twilio.client import TwilioApiError
from flo_twilio.errors import InvalidInputError
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from flo_twilio.sandbox.verify_rules import default_service_sid
from tests.test_cards import ctx, state, wire  # noqa: F401  (fixtures)

pytestmark = pytest.mark.anyio
SERVICE = {"serviceSid": default_service_sid(SID)}
TO = "+12065551212"


async def start(ctx, to=TO, channel="sms", options=SERVICE):  # noqa: F811
    return await call_card(StartVerification(), ctx, options, {"to": to, "channel": channel})


async def check(ctx, code, to=TO, options=SERVICE):  # noqa: F811
    return await call_card(CheckVerification(), ctx, options, {"to": to, "code": code})


async def sent_code(ctx, to=TO) -> str:  # noqa: F811
    """The code, as a test reads it: through the sandbox's own route."""
    client = ctx.client
    response = await client.request("GET", "/_sandbox/verifications", params={"To": to})
    return response.json()["code"]


def wrong(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


async def test_start_then_check_the_right_code(ctx, wire):  # noqa: F811
    started = await start(ctx)
    assert started["sid"].startswith("VE") and started["status"] == "pending"
    assert (
        wire.requests[-1].url.path == f"/verify/v2/Services/{SERVICE['serviceSid']}/Verifications"
    )
    code = await sent_code(ctx)
    assert len(code) == 6 and code.isdigit()
    assert await check(ctx, code) == {"status": "approved", "valid": True, "sid": started["sid"]}
    with pytest.raises(TwilioApiError) as gone:  # approved: Twilio deletes it
        await check(ctx, code)
    assert (gone.value.status, gone.value.code) == (404, 20404)


async def test_the_code_is_never_in_an_answer_of_twilio_s_routes(ctx, wire):  # noqa: F811
    await start(ctx)
    await start(ctx, channel="call")
    code = await sent_code(ctx)
    await check(ctx, wrong(code))
    await check(ctx, code)
    twilio_routes = [
        (req, res)
        for req, res in zip(wire.requests, wire.responses, strict=True)
        if not req.url.path.startswith("/_sandbox/")
    ]
    assert len(twilio_routes) == 4
    for _, response in twilio_routes:
        assert code not in response.content.decode()


async def test_a_wrong_code_is_an_answer_and_five_are_the_most(ctx):  # noqa: F811
    await start(ctx)
    code = await sent_code(ctx)
    for _ in range(5):
        assert await check(ctx, wrong(code)) == {
            "status": "pending",
            "valid": False,
            "sid": (await check_sid(ctx)),
        }
    with pytest.raises(TwilioApiError) as refused:
        await check(ctx, code)
    assert (refused.value.status, refused.value.code) == (429, 60202)


async def check_sid(ctx) -> str:  # noqa: F811
    response = await ctx.client.request("GET", "/_sandbox/verifications", params={"To": TO})
    return response.json()["sid"]


async def test_sending_again_sends_the_same_code_five_times_at_most(ctx):  # noqa: F811
    first = await start(ctx)
    code = await sent_code(ctx)
    for _ in range(4):
        again = await start(ctx, channel="whatsapp")
        assert again["sid"] == first["sid"] and await sent_code(ctx) == code
    with pytest.raises(TwilioApiError) as refused:
        await start(ctx)
    assert (refused.value.status, refused.value.code) == (429, 60203)


async def test_a_verification_expires(ctx, state):  # noqa: F811
    await start(ctx)
    code = await sent_code(ctx)
    state.verify.ttl = 0
    with pytest.raises(TwilioApiError) as gone:
        await check(ctx, code)
    assert gone.value.code == 20404


async def test_email_channel(ctx):  # noqa: F811
    started = await start(ctx, to="ada@example.com", channel="email")
    assert started["channel"] == "email"
    code = await sent_code(ctx, "ada@example.com")
    assert (await check(ctx, code, to="ada@example.com"))["valid"] is True


async def test_unknown_service_is_20404(ctx):  # noqa: F811
    with pytest.raises(TwilioApiError) as missing:
        await start(ctx, options={"serviceSid": "VA" + "f" * 32})
    assert (missing.value.status, missing.value.code) == (404, 20404)


async def test_check_without_a_verification_is_20404(ctx):  # noqa: F811
    with pytest.raises(TwilioApiError) as missing:
        await check(ctx, "123456")
    assert missing.value.code == 20404


async def test_bad_inputs_are_refused_before_sending(ctx, wire):  # noqa: F811
    for to, channel in (("ada@example.com", "sms"), (TO, "email"), ("2065551212", "sms")):
        with pytest.raises(InvalidInputError):
            await start(ctx, to=to, channel=channel)
    with pytest.raises(InvalidInputError) as bad_code:
        await check(ctx, "12ab56")
    assert "12ab56" not in str(bad_code.value)
    assert wire.requests == []


@pytest.mark.parametrize(
    ("form", "code", "parameter"),
    [
        ({"To": TO, "Channel": "fax"}, 60200, "Channel"),
        ({"To": "2065551212", "Channel": "sms"}, 60200, "To"),
        ({"To": "nobody", "Channel": "email"}, 60200, "To"),
    ],
)
async def test_the_sandbox_answers_bad_starts_with_60200(ctx, form, code, parameter):  # noqa: F811
    client = ctx.client
    response = await client.request(
        "POST",
        f"/v2/Services/{SERVICE['serviceSid']}/Verifications",
        form=form,
        base=client.product_url("verify"),
        raise_for_status=False,
    )
    assert response.status_code == 400
    assert response.json()["code"] == code and parameter in response.json()["message"]


async def test_services_create_and_fetch(ctx):  # noqa: F811
    client = ctx.client
    base = client.product_url("verify")
    made = await client.request_json(
        "POST", "/v2/Services", form={"FriendlyName": "My app", "CodeLength": 4}, base=base
    )
    assert made["sid"].startswith("VA") and made["code_length"] == 4
    fetched = await client.request_json("GET", f"/v2/Services/{made['sid']}", base=base)
    assert fetched["friendly_name"] == "My app"
    await start(ctx, options={"serviceSid": made["sid"]})
    assert len(await sent_code(ctx)) == 4
    too_long = await client.request(
        "POST", "/v2/Services", form={"FriendlyName": "x" * 31}, base=base, raise_for_status=False
    )
    assert too_long.json()["code"] == 60200


async def test_the_code_route_needs_the_account_s_credentials(wire):  # noqa: F811
    async with httpx.AsyncClient(transport=wire, base_url="http://127.0.0.1") as http:
        anonymous = await http.get("/_sandbox/verifications", params={"To": TO})
        other = await http.get(
            "/_sandbox/verifications", params={"To": TO}, auth=(SID, TOKEN + "x")
        )
    assert anonymous.status_code == other.status_code == 401


async def test_dry_run_preview_masks_the_code(ctx):  # noqa: F811
    preview = CheckVerification().preview(ctx, SERVICE, {"to": TO, "code": "424242"})
    assert "424242" not in str(preview) and ["Code", "***"] in [list(p) for p in preview["form"]]
    assert preview["url"].endswith(f"/verify/v2/Services/{SERVICE['serviceSid']}/VerificationCheck")
