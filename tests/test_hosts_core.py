"""The host-facing core: work sent at most once under a host's key, from any thread or event
loop, against the sandbox in-process (its requests cross a real ASGI app, on the Sender's
own loop)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from flo_twilio import InvalidInputError
from flo_twilio.errors import ProviderError
from flo_twilio.hosts import HostSendError, Sender, account_from
from flo_twilio.hosts.portal import portal
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.app import Sandbox
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread

SMS = {"from": "+15005550006"}
CARD = "twilio.send_sms"


def recipients(count: int) -> list[dict[str, str]]:
    return [{"to": f"+1206555{n:04d}", "body": f"Hello {n}"} for n in range(count)]


@pytest.fixture
def sandbox() -> SandboxState:
    return SandboxState(status_delay=0.01)


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=11)


@pytest.fixture
def sender(tmp_path, sandbox, faults):
    account = account_from(
        "work", {"account_sid": SID, "auth_token": TOKEN, "api_base_url": "http://127.0.0.1"}
    )
    transport = httpx.ASGITransport(DateHeader(create_app(sandbox, faults), sandbox))
    made = Sender(account, tmp_path / "state", settle=0.3, transport=transport)
    yield made
    portal().call(made.aclose())


def sent_to(sandbox: SandboxState) -> Counter[str]:
    return Counter(message["to"] for message in sandbox.messages.values())


def test_a_retry_under_the_same_key_returns_what_was_sent_and_sends_nothing(sender, sandbox):
    first = sender.send_once_sync("dag/run1/task/0", CARD, SMS, recipients(1)[0])
    again = sender.send_once_sync("dag/run1/task/0", CARD, SMS, recipients(1)[0])
    assert first["sid"].startswith("SM") and again["sid"] == first["sid"]
    assert sent_to(sandbox) == {"+12065550000": 1}
    other = sender.send_once_sync("dag/run2/task/0", CARD, SMS, recipients(1)[0])
    assert other["sid"] != first["sid"]  # another key is other work: sent
    assert sent_to(sandbox) == {"+12065550000": 2}


def test_an_attempt_killed_mid_send_is_found_by_the_retry_not_sent_again(tmp_path, sandbox, faults):
    """The host kills the first attempt while its request is at the provider (over
    loopback: the sandbox goes on and creates the message); the retry finds the message
    instead of sending it again. Sent under a new key instead, as a host without flo's
    journal would, it goes out twice."""
    faults.latency = 1.0  # the sandbox holds each request, its body read, this long
    app = create_app(sandbox, faults)
    with ServerThread(DateHeader(app, sandbox)) as server:
        fields = {"account_sid": SID, "auth_token": TOKEN, "api_base_url": server.url}
        sender = Sender(account_from("work", fields), tmp_path, settle=0.3)
        try:
            killed_then_retried(sender, app.state.sandbox)
        finally:
            portal().call(sender.aclose())


def killed_then_retried(sender: Sender, provider: Sandbox) -> None:
    """Kill an attempt while ``provider`` holds its request (for its fault latency), then
    retry it. Waits on what the journal and the provider hold, not on fixed sleeps."""
    sandbox, faults = provider.state, provider.faults

    async def until(done: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + 10
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting until {what}"
            await asyncio.sleep(0.01)

    async def killed_attempt() -> None:
        task = asyncio.ensure_future(sender.send_once("k1", CARD, SMS, recipients(1)[0]))
        journal = sender.runner.journal.db
        await until(lambda: journal.execute("SELECT 1 FROM items").fetchall(), "intent")
        await until(lambda: provider.in_flight or task.done(), "the request is at the sandbox")
        task.cancel()  # the only request after the intent is the send, held by the latency
        with pytest.raises(asyncio.CancelledError):
            await task
        faults.latency = 0.0
        await until(lambda: not provider.in_flight, "the sandbox is done with the request")

    asyncio.run(killed_attempt())
    assert sent_to(sandbox) == {"+12065550000": 1}
    found = sender.send_once_sync("k1", CARD, SMS, recipients(1)[0])
    assert found["sid"] == next(iter(sandbox.messages))
    assert sent_to(sandbox) == {"+12065550000": 1}
    sender.send_once_sync("k1-naive-retry", CARD, SMS, recipients(1)[0])
    assert sent_to(sandbox) == {"+12065550000": 2}  # what the journal prevents


def test_a_bulk_send_with_ambiguous_answers_sends_each_message_once(sender, sandbox, faults):
    faults.ambiguous_rate = 0.3
    result = sender.send_bulk_sync("campaign/1", CARD, SMS, recipients(40), concurrency=8)
    assert (result.done, result.failed, result.unknown) == (40, 0, 0)
    assert sent_to(sandbox) == {item["to"]: 1 for item in recipients(40)}
    assert [o["to"] for o in result.outputs if o] == [r["to"] for r in recipients(40)]
    assert len({o["sid"] for o in result.outputs if o}) == 40
    again = sender.send_bulk_sync("campaign/1", CARD, SMS, recipients(40), concurrency=8)
    assert again.run_id == result.run_id and len(sandbox.messages) == 40


def test_the_sync_call_works_inside_a_running_event_loop_and_from_many_threads(sender, sandbox):
    async def inside_a_loop() -> str:
        return sender.send_once_sync("in-loop", CARD, SMS, recipients(1)[0])["sid"]

    assert asyncio.run(inside_a_loop()).startswith("SM")
    errors: list[BaseException] = []

    def task(n: int) -> None:
        try:
            asyncio.run(sender.send_once(f"thread/{n}", CARD, SMS, recipients(6)[n]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(n,)) for n in range(1, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(sent_to(sandbox).values()) == [1] * 6


def test_two_attempts_at_once_in_one_process_do_not_both_send(sender, sandbox, faults):
    faults.latency = 0.3

    async def both() -> list[object]:
        send = sender.send_once("twice", CARD, SMS, recipients(1)[0])
        return await asyncio.gather(send, send_again(), return_exceptions=True)

    async def send_again() -> object:
        await asyncio.sleep(0.1)
        return await sender.send_once("twice", CARD, SMS, recipients(1)[0])

    first, second = asyncio.run(both())
    assert isinstance(first, dict) and isinstance(second, HostSendError)
    assert second.retryable and "running in this process" in str(second)
    assert len(sandbox.messages) == 1


def test_one_sender_and_one_client_per_account_in_a_process(tmp_path, sandbox):
    fields = {"account_sid": SID, "auth_token": TOKEN, "api_base_url": "http://127.0.0.1"}
    one = Sender.shared(account_from("a", fields), tmp_path, settle=1)
    assert Sender.shared(account_from("a", fields), tmp_path, settle=1) is one
    other_token = {**fields, "auth_token": "f" * 32}
    assert Sender.shared(account_from("a", other_token), tmp_path, settle=1) is not one


def test_a_key_reused_for_other_work_is_refused_before_anything_is_sent(sender, sandbox):
    sender.send_once_sync("k", CARD, SMS, recipients(1)[0])
    with pytest.raises(HostSendError, match="used for other work") as refused:
        sender.send_once_sync("k", CARD, SMS, recipients(2)[1])
    assert refused.value.retryable is False
    assert len(sandbox.messages) == 1


def test_bad_items_are_named_by_number_before_anything_is_sent(sender, sandbox):
    items = [*recipients(2), {"to": "2065551212", "body": "x"}, {"to": "+12065550099"}]
    with pytest.raises(InvalidInputError) as refused:
        sender.send_bulk_sync("bad", CARD, SMS, items)
    text = str(refused.value)
    assert "item 3: inputs.to" in text and "item 4: inputs.body" in text
    assert "item 1:" not in text and "item 2:" not in text
    with pytest.raises(InvalidInputError, match="options") as refused:
        sender.send_once_sync("bad-options", CARD, {"form": "+15005550006"}, recipients(1)[0])
    assert "options: options" not in str(refused.value)
    assert sandbox.messages == {}


def test_a_refused_item_fails_the_work_without_a_pointless_retry(sender, sandbox):
    invalid_number = {"to": "+15005550001", "body": "x"}  # the sandbox's "invalid number"
    with pytest.raises(HostSendError) as failed:
        sender.send_bulk_sync("refused", CARD, SMS, [*recipients(2), invalid_number])
    assert failed.value.retryable is False
    assert [p["item"] for p in failed.value.problems] == [2]
    assert len(sandbox.messages) == 2


def test_account_fields_are_checked_and_the_token_never_reaches_the_state(sender, sandbox):
    with pytest.raises(InvalidInputError) as refused:
        account_from("x", {"account_sid": "AC123", "auth_token": "t", "password": "p"})
    assert "Account SID" in str(refused.value) and "unknown field 'password'" in str(refused.value)
    sender.send_bulk_sync("secret-check", CARD, SMS, recipients(3))
    for path in sender.state.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_the_test_button_reports_the_account_or_the_refusal(tmp_path, sandbox):
    app = DateHeader(create_app(sandbox), sandbox)
    fields = {"account_sid": SID, "auth_token": TOKEN, "api_base_url": "http://127.0.0.1"}
    good = Sender(account_from("a", fields), tmp_path, transport=httpx.ASGITransport(app))
    assert good.test_sync()["status"] == "active"
    wrong = {**fields, "auth_token": "0" * 32}
    bad = Sender(account_from("b", wrong), tmp_path, transport=httpx.ASGITransport(app))
    with pytest.raises(ProviderError, match=r"20003"):
        bad.test_sync()
