"""Statuses that never go backwards: status callbacks arrive twice and out of order (the
sandbox's ``callbacks_disordered`` drill sends them so), a message_status flow runs once
per message and status and never for a status earlier than one seen, and
wait_for_delivery never reports an earlier status after a later one. A message that failed
after it was accepted is explained in the run's summary."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from flo_twilio.card import CardContext
from flo_twilio.cards.delivery import StillWaitingError, WaitForDelivery
from flo_twilio.cards.triggers import MessageStatus
from flo_twilio.client import Credentials, TwilioClient
from flo_twilio.runner.events import EventStore
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from flo_twilio.trigger import Webhook
from tests.helpers import ServerThread, callback_receiver
from tests.inprocess import run_flo as flo

pytestmark = pytest.mark.anyio
HOOK = "http://127.0.0.1:9/status"
SENT = {"To": "+12065551212", "From": "+15005550006", "Body": "hi", "StatusCallback": HOOK}


async def disordered_callbacks() -> list[tuple[dict[str, str], str]]:
    """The status callbacks of one message, as the sandbox sends them with its
    ``callbacks_disordered`` drill."""
    receiver, received = callback_receiver("/status")
    app = create_app(
        SandboxState(status_delay=0.05),
        Faults(callbacks_disordered=True),
        callback_transport=httpx.ASGITransport(receiver),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://sandbox", auth=(SID, TOKEN)
    ) as sandbox:
        answer = await sandbox.post(f"/2010-04-01/Accounts/{SID}/Messages.json", data=SENT)
        assert answer.status_code == 201
        with anyio.fail_after(5):
            while len(received) < 4:
                await anyio.sleep(0.02)
    return received


async def test_the_sandbox_can_send_callbacks_newest_first_and_twice():
    received = await disordered_callbacks()
    assert [form["MessageStatus"] for form, _ in received] == [
        "delivered", "delivered", "sent", "sent",
    ]  # fmt: skip


@pytest.mark.parametrize("kept_in", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
async def test_a_status_flow_runs_once_per_status_and_never_for_an_earlier_one(
    tmp_path, request, kept_in
):
    received = await disordered_callbacks()
    where = (
        tmp_path / "events.db" if kept_in == "sqlite" else request.getfixturevalue("postgres_url")
    )
    trigger, store = MessageStatus(), EventStore(where)
    late = dict(received[0][0], MessageStatus="queued", SmsStatus="queued")
    read = dict(received[0][0], MessageStatus="read", SmsStatus="read")
    deliveries = [*received, (late, ""), (read, ""), (received[0][0], "")]
    accepted = []
    for form, _ in deliveries:
        webhook = Webhook(HOOK, "POST", {"x-twilio-signature": signed(form)}, list(form.items()))
        event = trigger.parse({}, webhook, TOKEN)
        assert event is not None
        if store.accept("route", event) is not None:
            accepted.append(event.outputs["status"])
    store.close()
    assert accepted == ["delivered", "read"]


def signed(form: dict[str, str]) -> str:
    from flo_twilio.client.signature import signature

    return signature(TOKEN, HOOK, form.items())


def answering(statuses: list[dict]) -> TwilioClient:
    """A client whose GETs of a message answer ``statuses`` in turn (the last one after)."""
    answers = iter(statuses)
    last: dict = {}

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal last
        last = next(answers, last)
        return httpx.Response(200, json={"sid": "SM" + "a" * 32, **last})

    return TwilioClient(
        Credentials.of(SID, auth_token=TOKEN), transport=httpx.MockTransport(handler)
    )


async def test_wait_for_delivery_never_reports_an_earlier_status_after_a_later_one():
    stale = [{"status": "sending"}, {"status": "queued"}]  # a read behind the last one
    async with answering(stale) as client:
        inputs = {"sid": "SM" + "a" * 32, "until": ["delivered"], "timeout": 0.05}
        with pytest.raises(StillWaitingError, match="is still 'sending'"):
            await WaitForDelivery().run(CardContext(client), {}, inputs | {"pollInterval": 0.01})


FLOW = """\
flo: 1
name: confirm
steps:
  - id: send
    card: twilio.send_sms
    options: {from: "+15005550006"}
    inputs: {to: "%s", body: "hi"}
  - id: wait
    card: twilio.wait_for_delivery
    inputs: {sid: "${{ steps.send.outputs.sid }}", timeout: 20, pollInterval: 0.05}
"""


@pytest.mark.parametrize(
    ("to", "said"),
    [
        ("+150055530003", "undelivered with 30003 (unreachable destination handset"),
        ("+150055530034", "undelivered with 30034 (message from an unregistered number"),
        ("+150055530007", "failed with 30007 (message filtered"),
    ],
)
def test_a_failure_after_acceptance_is_explained_in_the_runs_summary(tmp_path, to, said):
    flow = tmp_path / "confirm.yaml"
    flow.write_text(FLOW % to, encoding="utf-8")
    with ServerThread(create_app(SandboxState(status_delay=0.02))) as sandbox:
        added = flo(
            "accounts", "add", "box", "--account-sid", SID, "--auth-token", "-",
            "--api-base-url", sandbox.url, "--no-verify", input=TOKEN + "\n",
        )  # fmt: skip
        assert added.code == 0, added.err
        ran = flo("run", str(flow), "--account", "box")
    assert ran.code == 0, ran.err
    assert f"1 x {said}" in ran.err


@pytest.mark.slow  # starts the sandbox and flo serve
def test_flo_serve_runs_a_status_flow_once_when_callbacks_come_twice_and_backwards(tmp_path):
    from flo_twilio.accounts import Account, AccountStore
    from tests.helpers import ROOT
    from tests.sandbox_process import sandbox_process
    from tests.test_serve import Serving, wait_runs

    with sandbox_process("--status-delay", "0.3", "--callbacks-disordered") as url:
        values = {"account_sid": SID, "api_base_url": url}
        AccountStore().save(Account("live", "twilio", values, secrets={"auth_token": TOKEN}))
        serve = Serving(tmp_path, str(ROOT / "sample_flows/delivery_report.yaml"))
        serve.wait_for("webhook URL")
        sent = httpx.post(
            f"{url}/2010-04-01/Accounts/{SID}/Messages.json",
            data=SENT | {"StatusCallback": serve.url("delivery_report")},
            auth=(SID, TOKEN),
        ).json()
        answered = ("event accepted", "was answered and dropped")
        deadline = time.monotonic() + 20
        while sum(serve.said.count(line) for line in answered) < 4:  # the 4 callbacks
            assert time.monotonic() < deadline, serve.said
            time.sleep(0.05)
        runs = wait_runs(1)
        serve.stop()
    assert [r["arguments"]["event"]["status"] for r in runs] == ["delivered"]
    assert runs[0]["arguments"]["event"]["messageSid"] == sent["sid"]
