"""Get, list, cancel, redact and delete messages: the cards against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from flo_twilio import CardContext, call_card
from flo_twilio.cards import (
    CancelMessage,
    DeleteMessage,
    GetMessage,
    ListMessages,
    RedactMessage,
    SendSms,
)
from flo_twilio.client import TwilioApiError
from flo_twilio.errors import InvalidInputError
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from tests.conftest import sandbox_client

pytestmark = pytest.mark.anyio

SENDER = {"from": "+15005550006"}
UNKNOWN = "SM" + "0" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def ctx(client):
    return CardContext(client, {"sid": SID})


async def send(ctx, to="+12065551212", body="Hello", **options):
    return await call_card(SendSms(), ctx, options or SENDER, {"to": to, "body": body})


async def test_get_message_answers_the_send_cards_outputs(ctx, sandbox_state):
    sent = await send(ctx)
    got = await call_card(GetMessage(), ctx, {}, {"sid": sent["sid"]})
    assert got == sent  # same fields, same values (still queued)
    sandbox_state.status_delay = 0
    later = await call_card(GetMessage(), ctx, {}, {"sid": sent["sid"]})
    assert later["status"] == "delivered" and later["price"] == "-0.00790"
    assert set(later) == set(SendSms.manifest.properties("outputs"))


async def test_outputs_declared_match_the_send_cards():
    """One set of message outputs: the manifests say the same as Send an SMS."""
    sms = SendSms.manifest.properties("outputs")
    for card in (GetMessage, CancelMessage, RedactMessage):
        assert card.manifest.properties("outputs") == sms
    assert ListMessages.manifest.properties("outputs")["messages"]["items"]["properties"] == sms


@pytest.mark.parametrize("card", [GetMessage, CancelMessage, RedactMessage, DeleteMessage])
async def test_an_unknown_sid_is_twilios_20404(ctx, card):
    with pytest.raises(TwilioApiError) as caught:
        await call_card(card(), ctx, {}, {"sid": UNKNOWN})
    assert (caught.value.status, caught.value.code) == (404, 20404)


@pytest.mark.parametrize("sid", ["SM123", "../Calls", "CA" + "0" * 32, "SM" + "g" * 32])
async def test_a_malformed_sid_is_refused_before_sending(ctx, sid):
    with pytest.raises(InvalidInputError, match=r"inputs\.sid"):
        await call_card(GetMessage(), ctx, {}, {"sid": sid})


async def test_list_messages_filters_and_follows_pages(ctx):
    for i in range(7):
        await send(ctx, to="+12065551212", body=f"a{i}")
    await send(ctx, to="+12065550000", body="other")
    outputs = await call_card(ListMessages(), ctx, {}, {"to": "+12065551212", "limit": 5})
    assert outputs["count"] == 5 and len(outputs["messages"]) == 5
    assert [m["body"] for m in outputs["messages"]] == ["a6", "a5", "a4", "a3", "a2"]
    every = await call_card(ListMessages(), ctx, {}, {"to": "+12065551212"})
    assert every["count"] == 7  # default limit 50, so all
    assert all(m["to"] == "+12065551212" for m in every["messages"])
    mine = await call_card(ListMessages(), ctx, {}, {"from": "+15005550006", "limit": 100})
    assert mine["count"] == 8


async def test_list_messages_reads_as_many_pages_as_the_limit_needs(sandbox_app, client):
    from tests.test_cards import Recording

    for i in range(5):
        await send(CardContext(client, {}), body=f"m{i}")
    wire = Recording(httpx.ASGITransport(sandbox_app))
    async with sandbox_client(sandbox_app, transport=wire) as recorded:
        card = ListMessages()
        outputs = await call_card(card, CardContext(recorded, {}), {}, {"limit": 3})
        assert outputs["count"] == 3 and len(wire.requests) == 1
        assert wire.requests[0].url.params["PageSize"] == "3"
        card.max_page_size = 2
        outputs = await call_card(card, CardContext(recorded, {}), {}, {"limit": 5})
    assert [m["body"] for m in outputs["messages"]] == ["m4", "m3", "m2", "m1", "m0"]
    assert len(wire.requests) == 1 + 3  # pages of 2, 2 and 1


async def test_list_messages_filters_by_date_sent():
    clock = Clock()
    state = SandboxState(status_delay=1, clock=clock)
    async with sandbox_client(create_app(state)) as client:
        ctx = CardContext(client, {})
        first = await send(ctx, body="first")
        clock.now += 3600
        second = await send(ctx, body="second")
        clock.now += 3600
        at = datetime.fromtimestamp(clock.now - 3600, UTC)  # when second was created
        sent_at = at + timedelta(seconds=1)  # sent one status_delay later
        after = await call_card(ListMessages(), ctx, {}, {"dateSentAfter": sent_at.isoformat()})
        assert [m["sid"] for m in after["messages"]] == [second["sid"]]
        before = await call_card(
            ListMessages(),
            ctx,
            {},
            {"dateSentBefore": (sent_at - timedelta(seconds=1)).astimezone().isoformat()},
        )
        assert [m["sid"] for m in before["messages"]] == [first["sid"]]


async def test_cancel_a_scheduled_message(ctx):
    send_at = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    scheduled = await call_card(
        SendSms(),
        ctx,
        {"messagingServiceSid": "MG" + SID[2:]},
        {"to": "+12065551212", "body": "later", "sendAt": send_at},
    )
    canceled = await call_card(CancelMessage(), ctx, {}, {"sid": scheduled["sid"]})
    assert (canceled["sid"], canceled["status"]) == (scheduled["sid"], "canceled")
    again = await call_card(CancelMessage(), ctx, {}, {"sid": scheduled["sid"]})
    assert again["status"] == "canceled"  # a repeat is harmless
    assert not CancelMessage().changes_world({})


async def test_cancel_a_sent_message_is_twilios_error(ctx, sandbox_state):
    sandbox_state.status_delay = 0
    sent = await send(ctx)
    with pytest.raises(TwilioApiError) as caught:
        await call_card(CancelMessage(), ctx, {}, {"sid": sent["sid"]})
    assert caught.value.code == 30409


async def test_redact_empties_the_body_only(ctx, sandbox_state):
    sent = await send(ctx, body="my secret code is 1234")
    redacted = await call_card(RedactMessage(), ctx, {}, {"sid": sent["sid"]})
    assert redacted["body"] == "" and redacted["to"] == sent["to"]
    assert sandbox_state.messages[sent["sid"]]["body"] == ""
    fetched = await call_card(GetMessage(), ctx, {}, {"sid": sent["sid"]})
    assert fetched["body"] == ""


async def test_delete_then_it_is_gone_and_an_interrupted_delete_is_found(ctx, sandbox_state):
    sent = await send(ctx)
    card = DeleteMessage()
    assert card.changes_world({})
    assert await card.reconcile(ctx, {}, {"sid": sent["sid"]}, 0) is None  # not deleted yet
    outputs = await call_card(card, ctx, {}, {"sid": sent["sid"]})
    assert outputs == {"sid": sent["sid"], "deleted": True}
    assert sent["sid"] not in sandbox_state.messages
    found = await card.reconcile(ctx, {}, {"sid": sent["sid"]}, 0)
    assert found == {"sid": sent["sid"], "deleted": True}


async def test_previews_say_what_would_be_sent(ctx):
    sid = "SM" + "a" * 32
    cancel = CancelMessage().preview(ctx, {}, {"sid": sid})
    assert cancel["method"] == "POST" and cancel["form"] == [("Status", "canceled")]
    assert RedactMessage().preview(ctx, {}, {"sid": sid})["form"] == [("Body", "")]
    delete = DeleteMessage().preview(ctx, {}, {"sid": sid})
    assert delete["method"] == "DELETE" and delete["url"].endswith(f"/Messages/{sid}.json")
