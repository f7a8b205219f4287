"""The promise: a bulk run killed with SIGKILL at random moments and resumed each time
ends with every recipient having exactly one message. The sandbox runs in another
process (it outlives the killed runner); messages are counted through its Messages list."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter

import httpx
import pytest

from flo_twilio.accounts import Account, AccountStore
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, flo, sandbox_process

RECIPIENTS = 300
KILLS = 4

DRILLS = {
    "plain": [],
    "30% injected 429s": ["--rate-429", "0.3"],
    "ambiguous 500s": ["--ambiguous-rate", "0.15"],
    "dropped connections": ["--ambiguous-rate", "0.15", "--ambiguous-mode", "drop"],
}


def messages_per_recipient(url: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    next_page = f"/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000"
    with httpx.Client(base_url=url, auth=(SID, TOKEN)) as http:
        drills_off = {"rate_429": 0, "rate_500": 0, "rate_503": 0, "ambiguous_rate": 0}
        http.post("/_sandbox/faults", json=drills_off).raise_for_status()  # count, do not drill
        while next_page:
            page = http.get(next_page).json()
            counts.update(m["to"] for m in page["messages"])
            next_page = page["next_page_uri"]
    return counts


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "flo_twilio.cli", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_at_random(proc: subprocess.Popen[str], rng: random.Random) -> bool:
    """SIGKILL after a random moment; False when it had already finished."""
    try:
        proc.wait(rng.uniform(0.3, 1.2))
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    finally:
        proc.stderr.close()


@pytest.mark.slow
@pytest.mark.parametrize("drill", list(DRILLS))
def test_killed_and_resumed_runs_send_exactly_once(tmp_path, drill):
    rng = random.Random(f"flo-{drill}")
    rows = tmp_path / "rows.csv"
    recipients = [f"+1206558{i:04d}" for i in range(RECIPIENTS)]
    rows.write_text("phone,name\n" + "".join(f"{p},R{i}\n" for i, p in enumerate(recipients)))
    with sandbox_process(*DRILLS[drill], "--latency", "0.005") as url:
        AccountStore().save(
            Account(
                "drill",
                "twilio",
                values={"account_sid": SID, "api_base_url": url},
                secrets={"auth_token": TOKEN},
            )
        )
        kills = 0
        runs: list[dict] = []
        while not runs:  # a kill before the run was recorded leaves nothing to resume: again
            kills += kill_at_random(
                start("run", "sample_flows/bulk_sms.yaml", "--input", f"recipients=@{rows}"), rng
            )
            runs = json.loads(flo("runs", "list", "--json").out)
        run_id = runs[0]["id"]
        for _ in range(KILLS):
            kills += kill_at_random(start("resume", run_id), rng)
        finals = []
        for attempt in range(6):  # resume until done: 429s that outlast the retries fail items
            extra = ["--resend-unknown"] if attempt >= 3 else []
            result = flo("resume", run_id, *extra)
            finals.append(result.err)
            if result.code == 0:
                break
        else:
            pytest.fail("the run did not finish:\n" + "\n".join(finals))
        counts = messages_per_recipient(url)
    assert kills >= 1, "no kill landed mid-run: the drill proved nothing"
    missing = [r for r in recipients if counts[r] == 0]
    doubled = {r: n for r, n in counts.items() if n > 1}
    assert not missing and not doubled, f"missing {len(missing)}, doubled {doubled}"
    assert sum(counts.values()) == RECIPIENTS
    shown = json.loads(flo("runs", "show", run_id, "--json").out)
    assert shown["status"] == "done" and shown["steps"]["send"] == {"done": RECIPIENTS}
