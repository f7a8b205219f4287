"""flo run / runs / resume, end to end: the command as a user runs it, against the sandbox."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flo_twilio.accounts import Account, AccountStore
from flo_twilio.accounts import flo_home as home_folder
from flo_twilio.sandbox import Faults, SandboxState, create_app
from flo_twilio.sandbox.state import DEFAULT_ACCOUNT_SID as SID
from flo_twilio.sandbox.state import DEFAULT_AUTH_TOKEN as TOKEN
from tests.helpers import ROOT, ServerThread
from tests.inprocess import run_flo as flo  # in this process; a few tests start one

SAMPLES = sorted((ROOT / "sample_flows").glob("*.yaml"))
SAMPLE_INPUTS = {
    "bulk_sms": ["--input", "recipients=@sample_flows/recipients.csv"],
    "lookup_then_send": ["--input", "recipients=@sample_flows/lookup_recipients.csv"],
    "auto_reply": ["--event", "@sample_flows/incoming_sms.json"],
    "delivery_report": ["--event", "@sample_flows/message_status.json"],
    "missed_call_voicemail": ["--event", "@sample_flows/incoming_call.json"],
    "missed_call_text_back": ["--event", "@sample_flows/recording_ready.json"],
}
# Flows that look up the call their event names: run end to end through flo serve in
# tests/test_missed_call_flow.py (a call must exist first); here they are dry-run only.
RUNNABLE = [s for s in SAMPLES if s.stem not in ("missed_call_voicemail", "missed_call_text_back")]


@pytest.fixture
def live(flo_home):
    """A sandbox on loopback, connected as the default account 'live'."""
    state, faults = SandboxState(status_delay=0.2), Faults(seed=11)
    with ServerThread(create_app(state, faults)) as server:
        AccountStore().save(
            Account(
                "live",
                "twilio",
                values={"account_sid": SID, "api_base_url": server.url},
                secrets={"auth_token": TOKEN},
            )
        )
        server.state, server.faults = state, faults
        yield server


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("sample", RUNNABLE, ids=lambda p: p.stem)
def test_every_sample_flow_runs_on_the_built_in_sandbox(sample):
    result = flo("run", str(sample.relative_to(ROOT)), *SAMPLE_INPUTS.get(sample.stem, []))
    assert result.code == 0, result.err
    assert "no message left this machine" in result.err
    outputs = json.loads(result.out)
    assert outputs and all(v is not None for v in outputs.values())


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_flow_dry_runs_clean_and_sends_nothing(live, sample):
    """Fields read from earlier steps' outputs are placeholders in a dry run: not judged."""
    args = SAMPLE_INPUTS.get(sample.stem, [])
    result = flo("run", str(sample.relative_to(ROOT)), *args, "--dry-run")
    assert result.code == 0, result.err
    assert "0 items invalid" in result.err and result.out.strip()
    assert not live.state.messages and not live.state.calls


@pytest.mark.parametrize("sample", RUNNABLE, ids=lambda p: p.stem)
def test_every_sample_flow_runs_against_a_sandbox_over_loopback(live, sample):
    result = flo("run", str(sample.relative_to(ROOT)), *SAMPLE_INPUTS.get(sample.stem, []))
    assert result.code == 0, result.err
    assert "no message left" not in result.err and "on account live" in result.err
    if sample.stem == "verify":
        assert live.state.verify.verifications
    elif sample.stem == "provision_number":
        assert len(live.state.numbers[SID]) == 4  # the three it had, and one bought
    elif sample.stem not in ("custom_api", "delivery_report", "call"):
        assert live.state.messages
    if sample.stem == "call":
        assert live.state.calls


def test_outputs_wire_into_the_next_step(live):
    result = flo("run", "sample_flows/sms_then_fetch.yaml", "--json")
    report = json.loads(result.out)
    assert report["status"] == "done"
    assert (
        report["outputs"]["sid"] in live.state.messages and report["outputs"]["fetchedWith"] == 200
    )


def test_bulk_outputs_are_in_input_order(live):
    result = flo(
        "run", "sample_flows/bulk_sms.yaml", "--input", "recipients=@sample_flows/recipients.csv"
    )
    sent = json.loads(result.out)["sent"]
    assert [m["to"] for m in sent] == [f"+1206555010{i}" for i in range(5)]
    assert sent[1]["body"] == "Hi Grace, welcome aboard"
    assert "send: 5 done, 0 failed, 0 unknown" in result.err


def test_lookup_then_send_messages_only_the_valid_mobile_numbers(live):
    result = flo("run", "sample_flows/lookup_then_send.yaml", *SAMPLE_INPUTS["lookup_then_send"])
    assert result.code == 0, result.err
    # the rows: a mobile, a mobile in national format, a landline, an invalid number, a mobile
    assert sorted(m["to"] for m in live.state.messages.values()) == [
        "+12065551210",
        "+12065551211",
        "+12065551213",
    ]
    report = json.loads(result.out)
    assert [m and m["to"] for m in report["sent"]] == [
        "+12065551210",
        "+12065551211",
        None,
        None,
        "+12065551213",
    ]
    why = [(row["valid"], row["lineType"], row["validationErrors"]) for row in report["checked"]]
    assert why[2:4] == [(True, "landline", []), (False, None, ["TOO_SHORT"])]
    assert "send: 3 done, 2 skipped, 0 failed, 0 unknown" in result.err
    assert "done: 8 done, 2 skipped, 0 failed, 0 unknown" in result.err
    run_id = json.loads(flo("runs", "list", "--json").out)[0]["id"]
    shown = flo("runs", "show", run_id).out
    assert "step send: 3 done, 2 skipped" in shown


def test_dry_run_sends_nothing_and_masks_the_secret(live):
    result = flo(
        "run",
        "sample_flows/bulk_sms.yaml",
        "--input",
        "recipients=@sample_flows/recipients.csv",
        "--dry-run",
    )
    assert result.code == 0, result.err
    requests = [json.loads(line) for line in result.out.splitlines()]
    assert len(requests) == 5 and not live.state.messages
    assert requests[0]["method"] == "POST" and requests[0]["url"].endswith(
        f"/Accounts/{SID}/Messages.json"
    )
    assert requests[0]["auth"] == f"{SID}:***"
    assert ["Body", "Hi Ada, welcome aboard"] in requests[0]["form"]
    assert TOKEN not in result.out + result.err


def test_failed_items_are_counted_and_named_and_the_rest_go_on(live, tmp_path):
    rows = write(
        tmp_path,
        "rows.csv",
        "phone,name\n+12065550100,A\n+15005550001,B\n+15005550009,C\n+15005550004,D\n+12065550104,E\n",
    )
    result = flo("run", "sample_flows/bulk_sms.yaml", "--input", f"recipients=@{rows}")
    assert result.code == 1
    assert "run " in result.err and "failed: 2 done, 3 failed, 0 unknown" in result.err
    assert "send: 2 done, 3 failed, 0 unknown" in result.err  # the progress line agrees
    assert "Twilio 21211" in result.err and "Twilio 21610" in result.err
    assert "Twilio 21614" in result.err and "after fixing the cause" not in result.err
    sent = json.loads(result.out)["sent"]
    assert [m is None for m in sent] == [False, True, True, True, False]
    run_id = json.loads(flo("runs", "list", "--json").out)[0]["id"]
    shown = json.loads(flo("runs", "show", run_id, "--json").out)
    codes = sorted(f["error"].get("code") or 0 for f in shown["failures"])
    assert codes == [21211, 21610, 21614] and shown["status"] == "failed"
    assert "Twilio 21211" in flo("runs", "show", run_id).out


def test_on_error_stop_stops_the_step(live, tmp_path):
    flow = (
        (ROOT / "sample_flows/bulk_sms.yaml")
        .read_text()
        .replace("on_error: continue", "on_error: stop")
        .replace("concurrency: 20", "concurrency: 1")
    )
    path = write(tmp_path, "stop.yaml", flow)
    rows = write(
        tmp_path, "rows.csv", "phone,name\n+15005550001,A\n+12065550101,B\n+12065550102,C\n"
    )
    result = flo("run", str(path), "--input", f"recipients=@{rows}")
    assert result.code == 1 and "on_error: stop" in result.err
    assert not live.state.messages


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "input 'recipients' is required"),
        (["--input", "recipients=@nope.csv"], "no file"),
        (
            ["--input", "recipients=@sample_flows/recipients.csv", "--input", "extra=1"],
            "no input 'extra'",
        ),
        (["--input", "recipients=[1, 2]"], "recipients.0 must be of type object, not integer"),
    ],
)
def test_bad_inputs_exit_2_and_send_nothing(live, args, says):
    result = flo("run", "sample_flows/bulk_sms.yaml", *args)
    assert result.code == 2 and says in result.err, result.err
    assert not live.state.messages and "Traceback" not in result.err


def test_the_journal_and_outputs_never_hold_a_secret(live, flo_home, tmp_path):
    flow = write(
        tmp_path,
        "account.yaml",
        """
flo: 1
steps:
  - id: me
    card: twilio.custom_api
    options: {method: GET}
    inputs: {relativeUrl: "/Accounts/${{ account.sid }}.json"}
  - id: key
    card: twilio.custom_api
    options: {method: POST}
    inputs: {relativeUrl: "/Accounts/${{ account.sid }}/Keys.json", query: {FriendlyName: k}}
outputs:
  account: ${{ steps.me.outputs.body }}
  key: ${{ steps.key.outputs.body }}
""",
    )
    result = flo("run", str(flow), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["outputs"]["account"]["auth_token"] == "***"
    assert report["outputs"]["key"]["secret"] == "***"
    key_secrets = [k.secret for k in live.state.keys.values()]
    stored = b"".join(p.read_bytes() for p in flo_home.rglob("runs.db*"))
    for secret in [TOKEN, *key_secrets]:
        assert secret.encode() not in stored and secret not in result.out + result.err
    assert b"auth_token" in stored  # the field is there, masked


def test_resume_of_a_finished_run_does_nothing(live):
    flo("run", "sample_flows/send_sms.yaml")
    run_id = json.loads(flo("runs", "list", "--json").out)[0]["id"]
    result = flo("resume", run_id)
    assert result.code == 0 and "already done" in result.err
    assert len(live.state.messages) == 1
    assert flo("resume", "no-such-run").code == 2


def test_ctrl_c_stops_cleanly_and_the_run_resumes_without_duplicates(live, tmp_path):
    live.faults.update({"latency": 0.2})  # 20 in flight: about 100 sends a second
    rows = write(
        tmp_path,
        "rows.csv",
        "phone,name\n" + "".join(f"+1206556{i:04d},N{i}\n" for i in range(400)),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flo_twilio.cli",
            "run",
            "sample_flows/bulk_sms.yaml",
            "--input",
            f"recipients=@{rows}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while len(live.state.messages) < 20 and time.monotonic() < deadline:  # well under way
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "flo resume" in err and "Traceback" not in err
    run = json.loads(flo("runs", "list", "--json").out)[0]
    assert run["status"] == "interrupted"
    assert 0 < len(live.state.messages) < 400
    live.faults.update({"latency": 0})
    resumed = flo("resume", run["id"])
    assert resumed.code == 0, resumed.err
    per_recipient = {}
    for message in live.state.messages.values():
        per_recipient[message["to"]] = per_recipient.get(message["to"], 0) + 1
    assert len(per_recipient) == 400 and set(per_recipient.values()) == {1}


@pytest.mark.anyio
async def test_for_each_streams_its_items(tmp_path):
    """At most `concurrency` items are pulled ahead of those finished."""
    from flo_twilio import load_registry
    from flo_twilio.card import CardContext
    from flo_twilio.runner.engine import Engine
    from flo_twilio.runner.flow import load_flow
    from flo_twilio.runner.journal import Journal

    flow = load_flow(ROOT / "sample_flows/bulk_sms.yaml", load_registry())
    flow.steps[0].concurrency = 4
    pulled = finished = worst = 0

    class Rows:
        def __iter__(self):
            nonlocal pulled, worst
            for i in range(1000):
                pulled += 1
                worst = max(worst, pulled - finished)
                yield {"phone": f"+1206557{i:04d}", "name": "x"}

    def on_item(step, state):
        nonlocal finished
        finished += 1

    from tests.conftest import sandbox_client

    journal = Journal(tmp_path / "runs.db")
    async with sandbox_client(create_app(SandboxState())) as client:
        engine = Engine(
            flow, CardContext(client, {"sid": SID}, account_id=SID), journal, "r", on_item=on_item
        )
        outputs = await engine.run({"recipients": Rows()})
    assert len(outputs["sent"]) == 1000 and finished == 1000
    assert worst <= 5


# A run is bound to what it started with.

BLOCKED = "+12065550300"  # replied STOP during the first run; welcome again on resume


@pytest.fixture
def half_done(live, tmp_path):
    """A bulk run whose first item failed (21610) and 29 others were sent; the number is
    then allowed again, so a resume would send it: (run id, rows, flow)."""
    flow = write(tmp_path, "bulk.yaml", (ROOT / "sample_flows/bulk_sms.yaml").read_text())
    rows = write(
        tmp_path,
        "rows.csv",
        "phone,name\n" + "".join(f"+120655503{i:02d},N{i}\n" for i in range(30)),
    )
    live.state.unsubscribed.add(BLOCKED)
    result = flo("run", str(flow), "--input", f"recipients=@{rows}")
    assert result.code == 1 and "29 done, 1 failed" in result.err, result.err
    live.state.unsubscribed.clear()
    return json.loads(flo("runs", "list", "--json").out)[0]["id"], rows, flow


def per_recipient(state) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in state.messages.values():
        counts[message["to"]] = counts.get(message["to"], 0) + 1
    return counts


def test_a_renamed_step_is_refused_before_anything_is_sent(live, half_done):
    run_id, _, flow = half_done
    original = flow.read_text()
    flow.write_text(original.replace("id: send", "id: welcome").replace("s.send.", "s.welcome."))
    result = flo("resume", run_id)
    assert result.code == 2, result.err
    assert "step 1 (send) is now called 'welcome'" in result.err and "--flow" in result.err
    assert len(live.state.messages) == 29
    flow.write_text(original)
    assert flo("resume", run_id).code == 0
    assert set(per_recipient(live.state).values()) == {1} and len(live.state.messages) == 30


def test_an_edited_input_file_is_refused_before_anything_is_sent(live, half_done):
    run_id, rows, _ = half_done
    rows.write_text(rows.read_text().replace("N25", "Nina"))
    result = flo("resume", run_id)
    assert result.code == 2 and f"input file {rows} changed since the run started" in result.err
    assert len(live.state.messages) == 29  # item 0 would go first, were it not refused


def test_an_account_re_pointed_at_another_sid_is_refused(live, half_done):
    run_id, _, _ = half_done
    other_sid, other_token = "AC" + "2" * 32, "another-token-0000000000000000002"
    live.state.add_account(other_sid, other_token, ["+15005550006"])
    AccountStore().save(
        Account(
            "live",
            "twilio",
            values={"account_sid": other_sid, "api_base_url": live.url},
            secrets={"auth_token": other_token},
        )
    )
    result = flo("resume", run_id)
    assert result.code == 2, result.err
    assert f"account 'live' is now {other_sid}; the run started on {SID}" in result.err
    assert len(live.state.messages) == 29


@pytest.mark.parametrize("moved", ["api_base_url", "region"])
def test_an_account_re_pointed_at_another_host_or_region_is_refused(live, half_done, moved):
    """Same Account SID, another place: its messages are not there, so looking up what was
    in flight would find nothing and send it again. Refused, saying why and what to do."""
    run_id, _, _ = half_done
    elsewhere = SandboxState(status_delay=0.2)
    with ServerThread(create_app(elsewhere)) as other:
        values = {"account_sid": SID, "api_base_url": other.url}
        if moved == "region":  # the same host with a region: another host at Twilio
            values = {"account_sid": SID, "region": "ie1", "edge": "dublin"}
        AccountStore().save(Account("live", "twilio", values, secrets={"auth_token": TOKEN}))
        result = flo("resume", run_id)
    assert result.code == 2, result.err
    assert "cannot be resumed without risking sending twice" in result.err
    assert f"the run started at {live.url}, where its messages are" in result.err
    assert f"point 'live' back at {live.url}" in result.err
    assert len(live.state.messages) == 29 and not elsewhere.messages


def test_a_run_recorded_before_runs_were_bound_to_their_host_still_resumes(live, half_done):
    run_id, _, _ = half_done
    with sqlite3.connect(home_folder() / "runs.db") as db:
        (text,) = db.execute("SELECT bound FROM runs WHERE id = ?", (run_id,)).fetchone()
        bound = json.loads(text)
        assert bound.pop("location") == {"API host": live.url}
        db.execute("UPDATE runs SET bound = ? WHERE id = ?", (json.dumps(bound), run_id))
    result = flo("resume", run_id)
    assert result.code == 0, result.err
    assert set(per_recipient(live.state).values()) == {1} and len(live.state.messages) == 30


def test_edits_that_cannot_send_twice_are_allowed(live, half_done):
    run_id, _, flow = half_done
    text = flow.read_text().replace("concurrency: 20", "concurrency: 3")
    flow.write_text(text.replace("on_error: continue", "on_error: stop") + "# reviewed\n")
    result = flo("resume", run_id)
    assert result.code == 0, result.err
    assert set(per_recipient(live.state).values()) == {1} and len(live.state.messages) == 30


def test_a_deleted_flow_resumes_from_the_copy_kept_with_the_run(live, half_done):
    run_id, _, flow = half_done
    original = flow.read_text()
    flow.unlink()
    assert flo("runs", "show", run_id, "--flow").out == original
    result = flo("resume", run_id)
    assert result.code == 0, result.err
    assert set(per_recipient(live.state).values()) == {1} and len(live.state.messages) == 30


def test_a_terminal_gets_a_progress_bar():
    """On the built-in sandbox: a terminal is made with fork, which wants one thread."""
    from tests.helpers import in_terminal

    code, screen = in_terminal(
        "run", "sample_flows/bulk_sms.yaml", "--input", "recipients=@sample_flows/recipients.csv"
    )
    assert code == 0, screen
    assert "send" in screen and "5/5" in screen and "0 failed" in screen


def test_flo_options_lists_the_from_dropdown(live):
    result = flo("options", "twilio.send_mms", "from", "--account", "live", "--json")
    assert result.code == 0, result.err
    assert [c["value"] for c in json.loads(result.out)] == ["+15005550006", "+15558675310"]
    table = flo("options", "twilio.send_sms", "from")
    assert "+15017122661" in table.out and "Sandbox number 2" in table.out
    wrong = flo("options", "twilio.send_sms", "to")
    assert wrong.code == 2 and "options with choices: from" in wrong.err


def test_a_killed_run_shows_interrupted_and_one_plain_resume_finishes_it(
    live, tmp_path, monkeypatch
):
    monkeypatch.setenv("FLO_SETTLE_SECONDS", "1")
    live.faults.update({"latency": 0.2})
    rows = write(
        tmp_path,
        "rows.csv",
        "phone,name\n" + "".join(f"+1206559{i:04d},N{i}\n" for i in range(300)),
    )
    command = [sys.executable, "-m", "flo_twilio.cli"]
    run = subprocess.Popen(
        [*command, "run", "sample_flows/bulk_sms.yaml", "--input", f"recipients=@{rows}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while len(live.state.messages) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    run.kill()
    run.wait()
    [record] = json.loads(flo("runs", "list", "--json").out)
    assert record["status"] == "interrupted"
    live.faults.update({"latency": 1.0})  # so the first resume is still running when checked
    first = subprocess.Popen(
        [*command, "resume", record["id"]],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while json.loads(flo("runs", "list", "--json").out)[0]["status"] != "running":
        time.sleep(0.05)
    second = flo("resume", record["id"])
    assert second.code == 2 and "is running in process" in second.err
    live.faults.update({"latency": 0})
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert set(per_recipient(live.state).values()) == {1} and len(live.state.messages) == 300


def test_a_pid_reused_by_another_process_does_not_block_a_resume(live, half_done):
    from flo_twilio.runner import process

    run_id, _, _ = half_done
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        db = sqlite3.connect(flo_home_db())
        live_owner = process.identity(sleeper.pid)
        boot, pid, _, host = live_owner.split(":")
        for owner, refused in ((live_owner, True), (f"{boot}:{pid}:1:{host}", False)):
            with db:
                db.execute(
                    "UPDATE runs SET status = 'running', owner = ? WHERE id = ?", (owner, run_id)
                )
            result = flo("resume", run_id)
            assert (result.code == 2 and "is running in process" in result.err) is refused
    finally:
        sleeper.kill()
        sleeper.wait()
    assert set(per_recipient(live.state).values()) == {1} and len(live.state.messages) == 30


def flo_home_db() -> Path:
    from flo_twilio.accounts import flo_home

    return flo_home() / "runs.db"


def test_a_settle_window_shorter_than_a_requests_deadline_is_warned_of():
    short = flo("run", "sample_flows/send_sms.yaml", "--settle", "2")
    assert short.code == 0 and "settle window of 2 s is shorter than the 30 s" in short.err
    default = flo("run", "sample_flows/send_sms.yaml", env={"FLO_SETTLE_SECONDS": ""})
    assert default.code == 0 and "settle window" not in default.err


@pytest.mark.parametrize("pauses", ["1,soon", "1,,5", "-1", "nan", "inf", "5s"])
def test_bad_retry_pauses_are_refused_with_the_fix_before_anything_runs(pauses):
    result = flo("run", "sample_flows/send_sms.yaml", env={"FLO_RETRY_PAUSES": pauses})
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert "FLO_RETRY_PAUSES must be the seconds (0 or more) to pause" in result.err
    assert "the default is 1,5,15" in result.err and not result.out
    assert flo("runs", "list", "--json").out.strip() == "[]"
