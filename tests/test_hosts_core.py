"""The host-facing core: work sent at most once under a host's key, from any thread or event
loop, against the sandbox in-process (its requests cross a real ASGI app, on the Sender's
own loop)."""

from __future__ import annotations

import asyncio
import signal
import tempfile
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
def sender(tmp_path, sandbox, faults, journal_at, monkeypatch):
    """A Sender journalling in a state folder (SQLite), or in PostgreSQL with no folder
    (its work files in the test's own temporary folder)."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    account = account_from(
        "work", {"account_sid": SID, "auth_token": TOKEN, "api_base_url": "http://127.0.0.1"}
    )
    transport = httpx.ASGITransport(DateHeader(create_app(sandbox, faults), sandbox))
    where = {"journal": journal_at} if isinstance(journal_at, str) else {"state": tmp_path / "s"}
    made = Sender(account, settle=0.3, transport=transport, **where)
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


def one_then_another(first: Sender, second: Sender, key: str) -> list[object]:
    """The same message under ``key``: ``first`` sends it, ``second`` tries 0.1 s later
    while it is still on its way; what each ended with."""

    async def later() -> object:
        await asyncio.sleep(0.1)
        return await second.send_once(key, CARD, SMS, recipients(1)[0])

    async def both() -> list[object]:
        send = first.send_once(key, CARD, SMS, recipients(1)[0])
        return await asyncio.gather(send, later(), return_exceptions=True)

    return asyncio.run(both())


def test_two_attempts_at_once_in_one_process_do_not_both_send(sender, sandbox, faults):
    faults.latency = 0.3
    first, second = one_then_another(sender, sender, "twice")
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


def test_a_wrong_token_is_not_retried_and_the_message_says_what_to_check(tmp_path, sandbox):
    app = DateHeader(create_app(sandbox), sandbox)
    fields = {"account_sid": SID, "auth_token": "0" * 32, "api_base_url": "http://127.0.0.1"}
    wrong = Sender(account_from("w", fields), tmp_path, transport=httpx.ASGITransport(app))
    try:
        with pytest.raises(HostSendError) as refused:
            wrong.send_bulk_sync("wrong-token", CARD, SMS, recipients(2))
    finally:
        portal().call(wrong.aclose())
    assert refused.value.retryable is False
    assert "check its Account SID and Auth Token" in str(refused.value)
    assert "item 1 failed: 20003 " in str(refused.value)
    assert "0" * 32 not in str(refused.value)
    assert sandbox.messages == {}


def test_the_error_names_each_item_that_failed_and_counts_the_rest(sender, sandbox):
    invalid = [{"to": "+15005550001", "body": f"x{n}"} for n in range(22)]
    with pytest.raises(HostSendError) as failed:
        sender.send_bulk_sync("many-refused", CARD, SMS, [*recipients(2), *invalid])
    lines = str(failed.value).splitlines()
    assert lines[1].startswith("item 3 failed: 21211 ")
    assert lines[20].startswith("item 22 failed: 21211 ")
    assert lines[21:] == ["... and 2 more"]
    assert len(sandbox.messages) == 2


def test_a_retry_at_another_concurrency_resumes_the_same_work(sender, sandbox):
    first = sender.send_bulk_sync("conc", CARD, SMS, recipients(5), concurrency=2)
    again = sender.send_bulk_sync("conc", CARD, SMS, recipients(5), concurrency=8)
    assert again.run_id == first.run_id and len(sandbox.messages) == 5


def test_two_senders_on_one_state_folder_share_the_guard_of_a_key(sender, sandbox, faults):
    faults.latency = 0.3
    twin = Sender(sender.account, sender.state, settle=0.3, transport=sender.transport)
    try:
        first, second = one_then_another(sender, twin, "shared-key")
    finally:
        portal().call(twin.aclose())
    assert isinstance(first, dict) and isinstance(second, HostSendError)
    assert "running in this process" in str(second) and len(sandbox.messages) == 1


def test_the_state_folder_is_one_folder_however_it_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fields = {"account_sid": SID, "auth_token": TOKEN, "api_base_url": "http://127.0.0.1"}
    relative = Sender.shared(account_from("s", fields), "state", settle=1)
    assert Sender.shared(account_from("s", fields), tmp_path / "state", settle=1) is relative
    assert relative.state == tmp_path / "state"


def test_an_unusable_state_folder_or_card_is_named_before_anything_is_sent(tmp_path, sender):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(InvalidInputError, match=r"the state folder .*a-file.* cannot be used"):
        Sender(sender.account, blocker / "state")
    with pytest.raises(InvalidInputError, match="is a trigger"):
        sender.send_once_sync("t", "twilio.incoming_message", {}, {})
    with pytest.raises(InvalidInputError, match=r"twilio\.send_sms"):
        sender.send_once_sync("u", "twilio.send_smss", SMS, recipients(1)[0])


def test_account_fields_given_as_numbers_are_taken_as_their_text():
    fields = {"account_sid": SID, "auth_token": TOKEN, "max_in_flight": 4, "max_per_second": 2.5}
    account = account_from("n", fields)
    assert account.values["max_in_flight"] == "4" and account.values["max_per_second"] == "2.5"
    with pytest.raises(InvalidInputError, match="max-in-flight"):
        account_from("n", {**fields, "max_in_flight": 0})


def test_an_interrupted_wait_cancels_the_work():
    cancelled = threading.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(KeyboardInterrupt):
            portal().call(work())
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert cancelled.wait(2)
