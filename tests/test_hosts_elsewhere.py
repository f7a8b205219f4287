"""Host work with the journal on PostgreSQL, retried on another machine: a worker killed
mid-send in one container, its retry in another whose temporary folder and FLO_HOME are
not the first's (the first's are gone with it). The retry resumes the run from what the
database holds and every recipient gets exactly one message, counted at the sandbox."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from flo_twilio.runner.journal import Journal
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.embedded import DateHeader
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ServerThread

pytestmark = pytest.mark.slow
RECIPIENTS = [{"to": f"+1206555{n:04d}", "body": f"Hello {n}"} for n in range(20)]
KEY = "airflow/campaign/run-1/send/0"

WORKER = f"""
import sys
from flo_twilio.hosts import HostSendError, Sender, account_from

url, journal = sys.argv[1:3]
fields = {{"account_sid": {SID!r}, "auth_token": {TOKEN!r}, "api_base_url": url}}
sender = Sender(account_from("w", fields), journal=journal, settle=0.3)
try:
    result = sender.send_bulk_sync(
        {KEY!r}, "twilio.send_sms", {{"from": "+15005550006"}}, {RECIPIENTS!r}, concurrency=2
    )
    print("done", result.done)
except HostSendError as error:
    print("retry" if error.retryable else "final", error)
"""


def machine(root: Path, server: str, journal: str) -> subprocess.Popen[str]:
    """A worker in a container of its own: its own TMPDIR and FLO_HOME under ``root``."""
    (root / "tmp").mkdir(parents=True)
    env = {
        **os.environ,
        "TMPDIR": str(root / "tmp"),
        "FLO_HOME": str(root / "home"),
        "FLO_HEARTBEAT_SECONDS": "0.2",  # a dead worker's run is taken over after 6 beats
    }
    command = [sys.executable, "-c", WORKER, server, journal]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)


def test_a_worker_killed_on_one_machine_is_resumed_on_another_and_sends_once(
    postgres_url, tmp_path
):
    sandbox = SandboxState(status_delay=0.01)
    faults = Faults(seed=3, latency=0.15)  # each request held at the sandbox this long
    with ServerThread(DateHeader(create_app(sandbox, faults), sandbox)) as server:
        first = machine(tmp_path / "a", server.url, postgres_url)
        deadline = time.monotonic() + 60
        while len(sandbox.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        assert 3 <= len(sandbox.messages) < len(RECIPIENTS), "not killed mid-send"
        shutil.rmtree(tmp_path / "a")  # its container is gone, with its folders
        for attempt in range(20):
            said, _ = machine(tmp_path / f"b{attempt}", server.url, postgres_url).communicate(
                timeout=120
            )
            if said.startswith("done"):
                break
            assert said.startswith("retry"), said  # the dead worker's run, until taken over
        else:
            pytest.fail("the work never ended done")
    assert said.split() == ["done", str(len(RECIPIENTS))]
    sent = Counter(message["to"] for message in sandbox.messages.values())
    assert sent == Counter(r["to"] for r in RECIPIENTS)  # each exactly once
    run = Journal(postgres_url).run(Journal(postgres_url).run_with_key(KEY) or "")
    assert run and run["status"] == "done"
    assert not list(tmp_path.glob("b*/home/*"))  # nothing under any FLO_HOME
