"""Wait for Delivery against the sandbox: statuses reached, time-outs, backoff, the cap."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import SendSms, WaitForDelivery
from flo_twilio.cards.delivery import StillWaitingError
from flo_twilio.client import TwilioApiError
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.conftest import sandbox_client
from tests.helpers import ROOT, flo
from tests.test_cards import Recording

pytestmark = pytest.mark.anyio

FAST = {"pollInterval": 0.01, "timeout": 5}


async def send(ctx, to="+12065551212"):
    sms = await call_card(SendSms(), ctx, {"from": "+15005550006"}, {"to": to, "body": "Hi"})
    return sms["sid"]


@pytest.fixture
def state():
    return SandboxState(status_delay=0.05)


@pytest.fixture
async def ctx(state):
    async with sandbox_client(create_app(state)) as client:
        yield CardContext(client, {"sid": SID})


async def test_waits_until_delivered(ctx):
    sid = await send(ctx)
    outputs = await call_card(WaitForDelivery(), ctx, {}, {"sid": sid, **FAST})
    assert outputs["sid"] == sid and outputs["status"] == "delivered"
    assert outputs["errorCode"] is None and outputs["dateUpdated"].endswith("+00:00")
    assert not WaitForDelivery().changes_world({})


async def test_an_undelivered_message_ends_the_wait_with_its_error(ctx):
    sid = await send(ctx, to="+150055530003")
    outputs = await call_card(WaitForDelivery(), ctx, {}, {"sid": sid, **FAST})
    assert (outputs["status"], outputs["errorCode"]) == ("undelivered", 30003)
    assert outputs["errorMessage"] == "Unreachable destination handset"


async def test_until_chooses_where_to_stop(ctx, state):
    state.status_delay = 0.2
    sid = await send(ctx)
    outputs = await call_card(WaitForDelivery(), ctx, {}, {"sid": sid, "until": ["sent"], **FAST})
    assert outputs["status"] == "sent"


async def test_times_out_with_a_clear_error_and_backs_off(state):
    state.status_delay = 3600
    wire = Recording(httpx.ASGITransport(create_app(state)))
    async with sandbox_client(create_app(state), transport=wire) as client:
        ctx = CardContext(client, {})
        sid = await send(ctx)
        with pytest.raises(StillWaitingError, match=rf"{sid} is still 'queued' after 0.3s"):
            await call_card(
                WaitForDelivery(), ctx, {}, {"sid": sid, "timeout": 0.3, "pollInterval": 0.01}
            )
    fetches = [r for r in wire.requests if r.method == "GET"]
    # 0.01 s growing 1.5 times a wait: about 9 fetches in 0.3 s (30 without backoff)
    assert 4 <= len(fetches) <= 12


async def test_an_unknown_sid_is_twilios_20404(ctx):
    with pytest.raises(TwilioApiError) as caught:
        await call_card(WaitForDelivery(), ctx, {}, {"sid": "SM" + "0" * 32, **FAST})
    assert caught.value.code == 20404


async def test_thousands_of_waits_stay_within_the_accounts_cap():
    """The sandbox answers 429 past 4 requests in flight: the client's cap of 4 means none."""
    state = SandboxState(status_delay=0.05)
    wire = Recording(
        httpx.ASGITransport(create_app(state, Faults(max_concurrency=4, latency=0.002)))
    )
    async with sandbox_client(create_app(state), max_in_flight=4, transport=wire) as client:
        ctx = CardContext(client, {})
        sids = [await send(ctx) for _ in range(300)]
        results = await asyncio.gather(
            *(call_card(WaitForDelivery(), ctx, {}, {"sid": sid, **FAST}) for sid in sids)
        )
    assert {r["status"] for r in results} == {"delivered"}
    assert [r.status_code for r in wire.responses if r.status_code == 429] == []


def test_the_send_and_confirm_sample_runs():
    result = flo("run", "sample_flows/send_and_confirm.yaml", "--json", cwd=ROOT)
    assert result.code == 0, result.err
    outputs = json.loads(result.out)["outputs"]
    assert outputs["status"] == "delivered" and outputs["sid"].startswith("SM")
