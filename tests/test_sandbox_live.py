"""The sandbox over real loopback HTTP: our client, Twilio's own SDK, and `flo sandbox`."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from flo_twilio.client import Credentials, TwilioApiError, TwilioClient
from flo_twilio.errors import NotSentError, OutcomeUnknownError
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.conftest import FAST_RETRY
from tests.helpers import ROOT, ServerThread, free_port


@pytest.fixture
def live():
    state = SandboxState(status_delay=0.2)
    faults = Faults(seed=3)
    with ServerThread(create_app(state, faults)) as server:
        server.state, server.faults = state, faults
        yield server


def network_client(url: str) -> TwilioClient:
    return TwilioClient(Credentials.of(SID, auth_token=TOKEN), api_base_url=url, retry=FAST_RETRY)


@pytest.mark.anyio
async def test_client_sends_and_pages_over_loopback(live):
    async with network_client(live.url) as client:
        for i in range(5):
            await client.create_message(
                {"To": f"+1206555010{i}", "From": "+15005550006", "Body": "hi"}
            )
        listed = [m async for m in client.messages(page_size=2)]
    assert [m["to"] for m in listed] == [f"+1206555010{i}" for i in reversed(range(5))]


@pytest.mark.anyio
async def test_a_dropped_connection_after_create_is_outcome_unknown_and_not_resent(live):
    live.faults.update({"ambiguous_rate": 1.0, "ambiguous_mode": "drop"})
    async with network_client(live.url) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.create_message({"To": "+12065551212", "From": "+15005550006", "Body": "x"})
    assert len(live.state.messages) == 1  # created once, never sent again


@pytest.mark.anyio
async def test_ambiguous_500_is_outcome_unknown_over_loopback(live):
    live.faults.update({"ambiguous_rate": 1.0})
    async with network_client(live.url) as client:
        with pytest.raises(OutcomeUnknownError, match="HTTP 500"):
            await client.create_message({"To": "+12065551212", "From": "+15005550006", "Body": "x"})
    assert len(live.state.messages) == 1


@pytest.mark.anyio
async def test_connection_refused_on_this_machine_is_reported_at_once():
    client = network_client(f"http://127.0.0.1:{free_port()}")
    async with client:
        with pytest.raises(NotSentError, match="connection refused: nothing listens"):
            await client.create_message({"To": "+12065551212", "From": "+15005550006", "Body": "x"})


def test_twilios_official_sdk_cannot_tell_the_difference(live):
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    sdk = Client(SID, TOKEN)
    sdk.api.base_url = live.url
    sms = sdk.messages.create(to="+12065551212", from_="+15005550006", body="Hello from the SDK")
    assert sms.sid.startswith("SM") and sms.status == "queued" and sms.num_segments == "1"
    mms = sdk.messages.create(
        to="+12065551212", from_="+15005550006", media_url=["https://e.com/a.png"]
    )
    assert mms.sid.startswith("MM") and mms.num_media == "1"
    assert [m.sid for m in sdk.messages.list(page_size=1)] == [mms.sid, sms.sid]
    assert sdk.messages(sms.sid).fetch().body == "Hello from the SDK"
    numbers = sdk.incoming_phone_numbers.list(page_size=1)
    assert [n.phone_number for n in numbers] == ["+15005550006", "+15017122661", "+15558675310"]
    assert numbers[0].capabilities["sms"] is True
    account = sdk.api.v2010.accounts(SID).fetch()
    assert account.friendly_name == "Sandbox account" and account.type == "Full"
    for kwargs, code in [
        ({"to": "+15005550001", "from_": "+15005550006", "body": "x"}, 21211),
        ({"to": "+12065551212", "from_": "+15005550001", "body": "x"}, 21212),
        ({"to": "+12065551212", "from_": "+15005550007", "body": "x"}, 21606),
        ({"to": "+15005550004", "from_": "+15005550006", "body": "x"}, 21610),
        ({"to": "+12065551212", "from_": "+15005550006"}, 21602),
        ({"to": "+12065551212", "from_": "+15005550006", "body": "x" * 1601}, 21617),
        ({"to": "+12065551212", "from_": "+15005550006", "media_url": ["x"] * 11}, 21623),
    ]:
        with pytest.raises(TwilioRestException) as info:
            sdk.messages.create(**kwargs)
        assert info.value.code == code
    wrong = Client(SID, "wrong-token")
    wrong.api.base_url = live.url
    with pytest.raises(TwilioRestException) as info:
        wrong.messages(sms.sid).fetch()
    assert (info.value.status, info.value.code) == (401, 20003)
    key = sdk.new_keys.create(friendly_name="sdk")
    with_key = Client(key.sid, key.secret, SID)
    with_key.api.base_url = live.url
    assert with_key.messages(sms.sid).fetch().sid == sms.sid


def test_flo_sandbox_serves_and_stops_on_ctrl_c():
    """It serves, then Ctrl-C ends it cleanly; how fast it starts is benchmarked in bench/."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flo_twilio.cli", "sandbox", "--port", str(port)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = None
        while time.monotonic() - started < 10:
            try:
                httpx.get(
                    f"http://127.0.0.1:{port}/2010-04-01/Accounts.json", auth=(SID, TOKEN)
                ).raise_for_status()
                ready = time.monotonic() - started
                break
            except httpx.HTTPError:
                time.sleep(0.02)
        assert ready is not None, "not serving after 10 s"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert SID in err and "+15005550006" in err and "Traceback" not in err
    finally:
        proc.kill()
        proc.communicate()


def test_sandbox_refuses_a_non_loopback_host():
    from tests.helpers import flo

    result = flo("sandbox", "--host", "0.0.0.0")
    assert result.code == 2 and "loopback" in result.err


@pytest.mark.anyio
async def test_api_error_carries_all_four_fields(live):
    async with network_client(live.url) as client:
        with pytest.raises(TwilioApiError) as info:
            await client.create_message({"To": "+15005550001", "From": "+15005550006", "Body": "x"})
    error = info.value
    assert (error.status, error.code, error.method) == (400, 21211, "POST")
    assert error.more_info == "https://www.twilio.com/docs/errors/21211"
    assert str(error).startswith("Twilio error 21211 (HTTP 400): Invalid 'To' Phone Number")


def test_status_callbacks_reach_a_receiver_over_loopback():
    from flo_twilio.client.signature import is_valid
    from tests.helpers import callback_receiver

    receiver, received = callback_receiver("/status")
    with (
        ServerThread(receiver) as hooks,
        ServerThread(create_app(SandboxState(status_delay=0.05))) as sandbox,
    ):
        callback = f"{hooks.url}/status"
        form = {
            "To": "+150055530007",
            "From": "+15005550006",
            "Body": "x",
            "StatusCallback": callback,
        }
        httpx.post(
            f"{sandbox.url}/2010-04-01/Accounts/{SID}/Messages.json", data=form, auth=(SID, TOKEN)
        )
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
    [(params, sig)] = received
    assert params["MessageStatus"] == "failed" and params["ErrorCode"] == "30007"
    assert is_valid(TOKEN, callback, params.items(), sig)


def test_flo_sandbox_db_keeps_messages_across_a_restart(tmp_path):
    from tests.helpers import sandbox_process

    db = str(tmp_path / "sandbox.db")
    messages = f"/2010-04-01/Accounts/{SID}/Messages.json"
    with sandbox_process("--db", db) as url:
        created = httpx.post(
            url + messages,
            auth=(SID, TOKEN),
            data={"To": "+12065551212", "From": "+15005550006", "Body": "kept"},
        )
        assert created.status_code == 201
    with sandbox_process("--db", db) as url:
        listed = httpx.get(url + messages, auth=(SID, TOKEN)).json()["messages"]
    assert [m["sid"] for m in listed] == [created.json()["sid"]]


def test_twilios_sdk_makes_fetches_and_lists_calls_and_lists_messages_with_filters(live):
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    sdk = Client(SID, TOKEN)
    sdk.api.base_url = live.url
    call = sdk.calls.create(to="+12065551212", from_="+15005550006", twiml="<Response/>")
    assert call.sid.startswith("CA") and call.status == "queued"
    assert sdk.calls(call.sid).fetch().to == "+12065551212"
    assert [c.sid for c in sdk.calls.list(to="+12065551212", page_size=1)] == [call.sid]
    with pytest.raises(TwilioRestException) as info:
        sdk.calls("CA" + "0" * 32).fetch()
    assert (info.value.status, info.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as info:
        sdk.calls.create(to="+15005550001", from_="+15005550006", url="https://e.com/t")
    assert info.value.code == 21217
    sent = [
        sdk.messages.create(to=to, from_="+15005550006", body="x").sid
        for to in ("+12065551212", "+12065550000", "+12065551212")
    ]
    listed = sdk.messages.list(to="+12065551212", limit=5, page_size=1)
    assert [m.sid for m in listed] == [sent[2], sent[0]]
    assert len(sdk.messages.list(limit=2)) == 2


def test_connections_the_sandbox_accepts_send_at_once():
    """Nagle off (TCP_NODELAY) on every accepted connection, as asyncio sets it only for a
    listening socket that says it is TCP: with it on, each answer on a kept-alive connection
    waited ~40 ms for the client's delayed ACK (the sandbox made 336 answers/s, not 10,000)."""
    from flo_twilio.sandbox.server import bind

    async def nodelay_of_an_accepted_connection() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Accept(asyncio.Protocol):
            def connection_made(self, transport):  # type: ignore[no-untyped-def]
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        listening = bind("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Accept, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname())
            value = await asyncio.wait_for(accepted, 5)
            writer.close()
            return value

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0
