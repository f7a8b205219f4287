"""Prefect (its own venv, Prefect pinned): the documented "Use in Prefect" block and flow run
under Prefect's test harness against the sandbox over loopback, 30% of its creates stored
but answered 500, with Prefect's task and flow retries on. Exactly one message per
recipient, where plain ``call_card`` under the same retries sends some twice; the token
appears nowhere in Prefect's home, database or logs."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from flo_twilio.runner.journal import Journal
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, sandbox_process
from tests.hosts.hostvenv import host_python

pytestmark = pytest.mark.slow


def readme_snippets(folder: Path, sandbox: str) -> None:
    """The section's two code blocks as block.py and campaign.py, the block's placeholders
    filled with the sandbox's account."""
    section = (ROOT / "docs" / "hosts.md").read_text().split("## Use in Prefect\n", 1)[1]
    block, campaign = (part.split("```", 1)[0] for part in section.split("```python\n")[1:3])
    block = (
        block.replace('"AC..."', f'"{SID}"')
        .replace('auth_token="..."', f'auth_token="{TOKEN}"')
        .replace("http://127.0.0.1:4010", sandbox)
    )
    folder.mkdir()
    (folder / "block.py").write_text(block)
    (folder / "campaign.py").write_text(campaign)


def sent_to(sandbox: str) -> Counter[str]:
    """How many messages the sandbox holds for each recipient (every page)."""
    counts: Counter[str] = Counter()
    uri: str | None = f"/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000"
    while uri:
        page = httpx.get(sandbox + uri, auth=(SID, TOKEN)).raise_for_status().json()
        counts.update(message["to"] for message in page["messages"])
        uri = page.get("next_page_uri")
    return counts


def numbers(first: int, count: int) -> list[str]:
    return [f"+1206555{n:04d}" for n in range(first, first + count)]


def test_prefect_retries_send_each_message_once_where_plain_call_card_sends_twice(
    tmp_path, postgres_url
):
    python = host_python("prefect", Path(__file__).parent / "prefect-requirements.txt")
    home, report = tmp_path / "prefect_home", tmp_path / "report.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
        "FLO_SETTLE_SECONDS": "1",
    }
    with sandbox_process("--ambiguous-rate", "0.3", "--ambiguous-mode", "500") as sandbox:
        readme_snippets(tmp_path / "snippets", sandbox)
        driver = [str(python), str(Path(__file__).with_name("prefect_driver.py"))]
        run = subprocess.run(
            [*driver, str(tmp_path / "snippets"), sandbox, SID, TOKEN, str(report), postgres_url],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        counts = sent_to(sandbox)
    logs = run.stdout + run.stderr
    assert run.returncode == 0, logs[-3000:]
    seen = json.loads(report.read_text())

    # The documented campaign, and a flow run retried after its tasks sent.
    assert seen["block_type"] == "Twilio Account"
    assert seen["register"][0] == 0, seen["register"][1]
    assert seen["campaign"] == 20 and seen["retried_flow"] == 20
    bad_sid, no_block, too_many_slots = seen["bad_input"]
    assert "the Account SID must be AC followed by 32 hexadecimal characters" in bad_sid
    assert "no TwilioAccount block named 'nowhere'" in no_block and ".save(" in no_block
    assert "concurrency 26 is more than the 25 slots" in too_many_slots
    for first in (100, 200, 300):
        recipients = numbers(first, 10 if first == 300 else 20)
        assert {n: counts[n] for n in recipients} == dict.fromkeys(recipients, 1)
    assert counts["+12065551212"] == 2  # each flow run's "Campaign sent"
    assert counts["+12065550999"] == 2  # asked for twice on purpose: sent twice, not four times
    # Tasks that failed after sending, retried by Prefect.
    assert seen["retried_tasks"] == 10 and seen["task_attempts"] == 20
    assert {n: counts[n] for n in numbers(400, 10)} == dict.fromkeys(numbers(400, 10), 1)
    # A key of one's own: kept across flow runs.
    assert seen["keyed"][0] == seen["keyed"][1] and counts["+12065550600"] == 1
    assert seen["outside_a_run"] == "SM" and counts["+12065550800"] == 1
    assert seen["other_cards"] == ["MM", 1, 200, SID] and counts["+12065550700"] == 1
    # A number Twilio refuses: no pointless retries (3 attempts without the condition).
    assert seen["refused_failed"] and seen["refused_attempts"] == 1
    assert (
        seen["refused_failed_without_condition"] and seen["refused_attempts_without_condition"] == 3
    )
    # The control: plain call_card under Prefect's retries sends some messages twice.
    control = [counts[n] for n in numbers(500, 20)]
    assert max(control) > 1 and min(control) >= 1, control
    # The account's concurrency limit was made (max_in_flight slots), and is free again.
    assert seen["limit"] == [25, 0]
    # Its slots are leased for a minute (renewed while held): a killed task frees them soon.
    assert [round(s) for s in seen["lease_seconds"]] == [60]
    # How the sends went, in the task runs' logs: counts, waits and the end; no numbers.
    progress = [line for line in logs.splitlines() if "flo run " in line]
    assert any(": sending: 7 items, 16 at a time" in line for line in progress), logs[-3000:]
    assert any(" ended done in " in line for line in progress)
    assert not [line for line in progress if "+1206" in line]

    # A block whose journal is in PostgreSQL: the run is there, and nothing under FLO_HOME.
    journalled = seen["journal"]
    assert Journal(postgres_url).run(journalled["run_id"])["status"] == "done"
    journalled_to = [f"+1206557{n:04d}" for n in range(5)]
    assert {n: counts[n] for n in journalled_to} == dict.fromkeys(journalled_to, 1)
    assert "journal=SecretStr('**********')" in journalled["shown"]
    flo_home = Path(os.environ["FLO_HOME"])
    files = b"".join(p.read_bytes() for p in flo_home.rglob("*") if p.is_file())
    assert files and b"kept in PostgreSQL" not in files

    # The token and the database's password: nowhere in Prefect's files (its database
    # included) nor its logs.
    password = urlsplit(postgres_url).password or ""
    assert TOKEN not in logs and password not in logs
    stored = b"".join(path.read_bytes() for path in home.rglob("*") if path.is_file())
    assert TOKEN.encode() not in stored and password.encode() not in stored
    assert any(home.glob("harness/*.db"))
    assert TOKEN.encode() not in files  # flo's journal and work files
