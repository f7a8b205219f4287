"""The number resources over loopback: Twilio's Python SDK against the sandbox, the sample
flow provision_number end to end, and a purchase whose process is killed before its answer
comes back, then resumed: one number bought."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time

import pytest

from flo_twilio.accounts import Account, AccountStore
from flo_twilio.sandbox import SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread, flo
from tests.test_reliability import read_journal, start
from tests.test_sandbox_live import live  # noqa: F401  (fixture)

DEADLINE = 30.0  # seconds a condition may take to come true on a loaded machine


def wait_for(condition, what: str) -> None:
    ends = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < ends, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_twilios_sdk_searches_buys_updates_and_releases_numbers(live):  # noqa: F811
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    sdk = Client(SID, TOKEN)
    sdk.api.base_url = live.url
    offered = sdk.available_phone_numbers("US").local.list(area_code=206, contains="555", limit=3)
    assert len(offered) == 3 and all(n.phone_number.startswith("+1206") for n in offered)
    assert offered[0].capabilities["SMS"] is True and offered[0].locality == "Seattle"
    free = sdk.available_phone_numbers("US").toll_free.list(limit=2)
    assert [n.phone_number[2:5] for n in free] == ["800", "800"]
    bought = sdk.incoming_phone_numbers.create(
        phone_number=offered[0].phone_number, friendly_name="Branch", sms_url="https://x.test/s"
    )
    assert bought.sid.startswith("PN") and bought.sms_url == "https://x.test/s"
    changed = sdk.incoming_phone_numbers(bought.sid).update(
        voice_url="https://x.test/v", voice_method="GET", status_callback="https://x.test/c"
    )
    assert (changed.voice_url, changed.voice_method) == ("https://x.test/v", "GET")
    listed = sdk.incoming_phone_numbers.list(phone_number=offered[0].phone_number)
    assert [n.sid for n in listed] == [bought.sid]
    assert sdk.incoming_phone_numbers(bought.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        sdk.incoming_phone_numbers(bought.sid).fetch()
    assert gone.value.status == 404
    assert len(live.state.numbers[SID]) == 3


@pytest.mark.slow
def test_the_provision_number_sample_flow_buys_and_points_a_number():
    first = flo("run", "sample_flows/provision_number.yaml")
    assert first.code == 0, first.err
    outputs = json.loads(first.out)
    assert outputs["sid"].startswith("PN") and outputs["phoneNumber"].startswith("+1206")
    assert outputs["smsUrl"] == "https://flows.example.com/hooks/branch-sms"
    second = flo("run", "sample_flows/provision_number.yaml", "--input", "areaCode=415")
    assert second.code == 0, second.err
    assert json.loads(second.out)["phoneNumber"].startswith("+1415")
    owned = json.loads(flo("options", "twilio.send_sms", "from", "--json").out)
    numbers = {choice["value"] for choice in owned}
    assert {outputs["phoneNumber"], json.loads(second.out)["phoneNumber"]} <= numbers


class HeldPurchases:
    """The sandbox, but the answer to a purchase is held back (the purchase itself is done)
    until ``release`` is set: the moment between a number's purchase and its answer."""

    def __init__(self, app) -> None:
        self.app, self.release = app, threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        purchase = scope["type"] == "http" and scope["method"] == "POST"
        if purchase and scope["path"].endswith("/IncomingPhoneNumbers.json"):
            send = self.held(send)
        await self.app(scope, receive, send)

    def held(self, send):
        async def hold(message) -> None:
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            await send(message)

        return hold


@pytest.mark.slow
def test_a_purchase_killed_before_its_answer_is_found_on_resume_and_not_bought_again(
    flo_home,
):
    state = SandboxState(status_delay=3600)
    held = HeldPurchases(create_app(state))
    with ServerThread(held) as server:
        values = {"account_sid": SID, "api_base_url": server.url}
        AccountStore().save(Account("live", "twilio", values=values, secrets={"auth_token": TOKEN}))
        proc = start("run", "sample_flows/provision_number.yaml")
        try:
            wait_for(lambda: len(state.numbers[SID]) == 4, "the purchase")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        held.release.set()
        run_id = str(read_journal(flo_home / "runs.db", "SELECT id FROM runs"))
        resumed = flo("resume", run_id, env={"FLO_SETTLE_SECONDS": "0.5"})
        assert resumed.code == 0, resumed.err
    bought = state.numbers[SID][3:]
    assert len(bought) == 1, [n.phone_number for n in bought]
    assert bought[0].sms_url == "https://flows.example.com/hooks/branch-sms"
    assert json.loads(resumed.out)["sid"] == bought[0].sid
