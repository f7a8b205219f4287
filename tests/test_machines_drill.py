"""The three-machine drill: host workers on machines A, B and C (``tests/machines.py``: their
own host names, PID spaces and empty folders) sharing only a PostgreSQL journal, against a
sandbox in its own process that stores 30% of creates but drops their answer. A campaign
split in two pieces of work: workers on A are SIGKILLed at random mid-send, then retried
on B and C, racing on each piece's key:
every recipient gets exactly one message, as the sandbox's Messages list counts. A run
whose machine is gone is taken over after the heartbeat window, and not before; ``flo run``
killed on A is finished by ``flo resume`` on B. The same drill with a SQLite journal on
each machine shows doubles, so the count can fail."""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.machines import SID, TOKEN, Machine, ended, kill, machines_unavailable, recipients
from tests.sandbox_process import sandbox_process

pytestmark = pytest.mark.slow
RECIPIENTS = 200
FLO = (sys.executable, "-m", "flo_twilio.cli")
KEY = "campaign/7"
PIECES = {"campaign/7/1": (0, RECIPIENTS // 2), "campaign/7/2": (RECIPIENTS // 2, RECIPIENTS // 2)}
SETTLE = "0.5"  # the sandbox answers within 0.1 s: an item not found by then never arrived


@pytest.fixture(scope="module", autouse=True)
def machines_here() -> None:
    if reason := machines_unavailable():
        pytest.skip(reason)


@pytest.fixture
def sandbox() -> Any:
    faults = ("--latency", "0.05", "--ambiguous-rate", "0.3", "--ambiguous-mode", "drop")
    with sandbox_process("--status-delay", "0.01", *faults) as url:
        yield url


def sent(sandbox: str) -> Counter[str]:
    """Messages per recipient, as the sandbox lists them."""
    answer = httpx.get(
        f"{sandbox}/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000",
        auth=(SID, TOKEN),
        timeout=30,
    )
    answer.raise_for_status()
    body = answer.json()
    assert body["next_page_uri"] is None
    return Counter(message["to"] for message in body["messages"])


def wait_for_messages(sandbox: str, at_least: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while sum(sent(sandbox).values()) < at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} messages in {seconds} s"
        time.sleep(0.05)


def three_machines(tmp_path: Path, sandbox: str, heartbeat: str) -> list[Machine]:
    settings = {
        "FLO_DRILL_SANDBOX": sandbox,
        "FLO_DRILL_SETTLE": SETTLE,
        "FLO_HEARTBEAT_SECONDS": heartbeat,
    }
    return [Machine.make(f"machine-{n}", tmp_path, **settings) for n in "abc"]


def campaign(tmp_path: Path, sandbox: str, journal: str | None) -> Counter[str]:
    """The campaign split in two pieces of work, each under its own key. On A, two workers
    race on the first and one takes the second, each SIGKILLed at a random moment once
    sending; then rounds of a worker on B racing one on C for each piece not done yet."""
    a, b, c = three_machines(tmp_path, sandbox, heartbeat="0.2")
    first, second = PIECES
    on_a = [(first, 3), (first, 5), (second, 4)]
    racing = [a.worker(journal, key, *PIECES[key], concurrency) for key, concurrency in on_a]
    wait_for_messages(sandbox, 1)
    for worker in racing:
        time.sleep(random.uniform(0.0, 0.3))
        kill(worker)
    so_far = sum(sent(sandbox).values())
    assert 0 < so_far < RECIPIENTS, "the kills came before anything or after everything"
    pending = set(PIECES)
    for _ in range(15):
        retries = [
            (key, machine.worker(journal, key, *PIECES[key], 6))
            for key in sorted(pending)
            for machine in (b, c)
        ]
        for key, retry in retries:
            said = ended(retry)
            assert said["outcome"] in ("done", "retry"), said
            if said["outcome"] == "done":
                pending.discard(key)
        if not pending:
            break
    else:
        pytest.fail(f"the work of {sorted(pending)} never ended done")
    # Each machine wrote in its own folders, seen by it alone at the shared paths.
    assert all(files(tmp_path / machine.name) for machine in (a, b, c))
    assert not files(tmp_path / "mounted")
    return sent(sandbox)


def files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_killed_workers_on_a_retried_on_b_and_c_send_each_message_once(
    tmp_path, sandbox, postgres_url
):
    assert campaign(tmp_path, sandbox, postgres_url) == Counter(
        {item["to"]: 1 for item in recipients(RECIPIENTS)}
    )


def test_the_same_drill_with_a_sqlite_journal_on_each_machine_shows_doubles(tmp_path, sandbox):
    counted = campaign(tmp_path, sandbox, journal=None)
    assert set(counted) == {item["to"] for item in recipients(RECIPIENTS)}
    assert max(counted.values()) >= 2


def test_a_run_whose_machine_is_gone_is_taken_over_after_the_heartbeat_window(
    tmp_path, sandbox, postgres_url
):
    beat, missed = 1.0, 6  # the window: six missed beats
    a, b, _ = three_machines(tmp_path, sandbox, heartbeat=str(beat))
    first = a.worker(postgres_url, KEY, 0, RECIPIENTS, 2)
    wait_for_messages(sandbox, 10)
    kill(first)
    gone = time.monotonic()
    before = sent(sandbox)
    refused = ended(b.worker(postgres_url, KEY, 0, RECIPIENTS, 6))
    assert refused["outcome"] == "retry", refused
    assert "process 1 on machine-a" in refused["detail"], refused  # PIDs collide: A's was 1
    assert time.monotonic() - gone < beat * missed - beat, "too slow to try within the window"
    assert sent(sandbox) == before  # the refused retry sent nothing
    while (said := ended(b.worker(postgres_url, KEY, 0, RECIPIENTS, 6)))["outcome"] == "retry":
        assert time.monotonic() - gone < 60, said
    assert said["outcome"] == "done", said
    assert time.monotonic() - gone >= beat * (missed - 1)  # its last beat was at most one before
    assert sent(sandbox) == Counter({item["to"]: 1 for item in recipients(RECIPIENTS)})


def test_flo_run_killed_on_a_is_finished_by_flo_resume_on_b(tmp_path, sandbox, postgres_url):
    a, b, _ = three_machines(tmp_path, sandbox, heartbeat="0.2")
    rows = tmp_path / "recipients.csv"
    phones = [item["to"] for item in recipients(RECIPIENTS)]
    rows.write_text("phone,name\n" + "".join(f"{phone},N{n}\n" for n, phone in enumerate(phones)))
    for machine in (a, b):
        added = machine.run(
            *FLO,
            "accounts",
            "add",
            "sandbox",
            "--account-sid",
            SID,
            "--auth-token",
            "-",
            "--api-base-url",
            sandbox,
            "--no-verify",
            stdin=TOKEN + "\n",
        )
        assert added[0] == 0, added
    journal = {"FLO_JOURNAL": postgres_url}
    a.environment.update(journal)
    b.environment.update(journal)
    run = a.start(
        *FLO,
        "run",
        "sample_flows/bulk_sms.yaml",
        "--account",
        "sandbox",
        "--settle",
        SETTLE,
        "--input",
        f"recipients=@{rows}",
    )
    wait_for_messages(sandbox, 10)
    kill(run)
    code, listed, err = b.run(*FLO, "runs", "list", "--json")
    assert code == 0, err
    run_id = json.loads(listed)[0]["id"]
    deadline = time.monotonic() + 60
    while True:  # refused while A's last heartbeat is fresh
        code, out, err = b.run(*FLO, "resume", run_id, "--settle", SETTLE)
        if "running in process" not in err:
            break
        assert time.monotonic() < deadline, err
    assert code == 0, (out, err)
    assert sent(sandbox) == Counter({phone: 1 for phone in phones})
