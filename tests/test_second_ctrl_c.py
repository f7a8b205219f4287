"""Ctrl-C again and again while ``flo run``, ``flo serve`` and ``flo sandbox`` stop, in real
processes: each ends with its own exit code and message, never "Exception ignored in
threading._shutdown ... KeyboardInterrupt" nor death by the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flo_twilio.accounts import Account, AccountStore
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, free_port, sandbox_process

pytestmark = pytest.mark.slow


def flo_process(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"flo-{time.monotonic_ns()}.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flo_twilio.cli", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=ROOT,
            env={**os.environ, "FLO_SETTLE_SECONDS": "1"},
        )
    return proc, log


def wait_for(proc: subprocess.Popen, log: Path, text: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"never said {text!r}: {log.read_text()}"
        time.sleep(0.02)


def interrupt_until_it_ends(proc: subprocess.Popen, seconds: float = 30) -> int:
    """Ctrl-C every 5 ms, from now until the process has ended: one lands in its shutdown."""
    deadline = time.monotonic() + seconds
    while proc.poll() is None:
        assert time.monotonic() < deadline, "still running"
        proc.send_signal(signal.SIGINT)
        time.sleep(0.005)
    return proc.returncode


def clean(log: Path) -> str:
    said = log.read_text()
    for sign in ("Traceback", "Exception ignored", "KeyboardInterrupt", "internal error"):
        assert sign not in said, said
    return said


def test_flo_run_interrupted_then_interrupted_while_it_ends(flo_home, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("phone,name\n" + "".join(f"+1206555{i:04d},n{i}\n" for i in range(300)))
    with sandbox_process("--latency", "0.2") as url:
        values = {"account_sid": SID, "api_base_url": url}
        AccountStore().save(Account("sb", "twilio", values=values, secrets={"auth_token": TOKEN}))
        bulk = str(ROOT / "sample_flows/bulk_sms.yaml")
        proc, log = flo_process(tmp_path, "run", bulk, "--input", f"recipients=@{rows}")
        wait_for(proc, log, "run ")
        time.sleep(0.5)  # sending
        proc.send_signal(signal.SIGINT)
        wait_for(proc, log, "stopping after the requests in flight")
        assert interrupt_until_it_ends(proc) == 130
    assert "interrupted; nothing is lost. Resume with: flo resume" in clean(log)


def test_flo_sandbox_interrupted_again_and_again_while_it_ends(tmp_path):
    port = free_port()
    proc, log = flo_process(tmp_path, "sandbox", "--port", str(port))
    wait_for(proc, log, "a Twilio-compatible API on")
    assert interrupt_until_it_ends(proc) == 0
    clean(log)


def test_flo_serve_interrupted_again_and_again_while_it_ends(flo_home, tmp_path):
    with sandbox_process() as url:
        values = {"account_sid": SID, "api_base_url": url}
        AccountStore().save(Account("sb", "twilio", values=values, secrets={"auth_token": TOKEN}))
        port = free_port()
        flow = str(ROOT / "sample_flows/auto_reply.yaml")
        proc, log = flo_process(tmp_path, "serve", flow, "--port", str(port))
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"http://127.0.0.1:{port}/auto_reply", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        assert interrupt_until_it_ends(proc) == 0
    assert "flo serve: stopped" in clean(log)
