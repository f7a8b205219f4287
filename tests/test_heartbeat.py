"""A run owned on another machine (workers sharing a state folder) is alive while its
heartbeat is fresh: a retry there waits instead of sending what the first attempt may still
send. On this machine the PID decides, as before."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import httpx
import pytest

from flo_twilio import InvalidInputError, load_registry
from flo_twilio.accounts import Account
from flo_twilio.runner import process
from flo_twilio.runner.api import Runner
from flo_twilio.runner.journal import Journal
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT

BULK = ROOT / "sample_flows/bulk_sms.yaml"
ROWS = ROOT / "sample_flows/recipients.csv"


def elsewhere(host: str = "worker-7") -> str:
    """An owner on another host (its PID means nothing here)."""
    boot, _, _, _ = process.identity().split(":")
    return f"{boot}:999999:12345:{host}"


def test_a_process_elsewhere_lives_while_its_heartbeat_is_fresh():
    now = time.time()
    assert process.alive(elsewhere(), now - 1)
    assert not process.alive(elsewhere(), now - 6 * process.DEFAULT_HEARTBEAT - 1)
    assert not process.alive(elsewhere(), None)
    here = process.identity()
    assert process.alive(here, None) and process.alive(here, now - 3600)  # by PID


def test_a_retry_elsewhere_waits_for_a_run_that_still_beats(tmp_path, monkeypatch):
    journal = Journal(tmp_path / "runs.db")
    run_id = journal.start_run("f", "f.yaml", "a", {}, {})
    db = sqlite3.connect(tmp_path / "runs.db")

    def owned_elsewhere(beat_age: float) -> None:
        with db:
            db.execute(
                "UPDATE runs SET status = 'running', pid = 999999, owner = ?, updated = ? "
                "WHERE id = ?",
                (elsewhere(), time.time() - beat_age, run_id),
            )

    owned_elsewhere(beat_age=2)
    with pytest.raises(InvalidInputError, match="is running in process 999999 on worker-7"):
        journal.take_over(run_id)
    assert journal.run(run_id)["status"] == "running"
    owned_elsewhere(beat_age=31)
    assert journal.run(run_id)["status"] == "interrupted"
    journal.take_over(run_id)  # it stopped beating: this process resumes it
    monkeypatch.setenv("FLO_HEARTBEAT_SECONDS", "10")
    owned_elsewhere(beat_age=31)  # 6 beats of 10 s: still alive
    with pytest.raises(InvalidInputError, match="is running"):
        journal.take_over(run_id)


@pytest.mark.anyio
async def test_a_running_run_beats_even_while_its_event_loop_is_busy(journal_at, monkeypatch):
    monkeypatch.setenv("FLO_HEARTBEAT_SECONDS", "0.05")
    sandbox = SandboxState(status_delay=0.01)
    transport = httpx.ASGITransport(DateHeader(create_app(sandbox, Faults(latency=0.1)), sandbox))
    account = Account(
        "work",
        "twilio",
        {"account_sid": SID, "api_base_url": "http://127.0.0.1"},
        secrets={"auth_token": TOKEN},
    )
    runner = Runner(load_registry(), journal_at, settle=0.2)
    plan = runner.plan(BULK, [f"recipients=@{ROWS}"])
    run = runner.start(plan, account, transport)
    reader = Journal(journal_at)  # another connection: what another process reads

    def beat() -> float:
        return reader.db.execute(f"SELECT updated FROM runs WHERE id = '{run.id}'").fetchone()[0]

    execution = asyncio.ensure_future(run.execute())
    await asyncio.sleep(0.05)
    first = beat()
    time.sleep(0.3)  # the loop is blocked: the heartbeat thread goes on
    assert beat() > first
    outcome = await execution
    assert outcome.status == "done"


def test_a_bad_heartbeat_setting_is_refused_clearly(tmp_path, monkeypatch):
    for value in ("0", "-1", "soon", "inf"):
        monkeypatch.setenv("FLO_HEARTBEAT_SECONDS", value)
        with pytest.raises(InvalidInputError, match="FLO_HEARTBEAT_SECONDS must be a number"):
            Runner(load_registry(), Journal(tmp_path / "runs.db"))
