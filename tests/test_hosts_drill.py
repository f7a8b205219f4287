"""The host core's promise across processes: workers racing on one key, killed at random
(SIGKILL) while their requests are at a sandbox that stores 30% of creates but drops the
answer, then retried from fresh processes until the work is done. Every recipient gets
exactly one message; the same drill retrying under a new key, as a host without flo's
journal would, shows doubles (so the count can fail)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from typing import Any

import pytest

from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread

pytestmark = pytest.mark.slow
RECIPIENTS = [{"to": f"+1206555{n:04d}", "body": f"Hello {n}"} for n in range(40)]


def worker(url: str, state: str, key: str, concurrency: int, answers: Any) -> None:
    """One host worker's attempt (in its own process)."""
    from flo_twilio.hosts import HostSendError, Sender, account_from

    account = account_from("w", {"account_sid": SID, "auth_token": TOKEN, "api_base_url": url})
    sender = Sender(account, state, settle=0.3)
    try:
        result = sender.send_bulk_sync(
            key, "twilio.send_sms", {"from": "+15005550006"}, RECIPIENTS, concurrency=concurrency
        )
        answers.put(("done", result.done))
    except HostSendError as error:
        answers.put(("retry" if error.retryable else "final", str(error)))


def drill(tmp_path, retry_key: str | None) -> Counter[str]:
    """Four attempts at once, all killed at a random moment, then retries until done;
    ``retry_key`` (else the same key) is what the retries use. Messages per recipient."""
    spawn = multiprocessing.get_context("spawn")
    sandbox = SandboxState(status_delay=0.01)
    faults = Faults(seed=7, latency=0.1, ambiguous_rate=0.3, ambiguous_mode="drop")
    answers = spawn.Queue()
    state = str(tmp_path / "state")
    with ServerThread(DateHeader(create_app(sandbox, faults), sandbox)) as server:
        racing = [
            spawn.Process(target=worker, args=(server.url, state, "campaign/7", 2 + n, answers))
            for n in range(4)
        ]
        for process in racing:
            process.start()
        deadline = time.monotonic() + 60
        while not sandbox.messages and time.monotonic() < deadline:
            time.sleep(0.01)  # until the first requests are at the sandbox
        time.sleep(random.uniform(0.05, 0.25))
        for process in racing:
            os.kill(process.pid, signal.SIGKILL)
            process.join()
        assert sandbox.messages, "the attempts were killed before sending anything"
        assert len(sandbox.messages) < len(RECIPIENTS), "the attempts finished before the kill"
        for _ in range(8):
            retry = spawn.Process(
                target=worker, args=(server.url, state, retry_key or "campaign/7", 5, answers)
            )
            retry.start()
            retry.join(120)
            outcome, detail = answers.get(timeout=5)
            if outcome == "done":
                break
            assert outcome == "retry", detail
        else:
            pytest.fail("the work never ended done")
    return Counter(message["to"] for message in sandbox.messages.values())


def test_killed_racing_workers_then_retries_send_each_message_once(tmp_path):
    sent = drill(tmp_path, retry_key=None)
    assert sent == Counter({item["to"]: 1 for item in RECIPIENTS})


def test_the_same_drill_under_a_new_key_shows_doubles(tmp_path):
    sent = drill(tmp_path, retry_key="campaign/7-again")
    assert set(sent) == {item["to"] for item in RECIPIENTS}
    assert max(sent.values()) == 2
