"""Dagster (issue 16): the documented campaign job and the drills of dagster_drill.py, run in
process by Dagster pinned in a venv of its own (built once, cached under .cache/hostvenvs),
against the sandbox over loopback with 30% of creates stored but answered 500, and a
Dagster instance (SQLite, compute logs) in a temporary DAGSTER_HOME."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from flo_twilio.runner.journal import Journal
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, sandbox_process
from tests.hosts.hostvenv import host_python

HERE = Path(__file__).parent
EXAMPLE = ROOT / "examples" / "dagster_campaign.py"
PEOPLE = 6  # dagster_drill.People's count: the recipients of each crash drill
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def python() -> Path:
    return host_python("dagster", HERE / "dagster-requirements.txt")


@pytest.fixture(scope="module")
def runs(python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The campaign and every drill, run once; what they printed and what was sent."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    recipients = home.parent / "recipients.csv"
    recipients.write_text("phone,name\n" + "".join(f"+1206555{n:04d},P{n}\n" for n in range(10)))
    config = {
        "ops": {name: {"config": {"path": str(recipients)}} for name in ("signups", "newsletter")}
    }
    drills = [
        "flo_retried",
        "plain_retried",
        "reexecute:flo_reexecuted",
        "reexecute:plain_reexecuted",
        "asset_retried",
        "cards",
    ]
    sandbox = ("--ambiguous-rate", "0.3", "--ambiguous-mode", "500", "--status-delay", "0.05")
    with sandbox_process(*sandbox) as url:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "FLO_HOME": str(tmp_path_factory.mktemp("flo_home")),
            "FLO_SETTLE_SECONDS": "1",
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": url,
        }
        outcomes, logs = {}, ""
        for file, run_config, jobs in (
            (EXAMPLE, config, ["campaign"]),
            (HERE / "dagster_drill.py", {}, [*drills, "refused", "unfinished"]),
        ):
            done = subprocess.run(
                [python, HERE / "dagster_run.py", file, json.dumps(run_config), *jobs],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            for line in done.stdout.splitlines():
                if not line.startswith("OUTCOME "):
                    continue
                outcome = json.loads(line.removeprefix("OUTCOME "))
                outcomes.setdefault(outcome["job"], []).append(outcome)
            logs += done.stdout + done.stderr
        sent = Counter((m["to"], m["body"]) for m in messages(url))
    return {"outcomes": outcomes, "sent": sent, "home": home, "logs": logs}


def test_a_killed_run_worker_then_all_steps_again_sends_each_message_once(python, tmp_path):
    """The documented campaign, its run worker SIGKILLed mid-send, then re-executed with all
    its steps (``dagster/retry_strategy: ALL_STEPS``): the rest is sent, nothing twice."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    recipients = tmp_path / "recipients.csv"
    recipients.write_text("phone,name\n" + "".join(f"+1206556{n:04d},K{n}\n" for n in range(10)))
    config = {
        "ops": {name: {"config": {"path": str(recipients)}} for name in ("signups", "newsletter")}
    }
    sandbox = ("--ambiguous-rate", "0.3", "--ambiguous-mode", "500", "--latency", "0.1")
    with sandbox_process(*sandbox) as url:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "FLO_HOME": str(tmp_path / "flo_home"),
            "FLO_SETTLE_SECONDS": "1",
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": url,
        }
        driver = [python, HERE / "dagster_killed.py", EXAMPLE, json.dumps(config), url, SID, TOKEN]
        done = subprocess.run(
            driver, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
        )
        sent = Counter((m["to"], m["body"]) for m in messages(url))
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("KILLED ")]
    seen = json.loads(line.removeprefix("KILLED "))
    assert 4 <= seen["sent_before_the_kill"] < 20 and seen["reexecuted_success"], seen
    welcomes = {(f"+1206556{n:04d}", f"Welcome aboard, K{n}!") for n in range(10)}
    news = {(f"+1206556{n:04d}", f"K{n}, our news is out.") for n in range(10)}
    assert sent == dict.fromkeys(welcomes | news, 1)


def messages(url: str) -> list[dict[str, Any]]:
    """Every message the sandbox holds, page after page."""
    found: list[dict[str, Any]] = []
    page: str | None = f"/2010-04-01/Accounts/{SID}/Messages.json?PageSize=1000"
    while page:
        answer = httpx.get(url + page, auth=(SID, TOKEN)).raise_for_status().json()
        found += answer["messages"]
        page = answer.get("next_page_uri")
    return found


def sent_by(runs: dict[str, Any], prefix: str) -> Counter[str]:
    return Counter({body: n for (_, body), n in runs["sent"].items() if body.startswith(prefix)})


def test_the_readme_campaign_sends_each_message_once(runs):
    [outcome] = runs["outcomes"]["campaign"]
    assert outcome["success"], outcome
    people = [f"+1206555{n:04d}" for n in range(10)]
    welcomes = {(to, f"Welcome aboard, P{n}!") for n, to in enumerate(people)}
    news = {(to, f"P{n}, our news is out.") for n, to in enumerate(people)}
    campaign = {k: v for k, v in runs["sent"].items() if k in welcomes | news}
    assert campaign == dict.fromkeys(welcomes | news, 1)


def test_an_op_retried_after_it_sent_sends_once_where_a_plain_call_sends_again(runs):
    """Each op crashes after its send, once: Dagster's RetryPolicy runs it again. (The
    control may also run out of retries: a create answered 500 fails its attempt.)"""
    [ours], [control] = runs["outcomes"]["flo_retried"], runs["outcomes"]["plain_retried"]
    assert ours["success"] and ours["retries"] >= PEOPLE, ours
    assert control["retries"] >= PEOPLE, control
    assert list(sent_by(runs, "flo_retried ").values()) == [1] * PEOPLE
    plain = sent_by(runs, "plain_retried ")
    assert len(plain) == PEOPLE and min(plain.values()) >= 2  # the control sends again


def test_an_asset_retried_after_its_bulk_send_sends_once(runs):
    [outcome] = runs["outcomes"]["asset_retried"]
    assert outcome["success"] and outcome["retries"] == 1, outcome
    assert list(sent_by(runs, "asset_retried ").values()) == [1] * PEOPLE


def test_a_run_reexecuted_from_failure_sends_once_where_a_plain_call_sends_again(runs):
    """Without a RetryPolicy each crashed op fails the run; re-executing it from failure
    (a new run with the first as its root) runs those ops again."""
    first, again = runs["outcomes"]["flo_reexecuted"]
    assert not first["success"] and again["success"], (first, again)
    assert list(sent_by(runs, "flo_reexecuted ").values()) == [1] * PEOPLE
    plain = sent_by(runs, "plain_reexecuted ")
    assert len(plain) == PEOPLE and min(plain.values()) >= 2


def test_the_mms_and_custom_api_ops_answer_the_cards_outputs(runs):
    [outcome] = runs["outcomes"]["cards"]
    assert outcome["success"], outcome  # its last op checks them
    assert runs["sent"][("+12065550600", "cards")] == 1


def test_a_refused_number_fails_the_op_at_once_and_says_why(runs):
    [outcome] = runs["outcomes"]["refused"]
    assert not outcome["success"] and outcome["retries"] == 0, outcome
    [failure] = outcome["failures"]
    assert "a retry fails the same way" in failure
    assert "item 1 failed: 21211 Invalid 'To' Phone Number" in failure


def test_an_unfinished_send_is_retried_by_the_retry_policy(runs):
    [outcome] = runs["outcomes"]["unfinished"]
    assert outcome["success"] and outcome["retries"] == 1, outcome


def test_the_ops_logs_say_how_the_sends_go_without_numbers(runs):
    lines = [line for line in runs["logs"].splitlines() if "flo run " in line]
    assert any(": sending: 10 items, 16 at a time" in line for line in lines)  # the newsletter
    assert any(" ended done in " in line for line in lines)
    assert not [line for line in lines if "+1206" in line or "Welcome" in line]


def test_the_auth_token_is_nowhere_in_dagsters_storage_or_logs(runs):
    files = [path for path in runs["home"].rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert "runs.db" in names and any(name.endswith(".err") for name in names)  # looked at
    assert any(b"flo_retried" in path.read_bytes() for path in files)  # readable as bytes
    assert [path for path in files if TOKEN.encode() in path.read_bytes()] == []
    assert TOKEN not in runs["logs"]


def test_a_resource_with_its_journal_in_postgresql_keeps_nothing_local(
    python, tmp_path, postgres_url
):
    """``journal=dg.EnvVar(...)``: the run is in the database, nothing under FLO_HOME, and
    the URL's password in none of Dagster's files or logs."""
    home, flo_home = tmp_path / "dagster_home", tmp_path / "flo_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with sandbox_process() as url:
        env = {
            **{k: v for k, v in os.environ.items() if k != "FLO_JOURNAL"},
            "DAGSTER_HOME": str(home),
            "FLO_HOME": str(flo_home),
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_API_BASE_URL": url,
            "TWILIO_JOURNAL": postgres_url,
        }
        job = [python, HERE / "dagster_run.py", HERE / "dagster_journal.py", "{}", "journalled"]
        done = subprocess.run(job, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        sent = Counter(m["to"] for m in messages(url))
    assert done.returncode == 0, done.stderr[-3000:]
    [outcome] = [json.loads(line[8:]) for line in done.stdout.splitlines() if "OUTCOME" in line]
    assert outcome["success"], outcome
    assert sent == dict.fromkeys((f"+1206557{n:04d}" for n in range(5)), 1)
    [run] = Journal(postgres_url).runs()  # a fresh database: this run alone
    assert run["status"] == "done"
    assert not flo_home.exists() or not any(flo_home.rglob("*"))
    password = (urlsplit(postgres_url).password or "").encode()
    assert [p for p in home.rglob("*") if p.is_file() and password in p.read_bytes()] == []
    assert password.decode() not in done.stdout + done.stderr


def test_the_resource_takes_dagster_twilios_config_and_ops_get_a_pool_per_account(python):
    check = """
import dagster as dg
import dagster_twilio
from flo_twilio.hosts.dagster import TwilioResource, send_bulk_op, send_sms_op

theirs = dagster_twilio.TwilioResource.model_fields
ours = TwilioResource.model_fields
for name, field in theirs.items():
    assert ours[name].annotation == field.annotation, name
    assert ours[name].is_required() == field.is_required(), name
assert all(not f.is_required() for n, f in ours.items() if n not in theirs)
assert send_sms_op("a", {}).pool == "twilio"
assert send_bulk_op("b", "twilio.send_sms", {}, resource_key="work").pool == "work"
assert send_sms_op("c", {}, pool="sms").pool == "sms"
paced = TwilioResource(account_sid="AC" + "0" * 32, auth_token="t", max_per_second=2)
assert paced.sender().account.values["max_per_second"] == "2.0"
try:
    TwilioResource(account_sid="AC123", auth_token="t", edge="not an edge").sender()
except dg.Failure as failure:
    assert not failure.allow_retries
    assert "the Account SID must be AC followed by 32 hexadecimal" in failure.description
    assert "edge" in failure.description
else:
    raise AssertionError("bad fields were taken")
print(sorted(theirs))
"""
    done = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["['account_sid',", "'auth_token']"]


def test_the_readme_shows_the_example_the_tests_run():
    readme = (ROOT / "docs" / "hosts.md").read_text()
    section = readme.split("## Use in Dagster", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert code == EXAMPLE.read_text()
