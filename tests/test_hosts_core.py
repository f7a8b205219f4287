"""The host-facing core: work sent at most once under a host's key, from any thread or event
loop, against the sandbox in-process (its requests cross a real ASGI app, on the Sender's
own loop)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from flo_twilio import InvalidInputError
from flo_twilio.errors import FloError, KeyTaken, ProviderError, RunInUseError
from flo_twilio.hosts import HostSendError, Sender, account_from
from flo_twilio.hosts.portal import portal
from flo_twilio.runner import journal as journal_module
from flo_twilio.runner import process
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.guards import Sandbox
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


class LosesCreates(httpx.AsyncBaseTransport):
    """The sandbox's transport, where the first ``lost`` creates never reach it and their
    answers never come (a lost connection): their outcome is unknown, and not found."""

    def __init__(self, inner: httpx.AsyncBaseTransport, lost: int) -> None:
        self.inner, self.lost = inner, lost

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and self.lost > 0:
            self.lost -= 1
            raise httpx.ReadError("the connection was lost", request=request)
        return await self.inner.handle_async_request(request)


def test_bulk_work_tells_the_hosts_log_how_it_goes_without_personal_data(
    tmp_path, sandbox, faults, caplog
):
    """Start, each tenth of the items, the settle window's wait and the end, as the host's
    logger gets them (counts only: no number or body); a retry says it resumes."""
    account = account_from(
        "work", {"account_sid": SID, "auth_token": TOKEN, "api_base_url": "http://127.0.0.1"}
    )
    app = httpx.ASGITransport(DateHeader(create_app(sandbox, faults), sandbox))
    sender = Sender(account, tmp_path / "state", settle=0.5, transport=LosesCreates(app, 10))
    log = logging.getLogger("a.host.task")
    try:
        with caplog.at_level(logging.INFO, logger=log.name):
            first = sender.send_bulk_sync("c/1", CARD, SMS, recipients(20), progress=log.info)
            sender.send_bulk_sync("c/1", CARD, SMS, recipients(20), progress=log.info)
    finally:
        portal().call(sender.aclose())
    lines = [r.getMessage().removeprefix(f"flo run {first.run_id}") for r in caplog.records]
    waits = [line for line in lines if line.startswith(": waiting up to 0.")]
    assert len(waits) == 1 and "s to look up again 10 items whose outcome is unknown" in waits[0]
    ended = [line.removeprefix(": ") for line in lines if " items ended: " in line]
    assert (
        ended == [f"{n}/20 items ended: {n} done, 0 failed, 0 unknown" for n in range(2, 21, 2)] * 2
    )
    others = [line for line in lines if " items ended: " not in line and line not in waits]
    assert others[0] == ": sending: 20 items, 16 at a time"
    assert (
        others[2] == ": resuming it (what was sent is kept, not sent again): 20 items, 16 at a time"
    )
    for summary in others[1], others[3]:
        assert re.fullmatch(r" ended done in [0-9.]+ s: 20 done, 0 failed, 0 unknown", summary)
    assert len(others) == 4
    assert not [line for line in lines if "+1206" in line or "Hello" in line]
    assert sent_to(sandbox) == {item["to"]: 1 for item in recipients(20)}


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


@pytest.mark.parametrize("wording", ["as written", "reworded"])
def test_work_another_live_process_runs_is_retryable_whatever_the_message_says(
    sender, sandbox, monkeypatch, wording
):
    """Retryability follows the error's type, not its text: rewording the journal's message
    keeps a run that another process holds retryable (and a KeyTaken is a FloError)."""
    sender.send_once_sync("held", CARD, SMS, recipients(1)[0])
    run_id = sender.runner.run_with_key("held")
    owner = f"{process.identity().split(':')[0]}:999999:12345:worker-7"
    sender.runner.journal.db.execute(
        "UPDATE runs SET status = 'running', owner = ?, updated = ? WHERE id = ?",
        (owner, time.time(), run_id),
    )
    if wording == "reworded":
        monkeypatch.setattr(
            journal_module, "RunInUseError", lambda run, _: RunInUseError(run, "busy elsewhere")
        )
    with pytest.raises(HostSendError) as held:
        sender.send_once_sync("held", CARD, SMS, recipients(1)[0])
    assert held.value.retryable and held.value.run_id == run_id
    assert len(sandbox.messages) == 1
    assert issubclass(KeyTaken, FloError) and KeyTaken(run_id).run_id == run_id


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


VERIFY = {"serviceSid": "VA00000000000000000000000000000001"}


def test_a_secret_input_is_kept_nowhere_and_a_retry_gives_it_again(sender, sandbox, tmp_path):
    """send_once on check_verification: the code never reaches the state folder (work file,
    flow, journal); a retry after a crash passes it again and finishes the work."""
    to = "+12065551212"
    sender.send_once_sync(
        "start", "twilio.start_verification", VERIFY, {"to": to, "channel": "sms"}
    )
    code = sandbox.verify.code_for(SID, to).code
    checked = sender.send_once_sync(
        "check", "twilio.check_verification", VERIFY, {"to": to, "code": code}
    )
    assert checked["valid"] is True
    kept = b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*.json"))
    kept += b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*.yaml"))
    db = sender.runner.journal.db
    kept += json.dumps(db.execute("SELECT arguments, bound FROM runs").fetchall()).encode()
    kept += json.dumps(db.execute("SELECT key, inputs, outputs FROM items").fetchall()).encode()
    assert code.encode() not in kept and b"***" in kept
    run_id = sender.runner.run_with_key("check")
    db.execute("DELETE FROM items WHERE run_id = ?", (run_id,))  # killed before its call
    db.execute("UPDATE runs SET status = 'failed' WHERE id = ?", (run_id,))
    sender.send_once_sync(
        "start-2", "twilio.start_verification", VERIFY, {"to": to, "channel": "sms"}
    )
    code = sandbox.verify.code_for(SID, to).code
    again = sender.send_once_sync(
        "check", "twilio.check_verification", VERIFY, {"to": to, "code": code}
    )
    assert again["valid"] is True and sender.runner.run_with_key("check") == run_id


def test_secret_inputs_go_one_item_at_a_time(sender, sandbox):
    items = [{"to": "+12065551212", "code": "123456"}, {"to": "+12065551213", "code": "654321"}]
    with pytest.raises(InvalidInputError, match="code is a secret input") as refused:
        sender.send_bulk_sync("bulk-check", "twilio.check_verification", VERIFY, items)
    assert "123456" not in str(refused.value) and "use send_once" in str(refused.value)
