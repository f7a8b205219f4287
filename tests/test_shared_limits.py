"""An account's limits across processes sharing one PostgreSQL journal: its rate
(``max_per_second``) and its in-flight cap (``max_in_flight``) hold for all of them
together, as counted by a sandbox in its own process; slots a killed process held come
back after their lease, and not before."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT
from tests.sandbox_process import sandbox_process

pytestmark = pytest.mark.slow
BULK = ROOT / "sample_flows/bulk_sms.yaml"
PROCESSES = 3


def sender(
    sandbox: str, journal: str, rows: Path, limits: dict[str, str], go: Any, answers: Any
) -> None:
    """One process sending its rows with the bulk flow, once ``go`` is set."""
    from flo_twilio import load_registry
    from flo_twilio.accounts import Account
    from flo_twilio.runner.api import Runner
    from flo_twilio.runner.journal import Journal

    account = Account(
        "shared",
        "twilio",
        values={"account_sid": SID, "api_base_url": sandbox, **limits},
        secrets={"auth_token": TOKEN},
    )
    runner = Runner(load_registry(), Journal(journal), settle=0.3)

    async def send() -> str:
        plan = runner.plan(BULK, [f"recipients=@{rows}"])
        run = runner.start(plan, account)
        answers.put("ready")
        while not go.is_set():
            await asyncio.sleep(0.01)
        outcome = await run.execute()
        return f"{outcome.status} {outcome.tally.done}"

    answers.put(asyncio.run(send()))


def send_from_processes(
    tmp_path: Path, sandbox: str, journals: list[str], limits: dict[str, str], each: int
) -> float:
    """``len(journals)`` processes sending ``each`` messages at once (to distinct numbers);
    the moment they were let go (no message was sent before)."""
    spawn = multiprocessing.get_context("spawn")
    go, answers = spawn.Event(), spawn.Queue()
    workers = []
    for n, journal in enumerate(journals):
        rows = tmp_path / f"rows{n}.csv"
        phones = [f"+1206555{n}{i:03d},P{n}-{i}" for i in range(each)]
        rows.write_text("\n".join(["phone,name", *phones]) + "\n")
        worker = spawn.Process(target=sender, args=(sandbox, journal, rows, limits, go, answers))
        worker.start()
        workers.append(worker)
    try:
        assert [answers.get(timeout=60) for _ in workers] == ["ready"] * len(workers)
        let_go = time.time()
        go.set()
        ended = [answers.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    assert ended == [f"done {each}"] * len(workers)
    return let_go


def sandbox_get(sandbox: str, path: str) -> Any:
    answer = httpx.get(f"{sandbox}{path}", auth=(SID, TOKEN), timeout=30)
    answer.raise_for_status()
    return answer.json()


def created_per_second(sandbox: str) -> Counter[float]:
    """How many messages the sandbox created in each second (its date_created)."""
    listed = sandbox_get(sandbox, f"/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000")
    return Counter(
        parsedate_to_datetime(message["date_created"]).timestamp() for message in listed["messages"]
    )


@pytest.fixture
def sandbox() -> Any:
    with sandbox_process("--status-delay", "0.01") as url:
        yield url


@pytest.mark.parametrize("shared", [True, False], ids=["one-database", "a-journal-each"])
def test_the_rate_holds_across_processes(tmp_path, postgres_url, sandbox, shared):
    rate, each = 4, 10
    journals = (
        [postgres_url] * PROCESSES
        if shared
        else [str(tmp_path / f"runs{n}.db") for n in range(PROCESSES)]
    )
    let_go = send_from_processes(tmp_path, sandbox, journals, {"max_per_second": str(rate)}, each)
    per_second = created_per_second(sandbox)
    assert sum(per_second.values()) == PROCESSES * each
    over = most_over_rate(per_second, let_go, rate)
    if shared:
        assert over <= 1, per_second  # one start more, for the spacing's jitter
    else:  # each process keeps its own pace: together they go faster
        assert over > 1, per_second


def most_over_rate(per_second: Counter[float], let_go: float, rate: float) -> float:
    """How far, at most, the messages created by the end of a second outnumber the starts
    ``rate`` allows since ``let_go`` (the first start may be at once). Robust on a busy
    machine: a message stamped late (the sandbox or a sender stalled) is counted later,
    never earlier, so stalls cannot fake or hide an excess."""
    created, over = 0, -math.inf
    for second in sorted(per_second):
        created += per_second[second]
        allowed = 1 + rate * max(0.0, second + 1 - let_go)
        over = max(over, created - allowed)
    return over


@pytest.mark.parametrize("shared", [True, False], ids=["one-database", "a-journal-each"])
def test_the_in_flight_cap_holds_across_processes(tmp_path, postgres_url, sandbox, shared):
    cap = 3
    sandbox_post_faults(sandbox, {"latency": 0.1})
    journals = (
        [postgres_url] * PROCESSES
        if shared
        else [str(tmp_path / f"runs{n}.db") for n in range(PROCESSES)]
    )
    send_from_processes(tmp_path, sandbox, journals, {"max_in_flight": str(cap)}, 12)
    peak = sandbox_get(sandbox, "/_sandbox/stats")["peak_in_flight"]
    if shared:
        assert peak <= cap
    else:
        assert peak > cap


def sandbox_post_faults(sandbox: str, faults: dict[str, Any]) -> None:
    httpx.post(f"{sandbox}/_sandbox/faults", json=faults, auth=(SID, TOKEN)).raise_for_status()


HOLDER = """
import asyncio, sys
from flo_twilio.runner.shared_limits import PostgresLimits

async def hold():
    gate = PostgresLimits(sys.argv[1]).gate("twilio:AC1", 2, None)
    async with gate.slot(), gate.slot():
        print("holding", flush=True)
        await asyncio.sleep(600)

asyncio.run(hold())
"""


@pytest.mark.anyio
async def test_a_killed_process_slots_come_back_after_their_lease(postgres_url, monkeypatch):
    lease = 2.0
    monkeypatch.setenv("FLO_LIMIT_LEASE_SECONDS", str(lease))
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, postgres_url], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
            os.kill(holder.pid, signal.SIGKILL)
            killed = time.monotonic()
        finally:
            holder.kill()
    from flo_twilio.runner.shared_limits import PostgresLimits

    gate = PostgresLimits(postgres_url).gate("twilio:AC1", 2, None)
    try:
        async with asyncio.timeout(lease + 5), gate.slot():
            waited = time.monotonic() - killed
    finally:
        await gate.aclose()
    # The holder renewed its lease at most a third of a lease before it was killed.
    assert lease * 2 / 3 - 0.1 <= waited <= lease + 2, waited


@pytest.mark.parametrize("variable", ["FLO_LIMIT_LEASE_SECONDS", "FLO_LIMIT_POLL_SECONDS"])
@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf"])
def test_a_bad_limit_setting_is_named(monkeypatch, variable, value):
    from flo_twilio.errors import InvalidInputError
    from flo_twilio.runner.shared_limits import PostgresLimits

    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInputError, match=f"{variable} must be a number of seconds above 0"):
        PostgresLimits("postgresql://flo:secret@127.0.0.1:1/flo")


@pytest.mark.anyio
async def test_a_gate_goes_on_after_the_database_restarts(postgres, postgres_url):
    from flo_twilio.runner.shared_limits import PostgresLimits

    gate = PostgresLimits(postgres_url).gate("twilio:AC1", 2, 1000.0)
    try:
        async with gate.slot():
            await gate.start()
        postgres.restart()  # every open connection is cut
        async with asyncio.timeout(30), gate.slot():
            await gate.start()
    finally:
        await gate.aclose()
